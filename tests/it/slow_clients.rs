//! Slow clients cannot starve the service: 400 connections that trickle
//! their headers or bodies, against a server allowed only 256 open files,
//! leave `/healthz` and another clinic's submissions working.

use reqwest::StatusCode;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

use crate::helpers::{root, seed_clinics};

/// One slow client, again and again until `stop`: it sends `head` at once,
/// then one byte every half second, and connects anew when cut off.
async fn trickle(addr: String, head: String, stop: Arc<AtomicBool>, cut: Arc<AtomicUsize>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if s.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if s.write_all(b"x").await.is_err() {
                cut.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_slow_clients_leave_healthz_and_other_clinics_working() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("prom.db");
    let (key_a, key_b) = seed_clinics(&prom::storage::Database::Sqlite(db.clone()));
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("log");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_prom"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--header-timeout",
            "2",
            "--body-timeout",
            "2",
            "--db",
        ])
        .arg(&db)
        .arg("--questionnaires")
        .arg(root().join("questionnaires"))
        .arg("--mail-dir")
        .arg(dir.path().join("mail"))
        .env("PROM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("prom serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let base = line
        .trim()
        .strip_prefix("prom is listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line}"))
        .to_string();
    let addr = base.trim_start_matches("http://").to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let cut = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for i in 0..400 {
        let head = if i % 2 == 0 {
            // Headers that never end.
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_string()
        } else {
            // A valid key, then a body that never ends.
            format!(
                "POST /api/v1/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key_a}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{"
            )
        };
        attackers.push(tokio::spawn(trickle(
            addr.clone(),
            head,
            stop.clone(),
            cut.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    client
        .post(format!("{base}/api/v1/patients"))
        .bearer_auth(&key_b)
        .json(&json!({"ref": "B1"}))
        .send()
        .await
        .unwrap_or_else(|e| {
            let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
            panic!("patient while under attack: {e}\nserver log:\n{log}")
        });
    for round in 0..3 {
        let r = client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: /healthz did not answer: {e}"));
        assert_eq!(r.status(), StatusCode::OK, "round {round}");
        let r = client
            .post(format!("{base}/api/v1/responses"))
            .bearer_auth(&key_b)
            .json(&json!({"questionnaire": "pain_nrs", "patient": "B1", "answers": {"pain_now": 2, "pain_worst": 3}}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: clinic b could not submit: {e}"));
        assert_eq!(r.status(), StatusCode::CREATED, "round {round}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.await;
    }
    assert!(
        cut.load(Ordering::Relaxed) >= 100,
        "slow clients were cut off ({} times)",
        cut.load(Ordering::Relaxed)
    );
    assert!(
        child.try_wait().expect("status").is_none(),
        "the server lives"
    );
    child.kill().expect("kill");
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    assert!(
        !log.contains("cannot be written"),
        "no misleading storage error: {log}"
    );
}
