//! API keys: stored as SHA-256 hashes with a short prefix to name them by,
//! revocable.

use super::Connection;
use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::clinics::{Clinic, clinic_row, get_clinic};
use super::ids::{new_id, ts};
use super::{Result, StorageError};

/// How many characters of a key are kept to name it: `prom_key_` and 8
/// of its 43 random characters (48 of its 256 bits).
pub const PREFIX_LEN: usize = 17;

/// The prefix a key is listed and revoked by.
pub fn prefix_of(key: &str) -> String {
    key.chars().take(PREFIX_LEN).collect()
}

pub fn insert_api_key(
    conn: &Connection,
    clinic_id: &str,
    key_hash: &str,
    prefix: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String> {
    get_clinic(conn, clinic_id)?;
    let id = new_id();
    conn.execute(
        "INSERT INTO api_keys (id, clinic_id, key_hash, prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, clinic_id, key_hash, prefix, ts(now)],
    )?;
    Ok(id)
}

pub const CLINIC_SQL: &str = "SELECT c.id, c.name, c.alert_emails, c.time_zone FROM api_keys k
     JOIN clinics c ON c.id = k.clinic_id
     WHERE k.key_hash = ?1 AND k.revoked_at IS NULL";

/// The clinic an API key belongs to, if the key is known and not revoked.
pub fn clinic_for_key(conn: &Connection, key_hash: &str) -> Result<Option<Clinic>> {
    conn.prepare_cached(CLINIC_SQL)?
        .query_row([key_hash], clinic_row)
        .optional()
}

/// Records that a key was used (the server does it at most once a second
/// per key).
pub fn touch(conn: &Connection, key_hash: &str, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE key_hash = ?1")?
        .execute(params![key_hash, ts(now)])?;
    Ok(())
}

/// A key as `prom apikey list` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyInfo {
    /// The key's prefix, or `sha256:` and the start of its hash for keys
    /// made before prefixes were kept.
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

const NAME: &str = "coalesce(prefix, 'sha256:' || substr(key_hash, 1, 12))";

pub fn list(conn: &Connection, clinic_id: &str) -> Result<Vec<KeyInfo>> {
    get_clinic(conn, clinic_id)?;
    let rows = conn
        .prepare(&format!(
            "SELECT {NAME}, created_at, last_used_at, revoked_at FROM api_keys
             WHERE clinic_id = ?1 ORDER BY created_at, id"
        ))?
        .query_map([clinic_id], |r| {
            Ok(KeyInfo {
                name: r.get(0)?,
                created_at: r.get(1)?,
                last_used_at: r.get(2)?,
                revoked_at: r.get(3)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// Revokes the one key named `name` (as `list` shows it); returns its
/// clinic. Revoking a revoked key is refused, so a typo cannot look like
/// success.
pub fn revoke(conn: &Connection, name: &str, now: DateTime<Utc>) -> Result<String> {
    let found: Vec<(String, String, Option<String>)> = conn
        .prepare(&format!(
            "SELECT id, clinic_id, revoked_at FROM api_keys WHERE {NAME} = ?1"
        ))?
        .query_map([name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_>>()?;
    match found.as_slice() {
        [] => Err(StorageError::NotFound),
        [(_, _, Some(at))] => Err(StorageError::Conflict(format!(
            "the key {name} was revoked already, at {at}"
        ))),
        [(id, clinic, None)] => {
            conn.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1",
                params![id, ts(now)],
            )?;
            Ok(clinic.clone())
        }
        _ => Err(StorageError::Conflict(format!(
            "several keys are named {name}"
        ))),
    }
}

/// Revokes the key named `name` of `clinic_id` only (a staff admin's
/// revocation); `NotFound` for another clinic's key.
pub fn revoke_in_clinic(
    conn: &Connection,
    clinic_id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let n = conn.execute(
        &format!(
            "UPDATE api_keys SET revoked_at = ?3
             WHERE clinic_id = ?1 AND {NAME} = ?2 AND revoked_at IS NULL"
        ),
        params![clinic_id, name, ts(now)],
    )?;
    if n == 0 {
        return Err(StorageError::NotFound);
    }
    Ok(())
}
