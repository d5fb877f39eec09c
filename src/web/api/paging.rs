//! Paging: `?limit=N` (default 100, at most 1,000) and an opaque `cursor`;
//! when more remain, a `Link: <…>; rel="next"` header. The body stays an
//! array.

use actix_web::HttpRequest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::web::error::ApiError;

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<u32, ApiError> {
        match self.limit.unwrap_or(DEFAULT_LIMIT) {
            n @ 1..=MAX_LIMIT => Ok(n),
            _ => Err(ApiError::BadRequest(
                "bad_query",
                format!("`limit` must be from 1 to {MAX_LIMIT}"),
            )),
        }
    }

    /// The cursor's `N` parts, as [`cursor`] wrote them.
    pub fn after<const N: usize>(&self) -> Result<Option<[String; N]>, ApiError> {
        let Some(c) = &self.cursor else {
            return Ok(None);
        };
        URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok())
            .and_then(|parts| <[String; N]>::try_from(parts).ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "bad_query",
                    "`cursor` is not one this server gave out".into(),
                )
            })
    }
}

/// An opaque cursor that holds where the next page starts.
pub fn cursor(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(parts).unwrap_or_default())
}

/// The `Link` header's value for the next page of this request; `extra`
/// holds the request's other parameters (`status=open&`).
pub fn next_link(req: &HttpRequest, extra: &str, limit: u32, cursor: &str) -> String {
    format!(
        "<{}?{extra}limit={limit}&cursor={cursor}>; rel=\"next\"",
        req.path()
    )
}
