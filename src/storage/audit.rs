//! The audit log: who did or read what, when. Rows are append-only (SQL
//! triggers refuse UPDATE and DELETE) and chained: each row's hash covers
//! its fields, the previous row's hash and, for a row that stores a
//! response, a hash of that response's content.
//!
//! The chain is keyed (scheme 2): each link is an HMAC-SHA-256 with a
//! secret kept outside the database, in `PROM_AUDIT_KEY` or a file beside
//! it (`DB.audit-key`, readable by the owner only). Without the key, no one
//! can recompute the chain after removing or editing a row. A head
//! checkpoint outside the database (`DB.audit-head`: the last row's number
//! and hash, also keyed), written after commits, shows a cut tail. Rows
//! written before migration 2 keep their plain SHA-256 links (scheme 1).
//!
//! What `verify` cannot show: someone who holds both the database and the
//! key can rewrite the whole chain and the head consistently; rows stored
//! in the moment between the last head write and a cut are not covered by
//! the head.

use super::Connection;
use super::db::{OptionalExtension, params};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, RwLock};

use super::{Result, StorageError};

/// The secret that keys the chain: 32 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey([u8; 32]);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

impl AuditKey {
    fn from_hex(s: &str) -> Option<AuditKey> {
        let bytes = hex::decode(s.trim()).ok()?;
        Some(AuditKey(bytes.try_into().ok()?))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // INVARIANT: HMAC takes a key of any length, so this cannot fail.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"))
    }
}

/// The environment variable that may hold the key (64 hex digits).
pub const KEY_ENV: &str = "PROM_AUDIT_KEY";

/// `DB.audit-key`: where the key is kept when not in the environment.
pub fn key_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".audit-key");
    PathBuf::from(p)
}

/// `DB.audit-head`: the head checkpoint.
pub fn head_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".audit-head");
    PathBuf::from(p)
}

/// Keys by database file, as SQLite names it (`Connection::path`).
static KEYS: LazyLock<RwLock<HashMap<String, AuditKey>>> = LazyLock::new(Default::default);

