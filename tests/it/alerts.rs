//! A clinic's alerting with a real SMTP server in this process and a clock
//! the tests move: a storm of reds gives a handful of e-mails, the digest
//! and escalations come once at their moments, and a mail server that is
//! down loses nothing across a restart of prom.

use chrono::Duration;
use std::sync::Arc;

use crate::helpers::{NOW, config, phq9, spawn_in};
use crate::mail::{Inbox, smtp_server};

/// Stores `n` PHQ-9 responses for `reference` of clinic `a` directly (as
/// the server would), `gap` apart from `start`.
fn submit_many(
    db: &prom::storage::Database,
    reference: &str,
    n: usize,
    each: u8,
    item9: u8,
    start: chrono::DateTime<chrono::Utc>,
    gap: Duration,
) {
    let catalog = prom::catalog::Catalog::load(&crate::helpers::root().join("questionnaires"))
        .expect("catalog");
    let q = catalog.get("phq9").expect("phq9").clone();
    let mut conn = prom::storage::open_database(db, &Default::default()).expect("db");
    let tx = conn.transaction().expect("tx");
    for i in 0..n {
        let now = start + gap * i as i32;
        let answers = phq9([each, each, each, each, each, each, each, each, item9]);
        let answers = answers.as_object().expect("map").clone();
        let ev = prom::core::engine::validate(
            &q,
            &answers,
            prom::core::engine::Mode::App,
            now.date_naive(),
        )
        .expect("valid");
        prom::usecase::submit_response(
            &tx,
            &prom::usecase::Submission {
                clinic_id: "a".into(),
                patient_ref: reference.into(),
                questionnaire: q.clone(),
                evaluation: ev,
                mode: prom::core::engine::Mode::App,
                actor: "test".into(),
                now,
                idempotency: None,
                supersedes: None,
                base_url: "https://prom.example.org".into(),
                invitation: None,
            },
        )
        .expect("submit");
    }
    tx.commit().expect("commit");
}

async fn wait_for(inbox: &Inbox, n: usize) -> Vec<(Vec<String>, String)> {
    for _ in 0..150 {
        if inbox.lock().expect("lock").len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    inbox.lock().expect("lock").clone()
}

fn plain(msg: &str) -> String {
    msg.replace("=\r\n", "").replace("=\n", "")
}

#[tokio::test]
async fn a_storm_of_a_thousand_reds_in_a_minute_sends_a_handful_of_emails() {
    let (port, inbox) = smtp_server();
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    cfg.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    let app = spawn_in(cfg, dir).await;
    app.patient(&app.key_a, "STORM").await;
    let start: chrono::DateTime<chrono::Utc> = NOW.parse().expect("time");
    submit_many(
        &app.database,
        "STORM",
        1000,
        1,
        2,
        start,
        Duration::milliseconds(60),
    );
    assert_eq!(
        app.count("SELECT count(*) FROM review_items WHERE level = 'red'"),
        1000
    );
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE kind = 'red_flag'"),
        1,
        "the first at once"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE kind = 'red_batch'"),
        1,
        "the rest gathered"
    );
    let got = wait_for(&inbox, 1).await;
    assert_eq!(got.len(), 1, "only the first before the window ends");
    // The window's end: the gathered message says how many.
    app.clock.advance(Duration::minutes(6));
    let got = wait_for(&inbox, 2).await;
    assert_eq!(got.len(), 2);
    let batch = plain(&got[1].1);
    assert!(batch.contains("999") || batch.contains("1000"), "{batch}");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        inbox.lock().expect("lock").len(),
        2,
        "1,000 reds, two e-mails"
    );
    // After the window a new red alerts at once again.
    submit_many(
        &app.database,
        "STORM",
        1,
        1,
        2,
        start + Duration::minutes(7),
        Duration::zero(),
    );
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE kind = 'red_flag'"),
        2
    );
}

