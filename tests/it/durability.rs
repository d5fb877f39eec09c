//! The promises of a 201: crash safety under SIGKILL, two writers at once,
//! a full disk, an unwritable database, and versions that must not change
//! under the same number.

use crate::helpers::{NOW, config, phq9, root, seed_clinics, spawn, spawn_in};
use prom::storage::{self, Options};
use rand::RngExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Starts `prom serve` as a child process and returns it with its address.
fn start_child(dir: &std::path::Path, unsafe_ack: bool) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prom"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(dir.join("prom.db"))
        .arg("--questionnaires")
        .arg(root().join("questionnaires"))
        .arg("--mail-dir")
        .arg(dir.join("mail"))
        .env("PROM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if unsafe_ack {
        cmd.env("PROM_TEST_ACK_BEFORE_COMMIT", "true");
    }
    let mut child = cmd.spawn().expect("prom serve starts");
    let out = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(out)
        .read_line(&mut line)
        .expect("first line");
    let addr = line
        .trim()
        .strip_prefix("prom is listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    (child, addr)
}

/// An acknowledged submission: id, level and number of flags.
type Acked = (String, String, usize);

/// Posts submissions from 16 clients until the server dies; returns what
/// got a 201.
async fn hammer(base: String, key: String, kill_after: Duration, mut child: Child) -> Vec<Acked> {
    let acked: Arc<Mutex<Vec<Acked>>> = Arc::default();
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for t in 0..16u8 {
        let (client, base, key, acked) = (client.clone(), base.clone(), key.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0u32.. {
                let q9 = u8::from(n % 5 == 0) * 2;
                let v = (t + n as u8) % 4;
                let body = json!({"questionnaire": "phq9", "patient": format!("P{}", t % 8), "answers": phq9([v, v, 1, 0, 0, 0, 0, 0, q9])});
                let r = client.post(format!("{base}/api/v1/responses")).bearer_auth(&key).json(&body).send().await;
                let Ok(r) = r else { break };
                if r.status() != StatusCode::CREATED {
                    break;
                }
                let Ok(b) = r.json::<Value>().await else { break };
                let flags = b["flags"].as_array().map(Vec::len).unwrap_or(0);
                acked.lock().expect("lock").push((
                    b["id"].as_str().unwrap_or_default().to_string(),
                    b["level"].as_str().unwrap_or_default().to_string(),
                    flags,
                ));
            }
        }));
    }
    tokio::time::sleep(kill_after).await;
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    for t in tasks {
        let _ = t.await;
    }
    acked.lock().expect("lock").clone()
}

/// What the database lacks of the acknowledged submissions.
fn missing(db: &std::path::Path, acked: &[Acked]) -> Vec<String> {
    let conn = storage::connect(db, &Options::default()).expect("reopen");
    let ok: String = conn
        .query_row("PRAGMA integrity_check", (), |r| r.get(0))
        .expect("check");
    assert_eq!(ok, "ok");
    let mut lost = Vec::new();
    for (id, level, flags) in acked {
        let count = |sql: &str| -> i64 { conn.query_row(sql, [id], |r| r.get(0)).expect("count") };
        let stored = count("SELECT count(*) FROM responses WHERE id = ?1") == 1
            && count("SELECT count(*) FROM response_scores WHERE response_id = ?1") == 2
            && count("SELECT count(*) FROM flags WHERE response_id = ?1") == *flags as i64
            && count("SELECT count(*) FROM review_items WHERE response_id = ?1")
                == i64::from(level != "green");
        if !stored {
            lost.push(id.clone());
        }
    }
    // Reds alert the clinic: the first at once, the rest of a storm
    // gathered into one message (`usecase::alerts`).
    if acked.iter().any(|(_, level, _)| level == "red") {
        let alerts: i64 = conn
            .query_row(
                "SELECT count(*) FROM outbox WHERE kind IN ('red_flag', 'red_batch')",
                (),
                |r| r.get(0),
            )
            .expect("count");
        if alerts == 0 {
            lost.push("the red alert".into());
        }
    }
    lost
}

