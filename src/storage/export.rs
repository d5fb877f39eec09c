//! Rows for research export.

use rusqlite::Connection;
use serde_json::{Map, Value as Json};

use super::Result;

/// A row of the research export.
pub struct ExportRow {
    pub response_id: String,
    pub clinic_id: String,
    pub patient_ref: String,
    pub version: u32,
    pub submitted_at: String,
    pub response_date: String,
    pub mode: String,
    pub level: String,
    pub superseded: bool,
    pub answers: Map<String, Json>,
    pub scores: Map<String, Json>,
}

/// Calls `f` with each response to a questionnaire, in the order they were
/// stored, one row at a time (an export of millions of rows holds one in
/// memory). Returns how many there were.
pub fn for_each_row(
    conn: &Connection,
    questionnaire_id: &str,
    mut f: impl FnMut(ExportRow) -> Result<()>,
) -> Result<u64> {
    // In the order of storage (rowid): no sort, so no temporary copy of
    // every row.
    let mut stmt = conn.prepare(
        "SELECT r.id, r.clinic_id, p.ref, r.version, r.submitted_at, r.response_date, r.mode, r.level,
            EXISTS (SELECT 1 FROM responses s WHERE s.supersedes = r.id), r.answers, r.score_values
         FROM responses r JOIN patients p ON p.id = r.patient_id
         WHERE r.questionnaire_id = ?1 ORDER BY r.rowid",
    )?;
    let mut rows = stmt.query([questionnaire_id])?;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let answers: String = r.get(9)?;
        let scores: String = r.get(10)?;
        f(ExportRow {
            response_id: r.get(0)?,
            clinic_id: r.get(1)?,
            patient_ref: r.get(2)?,
            version: r.get(3)?,
            submitted_at: r.get(4)?,
            response_date: r.get(5)?,
            mode: r.get(6)?,
            level: r.get(7)?,
            superseded: r.get(8)?,
            answers: serde_json::from_str(&answers).unwrap_or_default(),
            scores: serde_json::from_str(&scores).unwrap_or_default(),
        })?;
        n += 1;
    }
    Ok(n)
}
