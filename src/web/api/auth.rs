//! The caller's clinic, from `Authorization: Bearer KEY` (the scheme's
//! name in any case, RFC 7235). Keys are cached, but a cached key is checked
//! against the database again after [`RECHECK`], so a revoked key stops
//! working within a second in a running server.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use std::time::{Duration, Instant};

use super::State;
use crate::security::token_hash;
use crate::storage::clinics::Clinic;
use crate::storage::keys;
use crate::web::error::ApiError;

/// How long a key found valid is trusted without asking the database.
pub const RECHECK: Duration = Duration::from_millis(500);

/// A key that was valid when last checked.
#[derive(Debug, Clone)]
pub struct CachedKey {
    pub clinic: Clinic,
    pub checked: Instant,
    /// When this node last wrote the key's `last_used_at`.
    pub touched: Instant,
    /// When a request began to check the key again, if one is doing so.
    pub rechecking: Option<Instant>,
}

/// The oldest check a request may still rely on while another request
/// rechecks the key: a revoked key is refused within this (under a second).
const STALE: Duration = Duration::from_millis(750);

/// How often a node records that a key was used (`prom apikey list` shows
/// it to the minute).
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// The clinic whose API key the request carries.
pub struct ApiClinic(pub Clinic);

impl FromRequest for ApiClinic {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<ApiClinic, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { clinic(&req).await.map(ApiClinic) })
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    let (scheme, key) = value.trim().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

async fn clinic(req: &HttpRequest) -> Result<Clinic, ApiError> {
    let state = req
        .app_data::<State>()
        .ok_or_else(|| ApiError::Internal(crate::storage::ids::new_id()))?;
    let hash = token_hash(bearer(req).ok_or(ApiError::Unauthorized)?);
    // A key due for its recheck is checked by one request; the others go
    // on with the cached answer meanwhile (at most STALE old), so a burst
    // does not queue for the database while holding its body slots.
    let cached = {
        let mut m = state
            .keys
            .write()
            .map_err(|_| ApiError::Internal(crate::storage::ids::new_id()))?;
        match m.get_mut(&hash) {
            Some(k) if k.checked.elapsed() < RECHECK => return Ok(k.clinic.clone()),
            Some(k)
                if k.checked.elapsed() < STALE
                    && k.rechecking.is_some_and(|t| t.elapsed() < RECHECK) =>
            {
                return Ok(k.clinic.clone());
            }
            Some(k) => {
                k.rechecking = Some(Instant::now());
                Some(k.clone())
            }
            None => None,
        }
    };
    let h = hash.clone();
    let found = super::read(
        state,
        || ApiError::Unauthorized,
        move |conn| keys::clinic_for_key(conn, &h),
    )
    .await?;
    let Some(c) = found else {
        if let Ok(mut m) = state.keys.write() {
            m.remove(&hash);
        }
        return Err(ApiError::Unauthorized);
    };
    // When the key was last used, for `prom apikey list`: written at most
    // once a minute per node, and never waited for. A request waiting for
    // the writer here would hold its body's upload slot (the body is read
    // after this), and under load every recheck would hold a burst of them.
    let now = Instant::now();
    let touch = cached
        .as_ref()
        .is_none_or(|k| k.touched.elapsed() >= TOUCH_EVERY);
    if let Ok(mut m) = state.keys.write() {
        m.insert(
            hash.clone(),
            CachedKey {
                clinic: c.clone(),
                checked: now,
                touched: if touch {
                    now
                } else {
                    cached.as_ref().map_or(now, |k| k.touched)
                },
                rechecking: None,
            },
        );
    }
    if touch {
        let at = state.clock.now();
        let writer = state.writer.clone();
        actix_web::rt::spawn(async move {
            if let Err(e) = writer.write(move |conn| keys::touch(conn, &hash, at)).await {
                tracing::warn!(error = %e, "could not record when an API key was last used");
            }
        });
    }
    Ok(c)
}