fn prepare(dir: &std::path::Path) -> String {
    let db = dir.join("prom.db");
    let (key, _) = seed_clinics(&prom::storage::Database::Sqlite(db.clone()));
    let conn = storage::open(&db, &Options::default()).expect("open");
    for p in 0..8 {
        prom::storage::patients::insert_patient(
            &conn,
            &prom::storage::patients::NewPatient {
                clinic_id: "a".into(),
                reference: format!("P{p}"),
                language: "da".into(),
                ..Default::default()
            },
            NOW.parse().expect("time"),
        )
        .expect("patient");
    }
    key
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_submission_survives_sigkill_twenty_times() {
    let dir = tempfile::tempdir().expect("dir");
    let key = prepare(dir.path());
    let mut total = 0;
    for round in 0..20 {
        let (child, addr) = start_child(dir.path(), false);
        let wait = Duration::from_millis(rand::rng().random_range(150..600));
        let acked = hammer(addr, key.clone(), wait, child).await;
        total += acked.len();
        let lost = missing(&dir.path().join("prom.db"), &acked);
        assert!(
            lost.is_empty(),
            "round {round}: {} acknowledged submissions lost: {lost:?}",
            lost.len()
        );
    }
    assert!(
        total > 200,
        "the test submitted too little to mean anything ({total})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crash_test_catches_a_server_that_answers_before_committing() {
    let dir = tempfile::tempdir().expect("dir");
    let key = prepare(dir.path());
    let mut caught = false;
    for _ in 0..10 {
        let (child, addr) = start_child(dir.path(), true);
        let wait = Duration::from_millis(rand::rng().random_range(150..600));
        let acked = hammer(addr, key.clone(), wait, child).await;
        if !missing(&dir.path().join("prom.db"), &acked).is_empty() {
            caught = true;
            break;
        }
    }
    assert!(
        caught,
        "answering before the commit lost nothing in 10 kills: the crash test would not notice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_and_the_cli_write_at_once_without_lock_errors() {
    let app = spawn().await;
    for p in 0..4 {
        app.patient(&app.key_a, &format!("P{p}")).await;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (http, base, key, stop) = (
            app.http.clone(),
            app.base.clone(),
            app.key_a.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({"questionnaire": "phq9", "patient": format!("P{}", t % 4), "answers": phq9([1; 9])});
                let r = http.post(format!("{base}/api/v1/responses")).bearer_auth(&key).json(&body).send().await.expect("post");
                assert_eq!(r.status(), StatusCode::CREATED, "{:?}", r.text().await);
                n += 1;
            }
            n
        }));
    }
    let db = app.db.clone();
    let cli = tokio::task::spawn_blocking(move || {
        for i in 0..15 {
            let out = Command::new(env!("CARGO_BIN_EXE_prom"))
                .args([
                    "patient",
                    "add",
                    "--clinic",
                    "a",
                    "--ref",
                    &format!("CLI{i}"),
                    "--db",
                ])
                .arg(&db)
                .output()
                .expect("cli runs");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "prom patient add failed: {err}");
            assert!(!err.contains("locked"), "{err}");
        }
    });
    cli.await.expect("cli finished");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut posted = 0;
    for t in tasks {
        posted += t.await.expect("task");
    }
    assert!(posted > 0);
    assert_eq!(
        app.count("SELECT count(*) FROM patients WHERE ref LIKE 'CLI%'"),
        15
    );
    assert_eq!(app.count("SELECT count(*) FROM responses"), posted);
}

