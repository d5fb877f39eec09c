//! Patients who log in through an OpenID provider (MitID, received
//! through a broker). The invitation link proves "this is the clinic's
//! patient P", the login proves "this is person X"; prom links them when
//! the person says yes, and from then on the person logs in directly and
//! sees every questionnaire to answer and their own data from every clinic
//! that linked them, each clinic's part labelled. The person's identifier
//! is stored only as a keyed hash; a login below the required assurance
//! (`acr`) is refused. Every login, link and refusal is audited.

use chrono::{DateTime, Utc};

use crate::oidc::Identity;
use crate::storage::audit;
use crate::storage::invitations;
use crate::storage::persons;
use crate::storage::sessions::{self, Session};
use crate::storage::{Connection, Result};

/// Patient login as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientSso {
    pub provider: crate::oidc::ProviderConfig,
    /// The claim with the person's identifier: `sub` (the provider's
    /// subject), or a national identifier claim the broker sends.
    pub identifier: String,
}

/// The keyed hash a person is known by: HMAC-SHA-256 of the issuer and
/// the identifier, with a key derived from the deployment's audit key.
pub fn identifier_hash(conn: &Connection, issuer: &str, identifier: &str) -> Result<String> {
    use hmac::{KeyInit, Mac};
    let key = audit::derived_key(conn, "person identifier")?;
    // INVARIANT: HMAC takes a key of any length.
    let mut m = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(issuer.as_bytes());
    m.update(b"\0");
    m.update(identifier.as_bytes());
    Ok(hex::encode(m.finalize().into_bytes()))
}

/// What a patient's login came to.
#[derive(Debug, PartialEq)]
pub enum Login {
    /// A person's session (cookie token); `Some(patient)` when the
    /// browser's invitation is for a patient not linked yet, whose link
    /// waits for the person's yes.
    In(String, Option<String>),
    /// The login's assurance is below the one required.
    TooWeak,
    /// The provider sent no identifier in the configured claim.
    NoIdentifier,
}

/// Logs a person in from a verified identity; `held` is the session this
/// browser held (an invitation's), whose patient may be linked next.
pub fn login(
    conn: &Connection,
    sso: &PatientSso,
    who: &Identity,
    held: Option<&Session>,
    now: DateTime<Utc>,
) -> Result<Login> {
    let clinic_of_held = match held.and_then(|s| s.patient_id.clone()) {
        Some(p) => Some((crate::storage::patients::clinic_of(conn, &p)?, p)),
        None => None,
    };
    let clinic = clinic_of_held.as_ref().map(|(c, _)| c.as_str());
    if !sso.provider.assurance_ok(who) {
        record(
            conn,
            "person.login_refused",
            clinic,
            None,
            Some("assurance below the required acr"),
            now,
        )?;
        return Ok(Login::TooWeak);
    }
    let identifier = if sso.identifier == "sub" {
        Some(who.subject.clone())
    } else {
        who.values(&sso.identifier).into_iter().next()
    };
    let Some(identifier) = identifier.filter(|i| !i.trim().is_empty()) else {
        record(
            conn,
            "person.login_refused",
            clinic,
            None,
            Some("no identifier in the configured claim"),
            now,
        )?;
        return Ok(Login::NoIdentifier);
    };
    let hash = identifier_hash(conn, &who.issuer, identifier.trim())?;
    let (person, _) = persons::find_or_create(conn, &hash, now)?;
    // The invitation's patient, when not linked to this person yet, waits
    // for the person's yes.
    let pending = match &clinic_of_held {
        Some((_, patient)) if persons::person_of(conn, patient)?.as_deref() != Some(&person) => {
            Some(patient.clone())
        }
        _ => None,
    };
    let language = held
        .map(|s| s.language.clone())
        .unwrap_or_else(|| "da".into());
    let (token, _) = super::invitation::patient_session(
        conn,
        None,
        None,
        Some(&person),
        &language,
        now + super::invitation::PATIENT_SESSION,
        now,
    )?;
    if let Some(p) = &pending {
        sessions::set_next(
            conn,
            &crate::security::token_hash(&token),
            Some(&format!("link:{p}")),
        )?;
    }
    for l in persons::linked(conn, &person)? {
        record(
            conn,
            "person.login",
            Some(&l.clinic_id),
            Some(&l.patient_id),
            None,
            now,
        )?;
    }
    Ok(Login::In(token, pending))
}

/// What confirming a link came to.
#[derive(Debug, PartialEq)]
pub enum Linking {
    Linked,
    /// The person is linked to another patient of that clinic already, or
    /// the patient to another person: refused, audited.
    Refused,
    /// Nothing waits to be linked.
    Nothing,
}

/// The person says yes to the link their session waits for.
pub fn confirm_link(
    conn: &Connection,
    token_hash: &str,
    session: &Session,
    now: DateTime<Utc>,
) -> Result<Linking> {
    let (Some(person), Some(patient)) = (
        session.person_id.as_deref(),
        session
            .next
            .as_deref()
            .and_then(|n| n.strip_prefix("link:")),
    ) else {
        return Ok(Linking::Nothing);
    };
    let clinic = crate::storage::patients::clinic_of(conn, patient)?;
    sessions::set_next(conn, token_hash, None)?;
    let other_patient = persons::patient_in(conn, person, &clinic)?.filter(|p| p != patient);
    let other_person = persons::person_of(conn, patient)?.filter(|p| p != person);
    if other_patient.is_some() || other_person.is_some() {
        record(
            conn,
            "person.link_refused",
            Some(&clinic),
            Some(patient),
            Some("linked to another patient or person of the clinic already"),
            now,
        )?;
        return Ok(Linking::Refused);
    }
    if persons::person_of(conn, patient)?.is_none() {
        persons::link(conn, person, patient, &clinic, now)?;
        record(conn, "person.link", Some(&clinic), Some(patient), None, now)?;
    }
    Ok(Linking::Linked)
}

/// A person's session opens one of their open invitations: a session for
/// that invitation (which keeps the person, so "my data" stays theirs).
/// `None` when the invitation is not one of the person's, or is used or
/// expired.
pub fn answer(
    conn: &Connection,
    session: &Session,
    invitation_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let Some(person) = session.person_id.as_deref() else {
        return Ok(None);
    };
    let Some(open) = persons::open_invitations(conn, person, now)?
        .into_iter()
        .find(|o| o.invitation_id == invitation_id)
    else {
        return Ok(None);
    };
    let inv = invitations::by_id(conn, &open.invitation_id)?;
    let (token, _) = super::invitation::patient_session(
        conn,
        Some(&inv.patient_id),
        Some(&inv.id),
        Some(person),
        &session.language,
        now + super::invitation::PATIENT_SESSION,
        now,
    )?;
    record(
        conn,
        "invitation.open",
        Some(&inv.clinic_id),
        Some(&inv.patient_id),
        Some(&inv.id),
        now,
    )?;
    Ok(Some(token))
}

fn record(
    conn: &Connection,
    action: &str,
    clinic: Option<&str>,
    patient: Option<&str>,
    subject: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    let at = crate::storage::ids::ts(now);
    audit::append(
        conn,
        &audit::Entry {
            at: &at,
            actor: "patient",
            action,
            clinic_id: clinic,
            patient_id: patient,
            subject,
            ..Default::default()
        },
    )
}
