//! `/healthz` (the process is alive) and `/readyz` (it can do its work:
//! the database answers, every migration is applied, the mailer runs).
//! Readiness has a connection of its own and a deadline, so a database
//! that hangs or readers all busy with slow queries make `/readyz` answer
//! 503 in time rather than wait with them; `/healthz` touches nothing.

use actix_web::HttpResponse;
use serde_json::json;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::AppState;
use crate::storage::{self, Connection, Database, Options};

/// How long `/readyz` waits for the database.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// How long the mailer may go without a turn before it counts as stopped
/// (a turn sends at most 50 messages, each bounded by the SMTP timeouts).
pub const MAILER_SILENCE: i64 = 300;

/// What `/readyz` looks at.
pub struct Readiness {
    database: Database,
    options: Options,
    /// The probe's own connection; held while a probe runs, so a second
    /// probe behind a hung one answers at once.
    probe: Arc<Mutex<Option<Connection>>>,
    /// When the mailer last began a turn (Unix seconds).
    mailer: Arc<AtomicI64>,
}

impl Readiness {
    pub fn new(database: Database, options: Options, mailer: Arc<AtomicI64>) -> Readiness {
        Readiness {
            database,
            options,
            probe: Default::default(),
            mailer,
        }
    }
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

/// The database's answer to the probe: the schema versions, or why not.
fn probe(slot: &Mutex<Option<Connection>>, r: (&Database, &Options)) -> Result<(u32, u32), String> {
    let Ok(mut slot) = slot.try_lock() else {
        return Err("an earlier check is still waiting for the database".into());
    };
    // An open connection outlives its file: a database file moved or
    // deleted under the server is seen here.
    if let Database::Sqlite(path) = r.0
        && !path.is_file()
    {
        *slot = None;
        return Err(format!("the database file {} is gone", path.display()));
    }
    if slot.is_none() {
        *slot = Some(storage::connect_to(r.0, r.1).map_err(|e| e.to_string())?);
    }
    let conn = slot.as_ref().ok_or("no connection")?;
    match storage::schema_versions(conn) {
        Ok(v) => Ok(v),
        Err(e) => {
            // Connect again at the next check.
            *slot = None;
            Err(e.to_string())
        }
    }
}

pub async fn readyz(state: actix_web::web::Data<AppState>) -> HttpResponse {
    let r = &state.readiness;
    let (slot, database, options) = (r.probe.clone(), r.database.clone(), r.options.clone());
    let answer = tokio::time::timeout(
        DEADLINE,
        actix_web::web::block(move || probe(&slot, (&database, &options))),
    )
    .await;
    let mut problems = Vec::new();
    let (database, migrations) = match answer {
        Ok(Ok(Ok((have, want)))) if have == want => ("ok".to_string(), "ok".to_string()),
        Ok(Ok(Ok((have, want)))) => {
            let m = format!("the database's schema is version {have}, this prom's is {want}");
            problems.push(m.clone());
            ("ok".to_string(), m)
        }
        Ok(Ok(Err(e))) => {
            let m = format!("unreachable: {e}");
            problems.push(format!("database {m}"));
            (m, "unknown".to_string())
        }
        Ok(Err(_)) | Err(_) => {
            let m = format!("no answer within {} s", DEADLINE.as_secs());
            problems.push(format!("database: {m}"));
            (m, "unknown".to_string())
        }
    };
    let silent = crate::clock::uptime_secs() - r.mailer.load(Ordering::Relaxed);
    let mailer = if silent <= MAILER_SILENCE {
        "ok".to_string()
    } else {
        let m = format!("stopped: no turn for {silent} s");
        problems.push(format!("mailer {m}"));
        m
    };
    let body = json!({
        "status": if problems.is_empty() { "ready" } else { "not ready" },
        "checks": {"database": database, "migrations": migrations, "mailer": mailer},
    });
    if problems.is_empty() {
        HttpResponse::Ok().json(body)
    } else {
        tracing::warn!(problems = %problems.join("; "), "not ready");
        HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(body)
    }
}
