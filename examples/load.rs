//! End-to-end load generator for `prom serve`.
//!
//! ```sh
//! cargo run --release -- serve --db target/load/prom.db &
//! cargo run --release --example load -- --url http://127.0.0.1:8080 \
//!     --db target/load/prom.db --concurrency 64 --seconds 20 --pid $(pgrep -f 'prom serve')
//! ```
//!
//! It creates its own clinic and API key (in the server's database, as the
//! CLI would) and patients (over the API), then posts PHQ-9 responses from
//! `--concurrency` clients for `--seconds`, and prints durable throughput,
//! p50/p99 latency and, with `--pid`, the server's peak memory. Before the
//! HTTP run it measures the raw SQLite baselines on the same disk: one
//! durable commit per insert, 100 inserts per commit with time-ordered
//! keys, and the storage work of a submission done directly (the history
//! read and the same rows, 100 submissions per commit).
//!
//! For the scale benchmark (docs/PERFORMANCE.md, "How cost grows"):
//! `--seed-responses N --seed-patients M` fills `--db` directly (no server
//! running) and exits; `--queries N` measures, after the load, N reads of
//! one patient's history page and of the open-flags queue.

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
    seed_responses: u64,
    seed_patients: u64,
    queries: usize,
    pages: u64,
    /// The server's PostgreSQL database (instead of the SQLite file `db`).
    database: Option<String>,
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
        seed_responses: 0,
        seed_patients: 200_000,
        queries: 0,
        pages: 0,
        database: None,
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
            "--seed-responses" => a.seed_responses = val().parse().expect("a number"),
            "--seed-patients" => a.seed_patients = val().parse().expect("a number"),
            "--queries" => a.queries = val().parse().expect("a number"),
            "--pages" => a.pages = val().parse().expect("seconds"),
            "--database" => a.database = Some(val()),
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
                stmt.execute(prom::params![
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

/// The storage work of a submission done directly (see
/// `baseline_submissions_on`), on a fresh SQLite file with prom's schema.
fn baseline_submissions(dir: &std::path::Path, seconds: f64) -> f64 {
    let path = dir.join("baseline-submissions.db");
    for ext in ["", "-wal", "-shm", ".audit-key", ".audit-head"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    let rate = baseline_submissions_on(&storage::Database::Sqlite(path.clone()), seconds);
    for ext in ["", "-wal", "-shm", ".audit-key", ".audit-head"] {
        let _ = std::fs::remove_file(format!("{}{ext}", path.display()));
    }
    rate
}

/// What the server stores for `answers(n)`: the answers, the score rows,
/// the flags and the level, computed once by the engine (the core's work
/// is not storage work) for each of the load's 100 answer patterns.
struct Stored {
    answers: serde_json::Map<String, Value>,
    score_values: serde_json::Map<String, Value>,
    scores: Vec<(String, Option<String>, Option<String>)>,
    flags: Vec<prom::storage::responses::FlagRecord>,
    level: &'static str,
}

fn stored_patterns() -> Vec<Stored> {
    let (catalog, _) =
        prom::catalog::Catalog::load_or_shipped(std::path::Path::new("questionnaires"))
            .unwrap_or_else(|e| panic!("questionnaires: {e}"));
    let q = &*catalog.get("phq9").expect("phq9");
    let today = prom::clock::Clock::now(&prom::clock::SystemClock).date_naive();
    (0..100u64)
        .map(|n| {
            let Value::Object(map) = answers(n) else {
                unreachable!()
            };
            let values = prom::core::engine::lenient_values(q, &map);
            let ev = prom::core::engine::evaluate(q, values, today);
            let fired = prom::core::engine::fire_rules(q, &ev, &[]);
            let level = prom::core::engine::level_of(q, &fired);
            let mut score_values = serde_json::Map::new();
            let mut scores = Vec::new();
            for (j, (sc, r)) in q.scores.iter().zip(&ev.scores).enumerate() {
                score_values.insert(
                    sc.id.clone(),
                    r.value
                        .map(prom::core::value::decimal_to_json)
                        .unwrap_or(Value::Null),
                );
                let v = r.value.map(|v| v.normalize().to_string());
                scores.push((sc.id.clone(), v, ev.band(q, j).map(|b| b.id.clone())));
            }
            let flags = fired
                .iter()
                .map(|&r| {
                    let rule = &q.rules[r];
                    prom::storage::responses::FlagRecord {
                        rule: rule.id.clone(),
                        level: rule.level.name().into(),
                        text: rule.text.to_json(),
                        why: None,
                    }
                })
                .collect();
            Stored {
                answers: prom::core::engine::stored_answers(q, &ev),
                score_values,
                scores,
                flags,
                level: level.name(),
            }
        })
        .collect()
}

/// The storage work of a submission done directly on `db`, 100 per commit
/// on one connection (as the server's writer commits): the patient's id
/// and the history page read, then exactly the rows the server writes for
/// the same answers (the response, its scores in one statement, its flags
/// in one statement, a review item when it is flagged, an audit row chained
/// to the one before, the chain's lock and head taken once per commit),
/// statement for statement as the server's storage writes them, so that
/// `audit verify` holds afterwards. It leaves out what the server does beyond the
/// rows: per-submission savepoints, the snooze and plan reads of a flagged
/// answer, and the red alert's reads (the load's clinic has no addresses,
/// so no outbox rows). On a database that holds other data it uses a
/// clinic and patients of its own.
fn baseline_submissions_on(db: &storage::Database, seconds: f64) -> f64 {
    let patterns = stored_patterns();
    let mut conn = storage::open_database(db, &Options::default()).expect("baseline db");
    // The client on this thread, as the server's writer has it.
    conn.take_over();
    let now = prom::clock::Clock::now(&prom::clock::SystemClock);
    let run = std::process::id();
    let clinic = format!("c{run}");
    conn.execute(
        "INSERT INTO clinics (id, name, created_at) VALUES (?1, 'C', '2026-01-01T00:00:00.000Z')",
        [&clinic],
    )
    .expect("clinic");
    conn.execute(
        "INSERT INTO questionnaire_versions VALUES ('phq9', 1, 'h', '{}', '2026-01-01T00:00:00.000Z')
         ON CONFLICT (questionnaire_id, version) DO NOTHING",
        (),
    )
    .expect("version");
    for p in 0..1000 {
        conn.execute(
            "INSERT INTO patients (id, clinic_id, ref, created_at) VALUES (?1, ?2, ?1, '2026-01-01')",
            prom::params![format!("P{run}-{p}"), clinic],
        )
        .expect("patient");
    }
    let history_sql = prom::storage::responses::history_sql(Some(9));
    let today = now.date_naive().to_string();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < seconds {
        let tx = conn.transaction().expect("begin");
        let conn = &*tx;
        // The audit rows chained and written at the end of each commit,
        // as the writer does.
        prom::storage::audit::begin_batch(conn);
        for _ in 0..100 {
            let s = &patterns[(n % 100) as usize];
            let reference = format!("P{run}-{}", n % 1000);
            let patient: String = conn
                .prepare_cached("SELECT id FROM patients WHERE clinic_id = ?1 AND ref = ?2")
                .expect("patient")
                .query_row(prom::params![clinic, reference], |r| r.get(0))
                .expect("patient");
            let mut stmt = conn.prepare_cached(&history_sql).expect("history");
            let mut history = stmt
                .query(prom::params![patient, "phq9", today])
                .expect("history");
            while let Some(r) = history.next().expect("rows") {
                std::hint::black_box(r.get::<String>(1).expect("answers"));
            }
            drop(history);
            drop(stmt);
            let id = uuid::Uuid::now_v7().to_string();
            let ts = prom::storage::ids::ts(now);
            // The response, its scores and its flags: the same three
            // statements the server's storage runs, which also give the
            // content hash the audit row covers.
            let scores: Vec<prom::storage::responses::StoredScore> = s
                .scores
                .iter()
                .map(
                    |(score, value, band)| prom::storage::responses::StoredScore {
                        id: score,
                        value: value.clone(),
                        imputed: 0,
                        band: band.as_deref(),
                    },
                )
                .collect();
            let content = prom::storage::responses::insert(
                conn,
                &prom::storage::responses::NewResponse {
                    id: &id,
                    clinic_id: &clinic,
                    patient_id: &patient,
                    questionnaire_id: "phq9",
                    version: 1,
                    hash: "h",
                    mode: "app",
                    submitted_at: &ts,
                    response_date: &today,
                    answers: &s.answers,
                    score_values: &s.score_values,
                    scores: &scores,
                    flags: &s.flags,
                    level: s.level,
                    actor: "api:c",
                    supersedes: None,
                    correction_reason: None,
                },
            )
            .expect("response");
            if !s.flags.is_empty() {
                conn.prepare_cached(
                    "INSERT INTO review_items (id, response_id, clinic_id, level, status, created_at)
                     VALUES (?1, ?2, ?3, ?4, 'open', ?5)",
                )
                .expect("review")
                .execute(prom::params![uuid::Uuid::now_v7().to_string(), id, clinic, s.level, ts])
                .expect("review");
            }
            prom::storage::audit::append(
                conn,
                &prom::storage::audit::Entry {
                    at: &ts,
                    actor: "api:c",
                    action: "response.submit",
                    clinic_id: Some(&clinic),
                    patient_id: Some(&patient),
                    subject: Some(&id),
                    content_hash: Some(&content),
                },
            )
            .expect("audit");
            n += 1;
        }
        prom::storage::audit::flush_batch(conn).expect("audit rows");
        prom::storage::audit::end_batch(conn);
        tx.commit().expect("commit");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Fills the database directly: a clinic `scale`, `patients` patients and
/// `responses` responses through the same use case the API calls (four in
/// five PHQ-9, one in five GAD-7), in transactions of 20,000, dated over the
/// last five years.
fn seed(a: &Args) {
    let catalog = prom::catalog::Catalog::load(std::path::Path::new("questionnaires"))
        .unwrap_or_else(|e| panic!("questionnaires: {e}"));
    let phq9 = catalog.get("phq9").expect("phq9").clone();
    let gad7 = catalog.get("gad7").expect("gad7").clone();
    let mut conn = storage::open(&a.db, &Options::default()).expect("database");
    let now = prom::clock::Clock::now(&prom::clock::SystemClock);
    let started = Instant::now();
    {
        let tx = conn.transaction().expect("tx");
        prom::storage::versions::record_version(&tx, &phq9, now).expect("version");
        prom::storage::versions::record_version(&tx, &gad7, now).expect("version");
        prom::storage::clinics::insert_clinic(
            &tx,
            &prom::storage::clinics::Clinic {
                id: "scale".into(),
                name: "Scale".into(),
                alert_emails: vec![],
                time_zone: "Europe/Copenhagen".into(),
            },
            now,
        )
        .expect("clinic");
        for p in 0..a.seed_patients {
            prom::storage::patients::insert_patient(
                &tx,
                &prom::storage::patients::NewPatient {
                    clinic_id: "scale".into(),
                    reference: format!("S{p}"),
                    language: "da".into(),
                    ..Default::default()
                },
                now,
            )
            .expect("patient");
        }
        tx.commit().expect("commit");
    }
    let span = chrono::Duration::days(5 * 365);
    let step = span / (a.seed_responses.max(1) as i32);
    let mut done = 0u64;
    while done < a.seed_responses {
        let tx = conn.transaction().expect("tx");
        let end = (done + 20_000).min(a.seed_responses);
        for i in done..end {
            let gad = i % 5 == 4;
            let q = if gad { gad7.clone() } else { phq9.clone() };
            let mut answers = serde_json::Map::new();
            for (k, it) in q.items.iter().enumerate() {
                if it.kind.answerable() && it.show_if.is_none() {
                    answers.insert(
                        it.id.clone(),
                        json!(
                            ((i as usize + k * 7) % 4 * usize::from(k != 8 || i % 50 == 0)) as u64
                        ),
                    );
                }
            }
            let when = now - span + step * (i as i32);
            let date = prom::clock::local_date(when, "Europe/Copenhagen");
            let ev =
                prom::core::engine::validate(&q, &answers, prom::core::engine::Mode::App, date)
                    .expect("valid answers");
            prom::usecase::submit_response(
                &tx,
                &prom::usecase::Submission {
                    clinic_id: "scale".into(),
                    patient_ref: format!("S{}", i % a.seed_patients),
                    questionnaire: q,
                    evaluation: ev,
                    mode: prom::core::engine::Mode::App,
                    actor: "seed".into(),
                    now: when,
                    idempotency: None,
                    supersedes: None,
                    base_url: "http://localhost".into(),
                    invitation: None,
                },
            )
            .expect("submit");
        }
        tx.commit().expect("commit");
        done = end;
        eprint!(
            "\rseeded {done} of {} responses ({:.0} s)",
            a.seed_responses,
            started.elapsed().as_secs_f64()
        );
    }
    let _ = prom::storage::audit::refresh_head(&conn);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", (), |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    let bytes = std::fs::metadata(&a.db).map(|m| m.len()).unwrap_or(0);
    eprintln!();
    println!(
        "seeded {} responses for {} patients in {:.0} s; database {:.2} GB, {:.0} bytes per response",
        a.seed_responses,
        a.seed_patients,
        started.elapsed().as_secs_f64(),
        bytes as f64 / 1e9,
        bytes as f64 / a.seed_responses.max(1) as f64
    );
}

/// GETs `path` from `concurrency` clients for `seconds`: requests per second
/// and p99 in ms.
async fn hammer_get(
    client: &reqwest::Client,
    url: String,
    auth: (&'static str, String),
    concurrency: usize,
    seconds: u64,
) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..concurrency {
        let (client, url, auth, stop) = (client.clone(), url.clone(), auth.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = client.get(&url).header(auth.0, &auth.1).send().await;
                if let Ok(r) = r
                    && r.status().as_u16() == 200
                {
                    let _ = r.bytes().await;
                    lat.push(t.elapsed().as_micros() as u32);
                }
            }
            lat
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort_unstable();
    let p99 = all
        .get((all.len() as f64 * 0.99) as usize)
        .copied()
        .unwrap_or(0) as f64
        / 1000.0;
    (all.len() as f64 / start.elapsed().as_secs_f64(), p99)
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
    if a.seed_responses > 0 {
        seed(&a);
        return;
    }
    // On PostgreSQL: the clinic and key there, and the baseline there.
    let database = match &a.database {
        Some(url) => storage::Database::parse(url, &dir.join("postgres")).expect("database URL"),
        None => storage::Database::Sqlite(a.db.clone()),
    };
    if a.baseline && matches!(database, storage::Database::Postgres { .. }) {
        let subs = baseline_submissions_on(&database, 10.0);
        println!("raw PostgreSQL baseline (the same server, one connection):");
        println!("  a submission's storage work, 100 per commit: {subs:>9.0} submissions/s");
    } else if a.baseline {
        let one = baseline(&dir, 1, 3.0);
        let hundred = baseline(&dir, 100, 3.0);
        let subs = baseline_submissions(&dir, 5.0);
        println!("raw SQLite baseline (same disk, WAL, synchronous=FULL):");
        println!("  one commit per insert:      {one:>9.0} inserts/s");
        println!("  100 inserts per commit:     {hundred:>9.0} inserts/s");
        println!("  a submission's storage work, 100 per commit: {subs:>9.0} submissions/s");
    }

    // A clinic and key of our own, written the way the CLI writes.
    let clinic = format!("load_{}", std::process::id());
    let key = prom::security::new_token("prom_key_");
    {
        let mut conn =
            storage::open_database(&database, &Options::default()).expect("the server's database");
        storage::wait_for_writer(&mut conn).expect("busy handler");
        let now = prom::clock::Clock::now(&prom::clock::SystemClock);
        let tx = conn.transaction().expect("tx");
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
                        Ok(r) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                let status = r.status();
                                let body = r.text().await.unwrap_or_default();
                                eprintln!("  an error answer: {status} {}", body.chars().take(200).collect::<String>());
                            }
                        }
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 3 {
                                eprintln!("  a failed request: {e}");
                            }
                        }
                    }
                    n += 7919;
                }
                lat
            }));
        }
        // The WAL's size while the load runs, sampled every 100 ms.
        let wal = PathBuf::from(format!("{}-wal", a.db.display()));
        let mut wal_max = 0u64;
        let until = Instant::now() + Duration::from_secs(a.seconds);
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            wal_max = wal_max.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
        }
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
        println!("  largest WAL during the run: {:>9.1} MiB", wal_max as f64 / 1048576.0);
        if a.pages > 0 {
            // A patient's form page against the API's questionnaire read,
            // the same clients and seconds each, one after the other.
            let token = prom::security::new_token("prom_inv_");
            {
                let conn = storage::open(&a.db, &Options::default()).expect("db");
                let pid = prom::storage::patients::patient_id(&conn, &clinic, "L0").expect("patient");
                let now = prom::clock::Clock::now(&prom::clock::SystemClock);
                prom::storage::invitations::insert_invitation(
                    &conn, &pid, "phq9", &prom::security::token_hash(&token),
                    now + chrono::Duration::days(1), now,
                ).expect("invitation");
            }
            let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
            let r = no_redirect.get(format!("{url}/a/{token}")).send().await.expect("link");
            let cookie = r.headers().get("set-cookie").and_then(|c| c.to_str().ok()).and_then(|c| c.split(';').next()).expect("a session cookie").to_string();
            let (page_rate, page_p99) = hammer_get(&client, format!("{url}/a"), ("cookie", cookie), a.concurrency, a.pages).await;
            let (api_rate, api_p99) = hammer_get(&client, format!("{url}/api/v1/questionnaires/phq9"), ("authorization", format!("Bearer {key}")), a.concurrency, a.pages).await;
            println!("  form page GET /a:           {page_rate:>9.0} /s, p99 {page_p99:.2} ms");
            println!("  API GET questionnaire:      {api_rate:>9.0} /s, p99 {api_p99:.2} ms");
            println!("  pages / API:                {:>9.2}", page_rate / api_rate.max(1.0));
        }
        if a.queries > 0 {
            let mut history = Vec::with_capacity(a.queries);
            let mut flags = Vec::with_capacity(a.queries);
            for i in 0..a.queries {
                // Patients of the seeded clinic when there is one, else ours.
                let p = (i as u64).wrapping_mul(2_654_435_761) % (a.patients as u64);
                let t = Instant::now();
                let r = client.get(format!("{url}/api/v1/patients/L{p}/responses?limit=100")).bearer_auth(&key).send().await.expect("history");
                assert_eq!(r.status().as_u16(), 200);
                let _ = r.bytes().await;
                history.push(t.elapsed().as_micros() as u32);
                let t = Instant::now();
                let r = client.get(format!("{url}/api/v1/flags?status=open&limit=100")).bearer_auth(&key).send().await.expect("flags");
                assert_eq!(r.status().as_u16(), 200);
                let _ = r.bytes().await;
                flags.push(t.elapsed().as_micros() as u32);
            }
            for (name, mut v) in [("one patient's history page (100)", history), ("open flags, first page (100)", flags)] {
                v.sort_unstable();
                let q = |p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)] as f64 / 1000.0;
                println!("  {name}: p50 {:.2} ms, p99 {:.2} ms", q(0.5), q(0.99));
            }
        }
        if let Some(pid) = a.pid {
            match peak_memory_kib(pid) {
                Some(k) => println!("  server peak memory (VmHWM): {:>9.1} MiB", k as f64 / 1024.0),
                None => println!("  server peak memory: cannot read /proc/{pid}/status"),
            }
        }
    });
}