/// The key for the database at `db`: from the environment, or its key
/// file. `None` when there is none.
pub fn load_key(db: &Path) -> Result<Option<AuditKey>> {
    if let Ok(v) = std::env::var(KEY_ENV) {
        return AuditKey::from_hex(&v).map(Some).ok_or_else(|| {
            StorageError::Invalid(format!("{KEY_ENV} must be 64 hexadecimal digits"))
        });
    }
    let path = key_path(db);
    match std::fs::read_to_string(&path) {
        Ok(text) => AuditKey::from_hex(&text).map(Some).ok_or_else(|| {
            StorageError::Invalid(format!("{} does not hold an audit key", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::Invalid(format!(
            "cannot read the audit key {}: {e}",
            path.display()
        ))),
    }
}

/// Makes sure the database opened as `conn` (at `db`) has a key, and
/// registers it for `append`. A new key is made only while the chain has no
/// keyed row: a chain whose key is lost must not quietly go on with another.
pub fn ensure_key(conn: &Connection, db: &Path) -> Result<()> {
    let key = match load_key(db)? {
        Some(k) => k,
        None => {
            let keyed: bool = conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM audit_log WHERE scheme = 2)",
                    (),
                    |r| r.get(0),
                )
                .unwrap_or(false);
            if keyed {
                return Err(StorageError::Invalid(format!(
                    "the audit key is missing ({} or {KEY_ENV}); the audit trail cannot go on without it. Restore the key file from where it is kept",
                    key_path(db).display()
                )));
            }
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            super::write_private(
                &key_path(db),
                format!("{}\n", hex::encode(bytes)).as_bytes(),
            )
            .map_err(|e| StorageError::Invalid(format!("cannot write the audit key: {e}")))?;
            AuditKey(bytes)
        }
    };
    if let Some(name) = conn.path()
        && let Ok(mut m) = KEYS.write()
    {
        m.insert(name.to_string(), key);
    }
    Ok(())
}

/// Registers `key` for the database of `conn` (a copy checked with its
/// original's key).
pub fn register(conn: &Connection, key: AuditKey) {
    if let Some(name) = conn.path()
        && let Ok(mut m) = KEYS.write()
    {
        m.insert(name.to_string(), key);
    }
}

/// A key for another purpose (signing the login form's token, hashing a
/// person's identifier), derived from the deployment's audit key: every
/// node that holds the key derives the same one, and no second secret has
/// to be kept. `purpose` names the use, so keys for two uses differ.
pub fn derived_key(conn: &Connection, purpose: &str) -> Result<[u8; 32]> {
    let mut mac = key_for(conn)?.mac();
    mac.update(b"prom derived key\0");
    mac.update(purpose.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

/// The key registered for this connection's database, loading it on first
/// use.
fn key_for(conn: &Connection) -> Result<AuditKey> {
    let name = conn.path().unwrap_or_default().to_string();
    if let Some(k) = KEYS.read().ok().and_then(|m| m.get(&name).cloned()) {
        return Ok(k);
    }
    let key = load_key(Path::new(&name))?.ok_or_else(|| {
        StorageError::Invalid(
            "the audit key is missing; open the database with storage::open".into(),
        )
    })?;
    if let Ok(mut m) = KEYS.write() {
        m.insert(name, key.clone());
    }
    Ok(key)
}

/// One thing to record. Never put answers, scores or names here: ids only.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub clinic_id: Option<&'a str>,
    pub patient_id: Option<&'a str>,
    pub subject: Option<&'a str>,
    /// For a row that stores a response: the hash of its content
    /// (`responses::content_hashes`).
    pub content_hash: Option<&'a str>,
}

/// The actions whose subject is a stored response and whose row covers the
/// response's content.
pub const RESPONSE_ACTIONS: &[&str] = &["response.submit", "response.correct"];

fn parts<'a>(prev: &'a str, seq: &'a str, e: &'a Entry) -> [&'a str; 9] {
    [
        prev,
        seq,
        e.at,
        e.actor,
        e.action,
        e.clinic_id.unwrap_or(""),
        e.patient_id.unwrap_or(""),
        e.subject.unwrap_or(""),
        e.content_hash.unwrap_or(""),
    ]
}

/// Scheme 1 (before migration 2): a plain SHA-256 link.
fn plain_hash(prev: &str, seq: i64, e: &Entry) -> String {
    let seq = seq.to_string();
    let mut h = Sha256::new();
    for part in &parts(prev, &seq, e)[..8] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Scheme 2: an HMAC-SHA-256 link, the content hash included.
fn keyed_hash(key: &AuditKey, prev: &str, seq: i64, e: &Entry) -> String {
    let seq = seq.to_string();
    let mut m = key.mac();
    for part in parts(prev, &seq, e) {
        m.update(&part.len().to_le_bytes());
        m.update(part.as_bytes());
    }
    hex::encode(m.finalize().into_bytes())
}

/// The advisory lock key of the chain's head on PostgreSQL ("audt").
const CHAIN_LOCK: i64 = 0x6175_6474;

pub const LAST_SQL: &str =
    "SELECT seq, hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)";

/// On PostgreSQL, takes the chain's lock for the rest of the transaction
/// (a no-op on SQLite, which has one writer). The server's writer takes it
/// first thing in every batch: every transaction that writes the chain
/// then takes its locks in the same order — the chain first — so nodes
/// writing at once wait for each other instead of deadlocking (a batch
/// that locked a row, then waited for the chain held by another node's
/// batch that wanted the same row, was seen to fail with 503 now and
/// then).
pub fn lock_chain(conn: &Connection) -> Result<()> {
    if conn.backend() == super::db::Backend::Postgres {
        conn.prepare_cached("SELECT 1 FROM (SELECT pg_advisory_xact_lock(?1)) AS chain")?
            .query_row(params![CHAIN_LOCK], |_| Ok(()))?;
    }
    Ok(())
}

/// Appends a row. Call it inside a write transaction, so that the chain's
/// last link cannot change under it.
pub fn append(conn: &Connection, e: &Entry) -> Result<()> {
    let key = key_for(conn)?;
    // In the writer's batch the row waits for the batch's end (see
    // `begin_batch`).
    if let Some(batch) = conn.chain.borrow_mut().as_mut() {
        batch.push(OwnedEntry::from(e));
        return Ok(());
    }
    // Several nodes write at once: the chain's next link is taken under a
    // lock held to the end of the transaction, so the chain never forks
    // (SQLite has one writer at a time already). Taken again by the same
    // transaction, it is the same lock.
    lock_chain(conn)?;
    let (seq, prev) = next_link(conn)?;
    let hash = keyed_hash(&key, &prev, seq, e);
    conn.prepare_cached(
        "INSERT INTO audit_log (seq, at, actor, action, clinic_id, patient_id, subject, prev_hash, hash, scheme, content_hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 2, ?10)",
    )?
    .execute(params![
        seq,
        e.at,
        e.actor,
        e.action,
        e.clinic_id,
        e.patient_id,
        e.subject,
        prev,
        hash,
        e.content_hash
    ])?;
    Ok(())
}

/// The sequence number and previous hash of the chain's next row.
fn next_link(conn: &Connection) -> Result<(i64, String)> {
    let last: Option<(i64, String)> = conn
        .prepare_cached(LAST_SQL)?
        .query_row((), |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match last {
        Some((s, h)) => (s + 1, h),
        None => (1, String::new()),
    })
}

/// An audit row waiting for its batch's end.
#[derive(Debug, Clone)]
pub struct OwnedEntry {
    at: String,
    actor: String,
    action: String,
    clinic_id: Option<String>,
    patient_id: Option<String>,
    subject: Option<String>,
    content_hash: Option<String>,
}

impl From<&Entry<'_>> for OwnedEntry {
    fn from(e: &Entry<'_>) -> OwnedEntry {
        OwnedEntry {
            at: e.at.into(),
            actor: e.actor.into(),
            action: e.action.into(),
            clinic_id: e.clinic_id.map(String::from),
            patient_id: e.patient_id.map(String::from),
            subject: e.subject.map(String::from),
            content_hash: e.content_hash.map(String::from),
        }
    }
}

impl OwnedEntry {
    fn entry(&self) -> Entry<'_> {
        Entry {
            at: &self.at,
            actor: &self.actor,
            action: &self.action,
            clinic_id: self.clinic_id.as_deref(),
            patient_id: self.patient_id.as_deref(),
            subject: self.subject.as_deref(),
            content_hash: self.content_hash.as_deref(),
        }
    }
}

