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

/// A unique key broken (`StorageError::Conflict`, on either backend) as a
/// conflict that says what exists already.
pub fn conflict_on_unique(e: StorageError, what: &str) -> StorageError {
    match e {
        StorageError::Conflict(_) => StorageError::Conflict(what.to_string()),
        other => other,
    }
}
