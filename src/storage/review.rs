//! The review queue: a review item per flagged response.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::Result;
use super::ids::new_id;
use super::responses::FlagRecord;

/// An item of the review queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueItem {
    pub response: String,
    pub patient: String,
    #[serde(skip)]
    pub patient_id: String,
    pub questionnaire: String,
    pub level: String,
    pub flags: Vec<FlagRecord>,
    pub submitted_at: String,
    pub status: String,
}

/// Where a page of the queue starts: after this item (red before yellow,
/// oldest first). New items sort after older ones of their level, so a
/// cursor stays valid while others arrive.
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    /// `red` or `yellow` (which sort in that order).
    pub level: String,
    pub created_at: String,
    pub response: String,
}

/// The query of a page of the queue: the first, or the one after a cursor
/// (a range seek in the `review_queue` index).
pub fn queue_sql(after: bool) -> String {
    let cursor = if after {
        "AND (ri.level, ri.created_at, ri.response_id) > (?4, ?5, ?6)"
    } else {
        ""
    };
    format!(
        "SELECT ri.response_id, p.ref, r.questionnaire_id, ri.level, ri.created_at, ri.status,
            (SELECT json_group_array(json_object('rule', f.rule_id, 'level', f.level, 'text', json(f.text))
                 ORDER BY CASE f.level WHEN 'red' THEN 0 ELSE 1 END, f.rule_id)
               FROM flags f WHERE f.response_id = r.id),
            r.patient_id
         FROM review_items ri
         JOIN responses r ON r.id = ri.response_id
         JOIN patients p ON p.id = r.patient_id
         WHERE ri.clinic_id = ?1 AND ri.status = ?2 {cursor}
         ORDER BY ri.level, ri.created_at, ri.response_id
         LIMIT ?3"
    )
}

/// A page of the clinic's review queue in one status: red before yellow,
/// oldest first; up to `limit` after `after`, and whether more remain.
pub fn review_queue(
    conn: &Connection,
    clinic_id: &str,
    status: &str,
    limit: u32,
    after: Option<&After>,
) -> Result<(Vec<QueueItem>, bool)> {
    let mut stmt = conn.prepare_cached(&queue_sql(after.is_some()))?;
    let map = |r: &rusqlite::Row| {
        let flags: String = r.get(6)?;
        Ok(QueueItem {
            response: r.get(0)?,
            patient: r.get(1)?,
            questionnaire: r.get(2)?,
            level: r.get(3)?,
            submitted_at: r.get(4)?,
            status: r.get(5)?,
            flags: serde_json::from_str(&flags).unwrap_or_default(),
            patient_id: r.get(7)?,
        })
    };
    let limit1 = i64::from(limit) + 1;
    let rows = match after {
        None => stmt.query_map(params![clinic_id, status, limit1], map)?,
        Some(a) => stmt.query_map(
            params![clinic_id, status, limit1, a.level, a.created_at, a.response],
            map,
        )?,
    };
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let more = out.len() > limit as usize;
    out.truncate(limit as usize);
    Ok((out, more))
}

/// The review item of a response: its id, level and status.
pub fn item_for_response(
    conn: &Connection,
    response_id: &str,
) -> Result<Option<(String, String, String)>> {
    Ok(conn
        .prepare_cached("SELECT id, level, status FROM review_items WHERE response_id = ?1")?
        .query_row([response_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?)
}

/// Opens a review item at `level` for a response that had none, and
/// returns its id.
pub fn open_item(
    conn: &Connection,
    response_id: &str,
    clinic_id: &str,
    level: &str,
    now: &str,
) -> Result<String> {
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO review_items (id, response_id, clinic_id, level, status, created_at)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5)",
    )?
    .execute(params![id, response_id, clinic_id, level, now])?;
    Ok(id)
}

/// Adds an event to a review item's history.
pub fn add_event(
    conn: &Connection,
    item_id: &str,
    status: &str,
    actor: &str,
    note: Option<&str>,
    at: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO review_events (review_item_id, status, actor, note, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![item_id, status, actor, note, at])?;
    Ok(())
}

/// Whether an item's history holds an event with this note.
pub fn has_event(conn: &Connection, item_id: &str, note: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM review_events WHERE review_item_id = ?1 AND note = ?2)",
        )?
        .query_row(params![item_id, note], |r| r.get(0))?)
}

/// An event of a review item's history.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewEvent {
    pub status: String,
    pub at: String,
    pub note: Option<String>,
}

/// What the clinic did with a response's review item.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewHistory {
    pub status: String,
    /// Oldest first.
    pub events: Vec<ReviewEvent>,
}

pub fn history_of_response(conn: &Connection, response_id: &str) -> Result<Option<ReviewHistory>> {
    let Some((id, _, status)) = item_for_response(conn, response_id)? else {
        return Ok(None);
    };
    let events = conn
        .prepare_cached(
            "SELECT status, at, note FROM review_events WHERE review_item_id = ?1 ORDER BY id",
        )?
        .query_map([&id], |r| {
            Ok(ReviewEvent {
                status: r.get(0)?,
                at: r.get(1)?,
                note: r.get(2)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(ReviewHistory { status, events }))
}