/// For the writer, right after it began a batch's transaction: from then
/// on `append` keeps the batch's audit rows in hand, and [`flush_batch`]
/// chains and writes them all just before the commit. The chain's lock is
/// then held only from the flush to the commit (other nodes' batches do
/// their work meanwhile), it is the last lock a batch takes (so two nodes
/// cannot deadlock over it), and the rows cost one statement per hundred.
pub fn begin_batch(conn: &Connection) {
    *conn.chain.borrow_mut() = Some(Vec::new());
}

/// How many rows the batch holds: taken before a job, to drop that job's
/// rows with [`drop_since`] if the job is rolled back.
pub fn mark(conn: &Connection) -> usize {
    conn.chain.borrow().as_ref().map_or(0, Vec::len)
}

/// Drops the rows added after `mark` (their job was rolled back).
pub fn drop_since(conn: &Connection, mark: usize) {
    if let Some(batch) = conn.chain.borrow_mut().as_mut() {
        batch.truncate(mark);
    }
}

/// Rows per INSERT when a batch is flushed.
const FLUSH_ROWS: usize = 100;

/// Chains and writes the batch's rows (under the chain's lock on
/// PostgreSQL). Call it last before COMMIT; rows appended after it wait
/// for the next flush, until [`end_batch`].
pub fn flush_batch(conn: &Connection) -> Result<()> {
    let rows = match conn.chain.borrow_mut().as_mut() {
        Some(batch) => std::mem::take(batch),
        None => return Ok(()),
    };
    if rows.is_empty() {
        return Ok(());
    }
    let key = key_for(conn)?;
    lock_chain(conn)?;
    let (mut seq, mut prev) = next_link(conn)?;
    let mut links: Vec<(i64, String, String)> = Vec::with_capacity(rows.len());
    for row in &rows {
        let hash = keyed_hash(&key, &prev, seq, &row.entry());
        links.push((seq, std::mem::replace(&mut prev, hash.clone()), hash));
        seq += 1;
    }
    for (rows, links) in rows.chunks(FLUSH_ROWS).zip(links.chunks(FLUSH_ROWS)) {
        let mut values: Vec<&dyn super::db::ToSql> = Vec::with_capacity(rows.len() * 10);
        let mut marks = Vec::with_capacity(rows.len());
        for (i, (row, (seq, prev, hash))) in rows.iter().zip(links).enumerate() {
            let m: Vec<String> = (1..=10).map(|c| format!("?{}", i * 10 + c)).collect();
            marks.push(format!(
                "({}, {}, {}, {}, {}, {}, {}, {}, {}, 2, {})",
                m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9]
            ));
            values.extend([
                seq as &dyn super::db::ToSql,
                &row.at,
                &row.actor,
                &row.action,
                &row.clinic_id,
                &row.patient_id,
                &row.subject,
                prev,
                hash,
                &row.content_hash,
            ]);
        }
        conn.prepare_cached(&format!(
            "INSERT INTO audit_log (seq, at, actor, action, clinic_id, patient_id, subject, prev_hash, hash, scheme, content_hash)
             VALUES {}",
            marks.join(", ")
        ))?
        .execute(values.as_slice())?;
    }
    Ok(())
}