#[tokio::test]
async fn the_yellow_digest_and_the_escalation_come_once_each_at_their_moments() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    cfg.scheduler_tick = std::time::Duration::from_millis(100);
    let app = spawn_in(cfg, dir).await;
    {
        let conn = app.conn();
        let mut p = prom::storage::clinics::alerting(&conn, "a").expect("alerting");
        // NOW is 11:00 in Copenhagen.
        p.digest_hour = 12;
        p.escalate_hours = 4;
        p.escalation_emails = vec!["chief@a.example".into()];
        prom::storage::clinics::set_alerting(&conn, "a", &p).expect("set");
    }
    app.patient(&app.key_a, "Y1").await;
    let start: chrono::DateTime<chrono::Utc> = NOW.parse().expect("time");
    submit_many(&app.database, "Y1", 3, 2, 0, start, Duration::minutes(1));
    submit_many(
        &app.database,
        "Y1",
        1,
        1,
        1,
        start + Duration::minutes(5),
        Duration::zero(),
    );
    let kind = |k: &str| app.count(&format!("SELECT count(*) FROM outbox WHERE kind = '{k}'"));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        (kind("yellow_digest"), kind("escalation")),
        (0, 0),
        "11:00, and the red is new"
    );
    app.clock.advance(Duration::hours(1));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(kind("yellow_digest"), 1, "12:00: the day's digest");
    let body: String = app
        .conn()
        .query_row(
            "SELECT body FROM outbox WHERE kind = 'yellow_digest'",
            (),
            |r| r.get(0),
        )
        .expect("digest");
    assert!(
        body.contains("3 svar") && body.contains("gult"),
        "Danish, with the count: {body}"
    );
    app.clock.advance(Duration::minutes(3 * 60 + 4));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(kind("escalation"), 0, "3 hours 59 minutes after the red");
    app.clock.advance(Duration::minutes(2));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(kind("escalation"), 1, "4 hours and nobody took it");
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE kind = 'escalation' AND recipient = 'chief@a.example'"),
        1
    );
    // More looks, and a restart's worth of catching up, add nothing.
    app.clock.advance(Duration::hours(2));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(
        (kind("yellow_digest"), kind("escalation")),
        (1, 1),
        "once each"
    );
    // The next day brings the next digest.
    app.clock.advance(Duration::hours(24));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(kind("yellow_digest"), 2);
}

#[tokio::test]
async fn a_mail_server_down_for_an_hour_loses_nothing_across_a_restart() {
    // A port nobody listens on: the red flag's alert fails.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_path_buf();
    let mut cfg = config(&path);
    cfg.smtp_url = Some(format!("smtp://127.0.0.1:{dead}"));
    cfg.base_url = Some("https://prom.example.org".into());
    let app = spawn_in(cfg.clone(), dir).await;
    app.patient(&app.key_a, "MARK-REF-42").await;
    let (_, r) = app
        .post(
            &app.key_a,
            "/api/v1/responses",
            &serde_json::json!({"questionnaire": "phq9", "patient": "MARK-REF-42", "answers": phq9([3, 3, 3, 3, 3, 3, 3, 3, 3])}),
        )
        .await;
    let response = r["id"].as_str().expect("id").to_string();
    for _ in 0..100 {
        if app.count("SELECT count(*) FROM outbox WHERE attempts >= 1") == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE attempts >= 1 AND sent_at IS NULL"),
        1
    );
    let row: String = app
        .conn()
        .query_row("SELECT id FROM outbox", (), |r| r.get(0))
        .expect("row");
    drop(app.mailer);
    // prom restarts an hour later with the mail server up.
    let (port, inbox) = smtp_server();
    let mut cfg2 = cfg;
    cfg2.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    let clock = Arc::new(prom::clock::ManualClock::new(NOW.parse().expect("time")));
    clock.advance(Duration::hours(1));
    let running = prom::startup::start(&cfg2, clock).expect("restart");
    tokio::spawn(running.server);
    let got = wait_for(&inbox, 1).await;
    assert_eq!(got.len(), 1, "the alert arrived after the restart");
    let msg = plain(&got[0].1);
    assert!(
        msg.contains(&format!("Message-ID: <{row}@localhost>")),
        "the row's own id: {msg}"
    );
    assert!(msg.contains(&response), "it links to the response");
    assert!(
        msg.contains("text/html") && msg.contains("text/plain"),
        "plain text and HTML"
    );
    let words: String = msg
        .lines()
        .filter(|l| {
            !l.starts_with("--") && !l.contains("boundary=") && !l.starts_with("Message-ID:")
        })
        .collect::<Vec<_>>()
        .join("\n");
    for secret in ["MARK-REF-42", "PHQ", "Tanker", "selvskade", "self-harm"] {
        assert!(!words.contains(secret), "the alert holds {secret}:\n{msg}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(inbox.lock().expect("lock").len(), 1, "once");
    drop(running.mailer);
}
