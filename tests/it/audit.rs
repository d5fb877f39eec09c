//! The audit trail proves more: every kind of tampering an outside review
//! tried is caught by `prom audit verify` (exit 1), what it cannot check
//! says so (exit 2), and backups restore to a copy that verifies.

use reqwest::StatusCode;
use serde_json::json;
use std::path::{Path, PathBuf};

use crate::helpers::{TestApp, phq9, spawn};

fn prom(args: &[&str], db: &Path) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("PROM_AUDIT_KEY")
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A server with 30 responses of one patient (every fifth red), backed up.
async fn base() -> (TestApp, PathBuf) {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    for i in 0..30 {
        let q9 = u8::from(i % 5 == 0);
        let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([0, 0, 0, 0, 0, 0, 0, 0, q9])});
        let (s, _) = app.post(&app.key_a, "/api/v1/responses", &body).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let copy = app.dir.path().join("base.db");
    let (code, out, err) = prom(&["backup", copy.to_str().expect("path")], &app.db);
    assert_eq!(code, 0, "{out}{err}");
    (app, copy)
}

/// A restored copy of the backup in a folder of its own, as the README
/// says: the file, its head, and the original's key.
fn restore(app: &TestApp, copy: &Path, name: &str) -> PathBuf {
    let dir = app.dir.path().join(name);
    std::fs::create_dir(&dir).expect("dir");
    let db = dir.join("prom.db");
    std::fs::copy(copy, &db).expect("copy");
    std::fs::copy(
        prom::storage::audit::head_path(copy),
        prom::storage::audit::head_path(&db),
    )
    .expect("head");
    std::fs::copy(
        prom::storage::audit::key_path(&app.db),
        prom::storage::audit::key_path(&db),
    )
    .expect("key");
    db
}

fn sql(db: &Path, batch: &str) {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.execute_batch(batch).expect("tamper");
}

fn verify(db: &Path) -> (i32, String) {
    let (code, out, err) = prom(&["audit", "verify"], db);
    (code, format!("{out}{err}"))
}

