//! The outbox: e-mails to send, written in the transaction that caused
//! them, and sent by the mailer at least once.

use super::Connection;
use super::db::params;
use chrono::{DateTime, Duration, Utc};

use super::Result;
use super::ids::{new_id, ts};

/// A message to send.
#[derive(Debug, Clone, Default)]
pub struct NewMessage<'a> {
    pub kind: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    /// Never health data: that something waits, and a link.
    pub body: &'a str,
    /// The HTML part, when there is one.
    pub html: Option<&'a str>,
    pub response_id: Option<&'a str>,
    pub clinic_id: Option<&'a str>,
    /// A message with a key is stored once: a second one with the same key
    /// is ignored (a digest per day, an escalation per item).
    pub once_key: Option<&'a str>,
    /// When it may go (`now` when `None`).
    pub due_at: Option<&'a str>,
}

/// Stores a message; `false` when one with its `once_key` exists already.
pub fn enqueue(conn: &Connection, m: &NewMessage, now: &str) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "INSERT INTO outbox (id, kind, recipient, subject, body, html, response_id, clinic_id, once_key, created_at, due_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (once_key) WHERE once_key IS NOT NULL DO NOTHING",
        )?
        .execute(params![
            new_id(),
            m.kind,
            m.recipient,
            m.subject,
            m.body,
            m.html,
            m.response_id,
            m.clinic_id,
            m.once_key,
            now,
            m.due_at.unwrap_or(now)
        ])?;
    Ok(n == 1)
}

/// Replaces the wording of a message not sent yet, by its `once_key`.
pub fn reword(
    conn: &Connection,
    once_key: &str,
    subject: &str,
    body: &str,
    html: &str,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE outbox SET subject = ?2, body = ?3, html = ?4
         WHERE once_key = ?1 AND sent_at IS NULL AND dead_at IS NULL",
    )?
    .execute(params![once_key, subject, body, html])?;
    Ok(())
}

/// When the clinic's newest message of `kind` was made, if after `since`.
pub fn last_of_kind(
    conn: &Connection,
    clinic_id: &str,
    kind: &str,
    since: &str,
) -> Result<Option<String>> {
    use super::db::OptionalExtension;
    Ok(conn
        .prepare_cached(
            "SELECT max(created_at) FROM outbox WHERE clinic_id = ?1 AND kind = ?2 AND created_at > ?3",
        )?
        .query_row(params![clinic_id, kind, since], |r| r.get::<Option<String>>(0))
        .optional()?
        .flatten())
}

/// A message that could not be sent, as admins see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Dead {
    pub id: String,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub dead_at: String,
}

/// The clinic's dead messages, newest first.
pub fn dead_of_clinic(conn: &Connection, clinic_id: &str, limit: u32) -> Result<Vec<Dead>> {
    let rows = conn
        .prepare_cached(
            "SELECT id, kind, recipient, subject, attempts, last_error, dead_at FROM outbox
             WHERE clinic_id = ?1 AND dead_at IS NOT NULL ORDER BY dead_at DESC LIMIT ?2",
        )?
        .query_map(params![clinic_id, limit], |r| {
            Ok(Dead {
                id: r.get(0)?,
                kind: r.get(1)?,
                recipient: r.get(2)?,
                subject: r.get(3)?,
                attempts: r.get(4)?,
                last_error: r.get(5)?,
                dead_at: r.get(6)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// Gives a dead message of the clinic a new start; `false` when there is
/// no such dead message.
pub fn retry(conn: &Connection, clinic_id: &str, id: &str, now: DateTime<Utc>) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE outbox SET dead_at = NULL, attempts = 0, due_at = ?3
         WHERE id = ?2 AND clinic_id = ?1 AND dead_at IS NOT NULL AND sent_at IS NULL",
        params![clinic_id, id, ts(now)],
    )? == 1)
}

/// A message that is due.
pub struct Due {
    pub id: String,
    /// When it fell due, as stored: the claim compares it.
    pub due_at: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    pub html: Option<String>,
}

/// Up to `limit` messages due at `now`, oldest first.
pub fn due(conn: &Connection, now: DateTime<Utc>, limit: u32) -> Result<Vec<Due>> {
    let rows = conn
        .prepare_cached(
            "SELECT id, recipient, subject, body, attempts, html, due_at FROM outbox
             WHERE sent_at IS NULL AND dead_at IS NULL AND due_at <= ?1 ORDER BY due_at LIMIT ?2",
        )?
        .query_map(params![ts(now), limit], |r| {
            Ok(Due {
                id: r.get(0)?,
                due_at: r.get(6)?,
                recipient: r.get(1)?,
                subject: r.get(2)?,
                body: r.get(3)?,
                attempts: r.get(4)?,
                html: r.get(5)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// Claims a due message for one sender until `until`: only one of the
/// nodes that found it due gets it (the others' claims change nothing).
/// A sender that dies mid-send leaves the claim to run out, and the
/// message is sent again then, with the same `Message-ID`.
pub fn claim(conn: &Connection, m: &Due, until: DateTime<Utc>) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE outbox SET due_at = ?3
             WHERE id = ?1 AND due_at = ?2 AND sent_at IS NULL AND dead_at IS NULL",
        )?
        .execute(params![m.id, m.due_at, ts(until)])?;
    Ok(n == 1)
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
