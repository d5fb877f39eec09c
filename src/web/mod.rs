//! The web layer: routes, extractors, errors and the JSON API. Handlers
//! orchestrate: the core decides, use cases and storage store (through the
//! writer), and nothing here holds SQL. It never sends mail; alerts are
//! outbox rows written in the submission's transaction.

pub mod api;
pub mod clinic;
pub mod error;
pub mod health;
pub mod history;
pub mod observe;
pub mod pages;
pub mod patient;
pub mod preview;
pub mod tls;
pub mod uploads;

use actix_web::{App, HttpServer, middleware, web};
use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::storage::{Readers, writer::Writer};

/// The largest request body accepted.
pub const MAX_BODY: usize = 1024 * 1024;

/// What a client may take of the server: slow clients are cut off, and the
/// number of open connections stays below the process's file limit, so that
/// no number of slow clients can stop `/healthz` or another clinic.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The request's head must have arrived within this.
    pub headers: Duration,
    /// The whole body must have arrived within this.
    pub body: Duration,
    /// Open connections per worker thread.
    pub connections_per_worker: usize,
    /// Request bodies one key, and one address, may send at once.
    pub uploads: uploads::Caps,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            headers: Duration::from_secs(5),
            body: Duration::from_secs(30),
            connections_per_worker: 1024,
            uploads: uploads::Caps::default(),
        }
    }
}

/// How long a connection that is being closed with part of a request body
/// unread (a refusal, a body cut off) may linger. Each such connection
/// holds a slot meanwhile, so this bounds how many refusals a second the
/// slots absorb. Not below 500 ms: the framework's clock is cached for that
/// long, and a shorter deadline can fall in the past, after which the
/// connection was seen never to close.
pub const LINGER: Duration = Duration::from_millis(600);

/// The slowest a request body may arrive: past the first
/// [`BODY_GRACE`], at least this many bytes a second.
pub const MIN_BODY_RATE: u64 = 32 * 1024;
/// What any body gets before the minimum rate applies.
pub const BODY_GRACE: Duration = Duration::from_secs(3);

impl Limits {
    /// How long after its start a body may take to reach `length` bytes
    /// (received so far): a few seconds for the first bytes, then at least
    /// [`MIN_BODY_RATE`], never more than `body` in all.
    pub fn body_deadline(&self, length: u64) -> Duration {
        let by_rate = BODY_GRACE + Duration::from_secs(length / MIN_BODY_RATE);
        by_rate.min(self.body)
    }

    /// Connections per worker for a process that may hold `open_files`
    /// files: a quarter of them is kept for the database, the mail folder
    /// and the listener.
    pub fn fit_to_files(mut self, open_files: u64, workers: usize) -> Limits {
        let usable = (open_files.saturating_mul(3) / 4).saturating_sub(32);
        let per_worker = (usable / workers.max(1) as u64).max(8) as usize;
        self.connections_per_worker = self.connections_per_worker.min(per_worker);
        self
    }
}

/// Counts for the periodic log summary (one line a minute at info, instead
/// of a line per response).
#[derive(Debug, Default)]
pub struct Stats {
    stored: AtomicU64,
    replayed: AtomicU64,
    /// When the scheduler last looked for due work ([`crate::clock::uptime_secs`]; 0 never).
    scheduler_run: AtomicI64,
    /// The scheduler's interval (seconds).
    scheduler_tick: AtomicU64,
}

impl Stats {
    /// A response stored (or, `replay`, answered again from its
    /// idempotency record) through `channel` (`api`, `web`): counted for
    /// the log summary and the metrics, with its flags by level.
    pub fn stored(
        &self,
        rec: &crate::storage::responses::ResponseRecord,
        replay: bool,
        channel: &'static str,
    ) {
        let c = if replay { &self.replayed } else { &self.stored };
        c.fetch_add(1, Ordering::Relaxed);
        if replay {
            metrics::counter!("prom_submissions_replayed_total", "channel" => channel).increment(1);
            return;
        }
        metrics::counter!("prom_submissions_stored_total", "channel" => channel).increment(1);
        for f in &rec.flags {
            let level = match f.level.as_str() {
                "red" => "red",
                "yellow" => "yellow",
                _ => "other",
            };
            metrics::counter!("prom_flags_raised_total", "level" => level).increment(1);
        }
    }

