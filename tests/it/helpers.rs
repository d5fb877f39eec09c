//! A test server: the real application on port 0, a fresh database (an
//! SQLite file in a temporary folder, or, in the PostgreSQL run of the
//! suite, a database of its own on the local PostgreSQL, dropped
//! afterwards), a fixed clock, and two clinics with API keys.

use prom::clock::ManualClock;
use prom::startup::{Config, Running, start};
use prom::storage::clinics::Clinic;
use prom::storage::{self, Options};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;

pub struct TestApp {
    pub base: String,
    /// The SQLite file (the PostgreSQL run keeps its audit files there).
    pub db: PathBuf,
    /// The database the server runs on.
    pub database: storage::Database,
    /// The PostgreSQL database, dropped with the app.
    pub _pg: Option<TempPg>,
    pub mail_dir: PathBuf,
    pub key_a: String,
    pub key_b: String,
    pub http: reqwest::Client,
    /// The server's clock: stands at `NOW` until a test moves it.
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    /// The mailer thread; dropping it stops it (a test of a restart).
    pub mailer: prom::mail::Mailer,
}

pub const NOW: &str = "2026-03-02T10:00:00Z";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Which backend this run of the suite is on.
pub fn postgres() -> bool {
    crate::BACKEND == "postgres"
}

/// A database of its own on the local PostgreSQL (127.0.0.1:5432, trust
/// authentication), dropped when this is.
pub struct TempPg {
    pub url: String,
    name: String,
}

const PG_ADMIN: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5";

impl TempPg {
    /// A new empty database, or `None` (with a printed reason) where there
    /// is no PostgreSQL and this is not CI (under `CI=true` it fails).
    pub fn new() -> Option<TempPg> {
        // The synchronous client must not run inside the test's runtime.
        std::thread::spawn(TempPg::make).join().expect("thread")
    }

    fn make() -> Option<TempPg> {
        let mut admin = match postgres::Client::connect(PG_ADMIN, postgres::NoTls) {
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

    /// A connection through storage's own `Connection`.
    pub fn conn(&self) -> storage::Connection {
        storage::Connection::open_postgres(&self.url, None).expect("connect")
    }

    /// PostgreSQL's own client (call it off the test's runtime).
    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect")
    }
}

impl Drop for TempPg {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(mut admin) = postgres::Client::connect(PG_ADMIN, postgres::NoTls) {
                let _ =
                    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}

/// The PostgreSQL databases of configs made and not yet started, by URL.
static WAITING: std::sync::Mutex<Vec<TempPg>> = std::sync::Mutex::new(Vec::new());

/// Adds two clinics (`a` with an alert address, `b`) and a key for each.
pub fn seed_clinics(db: &storage::Database) -> (String, String) {
    let conn = storage::open_database(db, &Options::default()).expect("open");
    let now = NOW.parse().expect("time");
    let mut keys = Vec::new();
    for (id, alert) in [("a", vec!["alerts@a.example".to_string()]), ("b", vec![])] {
        prom::storage::clinics::insert_clinic(
            &conn,
            &Clinic {
                id: id.into(),
                name: format!("Clinic {id}"),
                alert_emails: alert,
                time_zone: "Europe/Copenhagen".into(),
            },
            now,
        )
        .expect("clinic");
        let key = prom::security::new_token("prom_key_");
        prom::storage::keys::insert_api_key(
            &conn,
            id,
            &prom::security::token_hash(&key),
            None,
            now,
        )
        .expect("key");
        keys.push(key);
    }
    (keys.remove(0), keys.remove(0))
}

/// The configuration of a test server whose files live in `dir` (and, in
/// the PostgreSQL run, on a new database of its own).
pub fn config(dir: &std::path::Path) -> Config {
    let database = if postgres() {
        let pg = TempPg::new().expect("PostgreSQL for the PostgreSQL run");
        let url = pg.url.clone();
        WAITING.lock().expect("lock").push(pg);
        Some(url)
    } else {
        None
    };
    Config {
        listen: "127.0.0.1:0".into(),
        db: dir.join("prom.db"),
        database,
        questionnaires: root().join("questionnaires"),
        mail_dir: dir.join("mail"),
        workers: 2,
        ..Config::default()
    }
}

/// The PostgreSQL database made for `config`, to be dropped with the
/// returned value (`None` on SQLite).
pub fn claim(config: &Config) -> Option<TempPg> {
    let url = config.database.as_ref()?;
    let mut waiting = WAITING.lock().expect("lock");
    let at = waiting.iter().position(|p| &p.url == url)?;
    Some(waiting.remove(at))
}

/// Starts the application with `config`, whose files live in `dir`.
pub async fn spawn_in(config: Config, dir: tempfile::TempDir) -> TestApp {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let database = config.database().expect("database");
    let pg = claim(&config);
    let (key_a, key_b) = seed_clinics(&database);
    let clock = Arc::new(ManualClock::new(NOW.parse().expect("time")));
    let Running {
        addr,
        server,
        mailer,
        ..
    } = start(&config, clock.clone()).expect("the server starts");
    tokio::spawn(server);
    TestApp {
        base: format!("http://{addr}"),
        db: config.db.clone(),
        database,
        _pg: pg,
        mail_dir: config.mail_dir.clone(),
        key_a,
        key_b,
        http: reqwest::Client::new(),
        clock,
        dir,
        mailer,
    }
}

/// A fresh application with the shipped questionnaires.
pub async fn spawn() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = config(dir.path());
    spawn_in(cfg, dir).await
}

impl TestApp {
    pub async fn get(&self, key: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .header("Accept-Language", "en")
            .send()
            .await
            .expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn post(&self, key: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_lang(key, path, body, "en").await
    }

    pub async fn post_lang(
        &self,
        key: &str,
        path: &str,
        body: &Value,
        lang: &str,
    ) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .header("Accept-Language", lang)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn patient(&self, key: &str, reference: &str) {
        let (s, b) = self
            .post(key, "/api/v1/patients", &json!({"ref": reference}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }

    /// The command line's arguments for this app's database.
    pub fn db_args(&self) -> Vec<std::ffi::OsString> {
        let mut out = vec!["--db".into(), self.db.clone().into_os_string()];
        if let storage::Database::Postgres { url, .. } = &self.database {
            out.extend(["--database".into(), url.into()]);
        }
        out
    }

    /// Where the audit key and head files are named from.
    pub fn files(&self) -> PathBuf {
        match &self.database {
            storage::Database::Postgres { state, .. } => state.clone(),
            storage::Database::Sqlite(p) => p.clone(),
        }
    }

    pub fn conn(&self) -> prom::storage::Connection {
        storage::connect_to(&self.database, &Options::default()).expect("connect")
    }

    pub fn count(&self, sql: &str) -> i64 {
        self.conn().query_row(sql, (), |r| r.get(0)).expect("count")
    }
}

pub fn phq9(values: [u8; 9]) -> Value {
    let mut m = serde_json::Map::new();
    for (i, v) in values.iter().enumerate() {
        m.insert(format!("q{}", i + 1), json!(v));
    }
    if values.iter().any(|v| *v > 0) {
        m.insert("q10".into(), json!(1));
    }
    Value::Object(m)
}
