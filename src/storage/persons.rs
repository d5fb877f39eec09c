//! People who log in through an OpenID provider (patients with MitID
//! through a broker): a person is known only by a keyed hash of the
//! provider's identifier, and linked to at most one patient per clinic.
//! What a person's session reads goes through the links, so a person sees
//! exactly the patients linked to them, each labelled with its clinic.

use chrono::{DateTime, Utc};

use super::db::{OptionalExtension, params};
use super::ids::{new_id, ts};
use super::{Connection, Result};

/// The person with this identifier hash, made if new; and whether it was.
pub fn find_or_create(
    conn: &Connection,
    identifier_hash: &str,
    now: DateTime<Utc>,
) -> Result<(String, bool)> {
    if let Some(id) = conn
        .prepare_cached("SELECT id FROM persons WHERE identifier_hash = ?1")?
        .query_row(params![identifier_hash], |r| r.get::<String>(0))
        .optional()?
    {
        return Ok((id, false));
    }
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO persons (id, identifier_hash, created_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id, identifier_hash, ts(now)])?;
    Ok((id, true))
}

/// A patient linked to a person, with the clinic's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Linked {
    pub patient_id: String,
    pub clinic_id: String,
    pub clinic_name: String,
}

/// The patients linked to a person, by clinic name (one statement).
pub fn linked(conn: &Connection, person_id: &str) -> Result<Vec<Linked>> {
    conn.prepare_cached(
        "SELECT l.patient_id, l.clinic_id, c.name FROM person_links l JOIN clinics c ON c.id = l.clinic_id
             WHERE l.person_id = ?1 ORDER BY c.name, l.clinic_id",
    )?
    .query_map(params![person_id], |r| {
        Ok(Linked {
            patient_id: r.get(0)?,
            clinic_id: r.get(1)?,
            clinic_name: r.get(2)?,
        })
    })?
    .collect()
}

/// The person a patient is linked to, if any.
pub fn person_of(conn: &Connection, patient_id: &str) -> Result<Option<String>> {
    conn.prepare_cached("SELECT person_id FROM person_links WHERE patient_id = ?1")?
        .query_row(params![patient_id], |r| r.get(0))
        .optional()
}

/// The patient a person is linked to in a clinic, if any.
pub fn patient_in(conn: &Connection, person_id: &str, clinic_id: &str) -> Result<Option<String>> {
    conn.prepare_cached(
        "SELECT patient_id FROM person_links WHERE person_id = ?1 AND clinic_id = ?2",
    )?
    .query_row(params![person_id, clinic_id], |r| r.get(0))
    .optional()
}

/// Links a patient to a person.
pub fn link(
    conn: &Connection,
    person_id: &str,
    patient_id: &str,
    clinic_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO person_links (patient_id, person_id, clinic_id, linked_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![patient_id, person_id, clinic_id, ts(now)])?;
    Ok(())
}

/// An invitation open to a person: not answered, not expired.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Open {
    pub invitation_id: String,
    pub questionnaire_id: String,
    pub clinic_name: String,
    pub expires_at: String,
}

/// The invitations still to answer of every patient linked to a person
/// (one statement), soonest deadline first.
pub fn open_invitations(
    conn: &Connection,
    person_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Open>> {
    conn.prepare_cached(
        "SELECT i.id, i.questionnaire_id, c.name, i.expires_at
             FROM person_links l JOIN invitations i ON i.patient_id = l.patient_id
             JOIN clinics c ON c.id = l.clinic_id
             WHERE l.person_id = ?1 AND i.used_at IS NULL AND i.expires_at > ?2
             ORDER BY i.expires_at LIMIT 50",
    )?
    .query_map(params![person_id, ts(now)], |r| {
        Ok(Open {
            invitation_id: r.get(0)?,
            questionnaire_id: r.get(1)?,
            clinic_name: r.get(2)?,
            expires_at: r.get(3)?,
        })
    })?
    .collect()
}