#[tokio::test]
async fn a_full_disk_is_a_clear_503_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    let pages: i64 = storage::open(&cfg.db, &Options::default())
        .expect("open")
        .query_row("PRAGMA page_count", (), |r| r.get(0))
        .expect("pages");
    cfg.storage.max_pages = Some(pages as u64 + 60);
    let app = spawn_in(cfg, dir).await;
    app.patient(&app.key_a, "P1").await;
    let mut acked = Vec::new();
    let mut refusal = None;
    for _ in 0..5000 {
        let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([2; 9])});
        let (s, b) = app.post(&app.key_a, "/api/v1/responses", &body).await;
        if s == StatusCode::CREATED {
            acked.push(b["id"].as_str().expect("id").to_string());
        } else {
            refusal = Some((s, b));
            break;
        }
    }
    let (s, b) = refusal.expect("the disk filled up");
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert_eq!(b["error"], "storage_full");
    assert!(
        b["message"]
            .as_str()
            .expect("message")
            .contains("nothing was stored")
    );
    assert!(acked.len() > 5);
    let list: Vec<(String, String, usize)> = acked
        .iter()
        .map(|id| (id.clone(), "red".to_string(), 2))
        .collect();
    assert_eq!(missing(&app.db, &list), Vec::<String>::new());
    // Reading still works.
    let (s, _) = app
        .get(&app.key_a, &format!("/api/v1/responses/{}", acked[0]))
        .await;
    assert!(
        s == StatusCode::OK || s == StatusCode::SERVICE_UNAVAILABLE,
        "{s}"
    );
}

#[test]
fn an_unwritable_database_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("file"), "not a folder").expect("write");
    let mut cfg = config(dir.path());
    cfg.db = dir.path().join("file/prom.db");
    let clock = Arc::new(prom::clock::FixedClock(NOW.parse().expect("time")));
    let err = prom::startup::start(&cfg, clock).err().expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("while opening the database"), "{msg}");
    assert!(msg.contains("cannot be written"), "{msg}");
}

#[tokio::test]
async fn changed_content_under_the_same_version_stops_start_up() {
    let app = spawn().await;
    let qdir = tempfile::tempdir().expect("dir");
    let src = std::fs::read_to_string(root().join("questionnaires/pain_nrs.yaml")).expect("read");
    let version: u32 = src
        .lines()
        .find_map(|l| l.strip_prefix("version: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the shipped file's version");
    std::fs::write(
        qdir.path().join("pain_nrs.yaml"),
        src.replace(
            "How bad is your pain right now?",
            "How strong is your pain right now?",
        ),
    )
    .expect("write");
    let mut cfg = config(app.dir.path());
    cfg.questionnaires = qdir.path().to_path_buf();
    let clock = Arc::new(prom::clock::FixedClock(NOW.parse().expect("time")));
    let err = prom::startup::start(&cfg, clock.clone())
        .err()
        .expect("refused");
    assert!(
        format!("{err:#}").contains(&format!(
            "`pain_nrs` version {version} changed, but its version did not"
        )),
        "{err:#}"
    );
    // A new version is accepted, and the old one stays on record.
    std::fs::write(
        qdir.path().join("pain_nrs.yaml"),
        src.replace(
            "How bad is your pain right now?",
            "How strong is your pain right now?",
        )
        .replace(
            &format!("version: {version}"),
            &format!("version: {}", version + 1),
        ),
    )
    .expect("write");
    let running = prom::startup::start(&cfg, clock).expect("starts");
    drop(running);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM questionnaire_versions WHERE questionnaire_id = 'pain_nrs'"
        ),
        2
    );
}

/// Makes a file immutable (`chattr +i`), as a read-only remount would make
/// the disk: every write to it fails, even for root.
fn immutable(path: &std::path::Path, on: bool) {
    let flag = if on { "+i" } else { "-i" };
    let st = Command::new("chattr")
        .arg(flag)
        .arg(path)
        .status()
        .expect("chattr runs (e2fsprogs)");
    assert!(st.success(), "chattr {flag} {} failed", path.display());
}

