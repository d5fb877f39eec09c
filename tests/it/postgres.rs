//! PostgreSQL, on the server every machine of the project runs
//! (127.0.0.1:5432, trust authentication): each test makes its own
//! database and drops it afterwards. When PostgreSQL cannot be reached the
//! tests fail under `CI=true` and are skipped elsewhere, with one line
//! saying why.
//!
//! What is here so far: the schema (the same tables and columns as
//! SQLite's), migrations applied once under a lock however many nodes
//! start together, a newer schema refused, the append-only triggers, and
//! the connection error that names the host and never the password.

use std::collections::BTreeMap;

use crate::helpers::TempPg;

/// Each table's columns as (name, kind, not null), kind being `integer` or
/// `text`.
type Tables = BTreeMap<String, Vec<(String, String, bool)>>;

fn sqlite_tables() -> Tables {
    let dir = tempfile::tempdir().expect("dir");
    let conn = prom::storage::open(&dir.path().join("s.db"), &Default::default()).expect("open");
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("prepare")
        .query_map((), |r| r.get(0))
        .expect("tables")
        .collect::<Result<_, _>>()
        .expect("names");
    let mut out = Tables::new();
    for t in names {
        let cols: Vec<(String, String, bool)> = conn
            .prepare(&format!(
                "SELECT name, type, \"notnull\" FROM pragma_table_info('{t}')"
            ))
            .expect("prepare")
            .query_map((), |r| {
                let kind: String = r.get(1)?;
                // An INTEGER PRIMARY KEY is never null, whatever it says.
                let pk_rowid =
                    kind == "INTEGER" && matches!(r.get::<String>(0)?.as_str(), "id" | "seq");
                Ok((
                    r.get::<String>(0)?,
                    if kind == "INTEGER" { "integer" } else { "text" }.to_string(),
                    r.get::<bool>(2)? || pk_rowid,
                ))
            })
            .expect("columns")
            .collect::<Result<_, _>>()
            .expect("cols");
        out.insert(t, cols);
    }
    out
}

fn postgres_tables(client: &mut postgres::Client) -> Tables {
    let mut out = Tables::new();
    for row in client
        .query(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name != 'prom_schema'
             ORDER BY table_name, ordinal_position",
            &[],
        )
        .expect("columns")
    {
        let kind: String = row.get(2);
        let nullable: String = row.get(3);
        out.entry(row.get(0)).or_default().push((
            row.get(1),
            if kind == "bigint" { "integer" } else { "text" }.to_string(),
            nullable == "NO",
        ));
    }
    out
}

#[test]
fn the_postgres_schema_has_sqlites_tables_and_columns() {
    let Some(db) = TempPg::new() else { return };
    assert_eq!(
        prom::storage::pg::migrate(&mut db.conn()).expect("migrate"),
        prom::storage::pg::MIGRATIONS.len() as u32
    );
    let mut client = db.client();
    let (lite, pg) = (sqlite_tables(), postgres_tables(&mut client));
    assert_eq!(
        lite.keys().collect::<Vec<_>>(),
        pg.keys().collect::<Vec<_>>(),
        "the same tables"
    );
    for (table, cols) in &lite {
        assert_eq!(Some(cols), pg.get(table), "the columns of {table}");
    }
}

#[test]
fn nodes_starting_together_apply_each_migration_once_and_a_newer_schema_is_refused() {
    let Some(db) = TempPg::new() else { return };
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || {
                let mut c = prom::storage::Connection::open_postgres(&url, None).expect("connect");
                prom::storage::pg::migrate(&mut c)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(
            h.join().expect("thread").expect("migrated"),
            prom::storage::pg::MIGRATIONS.len() as u32
        );
    }
    let mut client = db.client();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM prom_schema", &[])
        .expect("count")
        .get(0);
    assert_eq!(rows, 1);
    let mut conn = db.conn();
    let n = prom::storage::pg::MIGRATIONS.len() as u32;
    assert_eq!(
        prom::storage::pg::schema_version(&conn).expect("version"),
        n
    );
    // Again: nothing to do.
    assert_eq!(prom::storage::pg::migrate(&mut conn).expect("again"), n);
    // A database a newer prom migrated is not touched.
    client
        .batch_execute("UPDATE prom_schema SET version = 99")
        .expect("newer");
    let Err(e) = prom::storage::pg::migrate(&mut conn) else {
        panic!("a newer schema is refused");
    };
    assert!(
        e.to_string()
            .contains(&format!("version 99, newer than this prom's {n}")),
        "{e}"
    );
}

