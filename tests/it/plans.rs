//! Follow-up plans over months of a clock moved forward: invitations on
//! the plan's rhythm, e-mailed or listed as letters, one reminder each,
//! nothing twice after downtime, and an earlier invitation after a
//! worrying answer.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::helpers::{NOW, phq9, spawn};

/// One look of the scheduler at `now`, as the server's would.
fn tick(db: &prom::storage::Database, now: DateTime<Utc>) -> prom::usecase::plans::PlanTick {
    let mut conn = prom::storage::open_database(db, &Default::default()).expect("db");
    let tx = conn.transaction().expect("tx");
    let t = prom::usecase::plans::tick(&tx, "https://prom.example.org", now).expect("tick");
    prom::usecase::alerts::tick(&tx, "https://prom.example.org", now).expect("alerts");
    tx.commit().expect("commit");
    t
}

fn plan(db: &prom::storage::Database, reference: &str, every: u32, early: u32) -> String {
    let conn = prom::storage::open_database(db, &Default::default()).expect("db");
    let pid = prom::storage::patients::patient_id(&conn, "a", reference).expect("patient");
    let now: DateTime<Utc> = NOW.parse().expect("time");
    let id =
        prom::storage::invitations::insert_plan(&conn, &pid, "phq9", every, now.date_naive(), now)
            .expect("plan");
    prom::storage::invitations::set_plan_timing(&conn, &id, 14, 3, early).expect("timing");
    id
}

#[tokio::test]
async fn a_plan_over_six_months_invites_on_its_rhythm_reminds_once_and_lists_letters() {
    let app = spawn().await;
    let (s, _) = app
        .post(
            &app.key_a,
            "/api/v1/patients",
            &json!({"ref": "MAIL1", "email": "mail1@patient.example"}),
        )
        .await;
    assert!(s.is_success());
    app.patient(&app.key_a, "PAPER1").await;
    plan(&app.database, "MAIL1", 30, 0);
    plan(&app.database, "PAPER1", 30, 0);
    let start: DateTime<Utc> = NOW.parse().expect("time");
    // Every six hours for 180 days.
    for h in (0..180 * 24).step_by(6) {
        tick(&app.database, start + Duration::hours(h));
    }
    let kind = |k: &str| app.count(&format!("SELECT count(*) FROM outbox WHERE kind = '{k}'"));
    let invitations = app.count("SELECT count(*) FROM invitations WHERE plan_id IS NOT NULL");

    assert_eq!(invitations, 12, "days 0, 30, …, 150 for two patients");
    assert_eq!(
        kind("invitation"),
        6,
        "e-mail for the patient with an address only"
    );
    assert_eq!(
        kind("reminder"),
        6,
        "one reminder per unanswered invitation"
    );
    let to: i64 =
        app.count("SELECT count(*) FROM outbox WHERE recipient = 'mail1@patient.example'");
    assert_eq!(to, 12);
    // No e-mail holds the questionnaire's name or the reference.
    let conn = app.conn();
    let bodies: Vec<String> = conn
        .prepare("SELECT subject || body || coalesce(html, '') FROM outbox WHERE kind IN ('invitation', 'reminder')")
        .expect("sql")
        .query_map((), |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("bodies");
    for b in &bodies {
        assert!(
            !b.contains("MAIL1") && !b.contains("PHQ") && !b.contains("depression"),
            "{b}"
        );
        assert!(b.contains("https://prom.example.org/a/prom_inv_"));
    }
    // Staff see the letters to print for the patient without e-mail (the
    // present one only: the others expired).
    let now = start + Duration::days(151);
    let letters = prom::storage::invitations::letters(&conn, "a", now).expect("letters");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reference, "PAPER1");
    // Not answered: a yellow item for the first missed, red for each next
    // one in a row.
    assert_eq!(
        app.count("SELECT count(*) FROM review_items WHERE invitation_id IS NOT NULL"),
        12
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM review_items WHERE invitation_id IS NOT NULL AND level = 'yellow'"
        ),
        2
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM review_items WHERE invitation_id IS NOT NULL AND level = 'red'"
        ),
        10
    );
    let mut staff = crate::clinic::logged_in(&app, "a", "plans@a.example", "clinician").await;
    let queue = staff.get("/clinic").await;
    assert!(
        queue
            .body
            .contains("Spørgeskemaet er ikke besvaret inden fristen"),
        "{}",
        queue.body
    );
    // A reminder's link opens the same invitation as the first.
    let reminder: String = conn
        .query_row(
            "SELECT body FROM outbox WHERE kind = 'reminder' ORDER BY created_at DESC LIMIT 1",
            (),
            |r| r.get(0),
        )
        .expect("reminder");
    let token = reminder
        .split("/a/")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .expect("a link");
    let found =
        prom::storage::invitations::by_token_hash(&conn, &prom::security::token_hash(token))
            .expect("query")
            .expect("the reminder's link works");
    assert!(found.used_at.is_none());
}

#[tokio::test]
async fn after_downtime_a_plan_catches_up_once_and_a_worrying_answer_brings_the_next_forward() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let id = plan(&app.database, "P1", 28, 7);
    let start: DateTime<Utc> = NOW.parse().expect("time");
    assert_eq!(tick(&app.database, start).invitations, 1);
    assert_eq!(
        tick(&app.database, start + Duration::hours(1)).invitations,
        0,
        "once"
    );
    // Down for ten weeks: one invitation when it comes back, not three.
    let back = start + Duration::days(70);
    assert_eq!(tick(&app.database, back).invitations, 1);
    assert_eq!(
        tick(&app.database, back + Duration::minutes(1)).invitations,
        0
    );
    let next: String = app
        .conn()
        .query_row("SELECT next_due FROM plans WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .expect("next");
    assert_eq!(next, "2026-05-25", "on the rhythm: day 84 from the start");
    // A yellow answer (the plan says within 7 days) brings it forward.
    let (s, b) = app
        .post(
            &app.key_a,
            "/api/v1/responses",
            &json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([2, 2, 2, 2, 2, 2, 0, 0, 0])}),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let next: String = app
        .conn()
        .query_row("SELECT next_due FROM plans WHERE id = ?1", [&id], |r| {
            r.get(0)
        })
        .expect("next");
    assert_eq!(next, "2026-03-09");
}

#[tokio::test]
async fn the_servers_own_scheduler_makes_a_plans_invitation_on_its_day() {
    // The scheduler every 50 ms (the plan is due at the clock's day).
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = crate::helpers::config(dir.path());
    cfg.scheduler_tick = std::time::Duration::from_millis(50);
    let app = crate::helpers::spawn_in(cfg, dir).await;
    let (s, _) = app
        .post(
            &app.key_a,
            "/api/v1/patients",
            &json!({"ref": "S1", "email": "s1@patient.example"}),
        )
        .await;
    assert!(s.is_success());
    plan(&app.database, "S1", 30, 0);
    let mut made = 0;
    for _ in 0..100 {
        made = app.count("SELECT count(*) FROM invitations WHERE plan_id IS NOT NULL");
        if made > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(made, 1, "the running server invites by itself, once");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        app.count("SELECT count(*) FROM invitations WHERE plan_id IS NOT NULL"),
        1,
        "and only once"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE kind = 'invitation'"),
        1
    );
}
