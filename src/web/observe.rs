//! What an operator watches: a request id on every answer and in every log
//! line written while serving it, an access line per request (at debug),
//! and the Prometheus metrics. Labels and log fields name route patterns
//! (`/a/{token}`), never a path: no token, patient reference or answer
//! ever reaches a label or a log line.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tracing::Instrument;

use super::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The process's recorder (one per process, however many servers a test
/// starts).
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The latency buckets (seconds) of every `_seconds` histogram.
const SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The buckets of the writer's batch sizes.
const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Installs the Prometheus recorder once; `None` if another recorder was
/// installed first (metrics are then not served).
pub fn recorder() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_batch_size".into()), BATCH)
                })
                .and_then(|b| b.install_recorder());
            match handle {
                Ok(h) => {
                    describe();
                    Some(h)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics are off: no recorder");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "prom_http_requests_total",
        "HTTP requests answered, by route group and status"
    );
    describe_histogram!(
        "prom_http_request_duration_seconds",
        "Time to answer a request, by route group"
    );
    describe_counter!(
        "prom_submissions_stored_total",
        "Responses stored, by channel (api, web)"
    );
    describe_counter!(
        "prom_submissions_replayed_total",
        "Repeated submissions answered from the idempotency record"
    );
    describe_counter!(
        "prom_flags_raised_total",
        "Flags raised by stored responses, by level"
    );
    describe_gauge!(
        "prom_review_open_items",
        "Review items not yet looked at, by level"
    );
    describe_gauge!(
        "prom_review_oldest_open_red_age_seconds",
        "Age of the oldest red review item nobody has looked at (0 when none)"
    );
    describe_gauge!("prom_outbox_pending", "E-mails waiting to be sent");
    describe_gauge!("prom_outbox_dead", "E-mails given up after every retry");
    describe_counter!("prom_outbox_sent_total", "E-mails sent");
    describe_counter!(
        "prom_outbox_retried_total",
        "E-mail attempts that failed and will be retried"
    );
    describe_counter!("prom_outbox_dead_total", "E-mails given up by this process");
    describe_counter!("prom_smtp_failures_total", "Failed SMTP deliveries");
    describe_histogram!(
        "prom_storage_write_seconds",
        "Time of one group commit of the writer"
    );
    describe_histogram!("prom_storage_batch_size", "Jobs in one group commit");
    describe_gauge!("prom_storage_wal_bytes", "Size of SQLite's write-ahead log");
    describe_gauge!(
        "prom_storage_reader_connections_idle",
        "Idle reading connections in the pool"
    );
    describe_gauge!(
        "prom_storage_reader_connections_busy",
        "Reading connections in use: the pool's use, on either backend"
    );
    describe_gauge!(
        "prom_scheduler_lag_seconds",
        "How late the scheduler's last turn is beyond its interval"
    );
    describe_gauge!(
        "prom_scheduler_last_run_timestamp_seconds",
        "When the scheduler last looked for due work (Unix time)"
    );
}

/// The route group of a route pattern: the label of request metrics.
pub fn group(pattern: Option<&str>) -> &'static str {
    match pattern {
        None => "unmatched",
        Some(p) if p == "/healthz" || p == "/readyz" => "health",
        Some(p) if p.starts_with("/api/") => "api",
        Some(p) if p.starts_with("/clinic") => "clinic",
        Some(_) => "patient",
    }
}

/// A request id from the client or proxy, if it is a plain one; else new.
fn request_id(req: &ServiceRequest) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string())
}

/// The middleware: a span with the request id around the handler, the id
/// back in `X-Request-Id`, the request counted and timed.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody + 'static>, actix_web::Error> {
    let id = request_id(&req);
    let method = req.method().to_string();
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = tracing::field::Empty);
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let mut res = match result {
        Ok(r) => r,
        Err(e) => {
            // An error the framework turns into an answer: counted as that.
            let status = e.as_response_error().status_code();
            count("unmatched", status.as_u16(), elapsed);
            return Err(e);
        }
    };
    let pattern = res.request().match_pattern();
    let group = group(pattern.as_deref());
    let status = res.status().as_u16();
    count(group, status, elapsed);
    span.record("route", pattern.as_deref().unwrap_or("-"));
    span.in_scope(|| {
        tracing::debug!(target: "prom::access", status, ms = elapsed.as_secs_f64() * 1000.0, "answered");
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    Ok(res)
}

fn count(group: &'static str, status: u16, elapsed: Duration) {
    metrics::counter!("prom_http_requests_total", "group" => group, "status" => status.to_string())
        .increment(1);
    metrics::histogram!("prom_http_request_duration_seconds", "group" => group)
        .record(elapsed.as_secs_f64());
}

/// The gauges read from the database at each scrape, then every metric in
/// Prometheus's text format.
pub async fn render(state: &AppState) -> HttpResponse {
    let Some(handle) = recorder() else {
        return HttpResponse::ServiceUnavailable().body("metrics are off");
    };
    let now = state.clock.now();
    let gauges = tokio::time::timeout(
        super::health::DEADLINE,
        super::read(state, move |c| crate::storage::review::gauges(c, now)),
    )
    .await;
    match gauges {
        Ok(Ok(g)) => {
            metrics::gauge!("prom_review_open_items", "level" => "red").set(g.open_red as f64);
            metrics::gauge!("prom_review_open_items", "level" => "yellow")
                .set(g.open_yellow as f64);
            metrics::gauge!("prom_review_oldest_open_red_age_seconds")
                .set(g.oldest_red_seconds as f64);
            metrics::gauge!("prom_outbox_pending").set(g.outbox_pending as f64);
            metrics::gauge!("prom_outbox_dead").set(g.outbox_dead as f64);
        }
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: the database gauges could not be read"),
        Err(_) => {
            tracing::warn!("metrics: the database gauges took too long; the last values stand")
        }
    }
    if let Some(wal) = state.readers.wal_path() {
        let size = std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0);
        metrics::gauge!("prom_storage_wal_bytes").set(size as f64);
    }
    metrics::gauge!("prom_storage_reader_connections_idle").set(state.readers.idle() as f64);
    metrics::gauge!("prom_storage_reader_connections_busy").set(state.readers.busy() as f64);
    let last = state.stats.scheduler_last_run();
    if last > 0 {
        let tick = state.stats.scheduler_tick().as_secs_f64();
        let late = (crate::clock::uptime_secs() as f64 - last as f64 - tick).max(0.0);
        metrics::gauge!("prom_scheduler_lag_seconds").set(late);
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render())
}

/// `GET /metrics` on the public listener: only with the configured bearer
/// token (else 404, as if it were not there).
pub async fn public_metrics(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(token) = &state.metrics_token else {
        return HttpResponse::NotFound().finish();
    };
    let given = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !crate::security::same_secret(given, token) {
        return HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", "Bearer"))
            .finish();
    }
    render(&state).await
}

/// The metrics listener (`--metrics-listen`): `/metrics` and nothing else,
/// one worker, for the monitoring network.
pub fn server(
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    Ok(actix_web::HttpServer::new(move || {
        actix_web::App::new().app_data(state.clone()).route(
            "/metrics",
            web::get().to(|s: web::Data<AppState>| async move { render(&s).await }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}