#[test]
fn the_clinical_record_and_the_audit_log_are_append_only_on_postgres() {
    let Some(db) = TempPg::new() else { return };
    prom::storage::pg::migrate(&mut db.conn()).expect("migrate");
    let mut c = db.client();
    c.batch_execute(
        "INSERT INTO clinics (id, name, created_at) VALUES ('a', 'A', 't');
         INSERT INTO patients (id, clinic_id, ref, created_at) VALUES ('p', 'a', 'P1', 't');
         INSERT INTO questionnaire_versions VALUES ('q', 1, 'h', '{}', 't');
         INSERT INTO responses (id, clinic_id, patient_id, questionnaire_id, version, hash, mode,
             submitted_at, response_date, answers, score_values, fired, level, actor)
           VALUES ('r', 'a', 'p', 'q', 1, 'h', 'web', 't', 'd', '{}', '{}', '[]', 'green', 'x');
         INSERT INTO audit_log (seq, at, actor, action, prev_hash, hash) VALUES (1, 't', 'x', 'y', '', 'h');",
    )
    .expect("rows");
    for sql in [
        "UPDATE responses SET level = 'red'",
        "DELETE FROM responses",
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ] {
        let e = c.batch_execute(sql).expect_err(sql);
        let m = e
            .as_db_error()
            .map(|d| d.message().to_string())
            .unwrap_or_default();
        assert!(m.contains("append-only"), "{sql}: {e:?}");
    }
}

#[test]
fn an_unreachable_database_is_named_by_its_host_and_never_by_its_password() {
    let Err(e) = prom::storage::Connection::open_postgres(
        "postgres://prom:hunter2-secret@127.0.0.1:1/prom?connect_timeout=2",
        None,
    ) else {
        panic!("nothing listens on port 1");
    };
    let m = e.to_string();
    assert!(m.contains("127.0.0.1:1 (database prom)"), "{m}");
    assert!(!m.contains("hunter2"), "{m}");
}

