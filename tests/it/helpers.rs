//! A test server: the real application on port 0, a fresh SQLite file in a
//! temporary folder, a fixed clock, and two clinics with API keys.

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
    pub db: PathBuf,
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

/// Adds two clinics (`a` with an alert address, `b`) and a key for each.
pub fn seed_clinics(db: &std::path::Path) -> (String, String) {
    let conn = storage::open(db, &Options::default()).expect("open");
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

pub fn config(dir: &std::path::Path) -> Config {
    Config {
        listen: "127.0.0.1:0".into(),
        db: dir.join("prom.db"),
        questionnaires: root().join("questionnaires"),
        mail_dir: dir.join("mail"),
        workers: 2,
        ..Config::default()
    }
}

/// Starts the application with `config`, whose files live in `dir`.
pub async fn spawn_in(config: Config, dir: tempfile::TempDir) -> TestApp {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let (key_a, key_b) = seed_clinics(&config.db);
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

    pub fn conn(&self) -> prom::storage::Connection {
        storage::connect(&self.db, &Options::default()).expect("connect")
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
