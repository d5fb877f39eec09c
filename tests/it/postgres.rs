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

/// A database of its own on the local PostgreSQL, dropped when this is.
pub struct TempPg {
    pub url: String,
    name: String,
}

const ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5";

impl TempPg {
    /// A new empty database, or `None` (with a printed reason) where there
    /// is no PostgreSQL and this is not CI.
    pub fn new() -> Option<TempPg> {
        let mut admin = match postgres::Client::connect(ADMIN, postgres::NoTls) {
            Ok(c) => c,
            Err(e) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("PostgreSQL at 127.0.0.1:5432 is required in CI: {e}");
                }
                println!("skipped: no PostgreSQL at 127.0.0.1:5432 ({e})");
                return None;
            }
        };
        let name = format!("prom_t_{}", uuid::Uuid::now_v7().simple());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        Some(TempPg {
            url: format!("host=127.0.0.1 port=5432 user=postgres dbname={name}"),
            name,
        })
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect")
    }
}

impl Drop for TempPg {
    fn drop(&mut self) {
        if let Ok(mut admin) = postgres::Client::connect(ADMIN, postgres::NoTls) {
            let _ = admin.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// Each table's columns as (name, kind, not null), kind being `integer` or
/// `text`.
type Tables = BTreeMap<String, Vec<(String, String, bool)>>;

fn sqlite_tables() -> Tables {
    let dir = tempfile::tempdir().expect("dir");
    let conn = prom::storage::open(&dir.path().join("s.db"), &Default::default()).expect("open");
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
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
            .query_map([], |r| {
                let kind: String = r.get(1)?;
                // An INTEGER PRIMARY KEY is never null, whatever it says.
                let pk_rowid =
                    kind == "INTEGER" && matches!(r.get::<_, String>(0)?.as_str(), "id" | "seq");
                Ok((
                    r.get::<_, String>(0)?,
                    if kind == "INTEGER" { "integer" } else { "text" }.to_string(),
                    r.get::<_, bool>(2)? || pk_rowid,
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
    let mut client = db.client();
    assert_eq!(prom::storage::pg::migrate(&mut client).expect("migrate"), 1);
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
                let mut c = prom::storage::pg::connect(&url).expect("connect");
                prom::storage::pg::migrate(&mut c)
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread").expect("migrated"), 1);
    }
    let mut client = db.client();
    let rows: i64 = client
        .query_one("SELECT count(*) FROM prom_schema", &[])
        .expect("count")
        .get(0);
    assert_eq!(rows, 1);
    assert_eq!(
        prom::storage::pg::schema_version(&mut client).expect("version"),
        1
    );
    // Again: nothing to do.
    assert_eq!(prom::storage::pg::migrate(&mut client).expect("again"), 1);
    // A database a newer prom migrated is not touched.
    client
        .batch_execute("UPDATE prom_schema SET version = 99")
        .expect("newer");
    let e = prom::storage::pg::migrate(&mut client).expect_err("refused");
    assert!(
        e.to_string()
            .contains("version 99, newer than this prom's 1"),
        "{e}"
    );
}

#[test]
fn the_clinical_record_and_the_audit_log_are_append_only_on_postgres() {
    let Some(db) = TempPg::new() else { return };
    let mut c = db.client();
    prom::storage::pg::migrate(&mut c).expect("migrate");
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
    let Err(e) = prom::storage::pg::connect(
        "postgres://prom:hunter2-secret@127.0.0.1:1/prom?connect_timeout=2",
    ) else {
        panic!("nothing listens on port 1");
    };
    let m = e.to_string();
    assert!(m.contains("127.0.0.1:1 (database prom)"), "{m}");
    assert!(!m.contains("hunter2"), "{m}");
}
