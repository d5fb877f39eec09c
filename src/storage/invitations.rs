//! Invitation links (stored as token hashes) and follow-up plans.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, params};

use super::Result;
use super::ids::{new_id, ts};

pub fn insert_invitation(
    conn: &Connection,
    patient_id: &str,
    questionnaire_id: &str,
    token_hash: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = new_id();
    conn.execute(
        "INSERT INTO invitations (id, token_hash, patient_id, questionnaire_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, token_hash, patient_id, questionnaire_id, ts(now), ts(expires_at)],
    )?;
    Ok(id)
}

pub fn insert_plan(
    conn: &Connection,
    patient_id: &str,
    questionnaire_id: &str,
    every_days: u32,
    first_due: NaiveDate,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = new_id();
    conn.execute(
        "INSERT INTO plans (id, patient_id, questionnaire_id, every_days, next_due, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            patient_id,
            questionnaire_id,
            every_days,
            first_due.to_string(),
            ts(now)
        ],
    )?;
    Ok(id)
}