/// When the batch's transaction ended (committed or not).
pub fn end_batch(conn: &Connection) {
    *conn.chain.borrow_mut() = None;
}

/// Appends a row for what `actor` did in a clinic, at `now`.
pub fn record(
    conn: &Connection,
    actor: &str,
    action: &str,
    clinic_id: &str,
    patient_id: Option<&str>,
    subject: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    let at = super::ids::ts(now);
    append(
        conn,
        &Entry {
            at: &at,
            actor,
            action,
            clinic_id: Some(clinic_id),
            patient_id,
            subject,
            content_hash: None,
        },
    )
}

fn head_mac(key: &AuditKey, seq: i64, hash: &str) -> String {
    let mut m = key.mac();
    m.update(format!("audit-head {seq} {hash}").as_bytes());
    hex::encode(m.finalize().into_bytes())
}

/// Writes the head checkpoint (the last row's number and hash, keyed)
/// beside the database; `false` when there is no keyed row to name yet.
/// Call it after a commit, never before: a head that names an uncommitted
/// row would later look like a cut tail.
pub fn write_head(conn: &Connection, db: &Path) -> Result<bool> {
    let last: Option<(i64, String)> = conn
        .prepare_cached(
            "SELECT seq, hash FROM audit_log WHERE scheme = 2 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row((), |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((seq, hash)) = last else {
        return Ok(false);
    };
    let key = key_for(conn)?;
    let text = format!("{seq} {hash} {}\n", head_mac(&key, seq, &hash));
    super::write_private(&head_path(db), text.as_bytes())
        .map_err(|e| StorageError::Invalid(format!("cannot write the audit head: {e}")))?;
    Ok(true)
}

/// Writes the head for the database of `conn`, whatever its path, and
/// says whether it did; a failure is logged, not returned: the commit it
/// follows stands, and a head that lags behind only covers less of the
/// tail.
pub fn refresh_head(conn: &Connection) -> bool {
    let Some(path) = conn.path().map(PathBuf::from) else {
        return false;
    };
    match write_head(conn, &path) {
        Ok(written) => written,
        Err(e) => {
            tracing::warn!(error = %e, "the audit head checkpoint was not written");
            false
        }
    }
}

/// The outcome of checking the chain.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Every row links, every response is as it was stored, and the tail
    /// reaches the head checkpoint.
    Intact { rows: u64, responses: u64 },
    /// Something was changed, removed or added.
    Broken { seq: i64, reason: String },
    /// The check cannot be made (the key or the head is missing).
    CannotCheck(String),
}

