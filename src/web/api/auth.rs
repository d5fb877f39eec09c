//! The caller's clinic, from `Authorization: Bearer KEY` (the scheme's
//! name in any case, RFC 7235). Keys are cached, but a cached key is checked
//! against the database again after [`RECHECK`], so a revoked key stops
//! working within a second in a running server.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
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
}

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
    let cached = state.keys.read().ok().and_then(|m| m.get(&hash).cloned());
    if let Some(k) = &cached
        && k.checked.elapsed() < RECHECK
    {
        return Ok(k.clinic.clone());
    }
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
    if let Ok(mut m) = state.keys.write() {
        m.insert(
            hash.clone(),
            CachedKey {
                clinic: c.clone(),
                checked: Instant::now(),
            },
        );
    }
    // When the key was last used, for `prom apikey list`: written at most
    // once per check, not per request.
    let now = state.clock.now();
    let state: web::Data<crate::web::AppState> = state.clone();
    state
        .writer
        .write(move |conn| keys::touch(conn, &hash, now))
        .await?;
    Ok(c)
}
