//! Slow clients cannot starve the service: 400 connections with a valid
//! API key that announce a 900,000-byte body and trickle it, and 100 more
//! that trickle their headers, against a server allowed only 256 open
//! files, leave `/healthz` and another clinic's submissions answering
//! within 2 seconds throughout. A body announced over the limit is refused
//! before it is read.

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

/// Starts `prom serve` under an open-file limit of 256: (child, base URL,
/// clinic a's key, clinic b's key, the folder).
fn serve_limited() -> (
    std::process::Child,
    String,
    String,
    String,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("prom.db");
    let (key_a, key_b) = seed_clinics(&prom::storage::Database::Sqlite(db.clone()));
    let stderr = std::fs::File::create(dir.path().join("stderr.log")).expect("log");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 256 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_prom"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(&db)
        .arg("--questionnaires")
        .arg(root().join("questionnaires"))
        .arg("--mail-dir")
        .arg(dir.path().join("mail"))
        .env("PROM_LOG", "warn")
        .env_remove("PROM_CONFIG")
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
    (child, base, key_a, key_b, dir)
}

/// The crowd: `n` slow clients sending `head`, connecting over about a
/// second (the same millisecond would be a flood, the proxy's to absorb).
async fn crowd(
    addr: &str,
    n: usize,
    head: &str,
    stop: &Arc<AtomicBool>,
    cut: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(tokio::spawn(trickle(
            addr.to_string(),
            head.to_string(),
            stop.clone(),
            cut.clone(),
        )));
        tokio::time::sleep(Duration::from_millis(1_000 / n as u64)).await;
    }
    out
}

/// For `seconds`, every half second, `/healthz` and a submission of
/// clinic b, each on a new connection (as a new client would come):
/// the slowest of each.
async fn probe(base: &str, key_b: &str, seconds: u64, limit: Duration) -> (Duration, Duration) {
    let client = reqwest::Client::builder()
        .timeout(limit)
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let (mut health, mut submit) = (Duration::ZERO, Duration::ZERO);
    for round in 0..seconds * 2 {
        let t = std::time::Instant::now();
        let r = client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("round {round}: /healthz did not answer within {limit:?}: {e}")
            });
        assert_eq!(r.status(), StatusCode::OK, "round {round}");
        health = health.max(t.elapsed());
        let t = std::time::Instant::now();
        let r = client
            .post(format!("{base}/api/v1/responses"))
            .bearer_auth(key_b)
            .json(&json!({"questionnaire": "pain_nrs", "patient": "B1", "answers": {"pain_now": 2, "pain_worst": 3}}))
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: clinic b could not submit within {limit:?}: {e}"));
        assert_eq!(r.status(), StatusCode::CREATED, "round {round}");
        submit = submit.max(t.elapsed());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    (health, submit)
}

async fn patient_b(base: &str, key_b: &str) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/patients"))
        .bearer_auth(key_b)
        .json(&json!({"ref": "B1"}))
        .send()
        .await
        .expect("patient");
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_hundred_slow_bodies_from_one_key_leave_healthz_and_other_clinics_answering_within_two_seconds()
 {
    let (mut child, base, key_a, key_b, dir) = serve_limited();
    let addr = base.trim_start_matches("http://").to_string();
    let log = || std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
    patient_b(&base, &key_b).await;
    let stop = Arc::new(AtomicBool::new(false));
    let cut = Arc::new(AtomicUsize::new(0));
    // A valid key, a 900,000-byte body announced, one byte at a time.
    let head = format!(
        "POST /api/v1/responses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key_a}\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n{{"
    );
    let attackers = crowd(&addr, 400, &head, &stop, &cut).await;
    let (health, submit) = probe(&base, &key_b, 12, Duration::from_secs(2)).await;
    println!(
        "under 400 slow bodies from one key (file limit 256): slowest /healthz {health:?}, slowest submission of another clinic {submit:?}"
    );
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
    assert!(
        !log().contains("cannot be written"),
        "no misleading storage error: {}",
        log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_slow_headers_leave_healthz_and_other_clinics_answering() {
    let (mut child, base, _, key_b, _dir) = serve_limited();
    let addr = base.trim_start_matches("http://").to_string();
    patient_b(&base, &key_b).await;
    let stop = Arc::new(AtomicBool::new(false));
    let cut = Arc::new(AtomicUsize::new(0));
    // Headers that never end.
    let attackers = crowd(
        &addr,
        100,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ",
        &stop,
        &cut,
    )
    .await;
    let (health, submit) = probe(&base, &key_b, 8, Duration::from_secs(2)).await;
    println!(
        "under 100 slow headers (file limit 256): slowest /healthz {health:?}, slowest submission of another clinic {submit:?}"
    );
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.await;
    }
    assert!(
        cut.load(Ordering::Relaxed) >= 50,
        "cut at the header deadline"
    );
    child.kill().expect("kill");
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_announced_over_the_limit_is_refused_before_it_is_read_and_a_small_one_must_not_dawdle()
 {
    use tokio::io::AsyncReadExt;
    let (mut child, base, key_a, _, _dir) = serve_limited();
    let addr = base.trim_start_matches("http://").to_string();
    for (path, auth) in [
        (
            "/api/v1/responses",
            format!("Authorization: Bearer {key_a}\r\n"),
        ),
        ("/a", String::new()),
    ] {
        let mut s = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        s.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 5000000\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("head");
        // No byte of the body is sent: the answer comes anyway, at once.
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut answer))
            .await
            .expect("answered at once, connection closed")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{path}: {answer}");
        assert!(
            answer.to_lowercase().contains("content-security-policy"),
            "{answer}"
        );
    }
    // A small body that stops arriving is dropped after a few seconds,
    // not after the 30-second deadline.
    let mut s = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    s.write_all(
        format!(
            "POST /api/v1/patients HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key_a}\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{{\"ref\""
        )
        .as_bytes(),
    )
    .await
    .expect("head");
    let t = std::time::Instant::now();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
        .await
        .expect("dropped within 10 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    child.kill().expect("kill");
    let _ = child.wait();
}
