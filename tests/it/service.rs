//! The service's second pass: each fault an outside review found, as a
//! test that failed before its fix.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{phq9, spawn};

/// Posts raw bytes as JSON.
async fn post_raw(app: &crate::helpers::TestApp, path: &str, body: &str) -> (StatusCode, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(&app.key_a)
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("post");
    let s = r.status();
    (s, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_the_running_server_within_a_second() {
    let app = spawn().await;
    // A key made the way `prom apikey add` makes it.
    let key = prom::security::new_token("prom_key_");
    let prefix = prom::storage::keys::prefix_of(&key);
    {
        let conn = app.conn();
        prom::storage::keys::insert_api_key(
            &conn,
            "a",
            &prom::security::token_hash(&key),
            Some(&prefix),
            crate::helpers::NOW.parse().expect("time"),
        )
        .expect("key");
    }
    let (s, _) = app.get(&key, "/api/v1/questionnaires").await;
    assert_eq!(s, StatusCode::OK, "the new key works");
    let (s, _) = app.get(&key, "/api/v1/questionnaires").await;
    assert_eq!(s, StatusCode::OK, "and is cached");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
        .args(["apikey", "revoke", &prefix, "--db"])
        .arg(&app.db)
        .output()
        .expect("prom apikey revoke");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let (s, _) = app.get(&key, "/api/v1/questionnaires").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "refused within a second");
    // The list says so, and when it was last used.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
        .args(["apikey", "list", "--clinic", "a", "--db"])
        .arg(&app.db)
        .output()
        .expect("prom apikey list");
    let listing = String::from_utf8_lossy(&out.stdout);
    let line = listing
        .lines()
        .find(|l| l.starts_with(&prefix))
        .expect("the key is listed");
    assert!(!line.contains("never"), "last use is recorded: {line}");
    assert!(!line.ends_with(" no"), "revocation is shown: {line}");
    // Revoking again is refused: a typo cannot look like success.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
        .args(["apikey", "revoke", &prefix, "--db"])
        .arg(&app.db)
        .output()
        .expect("prom apikey revoke");
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn an_idempotency_key_replays_only_where_it_was_first_used() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([0; 9])});
        let (s, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
        assert_eq!(s, StatusCode::CREATED);
        ids.push(r["id"].as_str().expect("id").to_string());
    }
    let fix =
        json!({"answers": phq9([1; 9]), "reason": "typed from paper", "idempotency_key": "fix-1"});
    let (s, first) = app
        .post(
            &app.key_a,
            &format!("/api/v1/responses/{}/corrections", ids[0]),
            &fix,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    // The same key and body on another response is a conflict, and leaves
    // that response uncorrected.
    let (s, b) = app
        .post(
            &app.key_a,
            &format!("/api/v1/responses/{}/corrections", ids[1]),
            &fix,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (_, y) = app
        .get(&app.key_a, &format!("/api/v1/responses/{}", ids[1]))
        .await;
    assert!(y.get("superseded_by").is_none(), "{y}");
    // And on the route for new responses too.
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([1; 9]), "idempotency_key": "fix-1"});
    let (s, _) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_request_written_differently_replays_instead_of_conflicting() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let a = r#"{"questionnaire":"pain_nrs","patient":"P1","answers":{"pain_now":3,"pain_worst":4},"idempotency_key":"k-3"}"#;
    let b = r#"{"idempotency_key":"k-3","answers":{"pain_worst":4.0,"pain_now":3.00},"patient":"P1","questionnaire":"pain_nrs"}"#;
    let (s1, r1) = post_raw(&app, "/api/v1/responses", a).await;
    let (s2, r2) = post_raw(&app, "/api/v1/responses", b).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED), "{r2}");
    assert_eq!(r1["id"], r2["id"]);
    assert_eq!(app.count("SELECT count(*) FROM responses"), 1);
    // The replay is a read of the patient's data, and is audited as one.
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'response.replay.read' AND patient_id IS NOT NULL"),
        1
    );
}