#[tokio::test]
async fn an_unwritable_disk_is_a_clear_503_loses_nothing_and_recovers() {
    // Under target/, on the project's disk: chattr needs a real file system.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("dir");
    let cfg = config(dir.path());
    let app = spawn_in(cfg, dir).await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([1; 9])});
    let mut acked = Vec::new();
    for _ in 0..3 {
        let (s, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
        assert_eq!(s, StatusCode::CREATED);
        acked.push((
            r["id"].as_str().expect("id").to_string(),
            "red".to_string(),
            1,
        ));
    }
    let wal = app.db.with_extension("db-wal");
    immutable(&wal, true);
    let (s, b) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    immutable(&wal, false);
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(
        b["message"]
            .as_str()
            .expect("message")
            .contains("nothing was stored"),
        "{b}"
    );
    assert!(
        ["storage_unavailable", "storage_read_only"].contains(&b["error"].as_str().unwrap_or("")),
        "{b}"
    );
    // Writable again: the service goes on, and nothing acknowledged is lost.
    let (s, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    acked.push((
        r["id"].as_str().expect("id").to_string(),
        "red".to_string(),
        1,
    ));
    assert_eq!(missing(&app.db, &acked), Vec::<String>::new());
    assert_eq!(app.count("SELECT count(*) FROM responses"), 4);
}

#[test]
fn a_damaged_database_refuses_to_start_and_points_to_the_backup() {
    let dir = tempfile::tempdir().expect("dir");
    let cfg = config(dir.path());
    seed_clinics(&cfg.database().expect("database"));
    {
        let conn = storage::open(&cfg.db, &Options::default()).expect("open");
        for p in 0..3000 {
            prom::storage::patients::insert_patient(
                &conn,
                &prom::storage::patients::NewPatient {
                    clinic_id: "a".into(),
                    reference: format!("P{p}"),
                    language: "da".into(),
                    ..Default::default()
                },
                NOW.parse().expect("time"),
            )
            .expect("patient");
        }
    } // The last connection closed: everything is in the main file.
    // Overwrite pages in the middle of the file, as a failing disk would.
    let mut bytes = std::fs::read(&cfg.db).expect("read");
    let pages = bytes.len() / 4096;
    assert!(pages > 20, "{pages} pages");
    for page in [pages / 2, pages / 2 + 1, pages - 2] {
        for b in &mut bytes[page * 4096..(page + 1) * 4096] {
            *b = 0xA5;
        }
    }
    std::fs::write(&cfg.db, &bytes).expect("write");
    let clock = Arc::new(prom::clock::FixedClock(NOW.parse().expect("time")));
    let err = prom::startup::start(&cfg, clock).err().expect("refused");
    let msg = format!("{err:#}");
    assert!(msg.contains("is damaged"), "{msg}");
    assert!(msg.contains("restore the newest backup"), "{msg}");
}

#[tokio::test]
async fn the_wal_stays_bounded_under_sustained_load() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    let limit = 1024 * 1024;
    cfg.writer.wal_limit = limit;
    let app = Arc::new(spawn_in(cfg, dir).await);
    for p in 0..16 {
        app.patient(&app.key_a, &format!("P{p}")).await;
    }
    let wal = app.db.with_extension("db-wal");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for p in 0..16 {
        let (app, stop) = (app.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let body = json!({"questionnaire": "phq9", "patient": format!("P{p}"), "answers": phq9([1; 9])});
                let (s, _) = app.post(&app.key_a, "/api/v1/responses", &body).await;
                assert_eq!(s, StatusCode::CREATED);
                n += 1;
            }
            n
        }));
    }
    let mut largest = 0u64;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut stored = 0;
    for t in tasks {
        stored += t.await.expect("task");
    }
    let db_size = std::fs::metadata(&app.db).map(|m| m.len()).unwrap_or(0);
    // Without the bound the WAL holds every page written since the last
    // complete checkpoint; with it, at most the limit and one batch.
    assert!(
        db_size > 3 * limit,
        "the load wrote enough to matter: {stored} responses, {db_size} bytes"
    );
    assert!(
        largest <= limit + 4 * 1024 * 1024,
        "the WAL reached {largest} bytes with a limit of {limit} ({stored} responses)"
    );
}

#[tokio::test]
async fn a_clean_shutdown_leaves_the_wal_empty() {
    let dir = tempfile::tempdir().expect("dir");
    let (key, _) = seed_clinics(&prom::storage::Database::Sqlite(dir.path().join("prom.db")));
    let (mut child, base) = start_child(dir.path(), false);
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/api/v1/patients"))
        .bearer_auth(&key)
        .json(&json!({"ref": "P1"}))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::CREATED);
    let wal = dir.path().join("prom.db-wal");
    assert!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) > 0);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "{exit:?}");
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
}
