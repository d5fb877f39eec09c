//! One error type for the API, mapped once to a status and a JSON body
//! `{"error": CODE, "message": ..., "errors": {...}?}`. Internals never reach
//! the client: they go to the log with an id the client can quote.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Map, Value as Json, json};
use std::fmt;

use crate::storage::StorageError;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    NotFound(&'static str, String),
    BadRequest(&'static str, String),
    Conflict(String),
    Unprocessable(String, Map<String, Json>),
    TooLarge,
    /// Too many request bodies at once from this key or address.
    TooMany,
    /// The body did not arrive in time.
    Timeout,
    Unavailable(&'static str, String),
    Internal(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message())
    }
}

impl ApiError {
    fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound(c, _) | ApiError::BadRequest(c, _) | ApiError::Unavailable(c, _) => {
                c
            }
            ApiError::Conflict(_) => "conflict",
            ApiError::Unprocessable(..) => "invalid_answers",
            ApiError::TooLarge => "too_large",
            ApiError::TooMany => "too_many_requests",
            ApiError::Timeout => "timeout",
            ApiError::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Unauthorized => {
                "send a clinic's API key as `Authorization: Bearer KEY`".into()
            }
            ApiError::NotFound(_, m)
            | ApiError::BadRequest(_, m)
            | ApiError::Conflict(m)
            | ApiError::Unprocessable(m, _)
            | ApiError::Unavailable(_, m) => m.clone(),
            ApiError::TooLarge => {
                format!("the request body is larger than {} bytes", super::MAX_BODY)
            }
            ApiError::Timeout => {
                "the request body did not arrive in time; nothing was stored".into()
            }
            ApiError::TooMany => "too many requests are being sent at once with this key or from this address; nothing was stored. Try again in a few seconds".into(),
            ApiError::Internal(id) => format!(
                "something went wrong on the server; nothing was stored. Quote this id if you report it: {id}"
            ),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(..) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooMany => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = json!({"error": self.code(), "message": self.message()});
        if let ApiError::Unprocessable(_, errors) = self {
            body["errors"] = Json::Object(errors.clone());
        }
        let mut resp = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized) {
            resp.insert_header(("WWW-Authenticate", "Bearer"));
        }
        if matches!(self, ApiError::Unavailable(..)) {
            resp.insert_header(("Retry-After", "30"));
        }
        // A body that was refused or cut off is not read to its end: the
        // connection closes rather than wait for the rest.
        if matches!(
            self,
            ApiError::Timeout | ApiError::TooLarge | ApiError::TooMany
        ) {
            resp.force_close();
        }
        resp.json(body)
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> ApiError {
        match e {
            StorageError::NotFound => ApiError::NotFound("not_found", "not found".into()),
            StorageError::Conflict(m) => ApiError::Conflict(m),
            StorageError::Invalid(m) => ApiError::BadRequest("invalid", m),
            StorageError::Full => ApiError::Unavailable(
                "storage_full",
                "the server's disk is full, so nothing was stored; please try again later".into(),
            ),
            StorageError::ReadOnly => ApiError::Unavailable(
                "storage_read_only",
                "the server cannot write its database, so nothing was stored; please try again later".into(),
            ),
            StorageError::Io(detail) => {
                tracing::error!(%detail, "the database could not be written");
                ApiError::Unavailable(
                    "storage_unavailable",
                    "the server could not write to its disk, so nothing was stored; please try again later".into(),
                )
            }
            StorageError::Busy => ApiError::Unavailable(
                "storage_busy",
                "the server is busy and nothing was stored; please try again".into(),
            ),
            other @ (StorageError::Sqlite(_)
            | StorageError::WriterGone
            | StorageError::Damaged(_)
            | StorageError::CannotOpen(_)) => {
                let detail = other.to_string();
                let id = crate::storage::ids::new_id();
                tracing::error!(error_id = %id, %detail, "storage error");
                ApiError::Internal(id)
            }
        }
    }
}