#[tokio::test]
async fn strict_input_refuses_what_it_cannot_hold_exactly() {
    let app = spawn().await;
    app.patient(&app.key_a, "B001").await;
    app.patient(&app.key_a, "D001").await;
    // A repeated key is refused, not "the last one wins".
    let (s, b) = post_raw(
        &app,
        "/api/v1/responses",
        r#"{"questionnaire":"pain_nrs","patient":"B001","patient":"D001","answers":{"pain_now":1,"pain_worst":1}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["message"].as_str().unwrap_or("").contains("duplicate"),
        "{b}"
    );
    let (s, _) = post_raw(
        &app,
        "/api/v1/responses",
        r#"{"questionnaire":"pain_nrs","patient":"B001","answers":{"pain_now":1,"pain_now":2,"pain_worst":1}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT count(*) FROM responses"), 0);
    // A number the slider cannot hold exactly is 422, never rounded to 0.
    let (s, b) = post_raw(
        &app,
        "/api/v1/responses",
        r#"{"questionnaire":"pain_nrs","patient":"B001","answers":{"pain_now":1e-30,"pain_worst":1}}"#,
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["errors"]["pain_now"].is_string(), "{b}");
    // An unknown field, a mode outside the contract.
    for body in [
        json!({"questionnaire": "pain_nrs", "patient": "B001", "answers": {"pain_now": 1, "pain_worst": 1}, "pateint": "x"}),
        json!({"questionnaire": "pain_nrs", "patient": "B001", "answers": {"pain_now": 1, "pain_worst": 1}, "mode": "web"}),
    ] {
        let (s, b) = app.post(&app.key_a, "/api/v1/responses", &body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    }
    // E-mail addresses are checked as the command line checks them.
    let (s, _) = app
        .post(
            &app.key_a,
            "/api/v1/patients",
            &json!({"ref": "E1", "email": "a@b@c"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // References: control and invisible characters refused, the rest
    // trimmed and normalised on every path.
    for r in ["P\u{200B}2", "P\u{0007}2"] {
        let (s, _) = app
            .post(&app.key_a, "/api/v1/patients", &json!({"ref": r}))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{r:?}");
    }
    let (s, b) = app
        .post(
            &app.key_a,
            "/api/v1/patients",
            &json!({"ref": " A\u{030A}-1 "}),
        )
        .await;
    assert_eq!(
        (s, b["ref"].as_str()),
        (StatusCode::CREATED, Some("\u{00C5}-1"))
    );
    let body = json!({"questionnaire": "pain_nrs", "patient": "\u{00C5}-1", "answers": {"pain_now": 1, "pain_worst": 1}});
    let (s, _) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, list) = app
        .get(&app.key_a, "/api/v1/patients/A%CC%8A-1/responses")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    // `bearer` in any case (RFC 7235).
    let r = app
        .http
        .get(format!("{}/api/v1/questionnaires", app.base))
        .header("Authorization", format!("bearer {}", app.key_a))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    // A query string the server cannot read is a JSON 400.
    let (s, b) = app.get(&app.key_a, "/api/v1/flags?limit=many").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_query"))
    );
}

#[tokio::test]
async fn every_answer_is_nosniff_and_patient_data_is_not_cached() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    for path in ["/healthz", "/api/v1/patients/P1/responses", "/nowhere"] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .bearer_auth(&app.key_a)
            .send()
            .await
            .expect("get");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        if path.starts_with("/api") {
            assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
        }
    }
}

#[tokio::test]
async fn responses_and_flags_come_in_pages_with_a_next_link() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    for i in 0..25 {
        // Alternating red (item 9) and yellow (total 10) answers.
        let q9 = if i % 2 == 0 { 1 } else { 0 };
        let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([1, 1, 2, 2, 2, 1, 1, 0, q9])});
        let (s, _) = app.post(&app.key_a, "/api/v1/responses", &body).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    for (path, first) in [
        ("/api/v1/patients/P1/responses?limit=10", "id"),
        ("/api/v1/flags?status=open&limit=10", "response"),
    ] {
        let mut seen = Vec::new();
        let mut next = Some(path.to_string());
        let mut pages = 0;
        while let Some(p) = next.take() {
            let r = app
                .http
                .get(format!("{}{p}", app.base))
                .bearer_auth(&app.key_a)
                .send()
                .await
                .expect("get");
            assert_eq!(r.status(), StatusCode::OK);
            next = r
                .headers()
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.strip_prefix('<'))
                .and_then(|l| l.split_once('>'))
                .map(|(u, _)| u.to_string());
            let page: Value = r.json().await.expect("json");
            let page = page.as_array().expect("an array").clone();
            assert!(page.len() <= 10);
            seen.extend(
                page.iter()
                    .map(|x| x[first].as_str().expect("id").to_string()),
            );
            pages += 1;
            if pages == 1 {
                // A response stored between pages does not disturb them.
                let body = json!({"questionnaire": "pain_nrs", "patient": "P1", "answers": {"pain_now": 0, "pain_worst": 0}});
                app.post(&app.key_a, "/api/v1/responses", &body).await;
            }
        }
        assert_eq!(pages, 3, "{path}");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "{path}: no item twice");
        assert_eq!(seen.len(), 25, "{path}");
    }
    let (s, _) = app.get(&app.key_a, "/api/v1/flags?limit=1001").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // Each queue item shown is a read of its patient, in the audit log.
    assert!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'review_queue.read' AND patient_id IS NOT NULL") >= 25
    );
}

