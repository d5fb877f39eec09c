//! Server-side sessions: a row per session, found by the hash of the
//! cookie's token; ended on the server (logout, expiry), never trusted from
//! the browser.

use super::Connection;
use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::Result;
use super::ids::ts;

/// A session as a request finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub kind: String,
    pub patient_id: Option<String>,
    pub invitation_id: Option<String>,
    pub staff_id: Option<String>,
    pub csrf: String,
    pub language: String,
    pub expires_at: String,
    /// `full`, or for staff `password` until the second factor is given.
    pub stage: String,
    /// Where a staff login goes once complete; for a person's session, a
    /// link waiting for the person's yes (`link:PATIENT`).
    pub next: Option<String>,
    /// A patient who logged in through the provider: the person, whose
    /// linked patients (one per clinic) the session sees.
    pub person_id: Option<String>,
}

/// A new session to store.
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    pub kind: &'a str,
    pub patient_id: Option<&'a str>,
    pub invitation_id: Option<&'a str>,
    pub staff_id: Option<&'a str>,
    pub csrf: &'a str,
    pub language: &'a str,
    pub expires_at: DateTime<Utc>,
    pub stage: &'a str,
    pub next: Option<&'a str>,
    pub person_id: Option<&'a str>,
}

pub fn insert(conn: &Connection, s: &NewSession, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, kind, patient_id, invitation_id, staff_id, csrf, language, created_at, expires_at, stage, next, person_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        s.token_hash,
        s.kind,
        s.patient_id,
        s.invitation_id,
        s.staff_id,
        s.csrf,
        s.language,
        ts(now),
        ts(s.expires_at),
        s.stage,
        s.next,
        s.person_id
    ])?;
    Ok(())
}

/// The live session (not ended, not expired at `now`) with this token hash.
pub fn live(conn: &Connection, token_hash: &str, now: DateTime<Utc>) -> Result<Option<Session>> {
    conn
        .prepare_cached(
            "SELECT kind, patient_id, invitation_id, staff_id, csrf, language, expires_at, stage, next, person_id FROM sessions
             WHERE token_hash = ?1 AND ended_at IS NULL AND expires_at > ?2
               AND (not_after IS NULL OR not_after > ?2)",
        )?
        .query_row(params![token_hash, ts(now)], |r| {
            Ok(Session {
                kind: r.get(0)?,
                patient_id: r.get(1)?,
                invitation_id: r.get(2)?,
                staff_id: r.get(3)?,
                csrf: r.get(4)?,
                language: r.get(5)?,
                expires_at: r.get(6)?,
                stage: r.get(7)?,
                next: r.get(8)?,
                person_id: r.get(9)?,
            })
        })
        .optional()
}

/// Sets what a person's session waits for (a link to confirm), or clears
/// it.
pub fn set_next(conn: &Connection, token_hash: &str, next: Option<&str>) -> Result<()> {
    conn.prepare_cached("UPDATE sessions SET next = ?2 WHERE token_hash = ?1")?
        .execute(params![token_hash, next])?;
    Ok(())
}

/// The language the patient chose, remembered for the session.
pub fn set_language(conn: &Connection, token_hash: &str, language: &str) -> Result<()> {
    conn.prepare_cached("UPDATE sessions SET language = ?2 WHERE token_hash = ?1")?
        .execute(params![token_hash, language])?;
    Ok(())
}

/// Moves a session's expiry (a staff session's idle timeout starts again).
pub fn extend(conn: &Connection, token_hash: &str, expires_at: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sessions SET expires_at = CASE WHEN not_after IS NOT NULL AND not_after < ?2 THEN not_after ELSE ?2 END
             WHERE token_hash = ?1 AND ended_at IS NULL",
    )?
    .execute(params![token_hash, ts(expires_at)])?;
    Ok(())
}

/// Ends a session on the server.
pub fn end(conn: &Connection, token_hash: &str, now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sessions SET ended_at = ?2 WHERE token_hash = ?1 AND ended_at IS NULL",
    )?
    .execute(params![token_hash, ts(now)])?;
    Ok(())
}

/// Gives a session a latest end whatever its activity (a single sign-on
/// session's maximum lifetime) and the ID token its logout hands back to
/// the provider.
pub fn set_single_sign_on(
    conn: &Connection,
    token_hash: &str,
    not_after: DateTime<Utc>,
    id_token: &str,
) -> Result<()> {
    conn.prepare_cached("UPDATE sessions SET not_after = ?2, id_token = ?3 WHERE token_hash = ?1")?
        .execute(params![token_hash, ts(not_after), id_token])?;
    Ok(())
}

