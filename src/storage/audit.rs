//! The audit log: who did or read what, when. Rows are append-only (SQL
//! triggers refuse UPDATE and DELETE) and hash-chained: each row's hash
//! covers its fields and the previous row's hash, so editing or removing a
//! row anywhere in the file shows up in `verify`.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::Result;

/// One thing to record. Never put answers, scores or names here: ids only.
#[derive(Debug, Clone, Default)]
pub struct Entry<'a> {
    pub at: &'a str,
    pub actor: &'a str,
    pub action: &'a str,
    pub clinic_id: Option<&'a str>,
    pub patient_id: Option<&'a str>,
    pub subject: Option<&'a str>,
}

fn row_hash(prev: &str, seq: i64, e: &Entry) -> String {
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        e.at,
        e.actor,
        e.action,
        e.clinic_id.unwrap_or(""),
        e.patient_id.unwrap_or(""),
        e.subject.unwrap_or(""),
    ] {
        h.update(part.len().to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends a row. Call it inside a write transaction, so that the chain's
/// last link cannot change under it.
pub fn append(conn: &Connection, e: &Entry) -> Result<()> {
    let last: Option<(i64, String)> = conn
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, String::new()),
    };
    let hash = row_hash(&prev, seq, e);
    conn.prepare_cached(
        "INSERT INTO audit_log (seq, at, actor, action, clinic_id, patient_id, subject, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
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
        hash
    ])?;
    Ok(())
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
        },
    )
}

/// The outcome of checking the chain.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Intact { rows: u64 },
    Broken { seq: i64, reason: String },
}

/// Recomputes every row's hash and link.
pub fn verify(conn: &Connection) -> Result<Verdict> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, actor, action, clinic_id, patient_id, subject, prev_hash, hash
         FROM audit_log ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut prev = String::new();
    let mut expected_seq = 1i64;
    let mut count = 0u64;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let (at, actor, action): (String, String, String) = (r.get(1)?, r.get(2)?, r.get(3)?);
        let (clinic, patient, subject): (Option<String>, Option<String>, Option<String>) =
            (r.get(4)?, r.get(5)?, r.get(6)?);
        let (prev_hash, hash): (String, String) = (r.get(7)?, r.get(8)?);
        if seq != expected_seq {
            return Ok(Verdict::Broken {
                seq,
                reason: format!("row {expected_seq} is missing"),
            });
        }
        if prev_hash != prev {
            return Ok(Verdict::Broken {
                seq,
                reason: "it does not link to the row before it".into(),
            });
        }
        let e = Entry {
            at: &at,
            actor: &actor,
            action: &action,
            clinic_id: clinic.as_deref(),
            patient_id: patient.as_deref(),
            subject: subject.as_deref(),
        };
        if row_hash(&prev, seq, &e) != hash {
            return Ok(Verdict::Broken {
                seq,
                reason: "its content does not match its hash".into(),
            });
        }
        prev = hash;
        expected_seq += 1;
        count += 1;
    }
    Ok(Verdict::Intact { rows: count })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tampered_row_breaks_the_chain() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = super::super::open(&dir.path().join("a.db"), &Default::default()).expect("open");
        for i in 0..3 {
            let s = format!("r{i}");
            append(
                &conn,
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
        assert_eq!(verify(&conn).expect("verify"), Verdict::Intact { rows: 3 });
        // Someone with the file drops the triggers and edits a row.
        conn.execute_batch(
            "DROP TRIGGER audit_no_update; UPDATE audit_log SET actor = 'x' WHERE seq = 2;",
        )
        .expect("tamper");
        assert!(matches!(
            verify(&conn).expect("verify"),
            Verdict::Broken { seq: 2, .. }
        ));
    }
}
