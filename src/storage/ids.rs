//! Ids and timestamps as storage writes them, and the mapping of unique
//! constraint failures to a conflict.

use chrono::{DateTime, SecondsFormat, Utc};

use super::StorageError;

/// A timestamp as stored: UTC, RFC 3339, milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A new time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn conflict_on_unique(e: rusqlite::Error, what: &str) -> StorageError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StorageError::Conflict(what.to_string())
        }
        _ => e.into(),
    }
}
