//! End-to-end load generator for `prom serve`.
//!
//! ```sh
//! cargo run --release -- serve --db /tmp/load/prom.db &
//! cargo run --release --example load -- --url http://127.0.0.1:8080 \
//!     --db /tmp/load/prom.db --concurrency 64 --seconds 20 --pid $(pgrep -f 'prom serve')
//! ```
//!
//! It creates its own clinic and API key (in the server's database, as the
//! CLI would) and patients (over the API), then posts PHQ-9 responses from
//! `--concurrency` clients for `--seconds`, and prints durable throughput,
//! p50/p99 latency and, with `--pid`, the server's peak memory. Before the
//! HTTP run it measures the raw SQLite baseline on the same disk: one
//! durable commit per insert, and 100 inserts per commit with time-ordered
//! keys.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use prom::storage::{self, Options};
use serde_json::{Value, json};

struct Args {
    url: String,
    db: PathBuf,
    concurrency: usize,
    seconds: u64,
    patients: usize,
    pid: Option<u32>,
    baseline: bool,
}

fn args() -> Args {
    let mut a = Args {
        url: "http://127.0.0.1:8080".into(),
        db: "data/prom.db".into(),
        concurrency: 64,
        seconds: 20,
        patients: 1000,
        pid: None,
        baseline: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = val(),
            "--db" => a.db = val().into(),
            "--concurrency" => a.concurrency = val().parse().expect("a number"),
            "--seconds" => a.seconds = val().parse().expect("a number"),
            "--patients" => a.patients = val().parse().expect("a number"),
            "--pid" => a.pid = Some(val().parse().expect("a process id")),
            "--no-baseline" => a.baseline = false,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// Raw SQLite on the same disk and settings as the server: WAL,
/// synchronous=FULL, a row of about the size of a stored response.
fn baseline(dir: &std::path::Path, per_commit: usize, seconds: f64) -> f64 {
    let path = dir.join(format!("baseline-{per_commit}.db"));
    let _ = std::fs::remove_file(&path);
    let conn = storage::connect(&path, &Options::default()).expect("baseline db");
    conn.execute_batch(
        "CREATE TABLE r (id TEXT PRIMARY KEY, patient TEXT NOT NULL, body TEXT NOT NULL)",
    )
    .expect("table");
    let body = "x".repeat(400);
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        conn.execute_batch("BEGIN IMMEDIATE").expect("begin");
        {
            let mut stmt = conn
                .prepare_cached("INSERT INTO r VALUES (?1, ?2, ?3)")
                .expect("prepare");
            for _ in 0..per_commit {
                stmt.execute(rusqlite::params![
                    uuid::Uuid::now_v7().to_string(),
                    format!("P{}", n % 1000),
                    body
                ])
                .expect("insert");
                n += 1;
            }
        }
        conn.execute_batch("COMMIT").expect("commit");
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    rate
}

fn peak_memory_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

fn answers(n: u64) -> Value {
    let mut m = serde_json::Map::new();
    for i in 1..=9u64 {
        m.insert(
            format!("q{i}"),
            json!((n + i * 7) % 4 * u64::from(i != 9 || n.is_multiple_of(50))),
        );
    }
    m.insert("q10".into(), json!(n % 4));
    Value::Object(m)
}

fn main() {
    let a = args();
    let dir =
        a.db.parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| ".".into());
    if a.baseline {
        let one = baseline(&dir, 1, 3.0);
        let hundred = baseline(&dir, 100, 3.0);
        println!("raw SQLite baseline (same disk, WAL, synchronous=FULL):");
        println!("  one commit per insert:      {one:>9.0} inserts/s");
        println!("  100 inserts per commit:     {hundred:>9.0} inserts/s");
    }

    // A clinic and key of our own, written the way the CLI writes.
    let clinic = format!("load_{}", std::process::id());
    let key = prom::security::new_token("prom_key_");
    {
        let mut conn = storage::open(&a.db, &Options::default()).expect("the server's database");
        storage::wait_for_writer(&mut conn).expect("busy handler");
        let now = prom::clock::Clock::now(&prom::clock::SystemClock);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("tx");
        prom::storage::clinics::insert_clinic(
            &tx,
            &prom::storage::clinics::Clinic {
                id: clinic.clone(),
                name: "Load test".into(),
                alert_emails: vec![],
                time_zone: "Europe/Copenhagen".into(),
            },
            now,
        )
        .expect("clinic");
        prom::storage::keys::insert_api_key(
            &tx,
            &clinic,
            &prom::security::token_hash(&key),
            None,
            now,
        )
        .expect("key");
        tx.commit().expect("commit");
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let client = reqwest::Client::builder().pool_max_idle_per_host(a.concurrency).build().expect("client");
        let url = a.url.trim_end_matches('/').to_string();
        for p in 0..a.patients {
            let r = client
                .post(format!("{url}/api/v1/patients"))
                .bearer_auth(&key)
                .json(&json!({"ref": format!("L{p}")}))
                .send()
                .await
                .expect("the server answers");
            assert_eq!(r.status().as_u16(), 201, "creating patients");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        let start = Instant::now();
        for c in 0..a.concurrency {
            let (client, url, key, stop, errors) = (client.clone(), url.clone(), key.clone(), stop.clone(), errors.clone());
            let patients = a.patients as u64;
            tasks.push(tokio::spawn(async move {
                let mut lat: Vec<u32> = Vec::with_capacity(100_000);
                let mut n = c as u64;
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({"questionnaire": "phq9", "patient": format!("L{}", n % patients), "answers": answers(n)});
                    let t = Instant::now();
                    let r = client.post(format!("{url}/api/v1/responses")).bearer_auth(&key).json(&body).send().await;
                    match r {
                        Ok(r) if r.status().as_u16() == 201 => {
                            let _ = r.bytes().await;
                            lat.push(t.elapsed().as_micros() as u32);
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    n += 7919;
                }
                lat
            }));
        }
        tokio::time::sleep(Duration::from_secs(a.seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut all: Vec<u32> = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client task"));
        }
        let secs = start.elapsed().as_secs_f64();
        all.sort_unstable();
        let pct = |p: f64| all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0) as f64 / 1000.0;
        println!("end to end over HTTP ({} clients, {:.1} s, PHQ-9 responses):", a.concurrency, secs);
        println!("  durable submissions:        {:>9.0} /s ({} in all, {} errors)", all.len() as f64 / secs, all.len(), errors.load(Ordering::Relaxed));
        println!("  latency p50 / p99:          {:>9.2} ms / {:.2} ms", pct(0.50), pct(0.99));
        if let Some(pid) = a.pid {
            match peak_memory_kib(pid) {
                Some(k) => println!("  server peak memory (VmHWM): {:>9.1} MiB", k as f64 / 1024.0),
                None => println!("  server peak memory: cannot read /proc/{pid}/status"),
            }
        }
    });
}
