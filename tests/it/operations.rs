//! What an operations team relies on: the configuration file and its
//! precedence, `prom config check` and `prom doctor`, readiness, metrics,
//! JSON logs with request ids, a binary that runs from any folder, and a
//! graceful stop on SIGTERM. These run `prom` as a process, as a service
//! manager would, on SQLite (the PostgreSQL side of readiness is in
//! `postgres`: a lost database makes `/readyz` 503 and comes back).

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn prom(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prom"))
        .args(args)
        .env_remove("PROM_CONFIG")
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("prom runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of `prom config check` for a setting.
fn setting<'a>(out: &'a str, id: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no line for {id} in:\n{out}"))
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file_which_beats_the_default() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("prom.toml"),
        "# prom's settings\n\
         listen = \"0.0.0.0:9000\"\n\
         workers = 4\n\
         body_timeout = 20\n\
         database = \"postgres://prom:s3cret-pw@db1,db2/prom?target_session_attrs=read-write\"\n\
         metrics_token = \"metrics-secret\"\n",
    )
    .expect("write");
    let (code, out, err) = prom(
        dir.path(),
        &[
            "config",
            "check",
            "--config",
            "prom.toml",
            "--listen",
            "127.0.0.1:1",
        ],
        &[("PROM_WORKERS", "3")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        setting(&out, "listen").contains("127.0.0.1:1  # flag"),
        "{out}"
    );
    assert!(
        setting(&out, "workers").contains("3  # environment (PROM_WORKERS)"),
        "{out}"
    );
    assert!(
        setting(&out, "body_timeout").contains("20  # file (prom.toml)"),
        "{out}"
    );
    assert!(
        setting(&out, "header_timeout").contains("5  # default"),
        "{out}"
    );
    // Secrets never printed.
    assert!(
        !out.contains("s3cret-pw") && !out.contains("metrics-secret"),
        "{out}"
    );
    assert!(
        setting(&out, "database").contains("postgres://prom:********@db1,db2/prom"),
        "{out}"
    );
    // The same file through the environment.
    let (code, out, _) = prom(
        dir.path(),
        &["config", "check"],
        &[("PROM_CONFIG", "prom.toml")],
    );
    assert_eq!(code, 0);
    assert!(
        setting(&out, "workers").contains("4  # file (prom.toml)"),
        "{out}"
    );
}

#[test]
fn an_unknown_key_or_a_wrong_value_in_the_file_is_refused_with_its_line_column_and_a_hint() {
    let dir = tempfile::tempdir().expect("dir");
    let cases = [
        (
            "workers = 2\nlisen = \"0.0.0.0:80\"\n",
            "bad.toml:2:1: error: unknown setting `lisen`\n  = hint: did you mean `listen`?",
        ),
        (
            "workers = \"many\"\n",
            "bad.toml:1:11: error: invalid value 'many' for '--workers <WORKERS>': invalid digit found in string",
        ),
        (
            "\n\ndemo = \"yes\"\n",
            "bad.toml:3:8: error: `demo` must be true or false, not a text",
        ),
        (
            "log_format = \"xml\"\n",
            "bad.toml:1:14: error: invalid value 'xml' for '--log-format <LOG_FORMAT>'",
        ),
        (
            "listen = \"a\"\nlisten = \"b\"\n",
            "bad.toml:2:1: error: duplicate key",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(dir.path().join("bad.toml"), text).expect("write");
        let (code, _, err) = prom(
            dir.path(),
            &["config", "check", "--config", "bad.toml"],
            &[],
        );
        assert_eq!(code, 1, "{text}: {err}");
        assert!(
            err.starts_with(expected),
            "{text}:\n{err}\nexpected:\n{expected}"
        );
        // Any other command refuses to run on it, as bad input.
        let (code, _, err) = prom(
            dir.path(),
            &["serve", "--config", "bad.toml", "--listen", "127.0.0.1:0"],
            &[],
        );
        assert_eq!(code, 2, "{text}: {err}");
        assert!(err.starts_with(expected), "{err}");
    }
}

/// A `prom serve` process and what it printed.
struct Served {
    child: Child,
    base: String,
    metrics: String,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Every line printed on standard output so far.
    stdout: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_prom"))
        .arg("serve")
        .args(args)
        .env_remove("PROM_CONFIG")
        .env_remove("PROM_LOG")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve");
    let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let lines = stderr.clone();
    let err = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            lines.lock().expect("lock").push(l);
        }
    });
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let (mut base, mut metrics) = (String::new(), String::new());
    let stdout = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let printed = stdout.clone();
    let mut line = String::new();
    while out.read_line(&mut line).expect("read") > 0 {
        printed
            .lock()
            .expect("lock")
            .push(line.trim_end().to_string());
        if let Some(a) = line.trim().strip_prefix("prom is listening on ") {
            base = a.to_string();
        }
        if let Some(a) = line.trim().strip_prefix("metrics:") {
            metrics = a.trim().to_string();
        }
        if line.trim().starts_with("e-mail:") {
            break;
        }
        line.clear();
    }
    assert!(
        !base.is_empty(),
        "serve printed its address; stderr: {:?}",
        stderr.lock()
    );
    std::thread::spawn(move || {
        let mut more = String::new();
        while out.read_line(&mut more).is_ok_and(|n| n > 0) {
            printed
                .lock()
                .expect("lock")
                .push(more.trim_end().to_string());
            more.clear();
        }
    });
    Served {
        child,
        base,
        metrics,
        stderr,
        stdout,
    }
}