#[test]
fn one_query_runs_on_both_backends_through_storages_connection() {
    use prom::params;
    use prom::storage::db::{Connection, OptionalExtension};
    let Some(db) = TempPg::new() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let lite =
        Connection::from_sqlite(rusqlite::Connection::open(dir.path().join("t.db")).expect("db"));
    let pg = Connection::open_postgres(&db.url, None).expect("connect");
    for mut c in [lite, pg] {
        let b = c.backend();
        c.execute_batch(
            "CREATE TABLE items (id TEXT PRIMARY KEY, n BIGINT NOT NULL, note TEXT);
             CREATE TABLE events (item TEXT NOT NULL, text TEXT NOT NULL)",
        )
        .expect("tables");
        for (id, n, note) in [("a", 1, Some("first")), ("b", 2, None)] {
            c.execute(
                "INSERT INTO items (id, n, note) VALUES (?1, ?2, ?3)",
                params![id, n, note],
            )
            .expect("insert");
        }
        c.execute(
            "INSERT INTO events (item, text) VALUES (?1, ?2), (?1, ?3)",
            params!["a", "{\"da\":\"hej\"}", "{\"da\":\"igen\"}"],
        )
        .expect("events");
        // JSON built in the query, an optional filter, row values, EXISTS.
        let rows: Vec<(String, i64, String, bool)> = c
            .prepare_cached(
                "SELECT i.id, i.n,
                    (SELECT json_group_array(json_object('item', e.item, 'text', json(e.text)) ORDER BY e.text)
                       FROM events e WHERE e.item = i.id),
                    EXISTS (SELECT 1 FROM events e WHERE e.item = i.id)
                 FROM items i
                 WHERE (?1 IS NULL OR i.note = ?1) AND (i.n, i.id) > (?2, ?3)
                 ORDER BY i.id LIMIT ?4",
            )
            .expect("prepare")
            .query_map(params![None::<String>, 0, "", 10], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("all");
        assert_eq!(rows.len(), 2, "{b:?}");
        let events: serde_json::Value = serde_json::from_str(&rows[0].2).expect("json");
        assert_eq!(events[1]["text"]["da"], "igen", "{b:?}: {events}");
        assert_eq!(rows[1].2, "[]", "{b:?}: an empty list, not NULL");
        assert!(rows[0].3 && !rows[1].3, "{b:?}");
        let missing = c
            .query_row("SELECT n FROM items WHERE id = ?1", ["zz"], |r| {
                r.get::<i64>(0)
            })
            .optional()
            .expect("query");
        assert_eq!(missing, None, "{b:?}");
        // A unique key broken is a conflict on both.
        let e = c
            .execute("INSERT INTO items (id, n) VALUES (?1, ?2)", params!["a", 3])
            .expect_err("duplicate");
        assert!(
            matches!(e, prom::storage::StorageError::Conflict(_))
                || e.to_string().contains("UNIQUE"),
            "{b:?}: {e}"
        );
        // What a transaction did not commit is gone.
        {
            let tx = c.transaction().expect("begin");
            tx.execute("DELETE FROM items", ()).expect("delete");
        }
        let n: i64 = c
            .query_row("SELECT count(*) FROM items", (), |r| r.get(0))
            .expect("count");
        assert_eq!(n, 2, "{b:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_database_store_each_submission_once_in_one_audit_chain() {
    use crate::helpers::{NOW, phq9, root, seed_clinics};
    let Some(pg) = TempPg::new() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let node = |name: &str| prom::startup::Config {
        listen: "127.0.0.1:0".into(),
        // One folder for both: the nodes share the audit key file.
        db: dir.path().join("prom.db"),
        database: Some(pg.url.clone()),
        questionnaires: root().join("questionnaires"),
        mail_dir: dir.path().join(format!("mail-{name}")),
        workers: 2,
        ..Default::default()
    };
    let (a, b) = (node("a"), node("b"));
    let (key, _) = seed_clinics(&a.database().expect("database"));
    let clock = std::sync::Arc::new(prom::clock::ManualClock::new(NOW.parse().expect("time")));
    let mut bases = Vec::new();
    let mut mailers = Vec::new();
    for cfg in [&a, &b] {
        let running = prom::startup::start(cfg, clock.clone()).expect("a node starts");
        bases.push(format!("http://{}", running.addr));
        mailers.push(running.mailer);
        tokio::spawn(running.server);
    }
    let http = reqwest::Client::new();
    for i in 0..20 {
        let r = http
            .post(format!("{}/api/v1/patients", bases[i % 2]))
            .bearer_auth(&key)
            .json(&serde_json::json!({"ref": format!("N{i}")}))
            .send()
            .await
            .expect("patient");
        assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    }
    // 200 submissions through both nodes at once, one in ten red.
    let posts = (0..200).map(|i| {
        let (http, base, key) = (http.clone(), bases[i % 2].clone(), key.clone());
        async move {
            let item9 = u8::from(i % 10 == 0);
            let body = serde_json::json!({
                "questionnaire": "phq9",
                "patient": format!("N{}", i % 20),
                "answers": phq9([1, 1, 1, 1, 0, 0, 0, 0, item9]),
                "idempotency_key": format!("k{i}"),
            });
            http.post(format!("{base}/api/v1/responses"))
                .bearer_auth(&key)
                .json(&body)
                .send()
                .await
                .expect("post")
                .status()
        }
    });
    let statuses = futures_util::future::join_all(posts).await;
    let created = statuses
        .iter()
        .filter(|s| **s == reqwest::StatusCode::CREATED)
        .count();
    assert_eq!(created, 200, "{statuses:?}");
    let database = a.database().expect("database");
    let files = match &database {
        prom::storage::Database::Postgres { state, .. } => state.clone(),
        _ => unreachable!(),
    };
    let (responses, items, audit) = std::thread::spawn(move || {
        let conn = prom::storage::connect_to(&database, &Default::default()).expect("connect");
        let count = |sql: &str| -> i64 { conn.query_row(sql, (), |r| r.get(0)).expect(sql) };
        let verdict = prom::storage::audit::verify(&conn, &files).expect("verify");
        (
            count("SELECT count(*) FROM responses"),
            count("SELECT count(*) FROM review_items WHERE level = 'red'"),
            verdict,
        )
    })
    .join()
    .expect("thread");
    assert_eq!(responses, 200);
    assert_eq!(items, 20, "one red item per red response");
    assert!(
        matches!(audit, prom::storage::audit::Verdict::Intact { .. }),
        "one chain, no fork: {audit:?}"
    );
    // Both nodes' mailers read the one outbox: every message is sent once
    // (the reds after the first are gathered into a message at the end of
    // the storm window).
    clock.advance(chrono::Duration::minutes(6));
    let database = a.database().expect("database");
    let (outbox, sent) = std::thread::spawn(move || {
        let conn = prom::storage::connect_to(&database, &Default::default()).expect("connect");
        let count = |sql: &str| -> i64 { conn.query_row(sql, (), |r| r.get(0)).expect(sql) };
        for _ in 0..100 {
            if count("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        (
            count("SELECT count(*) FROM outbox"),
            count("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL"),
        )
    })
    .join()
    .expect("thread");
    assert!(outbox >= 1, "the red alerts are in the outbox");
    assert_eq!(sent, outbox, "all sent");
    let files: usize = ["a", "b"]
        .iter()
        .map(|n| {
            std::fs::read_dir(dir.path().join(format!("mail-{n}")))
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                        .count()
                })
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(
        files as i64, outbox,
        "each message written once, by one node"
    );
    drop(mailers);
}

#[test]
fn a_due_message_is_claimed_by_one_sender_only_on_both_backends() {
    let Some(pg) = TempPg::new() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let now: chrono::DateTime<chrono::Utc> = crate::helpers::NOW.parse().expect("time");
    for database in [
        prom::storage::Database::Sqlite(dir.path().join("c.db")),
        prom::storage::Database::Postgres {
            url: pg.url.clone(),
            state: dir.path().join("postgres"),
        },
    ] {
        let first = prom::storage::open_database(&database, &Default::default()).expect("open");
        first
            .execute(
                "INSERT INTO outbox (id, kind, recipient, subject, body, created_at, due_at)
                 VALUES ('m1', 'alert', 'a@b.example', 's', 'b', ?1, ?1)",
                prom::params![prom::storage::ids::ts(now)],
            )
            .expect("a message");
        let second = prom::storage::connect_to(&database, &Default::default()).expect("connect");
        // Both senders find it due; one claim wins.
        let seen_1 = prom::storage::outbox::due(&first, now, 10).expect("due");
        let seen_2 = prom::storage::outbox::due(&second, now, 10).expect("due");
        assert_eq!((seen_1.len(), seen_2.len()), (1, 1));
        let until = now + chrono::Duration::minutes(10);
        let won_1 = prom::storage::outbox::claim(&first, &seen_1[0], until).expect("claim");
        let won_2 = prom::storage::outbox::claim(&second, &seen_2[0], until).expect("claim");
        assert!(won_1 ^ won_2, "{database:?}: exactly one sender");
        // Claimed, it is not due for anyone until the claim runs out.
        assert!(
            prom::storage::outbox::due(&second, now, 10)
                .expect("due")
                .is_empty()
        );
        assert_eq!(
            prom::storage::outbox::due(&second, until, 10)
                .expect("due")
                .len(),
            1,
            "a sender that died: sent again when the claim ran out"
        );
    }
}

#[tokio::test]
async fn a_deployment_moves_from_sqlite_to_postgres_whole_with_its_audit_chain() {
    use crate::helpers::spawn;
    let Some(pg) = TempPg::new() else { return };
    let app = spawn().await;
    app.patient(&app.key_a, "M1").await;
    for item9 in [0, 1, 0] {
        let rid = crate::clinic::phq9(&app, "M1", 2, item9).await;
        assert!(!rid.is_empty());
    }
    let first = crate::clinic::phq9(&app, "M1", 1, 0).await;
    let (s, b) = app
        .post(
            &app.key_a,
            &format!("/api/v1/responses/{first}/corrections"),
            &serde_json::json!({"answers": crate::helpers::phq9([0; 9]), "reason": "typed wrong"}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{b}");
    let mut nurse = crate::clinic::logged_in(&app, "a", "m@a.example", "clinician").await;
    assert_eq!(nurse.get("/clinic").await.status, reqwest::StatusCode::OK);
    let prom = |args: Vec<std::ffi::OsString>| {
        std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
            .args(args)
            .output()
            .expect("prom runs")
    };
    let run = prom(vec![
        "migrate-db".into(),
        "--from".into(),
        format!("sqlite:{}", app.db.display()).into(),
        "--to".into(),
        pg.url.clone().into(),
    ]);
    let out =
        String::from_utf8_lossy(&run.stdout).to_string() + &String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{out}");
    assert!(out.contains("the audit log is intact there"), "{out}");
    // Every table holds what SQLite held (sessions stay behind).
    let (lite, database) = (
        app.conn(),
        prom::storage::Database::Postgres {
            url: pg.url.clone(),
            state: app.dir.path().join("postgres"),
        },
    );
    let target = prom::storage::connect_to(&database, &Default::default()).expect("connect");
    for table in prom::storage::copy::TABLES {
        let sql = format!("SELECT count(*) FROM {table}");
        let n = |c: &prom::storage::Connection| -> i64 {
            c.query_row(&sql, (), |r| r.get(0)).expect(&sql)
        };
        assert_eq!(n(&lite), n(&target), "{table}");
    }
    // The same copy in statements of three rows (full and partial
    // statements both run) holds the same rows, and its chain verifies.
    let small = TempPg::new().expect("a second database");
    let state = app.dir.path().join("small").join("postgres");
    std::fs::create_dir_all(app.dir.path().join("small")).expect("folder");
    std::fs::copy(
        prom::storage::audit::key_path(&app.db),
        prom::storage::audit::key_path(&state),
    )
    .expect("key");
    let small_db = prom::storage::Database::Postgres {
        url: small.url.clone(),
        state: state.clone(),
    };
    let mut to = prom::storage::open_database(&small_db, &Default::default()).expect("open");
    let copied = prom::storage::copy::copy_all_with(&lite, &mut to, 3).expect("copy");
    assert!(
        copied.iter().any(|(_, n)| *n > 3 && n % 3 != 0),
        "a table needs full and partial statements: {copied:?}"
    );
    for (table, n) in &copied {
        let all: i64 = lite
            .query_row(&format!("SELECT count(*) FROM {table}"), (), |r| r.get(0))
            .expect("count");
        let there: i64 = to
            .query_row(&format!("SELECT count(*) FROM {table}"), (), |r| r.get(0))
            .expect("count");
        assert_eq!((all, there), (*n as i64, *n as i64), "{table}");
    }
    assert!(prom::storage::audit::refresh_head(&to));
    let verdict = prom::storage::audit::verify(&to, &state).expect("verify");
    assert!(
        matches!(verdict, prom::storage::audit::Verdict::Intact { .. }),
        "{verdict:?}"
    );
    // `prom audit verify` holds on the target, from its own key file.
    let verify = prom(vec![
        "audit".into(),
        "verify".into(),
        "--db".into(),
        app.db.clone().into_os_string(),
        "--database".into(),
        pg.url.clone().into(),
    ]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    // A second copy into the same database is refused: it is not empty.
    let again = prom(vec![
        "migrate-db".into(),
        "--from".into(),
        app.db.clone().into_os_string(),
        "--to".into(),
        pg.url.clone().into(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
    // A server on the copy serves the same data with the same key.
    let dir = tempfile::tempdir().expect("dir");
    let cfg = prom::startup::Config {
        listen: "127.0.0.1:0".into(),
        db: app.db.clone(),
        database: Some(pg.url.clone()),
        questionnaires: crate::helpers::root().join("questionnaires"),
        mail_dir: dir.path().join("mail"),
        ..Default::default()
    };
    let running = prom::startup::start(&cfg, app.clock.clone()).expect("starts on the copy");
    tokio::spawn(running.server);
    let r = reqwest::Client::new()
        .get(format!(
            "http://{}/api/v1/patients/M1/responses",
            running.addr
        ))
        .bearer_auth(&app.key_a)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let list: serde_json::Value = r.json().await.expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(5), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_its_database_lost_the_server_answers_503_keeps_running_and_recovers() {
    use crate::helpers::{NOW, phq9, root, seed_clinics};
    let Some(pg) = TempPg::new() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let cfg = prom::startup::Config {
        listen: "127.0.0.1:0".into(),
        db: dir.path().join("prom.db"),
        database: Some(pg.url.clone()),
        questionnaires: root().join("questionnaires"),
        mail_dir: dir.path().join("mail"),
        ..Default::default()
    };
    let (key, _) = seed_clinics(&cfg.database().expect("database"));
    let clock = std::sync::Arc::new(prom::clock::ManualClock::new(NOW.parse().expect("time")));
    let running = prom::startup::start(&cfg, clock).expect("starts");
    let base = format!("http://{}", running.addr);
    tokio::spawn(running.server);
    let http = reqwest::Client::new();
    let submit = |i: u32| {
        let (http, base, key) = (http.clone(), base.clone(), key.clone());
        async move {
            let r = http
                .post(format!("{base}/api/v1/responses"))
                .bearer_auth(&key)
                .json(&serde_json::json!({
                    "questionnaire": "phq9",
                    "patient": "L1",
                    "answers": phq9([1; 9]),
                    "idempotency_key": format!("lost-{i}"),
                }))
                .send()
                .await
                .expect("post");
            (r.status(), r.headers().get("retry-after").is_some())
        }
    };
    let r = http
        .post(format!("{base}/api/v1/patients"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"ref": "L1"}))
        .send()
        .await
        .expect("patient");
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    assert_eq!(submit(0).await.0, reqwest::StatusCode::CREATED);
    // The database refuses connections and drops the server's.
    let name = pg.url.rsplit('=').next().expect("name").to_string();
    let admin = |sql: String| {
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(
                "host=127.0.0.1 port=5432 user=postgres dbname=test",
                postgres::NoTls,
            )
            .expect("admin");
            c.batch_execute(&sql).expect("admin sql");
        })
        .join()
        .expect("thread")
    };
    admin(format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS false;
         SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}';"
    ));
    for i in 1..4 {
        let (status, retry) = submit(i).await;
        assert_eq!(
            status,
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            "never 500"
        );
        assert!(retry, "with Retry-After");
    }
    // Reads are refused the same way, never with a 500.
    let r = http
        .get(format!("{base}/api/v1/flags?status=open"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("read");
    assert_eq!(r.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().get("retry-after").is_some());
    // The process is alive (`/healthz`) but not ready (`/readyz`), which
    // names the database.
    let r = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    let r = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(
        body["checks"]["database"]
            .as_str()
            .is_some_and(|d| d.starts_with("unreachable")),
        "{body}"
    );
    // Back: the server goes on by itself.
    admin(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    let mut back = false;
    for i in 4..40 {
        if submit(i).await.0 == reqwest::StatusCode::CREATED {
            back = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(back, "stores again once the database is back");
    let mut ready = false;
    for _ in 0..20 {
        let r = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz");
        if r.status() == reqwest::StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ready, "ready again once the database is back");
}

#[test]
fn serve_with_an_unreachable_database_says_where_in_one_line_and_exits_2() {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database"])
        .arg("postgres://prom:hunter2-secret@127.0.0.1:1/prom?connect_timeout=2")
        .arg("--db")
        .arg(dir.path().join("prom.db"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("prom runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("127.0.0.1:1 (database prom)"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}