    /// The scheduler looked for due work now.
    pub fn scheduler_ran(&self, at: i64, tick: Duration) {
        self.scheduler_run.store(at, Ordering::Relaxed);
        self.scheduler_tick.store(tick.as_secs(), Ordering::Relaxed);
    }

    pub fn scheduler_last_run(&self) -> i64 {
        self.scheduler_run.load(Ordering::Relaxed)
    }

    pub fn scheduler_tick(&self) -> Duration {
        Duration::from_secs(self.scheduler_tick.load(Ordering::Relaxed))
    }

    /// The counts since the last call.
    pub fn take(&self) -> (u64, u64) {
        (
            self.stored.swap(0, Ordering::Relaxed),
            self.replayed.swap(0, Ordering::Relaxed),
        )
    }
}

/// Shared by every request.
pub struct AppState {
    pub catalog: Catalog,
    pub writer: Writer,
    pub readers: Arc<Readers>,
    pub clock: Arc<dyn Clock>,
    pub base_url: String,
    /// API key hash → clinic, checked again after `api::auth::RECHECK`.
    pub keys: RwLock<HashMap<String, api::auth::CachedKey>>,
    pub limits: Limits,
    pub stats: Stats,
    /// The page templates and text catalogues.
    pub pages: pages::Pages,
    /// What `/readyz` checks.
    pub readiness: health::Readiness,
    /// With it, `/metrics` is also served on this listener to a client
    /// that sends it as a bearer token.
    pub metrics_token: Option<String>,
    /// The reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The request bodies being received, capped per key and address.
    pub uploads: Arc<uploads::Uploads>,
    /// Signs the tokens the server hands out before anyone is logged in
    /// (the login form's), derived from the audit key.
    pub web_key: [u8; 32],
    /// Staff single sign-on: its settings and the provider (whose
    /// discovery document and keys it keeps once fetched).
    pub staff_sso: Option<Arc<(crate::usecase::sso::StaffSso, crate::oidc::Provider)>>,
    /// Patients' login through an OpenID provider (a MitID broker).
    pub patient_sso: Option<Arc<(crate::usecase::person::PatientSso, crate::oidc::Provider)>>,
}

/// The cookie that ties an OpenID provider's answer to the browser that
/// began the login: `SameSite=Lax`, since the provider's redirect back is
/// a top-level navigation from another site, which must carry it; only
/// sent to `path`; `max_age` 0 clears it.
pub fn oidc_state_cookie(
    base_url: &str,
    name: &str,
    path: &str,
    value: &str,
    max_age: i64,
) -> String {
    let secure = if base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// The client's address: the connection's peer, unless that is a trusted
/// proxy, in which case the nearest address in `X-Forwarded-For` that is
/// not one (a client's own `X-Forwarded-For` sent straight to prom, or put
/// in front of the proxy's, changes nothing).
pub fn client_address(req: &actix_web::HttpRequest, trusted: &[ipnet::IpNet]) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".into();
    };
    let believed = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !believed(&peer) {
        return peer.to_string();
    }
    let forwarded: Vec<std::net::IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !believed(ip))
        .unwrap_or(&peer)
        .to_string()
}

/// Runs `f` on a reader connection, off the async threads (SQLite
/// blocks).
pub(crate) async fn read<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&crate::storage::Connection) -> crate::storage::Result<T> + Send + 'static,
) -> Result<T, crate::storage::StorageError> {
    let readers = state.readers.clone();
    web::block(move || readers.with(f))
        .await
        .unwrap_or(Err(crate::storage::StorageError::WriterGone))
}

