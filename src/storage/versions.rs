//! Every questionnaire version ever served, with its compiled form.

use super::Connection;
use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};
use serde_json::Value as Json;

use super::ids::ts;
use super::{Result, StorageError};
use crate::core::compile_json;
use crate::core::model::Questionnaire;

/// Records a questionnaire version the first time it is served. The same id
/// and version with other content is refused: every stored response points
/// at the exact text that was answered.
pub fn record_version(conn: &Connection, q: &Questionnaire, now: DateTime<Utc>) -> Result<bool> {
    let known: Option<String> = conn
        .query_row(
            "SELECT hash FROM questionnaire_versions WHERE questionnaire_id = ?1 AND version = ?2",
            params![q.id, q.version],
            |r| r.get(0),
        )
        .optional()?;
    match known {
        Some(h) if h == q.hash => Ok(false),
        Some(_) => Err(StorageError::Conflict(format!(
            "the content of `{}` version {} changed, but its version did not; give it version {} (or later) so that stored answers keep pointing at the text that was answered",
            q.id,
            q.version,
            q.version + 1
        ))),
        None => {
            // Another node starting at the same moment may record it
            // first: then its hash is compared like a known one.
            let n = conn.execute(
                "INSERT INTO questionnaire_versions (questionnaire_id, version, hash, compiled, first_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (questionnaire_id, version) DO NOTHING",
                params![q.id, q.version, q.hash, q.to_json().to_string(), ts(now)],
            )?;
            if n == 0 {
                return record_version(conn, q, now);
            }
            Ok(true)
        }
    }
}

/// A stored version's compiled questionnaire.
pub fn load_version(conn: &Connection, id: &str, version: u32) -> Result<Questionnaire> {
    let compiled: String = conn.query_row(
        "SELECT compiled FROM questionnaire_versions WHERE questionnaire_id = ?1 AND version = ?2",
        params![id, version],
        |r| r.get(0),
    )?;
    let json: Json =
        serde_json::from_str(&compiled).map_err(|e| StorageError::Sqlite(e.to_string()))?;
    compile_json(&json).questionnaire.ok_or_else(|| {
        StorageError::Invalid(format!(
            "the stored `{id}` version {version} does not compile"
        ))
    })
}

/// Compiled versions already read, by id, version and content hash: a
/// stored version never changes, so a page that shows many responses
/// compiles each version once per process.
type Compiled = std::collections::HashMap<(String, u32, String), std::sync::Arc<Questionnaire>>;

fn compiled_cache() -> &'static std::sync::Mutex<Compiled> {
    static CACHE: std::sync::OnceLock<std::sync::Mutex<Compiled>> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Like [`load_version`], shared: compiled once per process.
pub fn load_version_shared(
    conn: &Connection,
    id: &str,
    version: u32,
) -> Result<std::sync::Arc<Questionnaire>> {
    let hash: String = conn
        .prepare_cached(
            "SELECT hash FROM questionnaire_versions WHERE questionnaire_id = ?1 AND version = ?2",
        )?
        .query_row(params![id, version], |r| r.get(0))?;
    let key = (id.to_string(), version, hash);
    if let Some(q) = compiled_cache()
        .lock()
        .ok()
        .and_then(|c| c.get(&key).cloned())
    {
        return Ok(q);
    }
    let q = std::sync::Arc::new(load_version(conn, id, version)?);
    if let Ok(mut c) = compiled_cache().lock() {
        if c.len() >= 256 {
            c.clear();
        }
        c.insert(key, q.clone());
    }
    Ok(q)
}

/// The newest stored version of a questionnaire, if any was ever served.
pub fn latest_shared(conn: &Connection, id: &str) -> Result<Option<std::sync::Arc<Questionnaire>>> {
    use super::db::OptionalExtension;
    let version: Option<u32> = conn
        .query_row(
            "SELECT max(version) FROM questionnaire_versions WHERE questionnaire_id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    match version {
        Some(v) => Ok(Some(load_version_shared(conn, id, v)?)),
        None => Ok(None),
    }
}

/// The newest stored version of each questionnaire in `served` (id and
/// version served) that is newer than the one served: what another node,
/// started with newer files, recorded. One statement, then the compiled
/// form of each newer version (compiled once per process).
pub fn newer_than(
    conn: &Connection,
    served: &std::collections::HashMap<String, u32>,
) -> Result<Vec<std::sync::Arc<Questionnaire>>> {
    let newest: Vec<(String, u32)> = conn
        .prepare_cached(
            "SELECT questionnaire_id, max(version) FROM questionnaire_versions GROUP BY questionnaire_id",
        )?
        .query_map((), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_>>()?;
    newest
        .into_iter()
        .filter(|(id, v)| served.get(id).is_some_and(|s| v > s))
        .map(|(id, v)| load_version_shared(conn, &id, v))
        .collect()
}