/// The ID token a single sign-on session logged in with.
pub fn id_token(conn: &Connection, token_hash: &str) -> Result<Option<String>> {
    conn.prepare_cached("SELECT id_token FROM sessions WHERE token_hash = ?1")?
        .query_row(params![token_hash], |r| r.get(0))
        .optional()
        .map(Option::flatten)
}

/// Stores a login begun at an OpenID provider, found again by the hash of
/// its `state`.
pub fn begin_oidc_login(
    conn: &Connection,
    state: &str,
    purpose: &str,
    nonce: &str,
    pkce_verifier: &str,
    next: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    // Logins begun more than a day ago are of no use any more.
    conn.prepare_cached("DELETE FROM oidc_logins WHERE created_at < ?1")?
        .execute(params![ts(now - chrono::Duration::days(1))])?;
    conn.prepare_cached(
        "INSERT INTO oidc_logins (state_hash, purpose, nonce, pkce_verifier, next, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        crate::security::token_hash(state),
        purpose,
        nonce,
        pkce_verifier,
        next,
        ts(now)
    ])?;
    Ok(())
}

/// Uses a login begun (once, within ten minutes): its nonce, PKCE verifier
/// and where it was going. `None`: unknown, used or too old.
pub fn use_oidc_login(
    conn: &Connection,
    state: &str,
    purpose: &str,
    now: DateTime<Utc>,
) -> Result<Option<(String, String, Option<String>)>> {
    conn.prepare_cached(
        "UPDATE oidc_logins SET used_at = ?3
             WHERE state_hash = ?1 AND purpose = ?2 AND used_at IS NULL AND created_at > ?4
             RETURNING nonce, pkce_verifier, next",
    )?
    .query_row(
        params![
            crate::security::token_hash(state),
            purpose,
            ts(now),
            ts(now - chrono::Duration::minutes(10))
        ],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .optional()
}

/// Parks a verified identity on the login it completed (by its state), to
/// wait for the person's choice of clinic.
pub fn park_identity(conn: &Connection, state: &str, identity: &str) -> Result<()> {
    conn.prepare_cached("UPDATE oidc_logins SET identity = ?2 WHERE state_hash = ?1")?
        .execute(params![crate::security::token_hash(state), identity])?;
    Ok(())
}

/// Takes the identity parked on a login (once, within ten minutes of its
/// beginning).
pub fn take_identity(conn: &Connection, state: &str, now: DateTime<Utc>) -> Result<Option<String>> {
    let hash = crate::security::token_hash(state);
    let Some(identity): Option<String> = conn
        .prepare_cached(
            "SELECT identity FROM oidc_logins
                 WHERE state_hash = ?1 AND identity IS NOT NULL AND created_at > ?2",
        )?
        .query_row(
            params![hash, ts(now - chrono::Duration::minutes(10))],
            |r| r.get(0),
        )
        .optional()?
    else {
        return Ok(None);
    };
    // Taken by whoever clears it: a second taker (another node) finds it
    // cleared.
    let taken = conn
        .prepare_cached(
            "UPDATE oidc_logins SET identity = NULL WHERE state_hash = ?1 AND identity IS NOT NULL",
        )?
        .execute(params![hash])?;
    Ok((taken == 1).then_some(identity))
}

/// Stores a personal "my data" link's token hash.
pub fn insert_personal_link(
    conn: &Connection,
    token_hash: &str,
    patient_id: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO personal_links (token_hash, patient_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![token_hash, patient_id, ts(now), ts(expires_at)],
    )?;
    Ok(())
}

/// Uses a live personal link (once): marks it used and returns its
/// patient, in one statement, so two browsers opening it together cannot
/// both get in.
pub fn use_personal_link(
    conn: &Connection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    conn.prepare_cached(
        "UPDATE personal_links SET used_at = ?2
             WHERE token_hash = ?1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?2
             RETURNING patient_id",
    )?
    .query_row(params![token_hash, ts(now)], |r| r.get(0))
    .optional()
}

/// What a personal link is: its patient and whether it was used or has
/// expired at `now` (`None`: unknown or revoked).
pub fn personal_link_state(
    conn: &Connection,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<(String, bool, bool)>> {
    conn.prepare_cached(
        "SELECT patient_id, used_at IS NOT NULL, expires_at <= ?2 FROM personal_links
             WHERE token_hash = ?1 AND revoked_at IS NULL",
    )?
    .query_row(params![token_hash, ts(now)], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .optional()
}

/// Revokes every live personal link of a patient; returns how many.
pub fn revoke_personal_links(
    conn: &Connection,
    patient_id: &str,
    now: DateTime<Utc>,
) -> Result<usize> {
    conn.execute(
        "UPDATE personal_links SET revoked_at = ?2 WHERE patient_id = ?1 AND revoked_at IS NULL",
        params![patient_id, ts(now)],
    )
}
