//! Slow clients cannot take the service: a request body announced larger
//! than the limit is refused before a byte of it is read; request bodies
//! being received at once are capped per API key and per client address
//! (a request over a cap is answered 429 at once and its connection
//! closed, so it holds no slot); and a body must keep a minimum rate (see
//! [`super::Limits::body_deadline`]). What the caps leave of the
//! connection slots is the reserve for `/healthz`, pages and clinics that
//! behave.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::AppState;
use super::error::ApiError;

/// How many request bodies one API key, and one client address, may be
/// sending at once.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub per_key: usize,
    pub per_address: usize,
}

impl Default for Caps {
    fn default() -> Caps {
        Caps {
            per_key: 16,
            per_address: 64,
        }
    }
}

/// The bodies being received, by key and by address.
#[derive(Debug, Default)]
pub struct Uploads {
    caps: Caps,
    counts: Mutex<HashMap<String, usize>>,
}

/// A body being received; its counts go down when it is dropped.
pub struct Slot {
    uploads: Arc<Uploads>,
    names: Vec<String>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.uploads.counts.lock() {
            for n in &self.names {
                if let Some(c) = counts.get_mut(n) {
                    *c -= 1;
                    if *c == 0 {
                        counts.remove(n);
                    }
                }
            }
        }
    }
}

impl Uploads {
    pub fn new(caps: Caps) -> Arc<Uploads> {
        Arc::new(Uploads {
            caps,
            counts: Mutex::default(),
        })
    }

    /// A slot for a body from `address` (and `key`, when the request
    /// carries one), or `None` when either is at its cap.
    pub fn take(self: &Arc<Self>, address: &str, key: Option<&str>) -> Option<Slot> {
        let mut wanted = vec![(format!("a:{address}"), self.caps.per_address)];
        if let Some(k) = key {
            wanted.push((format!("k:{k}"), self.caps.per_key));
        }
        let mut counts = self.counts.lock().ok()?;
        if wanted
            .iter()
            .any(|(n, cap)| counts.get(n).copied().unwrap_or(0) >= *cap)
        {
            return None;
        }
        for (n, _) in &wanted {
            *counts.entry(n.clone()).or_insert(0) += 1;
        }
        Some(Slot {
            uploads: self.clone(),
            names: wanted.into_iter().map(|(n, _)| n).collect(),
        })
    }
}

/// The announced body length; chunked bodies count as having one.
fn announced(req: &ServiceRequest) -> Option<u64> {
    let h = req.headers();
    if let Some(len) = h
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return (len > 0).then_some(len);
    }
    h.contains_key(header::TRANSFER_ENCODING).then_some(0)
}

/// An answer that closes the connection (its body is never read).
fn refuse(req: ServiceRequest, status: StatusCode, state: &AppState) -> ServiceResponse<BoxBody> {
    let (http, _) = req.into_parts();
    let mut res = if http.path().starts_with("/api/") {
        let e = if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::TooMany
        };
        e.error_response()
    } else {
        let key = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "form_too_large"
        } else {
            "busy"
        };
        super::problem(&http, state, status, key)
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        res.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
    }
    res.head_mut()
        .set_connection_type(actix_web::http::ConnectionType::Close);
    ServiceResponse::new(http, res)
}

/// The middleware: refuse what is announced too large, and take a slot
/// for every body before it is read.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(len) = announced(&req) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if len > super::MAX_BODY as u64 {
        return Ok(refuse(req, StatusCode::PAYLOAD_TOO_LARGE, &state));
    }
    let address = super::client_address(req.request(), &state.trusted_proxies);
    let key = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|k| crate::security::token_hash(k.trim()));
    let Some(slot) = state.uploads.take(&address, key.as_deref()) else {
        metrics::counter!("prom_http_refused_slow_total").increment(1);
        return Ok(refuse(req, StatusCode::TOO_MANY_REQUESTS, &state));
    };
    // The slot goes with the body: freed once it has been read (or
    // dropped unread), not when the answer is ready, so a burst of quick
    // requests waiting for the database holds none.
    let mut req = req;
    let body = Held {
        inner: req.take_payload(),
        slot: Some(slot),
    };
    req.set_payload(actix_web::dev::Payload::Stream {
        payload: Box::pin(body),
    });
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

/// A request body that holds its slot until its end.
struct Held {
    inner: actix_web::dev::Payload,
    slot: Option<Slot>,
}

impl futures_util::Stream for Held {
    type Item = Result<actix_web::web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let next = std::pin::Pin::new(&mut self.inner).poll_next(cx);
        if matches!(next, std::task::Poll::Ready(None | Some(Err(_)))) {
            self.slot = None;
        }
        next
    }
}