#[test]
fn a_read_only_command_refuses_a_missing_database_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("typo/prom.db");
    for args in [
        vec!["audit", "verify"],
        vec!["apikey", "list", "--clinic", "a"],
        vec![
            "export",
            "--questionnaire",
            "phq9",
            "--format",
            "csv",
            "--all-clinics",
        ],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
            .args(&args)
            .arg("--db")
            .arg(&db)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            !dir.path().join("typo").exists(),
            "{args:?} created a folder"
        );
    }
}

#[tokio::test]
async fn the_database_its_wal_and_the_mail_folder_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    // A red answer puts a message in the mail folder.
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([0, 0, 0, 0, 0, 0, 0, 0, 2])});
    app.post(&app.key_a, "/api/v1/responses", &body).await;
    let mut mail = None;
    for _ in 0..50 {
        mail = std::fs::read_dir(&app.mail_dir).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"))
        });
        if mail.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&app.db), 0o600);
    assert_eq!(mode(&app.db.with_extension("db-wal")), 0o600);
    assert_eq!(mode(&app.mail_dir), 0o700);
    assert_eq!(mode(&mail.expect("a message was written")), 0o600);
}

#[test]
fn no_query_of_a_request_reads_more_than_one_patients_rows() {
    let dir = tempfile::tempdir().expect("dir");
    let conn = prom::storage::open(&dir.path().join("p.db"), &Default::default()).expect("open");
    let conn = conn.sqlite().expect("SQLite's query plans");
    // Plans as the database will choose them once it is large.
    conn.execute_batch("ANALYZE").expect("analyze");
    for (name, sql) in prom::storage::request_queries() {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        let plan: Vec<(i64, i64, String)> = stmt
            .query_map(rusqlite::params_from_iter(nulls), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(3)?))
            })
            .expect("plan")
            .collect::<Result<_, _>>()
            .expect("plan");
        let within_one_response = |mut id: i64| {
            // A sort inside a correlated subquery sorts one response's rows.
            while let Some((_, parent, detail)) = plan.iter().find(|(i, _, _)| *i == id) {
                if detail.starts_with("CORRELATED") {
                    return true;
                }
                id = *parent;
            }
            false
        };
        for (id, _, step) in &plan {
            let sorts = step.contains("TEMP B-TREE");
            // Sorting is fine over one response's rows, or one patient's
            // (found by `patient_id=?`): the cost does not grow with others.
            let sorts_one_response = name == "flags of a response" || within_one_response(*id);
            let sorts_one_patient = plan.iter().any(|(_, _, d)| d.contains("(patient_id=?"));
            let bounded_sort = !sorts || sorts_one_response || sorts_one_patient;
            assert!(
                bounded_sort && !step.starts_with("SCAN"),
                "{name} reads more than it needs: {plan:#?}"
            );
        }
    }
}
