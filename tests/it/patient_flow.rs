//! The patient path's groundwork, below the pages: an invitation link is
//! exchanged once for a server-side session, answers in progress are kept
//! as a draft, and a submit through the invitation stores one response
//! however often it is repeated.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};

use crate::helpers::{NOW, seed_clinics};
use prom::storage::{self, Options};
use prom::usecase::invitation::{LinkProblem, open_link};

fn now() -> DateTime<Utc> {
    NOW.parse().expect("time")
}

/// A database with clinic `a`, patient P1 and an invitation to pain_nrs
/// that expires in `days`; the link's token.
fn invited(dir: &std::path::Path, days: i64) -> (storage::Connection, String) {
    let db = dir.join("prom.db");
    seed_clinics(&prom::storage::Database::Sqlite(db.clone()));
    let conn = storage::open(&db, &Options::default()).expect("open");
    let catalog = prom::catalog::Catalog::load(&crate::helpers::root().join("questionnaires"))
        .expect("catalog");
    prom::storage::versions::record_version(&conn, &catalog.get("pain_nrs").expect("q"), now())
        .expect("version");
    let pid = prom::storage::patients::insert_patient(
        &conn,
        &prom::storage::patients::NewPatient {
            clinic_id: "a".into(),
            reference: "P1".into(),
            language: "da".into(),
            ..Default::default()
        },
        now(),
    )
    .expect("patient");
    let token = prom::security::new_token("prom_inv_");
    prom::storage::invitations::insert_invitation(
        &conn,
        &pid,
        "pain_nrs",
        &prom::security::token_hash(&token),
        now() + Duration::days(days),
        now(),
    )
    .expect("invitation");
    (conn, token)
}

fn submit(conn: &storage::Connection, invitation: &str) -> prom::usecase::Submitted {
    let catalog = prom::catalog::Catalog::load(&crate::helpers::root().join("questionnaires"))
        .expect("catalog");
    let q = catalog.get("pain_nrs").expect("q").clone();
    let answers: Map<String, Value> = match json!({"pain_now": 9, "pain_worst": 9}) {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let date = prom::clock::local_date(now(), "Europe/Copenhagen");
    let ev = prom::core::engine::validate(&q, &answers, prom::core::engine::Mode::Web, date)
        .expect("valid");
    prom::usecase::submit_response(
        conn,
        &prom::usecase::Submission {
            clinic_id: "a".into(),
            patient_ref: "P1".into(),
            questionnaire: q,
            evaluation: ev,
            mode: prom::core::engine::Mode::Web,
            actor: "patient".into(),
            now: now(),
            idempotency: None,
            supersedes: None,
            base_url: "http://localhost".into(),
            invitation: Some(invitation.into()),
        },
    )
    .expect("stored")
}

#[test]
fn a_link_opens_a_session_once_keeps_a_draft_and_stores_one_response() {
    let dir = tempfile::tempdir().expect("dir");
    let (conn, token) = invited(dir.path(), 14);
    let opened = open_link(&conn, &token, now()).expect("db").expect("opens");
    // The session is found by its token's hash, never by the token.
    let hash = prom::security::token_hash(&opened.session_token);
    let s = prom::storage::sessions::live(&conn, &hash, now())
        .expect("db")
        .expect("a live session");
    assert_eq!(s.kind, "patient");
    assert_eq!(s.csrf, opened.csrf);
    assert_eq!(
        s.invitation_id.as_deref(),
        Some(opened.invitation.id.as_str())
    );
    // It expires: within two hours.
    assert!(
        prom::storage::sessions::live(&conn, &hash, now() + Duration::hours(3))
            .expect("db")
            .is_none()
    );
    // A draft is kept and read back.
    let inv = opened.invitation.id.clone();
    let mut a = Map::new();
    a.insert("pain_now".into(), json!(9));
    prom::storage::invitations::save_draft(&conn, &inv, &a, 1, now()).expect("draft");
    assert_eq!(
        prom::storage::invitations::draft(&conn, &inv).expect("db"),
        Some((a, 1))
    );
    // Submitting twice (a double tap) stores one response.
    let first = submit(&conn, &inv);
    let second = submit(&conn, &inv);
    let id = |s: &prom::usecase::Submitted| match s {
        prom::usecase::Submitted::New(r) | prom::usecase::Submitted::Replayed(r) => r.id.clone(),
    };
    assert!(matches!(first, prom::usecase::Submitted::New(_)));
    assert!(matches!(second, prom::usecase::Submitted::Replayed(_)));
    assert_eq!(id(&first), id(&second));
    let n: i64 = conn
        .query_row("SELECT count(*) FROM responses", (), |r| r.get(0))
        .expect("count");
    assert_eq!(n, 1);
    assert_eq!(
        prom::storage::invitations::draft(&conn, &inv).expect("db"),
        None
    );
    // After submission the link cannot be used again.
    assert_eq!(
        open_link(&conn, &token, now()).expect("db"),
        Err(LinkProblem::Used)
    );
}

#[test]
fn expired_and_unknown_links_are_told_apart() {
    let dir = tempfile::tempdir().expect("dir");
    let (conn, token) = invited(dir.path(), 1);
    assert_eq!(
        open_link(&conn, &token, now() + Duration::days(2)).expect("db"),
        Err(LinkProblem::Expired)
    );
    assert_eq!(
        open_link(&conn, "prom_inv_nothing", now()).expect("db"),
        Err(LinkProblem::Unknown)
    );
    // Opening is audited with the patient.
    let opened: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'invitation.open'",
            (),
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(opened, 0, "refused links open nothing");
    open_link(&conn, &token, now()).expect("db").expect("opens");
    let opened: i64 = conn
        .query_row(
            "SELECT count(*) FROM audit_log WHERE action = 'invitation.open' AND patient_id IS NOT NULL",
            (),
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(opened, 1);
}