/// Checks every row's link, the content of every stored response against
/// its row, that every response has its row, and the tail against the head
/// checkpoint.
pub fn verify(conn: &Connection, db: &Path) -> Result<Verdict> {
    let key = load_key(db)?;
    let mut prev = String::new();
    let mut expected_seq = 1i64;
    let mut count = 0u64;
    let mut response_rows = 0u64;
    let mut keyed_seen = false;
    // A page at a time, so that memory does not grow with the log, and the
    // page's responses hashed in three statements rather than three each.
    let mut after = 0i64;
    loop {
        let page = verify_page(conn, after)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let ids: Vec<&str> = page
            .iter()
            .filter(|r| r.scheme == 2 && RESPONSE_ACTIONS.contains(&r.action.as_str()))
            .map(|r| r.subject.as_deref().unwrap_or(""))
            .collect();
        let stored = super::responses::content_hashes(conn, &ids)?;
        for r in &page {
            let seq = r.seq;
            let broken = |reason: String| Ok(Verdict::Broken { seq, reason });
            if seq != expected_seq {
                return broken(format!("row {expected_seq} is missing"));
            }
            if r.prev_hash != prev {
                return broken("it does not link to the row before it".into());
            }
            let e = Entry {
                at: &r.at,
                actor: &r.actor,
                action: &r.action,
                clinic_id: r.clinic_id.as_deref(),
                patient_id: r.patient_id.as_deref(),
                subject: r.subject.as_deref(),
                content_hash: r.content_hash.as_deref(),
            };
            let expected = match (r.scheme, &key) {
                (1, _) if keyed_seen => {
                    return broken(
                        "an unkeyed row follows keyed ones (rewritten without the key)".into(),
                    );
                }
                (1, _) => plain_hash(&prev, seq, &e),
                (2, Some(k)) => {
                    keyed_seen = true;
                    keyed_hash(k, &prev, seq, &e)
                }
                (2, None) => {
                    return Ok(Verdict::CannotCheck(format!(
                        "the audit key is missing ({} or {KEY_ENV})",
                        key_path(db).display()
                    )));
                }
                (scheme, _) => return broken(format!("unknown scheme {scheme}")),
            };
            if expected != r.hash {
                return broken("its content does not match its hash".into());
            }
            if RESPONSE_ACTIONS.contains(&r.action.as_str()) {
                response_rows += 1;
                if r.scheme == 2 {
                    let id = r.subject.as_deref().unwrap_or("");
                    match stored.get(id) {
                        None => return broken(format!("the response {id} it records is gone")),
                        Some(h) if Some(h) != r.content_hash.as_ref() => {
                            return broken(format!(
                                "the response {id} was changed after it was stored"
                            ));
                        }
                        Some(_) => {}
                    }
                }
            }
            prev = r.hash.clone();
            expected_seq += 1;
            count += 1;
        }
    }
    let responses: i64 = conn.query_row("SELECT count(*) FROM responses", (), |r| r.get(0))?;
    if responses as u64 != response_rows {
        return Ok(Verdict::Broken {
            seq: expected_seq - 1,
            reason: format!(
                "{} responses are stored, but the audit log records {response_rows}",
                responses
            ),
        });
    }
    if keyed_seen && let Some(v) = check_head(db, key.as_ref(), conn, expected_seq - 1)? {
        return Ok(v);
    }
    Ok(Verdict::Intact {
        rows: count,
        responses: response_rows,
    })
}

/// One row of the log as `verify` reads it.
struct LogRow {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    clinic_id: Option<String>,
    patient_id: Option<String>,
    subject: Option<String>,
    prev_hash: String,
    hash: String,
    scheme: i64,
    content_hash: Option<String>,
}

/// The rows after `after`, at most 1,000, in order.
fn verify_page(conn: &Connection, after: i64) -> Result<Vec<LogRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at, actor, action, clinic_id, patient_id, subject, prev_hash, hash, scheme, content_hash
         FROM audit_log WHERE seq > ?1 ORDER BY seq LIMIT 1000",
    )?;
    let mut rows = stmt.query([after])?;
    let mut out = Vec::with_capacity(1000);
    while let Some(r) = rows.next()? {
        out.push(LogRow {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            clinic_id: r.get(4)?,
            patient_id: r.get(5)?,
            subject: r.get(6)?,
            prev_hash: r.get(7)?,
            hash: r.get(8)?,
            scheme: r.get(9)?,
            content_hash: r.get(10)?,
        });
    }
    Ok(out)
}

