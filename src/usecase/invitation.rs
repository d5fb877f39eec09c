//! A patient's invitation link: exchanged at once for a server-side
//! session (so the link's token leaves the address bar), and answered
//! once. The pages call these; they hold no SQL and decide nothing
//! clinical.

use chrono::{DateTime, Duration, Utc};

use crate::security::{new_token, token_hash};
use crate::storage::invitations::{self, Invitation};
use crate::storage::sessions::{self, NewSession};
use crate::storage::{Connection, Result, audit};

/// How long a patient's session lasts at most (never past the link's own
/// expiry).
pub const PATIENT_SESSION: Duration = Duration::hours(2);

/// Why a link cannot be used; each gets a friendly page saying what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    Unknown,
    Expired,
    Used,
}

/// A link exchanged for a session.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// The session cookie's token (only its hash is stored).
    pub session_token: String,
    pub csrf: String,
    pub invitation: Invitation,
}

/// A new patient session: its cookie token and CSRF token (only the
/// token's hash is stored).
pub(crate) fn patient_session(
    conn: &Connection,
    patient_id: Option<&str>,
    invitation_id: Option<&str>,
    person_id: Option<&str>,
    language: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(String, String)> {
    let session_token = new_token("prom_ses_");
    let csrf = new_token("");
    sessions::insert(
        conn,
        &NewSession {
            token_hash: &token_hash(&session_token),
            kind: "patient",
            patient_id,
            invitation_id,
            staff_id: None,
            csrf: &csrf,
            language,
            expires_at,
            stage: "full",
            next: None,
            person_id,
        },
        now,
    )?;
    Ok((session_token, csrf))
}

/// Exchanges an invitation link's token for a new patient session.
pub fn open_link(
    conn: &Connection,
    link_token: &str,
    now: DateTime<Utc>,
) -> Result<std::result::Result<Opened, LinkProblem>> {
    let Some(inv) = invitations::by_token_hash(conn, &token_hash(link_token))? else {
        return Ok(Err(LinkProblem::Unknown));
    };
    if inv.used_at.is_some() {
        return Ok(Err(LinkProblem::Used));
    }
    let expires = DateTime::parse_from_rfc3339(&inv.expires_at)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or(now);
    if expires <= now {
        return Ok(Err(LinkProblem::Expired));
    }
    let (session_token, csrf) = patient_session(
        conn,
        Some(&inv.patient_id),
        Some(&inv.id),
        None,
        &inv.language,
        expires.min(now + PATIENT_SESSION),
        now,
    )?;
    audit::record(
        conn,
        "patient",
        "invitation.open",
        &inv.clinic_id,
        Some(&inv.patient_id),
        Some(&inv.id),
        now,
    )?;
    Ok(Ok(Opened {
        session_token,
        csrf,
        invitation: inv,
    }))
}

/// How long a personal "my data" link that staff hand over (printed or
/// e-mailed) works, by default. Every personal link is used once.
pub const PERSONAL_LINK_DAYS: i64 = 14;

/// How long a personal link that the patient asks for (sent to the
/// address the clinic has) works.
pub const REQUESTED_LINK: Duration = Duration::hours(1);

/// Makes a personal "my data" link for a patient; returns its token (only
/// the hash is stored; used once; revocable).
pub fn new_personal_link(
    conn: &Connection,
    actor: &str,
    patient_id: &str,
    clinic_id: &str,
    days: i64,
    now: DateTime<Utc>,
) -> Result<String> {
    personal_link(
        conn,
        actor,
        patient_id,
        clinic_id,
        now + Duration::days(days),
        now,
    )
}

fn personal_link(
    conn: &Connection,
    actor: &str,
    patient_id: &str,
    clinic_id: &str,
    expires: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String> {
    let token = new_token("prom_me_");
    sessions::insert_personal_link(conn, &token_hash(&token), patient_id, expires, now)?;
    audit::record(
        conn,
        actor,
        "personal_link.create",
        clinic_id,
        Some(patient_id),
        None,
        now,
    )?;
    Ok(token)
}

/// The patient on an invitation's session asks to see their own data: a
/// personal link, short-lived and used once, goes to the address the
/// clinic has for them (never shown on the page). `false` when the clinic
/// has no address.
pub fn send_personal_link(
    conn: &Connection,
    patient_id: &str,
    language: &str,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let clinic = crate::storage::patients::clinic_of(conn, patient_id)?;
    let Some(to) = crate::storage::patients::in_clinic(conn, &clinic, patient_id)?
        .and_then(|p| p.email)
        .filter(|e| !e.trim().is_empty())
    else {
        audit::record(
            conn,
            "patient",
            "personal_link.no_address",
            &clinic,
            Some(patient_id),
            None,
            now,
        )?;
        return Ok(false);
    };
    let token = personal_link(
        conn,
        "patient",
        patient_id,
        &clinic,
        now + REQUESTED_LINK,
        now,
    )?;
    let m = crate::mail::messages::personal_link(language, &format!("{base_url}/me/{token}"));
    crate::storage::outbox::enqueue(
        conn,
        &crate::storage::outbox::NewMessage {
            kind: "personal_link",
            recipient: &to,
            subject: &m.subject,
            body: &m.text,
            html: Some(&m.html),
            clinic_id: Some(&clinic),
            ..Default::default()
        },
        &crate::storage::ids::ts(now),
    )?;
    Ok(true)
}

/// Exchanges a personal link for a session that shows the patient's own
/// data, using the link up.
pub fn open_personal_link(
    conn: &Connection,
    link_token: &str,
    now: DateTime<Utc>,
) -> Result<std::result::Result<(String, String), LinkProblem>> {
    let hash = token_hash(link_token);
    let Some(patient_id) = sessions::use_personal_link(conn, &hash, now)? else {
        return Ok(Err(
            match sessions::personal_link_state(conn, &hash, now)? {
                Some((_, true, _)) => LinkProblem::Used,
                Some((_, _, true)) => LinkProblem::Expired,
                _ => LinkProblem::Unknown,
            },
        ));
    };
    let clinic = crate::storage::patients::clinic_of(conn, &patient_id)?;
    audit::record(
        conn,
        "patient",
        "personal_link.open",
        &clinic,
        Some(&patient_id),
        None,
        now,
    )?;
    Ok(Ok(patient_session(
        conn,
        Some(&patient_id),
        None,
        None,
        "da",
        now + PATIENT_SESSION,
        now,
    )?))
}

/// The patient a link (an invitation's, or a personal one) is for, without
/// using it: to ask before it replaces another patient's session in the
/// same browser.
pub fn patient_of_link(
    conn: &Connection,
    link_token: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let hash = token_hash(link_token);
    if let Some(inv) = invitations::by_token_hash(conn, &hash)? {
        return Ok(Some(inv.patient_id));
    }
    Ok(sessions::personal_link_state(conn, &hash, now)?.map(|(p, _, _)| p))
}
