//! The outbox: e-mails to send, written in the transaction that caused
//! them, and sent by the mailer at least once.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, params};

use super::Result;
use super::ids::{new_id, ts};

/// A message to send.
pub struct NewMessage<'a> {
    pub kind: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    /// Never health data: that something waits, and a link.
    pub body: &'a str,
    pub response_id: Option<&'a str>,
}

pub fn enqueue(conn: &Connection, m: &NewMessage, now: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO outbox (id, kind, recipient, subject, body, response_id, created_at, due_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![
        new_id(),
        m.kind,
        m.recipient,
        m.subject,
        m.body,
        m.response_id,
        now
    ])?;
    Ok(())
}

/// A message that is due.
pub struct Due {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

/// Up to `limit` messages due at `now`, oldest first.
pub fn due(conn: &Connection, now: DateTime<Utc>, limit: u32) -> Result<Vec<Due>> {
    let rows = conn
        .prepare_cached(
            "SELECT id, recipient, subject, body, attempts FROM outbox
             WHERE sent_at IS NULL AND dead_at IS NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2",
        )?
        .query_map(params![ts(now), limit], |r| {
            Ok(Due {
                id: r.get(0)?,
                recipient: r.get(1)?,
                subject: r.get(2)?,
                body: r.get(3)?,
                attempts: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn mark_sent(conn: &Connection, id: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL WHERE id = ?1",
        params![id, ts(now)],
    )?;
    Ok(())
}

/// Records a failed attempt: tried again after `wait`, or dead.
pub fn mark_failed(
    conn: &Connection,
    id: &str,
    attempts: i64,
    error: &str,
    now: DateTime<Utc>,
    wait: Duration,
    dead: bool,
) -> Result<()> {
    conn.execute(
        "UPDATE outbox SET attempts = ?2, last_error = ?3, due_at = ?4, dead_at = ?5 WHERE id = ?1",
        params![id, attempts, error, ts(now + wait), dead.then(|| ts(now))],
    )?;
    Ok(())
}
