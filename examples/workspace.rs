//! Load on the clinic's workspace: the review queue and a patient's page
//! with a large clinic behind them.
//!
//! ```sh
//! cargo run --release --example workspace -- --db target/ws/prom.db --seed
//! cargo run --release -- serve --db target/ws/prom.db --listen 127.0.0.1:18095 &
//! cargo run --release --example workspace -- --db target/ws/prom.db \
//!     --url http://127.0.0.1:18095 --concurrency 16 --seconds 10
//! ```
//!
//! `--seed` fills `--db` (no server running): a clinic `ws` with `--items`
//! open review items (PHQ-9 responses that flag red or yellow, five per
//! patient) and one patient, `W-HISTORY`, with `--history` responses. The
//! run creates a staff session in the database (as a login would) and
//! has `--concurrency` clients GET, for `--seconds` each: the API's
//! questionnaire read (the baseline, measured in the same run), the queue's
//! first page, and the patient page of `W-HISTORY`. It prints requests per
//! second, p50 and p99 for each.
//! With `WS_DUMP` set it first writes one page of each beside the database
//! (`prom.page0.html`, …), to see what a run renders.

use prom::storage::{self, Options};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

struct Args {
    db: std::path::PathBuf,
    url: String,
    seed: bool,
    items: u64,
    history: u64,
    concurrency: usize,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args {
        db: "target/ws/prom.db".into(),
        url: "http://127.0.0.1:18095".into(),
        seed: false,
        items: 10_000,
        history: 500,
        concurrency: 16,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().expect("a value");
        match k.as_str() {
            "--db" => a.db = val().into(),
            "--url" => a.url = val(),
            "--seed" => a.seed = true,
            "--items" => a.items = val().parse().expect("a number"),
            "--history" => a.history = val().parse().expect("a number"),
            "--concurrency" => a.concurrency = val().parse().expect("a number"),
            "--seconds" => a.seconds = val().parse().expect("a number"),
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn submit(
    tx: &storage::Connection,
    q: &Arc<prom::core::model::Questionnaire>,
    reference: &str,
    answers: serde_json::Map<String, serde_json::Value>,
    when: chrono::DateTime<chrono::Utc>,
) {
    let date = prom::clock::local_date(when, "Europe/Copenhagen");
    let ev = prom::core::engine::validate(q, &answers, prom::core::engine::Mode::App, date)
        .expect("valid answers");
    prom::usecase::submit_response(
        tx,
        &prom::usecase::Submission {
            clinic_id: "ws".into(),
            patient_ref: reference.into(),
            questionnaire: q.clone(),
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

fn phq9(each: u64, item9: u64) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    for i in 1..=8 {
        m.insert(format!("q{i}"), json!(each));
    }
    m.insert("q9".into(), json!(item9));
    m
}

fn seed(a: &Args) {
    let catalog = prom::catalog::Catalog::load(std::path::Path::new("questionnaires"))
        .unwrap_or_else(|e| panic!("questionnaires: {e}"));
    let q = catalog.get("phq9").expect("phq9").clone();
    let mut conn = storage::open(&a.db, &Options::default()).expect("database");
    let now = prom::clock::Clock::now(&prom::clock::SystemClock);
    let started = Instant::now();
    let tx = conn.transaction().expect("tx");
    prom::storage::versions::record_version(&tx, &q, now).expect("version");
    prom::storage::clinics::insert_clinic(
        &tx,
        &prom::storage::clinics::Clinic {
            id: "ws".into(),
            name: "Workspace".into(),
            alert_emails: vec![],
            time_zone: "Europe/Copenhagen".into(),
        },
        now,
    )
    .expect("clinic");
    let patients = a.items.div_ceil(5);
    for p in 0..patients {
        prom::storage::patients::insert_patient(
            &tx,
            &prom::storage::patients::NewPatient {
                clinic_id: "ws".into(),
                reference: format!("W{p}"),
                language: "da".into(),
                ..Default::default()
            },
            now,
        )
        .expect("patient");
    }
    prom::storage::patients::insert_patient(
        &tx,
        &prom::storage::patients::NewPatient {
            clinic_id: "ws".into(),
            reference: "W-HISTORY".into(),
            language: "da".into(),
            ..Default::default()
        },
        now,
    )
    .expect("patient");
    // Open items: one in four red (item 9 above 0), the rest yellow (a
    // total of 16), a minute apart, oldest first.
    for i in 0..a.items {
        let red = i % 4 == 0;
        let when = now - chrono::Duration::minutes((a.items - i) as i64);
        submit(
            &tx,
            &q,
            &format!("W{}", i / 5),
            phq9(2, u64::from(red)),
            when,
        );
    }
    // A long history: every two weeks, scores going up and down.
    for k in 0..a.history {
        let when = now - chrono::Duration::days(14 * (a.history - k) as i64);
        submit(&tx, &q, "W-HISTORY", phq9(k % 3, 0), when);
    }
    tx.commit().expect("commit");
    let _ = prom::storage::audit::refresh_head(&conn);
    println!(
        "seeded {} open items and a patient with {} responses in {:.1} s",
        a.items,
        a.history,
        started.elapsed().as_secs_f64()
    );
}

/// `concurrency` clients GET `url` for `seconds`: requests per second, p50
/// and p99 in ms, and how many answers were not 200.
async fn hammer(
    url: &str,
    header: (&str, String),
    concurrency: usize,
    seconds: u64,
) -> (f64, f64, f64, u64) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let stop = Arc::new(AtomicBool::new(false));
    let bad = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, header, stop, bad) = (
            client.clone(),
            url.to_string(),
            (header.0.to_string(), header.1.clone()),
            stop.clone(),
            bad.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match client.get(&url).header(&header.0, &header.1).send().await {
                    Ok(r) if r.status().as_u16() == 200 => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_micros() as u64);
                    }
                    _ => {
                        bad.fetch_add(1, Ordering::Relaxed);
                    }
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
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    (
        all.len() as f64 / start.elapsed().as_secs_f64(),
        pct(0.5),
        pct(0.99),
        bad.load(Ordering::Relaxed),
    )
}

#[tokio::main]
async fn main() {
    let a = args();
    if a.seed {
        seed(&a);
        return;
    }
    // A staff session and an API key, written as a login and `prom apikey
    // add` would.
    let conn = storage::open(&a.db, &Options::default()).expect("database");
    let now = prom::clock::Clock::now(&prom::clock::SystemClock);
    let hash = prom::security::hash_password("workspace load").expect("hash");
    let email = format!("load-{}@ws.example", prom::storage::ids::new_id());
    let staff =
        prom::storage::clinics::insert_user(&conn, "ws", &email, "Load", "clinician", &hash, now)
            .expect("staff");
    let token = prom::security::new_token("prom_staff_");
    prom::storage::sessions::insert(
        &conn,
        &prom::storage::sessions::NewSession {
            token_hash: &prom::security::token_hash(&token),
            kind: "staff",
            patient_id: None,
            invitation_id: None,
            staff_id: Some(&staff),
            csrf: "x",
            language: "da",
            expires_at: now + chrono::Duration::hours(2),
            stage: "full",
            next: None,
            person_id: None,
        },
        now,
    )
    .expect("session");
    let key = prom::security::new_token("prom_key_");
    prom::storage::keys::insert_api_key(&conn, "ws", &prom::security::token_hash(&key), None, now)
        .expect("key");
    let patient = prom::storage::patients::patient_id(&conn, "ws", "W-HISTORY").expect("W-HISTORY");
    drop(conn);
    let cookie = ("cookie", format!("prom_staff={token}"));
    let bearer = ("authorization", format!("Bearer {key}"));
    let runs = [
        (
            "API GET questionnaire (baseline)",
            format!("{}/api/v1/questionnaires/phq9", a.url),
            bearer,
        ),
        (
            "queue GET /clinic",
            format!("{}/clinic", a.url),
            cookie.clone(),
        ),
        (
            "patient page (500 responses)",
            format!("{}/clinic/patients/{patient}", a.url),
            cookie,
        ),
    ];
    println!("{} clients, {} s each:", a.concurrency, a.seconds);
    if std::env::var_os("WS_DUMP").is_some() {
        // One page of each, written beside the database to look at.
        for (n, (_, url, header)) in runs.iter().enumerate() {
            let body = reqwest::Client::new()
                .get(url)
                .header(header.0, &header.1)
                .send()
                .await
                .expect("page")
                .bytes()
                .await
                .expect("body");
            std::fs::write(a.db.with_extension(format!("page{n}.html")), &body).expect("write");
        }
    }
    for (name, url, header) in runs {
        let (rate, p50, p99, bad) = hammer(&url, header, a.concurrency, a.seconds).await;
        println!(
            "  {name:<34} {rate:>8.0} /s   p50 {p50:>7.2} ms   p99 {p99:>7.2} ms   not 200: {bad}"
        );
    }
}
