//! Idempotency keys: a key is scoped to the clinic, the route and the
//! target it was first used for, and remembers the hash of the request's
//! canonical body and the response it stored.

use super::Connection;
use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::Result;
use super::ids::ts;

/// What a key was first used for.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The route and target, such as `POST /responses` or
    /// `POST /responses/ID/corrections`.
    pub scope: String,
    pub request_hash: String,
    pub response_id: String,
}

pub const LOOKUP_SQL: &str = "SELECT scope, request_hash, response_id FROM idempotency_keys WHERE clinic_id = ?1 AND key = ?2";

pub fn lookup(conn: &Connection, clinic_id: &str, key: &str) -> Result<Option<Seen>> {
    conn.prepare_cached(LOOKUP_SQL)?
        .query_row(params![clinic_id, key], |r| {
            Ok(Seen {
                scope: r.get(0)?,
                request_hash: r.get(1)?,
                response_id: r.get(2)?,
            })
        })
        .optional()
}

pub fn record(
    conn: &Connection,
    clinic_id: &str,
    key: &str,
    seen: &Seen,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO idempotency_keys (clinic_id, key, scope, request_hash, response_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        clinic_id,
        key,
        seen.scope,
        seen.request_hash,
        seen.response_id,
        ts(now)
    ])?;
    Ok(())
}