/// Compares the chain's tail with the head checkpoint.
fn check_head(
    db: &Path,
    key: Option<&AuditKey>,
    conn: &Connection,
    last: i64,
) -> Result<Option<Verdict>> {
    let path = head_path(db);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => {
            return Ok(Some(Verdict::CannotCheck(format!(
                "the head checkpoint {} is missing, so a removed tail cannot be ruled out",
                path.display()
            ))));
        }
    };
    let mut it = text.split_whitespace();
    let (Some(seq), Some(hash), Some(mac)) = (
        it.next().and_then(|s| s.parse::<i64>().ok()),
        it.next(),
        it.next(),
    ) else {
        return Ok(Some(Verdict::Broken {
            seq: last,
            reason: format!("the head checkpoint {} is not readable", path.display()),
        }));
    };
    let Some(key) = key else {
        return Ok(Some(Verdict::CannotCheck(
            "the audit key is missing".into(),
        )));
    };
    if head_mac(key, seq, hash) != mac {
        return Ok(Some(Verdict::Broken {
            seq: last,
            reason: "the head checkpoint was altered".into(),
        }));
    }
    if seq > last {
        return Ok(Some(Verdict::Broken {
            seq: last,
            reason: format!(
                "the log ends at row {last}, but row {seq} was recorded: {} rows were removed from its end",
                seq - last
            ),
        }));
    }
    let at: Option<String> = conn
        .query_row("SELECT hash FROM audit_log WHERE seq = ?1", [seq], |r| {
            r.get(0)
        })
        .optional()?;
    if at.as_deref() != Some(hash) {
        return Ok(Some(Verdict::Broken {
            seq,
            reason: "it is not the row the head checkpoint recorded".into(),
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` rows of a command-line read, one after the other.
    fn append_reads(conn: &Connection, n: usize) {
        for i in 0..n {
            let s = format!("r{i}");
            append(
                conn,
                &Entry {
                    at: "2026-01-01T00:00:00.000Z",
                    actor: "cli",
                    action: "read",
                    subject: Some(&s),
                    ..Default::default()
                },
            )
            .expect("append");
        }
    }

    #[test]
    fn a_tampered_row_breaks_the_chain() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("a.db");
        let conn = super::super::open(&db, &Default::default()).expect("open");
        append_reads(&conn, 3);
        assert!(write_head(&conn, &db).expect("head"));
        assert_eq!(
            verify(&conn, &db).expect("verify"),
            Verdict::Intact {
                rows: 3,
                responses: 0
            }
        );
        // Someone with the file drops the triggers and edits a row.
        conn.execute_batch(
            "DROP TRIGGER audit_no_update; UPDATE audit_log SET actor = 'x' WHERE seq = 2;",
        )
        .expect("tamper");
        assert!(matches!(
            verify(&conn, &db).expect("verify"),
            Verdict::Broken { seq: 2, .. }
        ));
    }

    #[test]
    fn verify_reads_the_log_in_pages_and_finds_the_first_broken_row_across_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("a.db");
        let conn = super::super::open(&db, &Default::default()).expect("open");
        // Two full pages and part of a third.
        append_reads(&conn, 2_345);
        assert!(write_head(&conn, &db).expect("head"));
        assert_eq!(
            verify(&conn, &db).expect("verify"),
            Verdict::Intact {
                rows: 2_345,
                responses: 0
            }
        );
        // The first row of the second page, and one of the third: the
        // earlier is named.
        conn.execute_batch(
            "DROP TRIGGER audit_no_update;
             UPDATE audit_log SET actor = 'x' WHERE seq = 2200;
             UPDATE audit_log SET actor = 'x' WHERE seq = 1001;",
        )
        .expect("tamper");
        assert!(matches!(
            verify(&conn, &db).expect("verify"),
            Verdict::Broken { seq: 1001, .. }
        ));
    }

    #[test]
    fn the_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("a.db");
        let _conn = super::super::open(&db, &Default::default()).expect("open");
        let mode = std::fs::metadata(key_path(&db))
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

/// One read of a patient's data, for the patient's own access log.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Read {
    pub at: String,
    pub actor: String,
    pub clinic_id: Option<String>,
    pub action: String,
    /// For staff: their role (`clinician`, `admin`).
    pub role: Option<String>,
    /// The clinic's name.
    pub clinic: Option<String>,
    /// For staff: their name.
    pub name: Option<String>,
}

/// The newest reads of a patient's data (through the index of reads).
pub fn reads_of_patient(conn: &Connection, patient_id: &str, limit: u32) -> Result<Vec<Read>> {
    let rows = conn
        .prepare_cached(
            "SELECT a.at, a.actor, a.clinic_id, a.action, s.role, c.name, s.name FROM audit_log a
             LEFT JOIN staff_users s ON a.actor = 'staff:' || s.id
             LEFT JOIN clinics c ON c.id = a.clinic_id
             WHERE a.patient_id = ?1 AND a.action GLOB '*.read' ORDER BY a.seq DESC LIMIT ?2",
        )?
        .query_map(params![patient_id, limit], |r| {
            Ok(Read {
                at: r.get(0)?,
                actor: r.get(1)?,
                clinic_id: r.get(2)?,
                action: r.get(3)?,
                role: r.get(4)?,
                clinic: r.get(5)?,
                name: r.get(6)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// A row of the audit log as an admin browses it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    /// The staff member's name, for a staff actor.
    pub who: Option<String>,
    pub action: String,
    pub patient: Option<String>,
    pub patient_id: Option<String>,
    pub subject: Option<String>,
}

/// What an admin filters the log by.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Actions starting with this (`review.`, `staff.login`).
    pub action: Option<String>,
    pub patient_id: Option<String>,
    /// `staff:ID`, `patient`, `api:…`.
    pub actor: Option<String>,
}

/// The clinic's newest audit rows before `before` (a `seq`), matching
/// `filter`.
pub fn browse(
    conn: &Connection,
    clinic_id: &str,
    filter: &Filter,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<Row>> {
    let prefix = filter.action.clone();
    let rows = conn
        .prepare_cached(
            "SELECT a.seq, a.at, a.actor, s.name, a.action, p.ref, a.patient_id, a.subject
             FROM audit_log a
             LEFT JOIN staff_users s ON a.actor = 'staff:' || s.id
             LEFT JOIN patients p ON p.id = a.patient_id
             WHERE a.clinic_id = ?1 AND a.seq < ?2
               AND (?3 IS NULL OR substr(a.action, 1, length(?3)) = ?3)
               AND (?4 IS NULL OR a.patient_id = ?4)
               AND (?5 IS NULL OR a.actor = ?5)
             ORDER BY a.seq DESC LIMIT ?6",
        )?
        .query_map(
            params![
                clinic_id,
                before.unwrap_or(i64::MAX),
                prefix,
                filter.patient_id,
                filter.actor,
                limit
            ],
            |r| {
                Ok(Row {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    who: r.get(3)?,
                    action: r.get(4)?,
                    patient: r.get(5)?,
                    patient_id: r.get(6)?,
                    subject: r.get(7)?,
                })
            },
        )?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// The break-glass logins of a clinic since `since`, newest first: when
/// and by whom (the account's name), at most 50.
pub fn break_glass_uses(
    conn: &Connection,
    clinic_id: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<(String, String)>> {
    conn.prepare_cached(
        "SELECT a.at, coalesce(s.name, a.actor) FROM audit_log a
             LEFT JOIN staff_users s ON 'staff:' || s.id = a.actor
             WHERE a.action = 'staff.break_glass_login' AND a.clinic_id = ?1 AND a.at > ?2
             ORDER BY a.at DESC LIMIT 50",
    )?
    .query_map(params![clinic_id, super::ids::ts(since)], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?
    .collect()
}
