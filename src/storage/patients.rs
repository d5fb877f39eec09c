//! Patients: a clinic's own reference per patient.

use super::Connection;
use super::db::params;
use chrono::{DateTime, Utc};

use super::Result;
use super::ids::{conflict_on_unique, new_id, ts};

#[derive(Debug, Clone, Default)]
pub struct NewPatient {
    pub clinic_id: String,
    pub reference: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: String,
}

pub fn insert_patient(conn: &Connection, p: &NewPatient, now: DateTime<Utc>) -> Result<String> {
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO patients (id, clinic_id, ref, name, email, language, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        p.clinic_id,
        p.reference,
        p.name,
        p.email,
        p.language,
        ts(now)
    ])
    .map_err(|e| {
        conflict_on_unique(
            e,
            &format!(
                "the patient reference `{}` exists already in this clinic",
                p.reference
            ),
        )
    })?;
    Ok(id)
}

pub const ID_SQL: &str = "SELECT id FROM patients WHERE clinic_id = ?1 AND ref = ?2";

/// The patient's id for a clinic's own reference.
pub fn patient_id(conn: &Connection, clinic_id: &str, reference: &str) -> Result<String> {
    conn.prepare_cached(ID_SQL)?
        .query_row([clinic_id, reference], |r| r.get(0))
}

/// What a submission needs to know of its patient, in one statement: the
/// id, whether a snooze for the questionnaire is in force at `at`, and
/// whether a plan for it may be brought forward by a worrying answer (so
/// that neither is read when there is none, as for most answers).
pub struct ForSubmission {
    pub id: String,
    pub snoozed: bool,
    pub early_plans: bool,
}

pub fn for_submission(
    conn: &Connection,
    clinic_id: &str,
    reference: &str,
    questionnaire: &str,
    at: &str,
) -> Result<ForSubmission> {
    conn.prepare_cached(
        "SELECT p.id,
            EXISTS (SELECT 1 FROM snoozes s WHERE s.patient_id = p.id AND s.questionnaire_id = ?3 AND s.until > ?4),
            EXISTS (SELECT 1 FROM plans l WHERE l.patient_id = p.id AND l.questionnaire_id = ?3
                    AND l.stopped_at IS NULL AND l.early_days > 0)
         FROM patients p WHERE p.clinic_id = ?1 AND p.ref = ?2",
    )?
    .query_row(params![clinic_id, reference, questionnaire, at], |r| {
        Ok(ForSubmission {
            id: r.get(0)?,
            snoozed: r.get(1)?,
            early_plans: r.get(2)?,
        })
    })
}

/// Every (patient id, clinic id) with this reference, across clinics.
pub fn patients_with_ref(conn: &Connection, reference: &str) -> Result<Vec<(String, String)>> {
    let mut stmt =
        conn.prepare("SELECT id, clinic_id FROM patients WHERE ref = ?1 ORDER BY clinic_id")?;
    let rows = stmt
        .query_map([reference], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>>>()?;
    Ok(rows)
}

/// The clinic a patient belongs to.
pub fn clinic_of(conn: &Connection, patient_id: &str) -> Result<String> {
    conn.prepare_cached("SELECT clinic_id FROM patients WHERE id = ?1")?
        .query_row([patient_id], |r| r.get(0))
}

/// A patient as staff see them.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Patient {
    pub id: String,
    pub reference: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub language: String,
    pub created_at: String,
}

fn patient_row(r: &super::db::Row<'_>) -> Result<Patient> {
    Ok(Patient {
        id: r.get(0)?,
        reference: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        language: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// A patient of the clinic, by id (`None` for another clinic's).
pub fn in_clinic(conn: &Connection, clinic_id: &str, id: &str) -> Result<Option<Patient>> {
    use super::db::OptionalExtension;
    conn.prepare_cached(
        "SELECT id, ref, name, email, language, created_at FROM patients
             WHERE clinic_id = ?1 AND id = ?2",
    )?
    .query_row([clinic_id, id], patient_row)
    .optional()
}

/// The clinic's patients whose reference starts with `prefix`, by
/// reference, at most `limit`.
pub fn search(
    conn: &Connection,
    clinic_id: &str,
    prefix: &str,
    limit: u32,
) -> Result<Vec<Patient>> {
    let escaped = prefix
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let rows = conn
        .prepare_cached(
            "SELECT id, ref, name, email, language, created_at FROM patients
             WHERE clinic_id = ?1 AND ref LIKE ?2 ESCAPE '\\' ORDER BY ref LIMIT ?3",
        )?
        .query_map(
            params![clinic_id, format!("{escaped}%"), limit],
            patient_row,
        )?
        .collect::<Result<_>>()?;
    Ok(rows)
}