/// A metric's value in Prometheus's text format.
fn metric(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find(|l| {
            l.strip_prefix(name_and_labels)
                .is_some_and(|rest| rest.starts_with(' '))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_its_configuration_file_serve_reports_readiness_metrics_and_json_logs_without_health_data()
 {
    // A folder with no questionnaires: the built-in ones are served.
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("prom.toml"),
        "listen = \"127.0.0.1:0\"\n\
         metrics_listen = \"127.0.0.1:0\"\n\
         db = \"data/prom.db\"\n\
         mail_dir = \"data/mail\"\n\
         base_url = \"https://prom.example\"\n\
         log_format = \"json\"\n\
         log_level = \"info,prom::access=debug\"\n",
    )
    .expect("config");
    let cfg = ["--config", "prom.toml"];
    let (code, _, err) = prom(
        dir.path(),
        &[
            "clinic",
            "add",
            "c1",
            "--name",
            "C1",
            "--alert-email",
            "a@example.org",
            cfg[0],
            cfg[1],
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let (code, key, err) = prom(
        dir.path(),
        &["apikey", "add", "--clinic", "c1", cfg[0], cfg[1]],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let key = key.trim().to_string();
    let served = serve(dir.path(), &cfg);
    assert!(!served.metrics.is_empty(), "the metrics address is printed");
    let http = reqwest::Client::new();

    let r = http
        .post(format!("{}/api/v1/patients", served.base))
        .bearer_auth(&key)
        .json(&json!({"ref": "OPS-PATIENT-1", "name": "Karen Operasen"}))
        .send()
        .await
        .expect("patient");
    assert_eq!(r.status(), 201);
    // The command line's links start with the one configured base URL,
    // and the built-in questionnaires are known to it too.
    let (code, link, err) = prom(
        dir.path(),
        &[
            "invite",
            "OPS-PATIENT-1",
            "--questionnaire",
            "pain_nrs",
            cfg[0],
            cfg[1],
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        link.starts_with("https://prom.example/a/prom_inv_"),
        "{link}"
    );
    let (code, link, err) = prom(
        dir.path(),
        &[
            "invite",
            "OPS-PATIENT-1",
            "--questionnaire",
            "pain_nrs",
            "--db",
            "data/prom.db",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(link.starts_with("http://127.0.0.1:8080/a/"), "{link}");
    assert!(err.contains("no public base URL is configured"), "{err}");
    let r = http
        .post(format!("{}/api/v1/responses", served.base))
        .bearer_auth(&key)
        .header("X-Request-Id", "ops-test-1")
        .json(
            &json!({"questionnaire": "pain_nrs", "patient": "OPS-PATIENT-1",
                      "answers": {"pain_now": 9, "pain_worst": 9, "comment": "sharp-pain-words"}}),
        )
        .send()
        .await
        .expect("submit");
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-request-id"], "ops-test-1");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["level"], "red", "{body}");
    // Without one, the server makes one.
    let r = http
        .get(format!("{}/readyz", served.base))
        .send()
        .await
        .expect("readyz");
    assert_eq!(r.status(), 200);
    let generated = r.headers()["x-request-id"]
        .to_str()
        .expect("id")
        .to_string();
    assert_eq!(generated.len(), 32);
    let ready: Value = r.json().await.expect("json");
    assert_eq!(
        ready,
        json!({"status": "ready", "checks": {"database": "ok", "migrations": "ok", "mailer": "ok"}})
    );

    // Metrics: on their own listener, not on the public one.
    let r = http
        .get(format!("{}/metrics", served.base))
        .send()
        .await
        .expect("public");
    assert_eq!(r.status(), 404);
    let text = http
        .get(&served.metrics)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert_eq!(
        metric(&text, "prom_submissions_stored_total{channel=\"api\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "prom_flags_raised_total{level=\"red\"}"),
        Some(1.0)
    );
    assert_eq!(
        metric(&text, "prom_review_open_items{level=\"red\"}"),
        Some(1.0)
    );
    let age = metric(&text, "prom_review_oldest_open_red_age_seconds").expect("age");
    assert!((0.0..120.0).contains(&age), "{age}");
    assert_eq!(
        metric(
            &text,
            "prom_http_requests_total{group=\"api\",status=\"201\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert!(text.contains("prom_http_request_duration_seconds_bucket{group=\"api\",le=\"0.1\"}"));
    assert!(metric(&text, "prom_storage_write_seconds_count").is_some_and(|n| n >= 2.0));
    assert!(metric(&text, "prom_storage_wal_bytes").is_some());
    assert!(metric(&text, "prom_outbox_pending").is_some());
    assert!(metric(&text, "prom_storage_reader_connections_busy").is_some());
    assert!(metric(&text, "prom_storage_batch_size_count").is_some_and(|n| n >= 2.0));
    // No identifier, answer or secret in a label.
    for secret in [
        "OPS-PATIENT-1",
        "Karen",
        "sharp-pain-words",
        key.as_str(),
        "pain_now",
    ] {
        assert!(!text.contains(secret), "{secret} in the metrics");
    }

    // The logs: JSON, one object per line, with the request id; nothing
    // of the patient, the answers or the key.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let lines = served.stderr.lock().expect("lock").clone();
    assert!(!lines.is_empty());
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["level"].is_string() && v["timestamp"].is_string(), "{l}");
        for secret in ["OPS-PATIENT-1", "Karen", "sharp-pain-words", key.as_str()] {
            assert!(!l.contains(secret), "{secret} in a log line: {l}");
        }
    }
    let access = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["span"]["request_id"] == "ops-test-1")
        .expect("an access line with the request id");
    assert_eq!(access["span"]["route"], "/api/v1/responses");
    assert_eq!(access["status"], 201);
    drop(served);
}

#[test]
fn doctor_passes_on_a_healthy_deployment_and_names_each_fault_with_a_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let base = ["--db", "data/prom.db", "--base-url", "https://prom.example"];
    // Before anything exists: the database check fails, with its fix.
    let (code, out, _) = prom(dir.path(), &[&["doctor"], &base[..]].concat(), &[]);
    assert_eq!(code, 1, "{out}");
    let db_line = out
        .lines()
        .position(|l| l.starts_with("FAIL database"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        out.lines()
            .nth(db_line + 1)
            .is_some_and(|l| l.contains("fix:")),
        "{out}"
    );
    // Set up as `serve` would leave it.
    let (code, _, err) = prom(
        dir.path(),
        &[&["clinic", "add", "c1", "--name", "C1"], &base[..2]].concat(),
        &[],
    );
    assert_eq!(code, 0, "{err}");
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(dir.path().join("data/mail"))
        .expect("mail");
    let (code, out, _) = prom(
        dir.path(),
        &[&["doctor", "--mail-dir", "data/mail"], &base[..]].concat(),
        &[],
    );
    assert_eq!(code, 0, "{out}");
    for check in [
        "configuration",
        "database",
        "clock",
        "files",
        "disk",
        "smtp",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "{check}:\n{out}"
        );
    }
    // A plain-http base URL and an SMTP server that is not there.
    let (code, out, _) = prom(
        dir.path(),
        &[
            "doctor",
            "--db",
            "data/prom.db",
            "--mail-dir",
            "data/mail",
            "--base-url",
            "http://prom.example",
            "--smtp-url",
            "smtp://127.0.0.1:1",
        ],
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL configuration") && out.contains("is not https"),
        "{out}"
    );
    assert!(out.contains("FAIL smtp"), "{out}");
    // A world-readable data folder.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.path().join("data"),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    let (code, out, _) = prom(
        dir.path(),
        &[&["doctor", "--mail-dir", "data/mail"], &base[..]].concat(),
        &[],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL files") && out.contains("chmod o-rwx"),
        "{out}"
    );
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_then_stops_cleanly() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().expect("dir");
    let (code, _, err) = prom(
        dir.path(),
        &["clinic", "add", "c1", "--name", "C1", "--db", "prom.db"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let (_, key, _) = prom(
        dir.path(),
        &["apikey", "add", "--clinic", "c1", "--db", "prom.db"],
        &[],
    );
    let (code, _, err) = prom(
        dir.path(),
        &[
            "patient", "add", "--ref", "T1", "--clinic", "c1", "--db", "prom.db",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let mut served = serve(
        dir.path(),
        &[
            "--db",
            "prom.db",
            "--listen",
            "127.0.0.1:0",
            "--mail-dir",
            "mail",
            "--shutdown-seconds",
            "10",
        ],
    );
    let addr = served.base.trim_start_matches("http://").to_string();
    // A submission whose body is still arriving when the stop comes.
    let body = serde_json::to_vec(&json!({"questionnaire": "pain_nrs", "patient": "T1",
        "answers": {"pain_now": 2, "pain_worst": 3}}))
    .expect("body");
    let mut conn = std::net::TcpStream::connect(&addr).expect("connect");
    write!(
        conn,
        "POST /api/v1/responses HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        key.trim(),
        body.len()
    )
    .expect("head");
    conn.write_all(&body[..10]).expect("part");
    std::thread::sleep(Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(served.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("term");
    std::thread::sleep(Duration::from_millis(500));
    // Stopping: no new connection is served.
    let fresh = std::net::TcpStream::connect(&addr).and_then(|mut c| {
        c.set_read_timeout(Some(Duration::from_secs(2)))?;
        write!(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let mut buf = [0u8; 64];
        c.read(&mut buf)
    });
    assert!(
        !matches!(fresh, Ok(n) if n > 0),
        "a new request was answered while stopping"
    );
    conn.write_all(&body[10..]).expect("rest");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = {
        let mut waited = 0;
        loop {
            if let Some(s) = served.child.try_wait().expect("wait") {
                break s;
            }
            assert!(waited < 100, "prom did not stop within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
            waited += 1;
        }
    };
    assert!(status.success(), "{status:?}: {:?}", served.stderr.lock());
    // A clean stop leaves no write-ahead log behind.
    let wal = dir.path().join("prom.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0);
    let conn =
        prom::storage::connect(&dir.path().join("prom.db"), &Default::default()).expect("db");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM responses", (), |r| r.get(0))
        .expect("count");
    assert_eq!(n, 1, "the answered submission is stored");
}

#[test]
fn the_shipped_deployment_files_hold_together() {
    let root = crate::helpers::root();
    // The example configuration is valid, every key known.
    let (code, out, err) = prom(
        &root,
        &["config", "check", "--config", "examples/deploy/prom.toml"],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        setting(&out, "trusted_proxies").contains("127.0.0.1  # file"),
        "{out}"
    );
    assert!(
        setting(&out, "log_format").contains("json  # file"),
        "{out}"
    );
    // The service manager waits longer for a stop than prom drains.
    let unit = std::fs::read_to_string(root.join("examples/deploy/prom.service")).expect("unit");
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} in prom.service"))
            .to_string()
    };
    let drain: u64 = setting(&out, "shutdown_seconds")
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .expect("shutdown_seconds");
    let stop: u64 = value("TimeoutStopSec").parse().expect("seconds");
    assert!(
        stop > drain,
        "TimeoutStopSec {stop} > shutdown_seconds {drain}"
    );
    assert_eq!(value("KillSignal"), "SIGTERM");
    assert_eq!(value("ExecStart"), "/usr/local/bin/prom serve");
    assert_eq!(value("ExecStartPre"), "/usr/local/bin/prom doctor");
    assert_eq!(value("ExecReload"), "/bin/kill -HUP $MAINPID");
    for hardening in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "UMask=0077",
    ] {
        assert!(unit.contains(hardening), "{hardening}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_runs_from_a_folder_without_questionnaires_on_the_built_in_ones() {
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(dir.path(), &["--demo", "--listen", "127.0.0.1:0"]);
    let mut key = None;
    for _ in 0..100 {
        key = served.stdout.lock().expect("lock").iter().find_map(|l| {
            l.trim()
                .strip_prefix("API key:")
                .map(|k| k.trim().to_string())
        });
        if key.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let key = key.expect("the demo printed its API key");
    let printed = served.stdout.lock().expect("lock").join("\n");
    assert!(
        printed.contains("questionnaires: built in (5 shipped"),
        "{printed}"
    );
    let list: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/questionnaires", served.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(5), "{list}");
    assert!(
        dir.path().join("data/prom.db").is_file(),
        "the demo's data is made here"
    );
}