#[tokio::test]
async fn verify_catches_every_kind_of_tampering_it_was_shown() {
    let (app, copy) = base().await;
    let db = restore(&app, &copy, "intact");
    let (code, out) = verify(&db);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("30 responses as stored"), "{out}");

    // The last 20 rows deleted.
    let db = restore(&app, &copy, "cut");
    sql(
        &db,
        "DROP TRIGGER audit_no_delete;
         DELETE FROM audit_log WHERE seq > (SELECT max(seq) - 20 FROM audit_log);",
    );
    let (code, out) = verify(&db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("removed from its end") || out.contains("responses are stored"),
        "{out}"
    );

    // A row removed and the chain recomputed, without the key: with a
    // guessed key, or as unkeyed rows.
    for (name, scheme) in [("rekeyed", 2), ("unkeyed", 1)] {
        let db = restore(&app, &copy, name);
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch(
            "DROP TRIGGER audit_no_delete; DROP TRIGGER audit_no_update;
             DELETE FROM audit_log WHERE seq = 10;
             UPDATE audit_log SET seq = seq - 1 WHERE seq > 10;",
        )
        .expect("remove");
        // The attacker's rewrite: each row's fields, linked again.
        type Row = (i64, Vec<Option<String>>);
        let rows: Vec<Row> = conn
            .prepare("SELECT seq, at, actor, action, clinic_id, patient_id, subject, content_hash FROM audit_log ORDER BY seq")
            .expect("prepare")
            .query_map((), |r| Ok((r.get(0)?, (1..8).map(|i| r.get(i)).collect::<Result<_, _>>()?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("rows");
        let mut prev = String::new();
        for (seq, fields) in rows {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            let seq_text = seq.to_string();
            let mut parts = vec![prev.as_str(), seq_text.as_str()];
            parts.extend(fields.iter().map(|f| f.as_deref().unwrap_or("")));
            for part in parts {
                h.update(part.len().to_le_bytes());
                h.update(part.as_bytes());
            }
            let hash = hex::encode(h.finalize());
            conn.execute(
                "UPDATE audit_log SET prev_hash = ?2, hash = ?3, scheme = ?4 WHERE seq = ?1",
                rusqlite::params![seq, prev, hash, scheme],
            )
            .expect("rewrite");
            prev = hash;
        }
        drop(conn);
        let (code, out) = verify(&db);
        assert_eq!(code, 1, "{name}: {out}");
    }

    // A red response rewritten to green in responses, flags and scores,
    // with the triggers dropped.
    let db = restore(&app, &copy, "rewritten");
    let red: String = rusqlite::Connection::open(&db)
        .expect("open")
        .query_row(
            "SELECT id FROM responses WHERE level = 'red' LIMIT 1",
            (),
            |r| r.get(0),
        )
        .expect("a red response");
    sql(
        &db,
        &format!(
            "DROP TRIGGER responses_no_update; DROP TRIGGER flags_no_delete; DROP TRIGGER scores_no_update;
             UPDATE responses SET level = 'green', fired = '[]', answers = json_set(answers, '$.q9', 0) WHERE id = '{red}';
             DELETE FROM flags WHERE response_id = '{red}';
             UPDATE response_scores SET band = 'minimal' WHERE response_id = '{red}';"
        ),
    );
    let (code, out) = verify(&db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("the response {red} was changed")),
        "{out}"
    );

    // A response slipped in without an audit row.
    let db = restore(&app, &copy, "forged");
    sql(
        &db,
        "INSERT INTO responses SELECT '01ffffff-ffff-7fff-bfff-ffffffffffff', clinic_id, patient_id,
             questionnaire_id, version, hash, mode, submitted_at, response_date, answers, score_values,
             fired, level, actor, NULL, NULL FROM responses LIMIT 1;",
    );
    let (code, out) = verify(&db);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("31 responses are stored"), "{out}");

    // The head checkpoint altered to hide the cut.
    let db = restore(&app, &copy, "head");
    std::fs::write(prom::storage::audit::head_path(&db), "5 abc def\n").expect("head");
    let (code, out) = verify(&db);
    assert_eq!(code, 1, "{out}");

    // What cannot be checked says so: no key, no head.
    let db = restore(&app, &copy, "nokey");
    std::fs::remove_file(prom::storage::audit::key_path(&db)).expect("rm key");
    let (code, out) = verify(&db);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("audit key is missing"), "{out}");
    let db = restore(&app, &copy, "nohead");
    std::fs::remove_file(prom::storage::audit::head_path(&db)).expect("rm head");
    let (code, out) = verify(&db);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("head checkpoint"), "{out}");
}

#[tokio::test]
async fn a_backup_taken_under_load_restores_with_every_acknowledged_response() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let app = std::sync::Arc::new(app);
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..300u32 {
                let body = json!({"questionnaire": "pain_nrs", "patient": "P1", "answers": {"pain_now": i % 11, "pain_worst": 10}});
                let (s, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
                assert_eq!(s, StatusCode::CREATED);
                acked.push((
                    std::time::Instant::now(),
                    r["id"].as_str().expect("id").to_string(),
                ));
            }
            acked
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let copy = app.dir.path().join("backup.db");
    let (db, c) = (app.db.clone(), copy.clone());
    let (code, out, err) =
        tokio::task::spawn_blocking(move || prom(&["backup", c.to_str().expect("path")], &db))
            .await
            .expect("backup");
    assert_eq!(code, 0, "{out}{err}");
    let acked = writer.await.expect("load");
    let before: Vec<&String> = acked
        .iter()
        .filter(|(t, _)| *t < started)
        .map(|(_, id)| id)
        .collect();
    assert!(!before.is_empty(), "the backup ran under load");
    let restored = restore(&app, &copy, "restored");
    let conn = rusqlite::Connection::open(&restored).expect("open");
    let ok: String = conn
        .query_row("PRAGMA integrity_check", (), |r| r.get(0))
        .expect("check");
    assert_eq!(ok, "ok");
    for id in before {
        let n: i64 = conn
            .query_row("SELECT count(*) FROM responses WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .expect("count");
        assert_eq!(n, 1, "{id} acknowledged before the backup is in it");
    }
    drop(conn);
    let (code, out) = verify(&restored);
    assert_eq!(code, 0, "a restored backup verifies: {out}");
    // The copy is the owner's only, and a second backup to it is refused.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&copy).expect("copy").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let (code, _, err) = prom(&["backup", copy.to_str().expect("path")], &app.db);
    assert_eq!(code, 2, "{err}");
}