/// An address nothing answers: JSON for the API, a page for a browser (in
/// the staff member's language in the workspace; otherwise Danish, or
/// English by `?lang=en` or the browser's first language), with a title,
/// a heading and the way back.
async fn unknown_address(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let path = req.path();
    if path.starts_with("/api/") || path == "/api" {
        return match api::not_found().await {
            Ok(r) => r,
            Err(e) => e.error_response(),
        };
    }
    if path.starts_with("/clinic")
        && let Some(page) = clinic::unknown_address(&req, &state).await
    {
        return page;
    }
    let lang = pages::request_language(&req);
    let back = if path.starts_with("/clinic") {
        "/clinic"
    } else {
        "/"
    };
    let mut c = tera::Context::new();
    c.insert("heading", &state.pages.text(lang, "not_found_heading"));
    c.insert("message", &state.pages.text(lang, "not_found"));
    c.insert("back", back);
    state.pages.render(
        actix_web::http::StatusCode::NOT_FOUND,
        "patient/problem.html",
        lang,
        c,
    )
}

/// A form body the framework could not read (wrong content type, too
/// large, not a form): prom's page in the request's language, 400.
fn unreadable_form(req: &actix_web::HttpRequest) -> actix_web::HttpResponse {
    match req.app_data::<web::Data<AppState>>() {
        Some(state) => problem(
            req,
            state,
            actix_web::http::StatusCode::BAD_REQUEST,
            "form_unreadable",
        ),
        None => actix_web::HttpResponse::BadRequest().finish(),
    }
}

/// prom's problem page for a request the handlers never saw: the text
/// `key` (and `key_heading`) in the request's language, with the way back.
pub(crate) fn problem(
    req: &actix_web::HttpRequest,
    state: &AppState,
    status: actix_web::http::StatusCode,
    key: &str,
) -> actix_web::HttpResponse {
    let lang = pages::request_language(req);
    let mut c = tera::Context::new();
    c.insert(
        "heading",
        &state.pages.text(lang, &format!("{key}_heading")),
    );
    c.insert("message", &state.pages.text(lang, key));
    c.insert("back", "/");
    state.pages.render(status, "patient/problem.html", lang, c)
}

/// Builds the HTTP server on an already bound listener.
pub fn server(
    state: Arc<AppState>,
    listener: TcpListener,
    workers: usize,
    tls: Option<rustls::ServerConfig>,
    shutdown: Duration,
) -> std::io::Result<actix_web::dev::Server> {
    let limits = state.limits;
    // Served over HTTPS (the public base URL says so): browsers are told
    // to keep to it.
    let https = state.base_url.starts_with("https://");
    let data = web::Data::from(state);
    let srv = HttpServer::new(move || {
        // Every answer, the framework's own errors included, carries the
        // security headers (a page's own are kept).
        let mut headers = middleware::DefaultHeaders::new()
            .add(("X-Content-Type-Options", "nosniff"))
            .add(("Content-Security-Policy", pages::CSP))
            .add(("Referrer-Policy", "no-referrer"))
            .add(("X-Frame-Options", "DENY"));
        if https {
            headers = headers.add(("Strict-Transport-Security", "max-age=31536000"));
        }
        App::new()
            .app_data(data.clone())
            // A form the framework cannot read answers prom's page.
            .app_data(web::FormConfig::default().error_handler(|e, req| {
                let page = unreadable_form(req);
                actix_web::error::InternalError::from_response(e, page).into()
            }))
            // Innermost first: refusals of slow or oversize bodies still
            // get the security headers; everything is counted and logged.
            .wrap(middleware::from_fn(uploads::middleware))
            .wrap(headers)
            .wrap(middleware::from_fn(observe::middleware))
            .route("/metrics", web::get().to(observe::public_metrics))
            .configure(api::routes)
            .configure(patient::routes)
            .configure(clinic::routes)
            .default_service(web::to(unknown_address))
    })
    .workers(workers)
    .client_request_timeout(limits.headers)
    .client_disconnect_timeout(LINGER)
    .max_connections(limits.connections_per_worker)
    .shutdown_timeout(shutdown.as_secs());
    let srv = match tls {
        Some(config) => srv.listen_rustls_0_23(listener, config)?,
        None => srv.listen(listener)?,
    };
    Ok(srv.run())
}
