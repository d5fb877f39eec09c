//! Staff logins: a password, then a second factor (a TOTP code, or a
//! recovery code), throttled per account and per address; sessions that
//! are renewed at login and end after 30 idle minutes. Every login, failed
//! login and logout is an audit row in the same transaction.
//!
//! The password check (argon2id, deliberately slow) runs outside the
//! writer; these functions record what it found.

use crate::storage::Connection;
use chrono::{DateTime, Duration, Utc};

use crate::security::{new_token, token_hash};
use crate::storage::audit::{self, Entry};
use crate::storage::ids::ts;
use crate::storage::sessions::{self, NewSession};
use crate::storage::staff::{self, Staff};
use crate::storage::{Result, StorageError};

/// A staff session ends after this long without a request.
pub const IDLE: Duration = Duration::minutes(30);
/// Between the password and the second factor.
pub const HALF_LOGIN: Duration = Duration::minutes(10);
/// Failures are counted over this window.
pub const WINDOW: Duration = Duration::minutes(15);
/// Attempts for one account from one address before each further attempt
/// must wait a growing delay (1 s, 2 s, 4 s … 15 min). Per pair, so that
/// someone who knows a colleague's e-mail cannot lock them out from
/// elsewhere.
pub const ACCOUNT_LIMIT: u32 = 5;
/// Attempts from one address (over every account) before the delays
/// begin for that address.
pub const ADDRESS_LIMIT: u32 = 20;
/// How many recovery codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;

fn pair_key(account: &str, address: &str) -> String {
    format!("pair:{}|{address}", account.trim().to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

/// Counts a login attempt (a password or a code) for `account` from
/// `address` and says whether it may be checked; `false`: it must wait
/// (and is not counted). Count and check are one step in the database,
/// so parallel attempts on any node cannot pass together.
pub fn attempt(
    conn: &Connection,
    account: &str,
    address: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let window = WINDOW.num_seconds();
    let by_address = address_key(address);
    if !staff::throttle_attempt(conn, &by_address, ADDRESS_LIMIT, now, window)? {
        return Ok(false);
    }
    if !staff::throttle_attempt(
        conn,
        &pair_key(account, address),
        ACCOUNT_LIMIT,
        now,
        window,
    )? {
        staff::throttle_passed(conn, &by_address, ADDRESS_LIMIT)?;
        return Ok(false);
    }
    Ok(true)
}

/// Whether an account may log in with its password: always where its
/// clinic's local login is on; where it is off, only a break-glass
/// account (a refusal is audited).
pub fn password_login_allowed(conn: &Connection, s: &Staff, now: DateTime<Utc>) -> Result<bool> {
    if s.break_glass || crate::storage::clinics::local_login(conn, &s.clinic_id)? {
        return Ok(true);
    }
    audit::append(
        conn,
        &Entry {
            at: &ts(now),
            actor: &actor(s),
            action: "staff.local_login_refused",
            clinic_id: Some(&s.clinic_id),
            ..Default::default()
        },
    )?;
    Ok(false)
}

/// A right password or code: its attempt is given back (colleagues behind
/// one address do not use up each other's attempts by logging in).
pub fn passed(conn: &Connection, account: &str, address: &str) -> Result<()> {
    staff::throttle_passed(conn, &address_key(address), ADDRESS_LIMIT)?;
    staff::throttle_clear(conn, &pair_key(account, address))
}

fn actor(s: &Staff) -> String {
    format!("staff:{}", s.id)
}

/// Records a failed password or code for `account` (known or not).
pub fn failed(
    conn: &Connection,
    account: &str,
    who: Option<&Staff>,
    address: &str,
    what: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    staff::record_failure(conn, account, address, now)?;
    let at = ts(now);
    let a = who.map(actor).unwrap_or_else(|| "unknown".into());
    audit::append(
        conn,
        &Entry {
            at: &at,
            actor: &a,
            action: what,
            clinic_id: who.map(|s| s.clinic_id.as_str()),
            ..Default::default()
        },
    )
}

/// A new session's cookie token and CSRF token.
pub type NewLogin = (String, String);

/// A new staff session; returns its cookie token and CSRF token.
fn new_session(
    conn: &Connection,
    s: &Staff,
    stage: &str,
    next: Option<&str>,
    language: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(String, String)> {
    let token = new_token("prom_staff_");
    let csrf = new_token("");
    sessions::insert(
        conn,
        &NewSession {
            token_hash: &token_hash(&token),
            kind: "staff",
            patient_id: None,
            invitation_id: None,
            staff_id: Some(&s.id),
            csrf: &csrf,
            language,
            expires_at,
            stage,
            next,
            person_id: None,
        },
        now,
    )?;
    Ok((token, csrf))
}

/// The password was right: a half-login session that can only give the
/// second factor (or enrol one), for a few minutes.
pub fn password_ok(
    conn: &Connection,
    s: &Staff,
    next: Option<&str>,
    language: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    Ok(new_session(conn, s, "password", next, language, now + HALF_LOGIN, now)?.0)
}

/// The second factor was right: the half-login session ends and a new one
/// (a new token: the session is renewed at login) begins; failures of the
/// account are forgotten. Returns the new session's token and CSRF token.
pub fn login_complete(
    conn: &Connection,
    half: &str,
    s: &Staff,
    language: &str,
    now: DateTime<Utc>,
) -> Result<(String, String)> {
    sessions::end(conn, half, now)?;
    staff::clear_failures(conn, &s.email, now - WINDOW)?;
    if s.break_glass && !crate::storage::clinics::local_login(conn, &s.clinic_id)? {
        // Loudly: the admin view lists every use.
        tracing::warn!(clinic = %s.clinic_id, "a break-glass account logged in with its password");
        audit::append(
            conn,
            &Entry {
                at: &ts(now),
                actor: &actor(s),
                action: "staff.break_glass_login",
                clinic_id: Some(&s.clinic_id),
                ..Default::default()
            },
        )?;
    }
    let session = new_session(conn, s, "full", None, language, now + IDLE, now)?;
    let at = ts(now);
    audit::append(
        conn,
        &Entry {
            at: &at,
            actor: &actor(s),
            action: "staff.login",
            clinic_id: Some(&s.clinic_id),
            ..Default::default()
        },
    )?;
    Ok(session)
}

/// A full session for a staff member whom the identity provider vouched
/// for (its second factor is the provider's, asserted by `acr`/`amr`);
/// the login is audited. Returns the cookie token and CSRF token.
pub fn single_sign_on_session(
    conn: &Connection,
    s: &Staff,
    language: &str,
    now: DateTime<Utc>,
) -> Result<(String, String)> {
    let session = new_session(conn, s, "full", None, language, now + IDLE, now)?;
    let at = ts(now);
    audit::append(
        conn,
        &Entry {
            at: &at,
            actor: &actor(s),
            action: "staff.sso_login",
            clinic_id: Some(&s.clinic_id),
            ..Default::default()
        },
    )?;
    Ok(session)
}

/// Checks a TOTP `code` against `secret` (base32) at `now`; the matching
/// time step, if any. One step of skew either way.
pub fn totp_step(secret: &str, account: &str, code: &str, now: DateTime<Utc>) -> Option<u64> {
    let totp = totp(secret, account)?;
    let code: String = code.chars().filter(|c| c.is_ascii_digit()).collect();
    totp.check(&code, u64::try_from(now.timestamp()).ok()?)
}

/// The TOTP of a base32 secret: SHA-1, 6 digits, 30 s (what every
/// authenticator app reads).
pub fn totp(secret: &str, account: &str) -> Option<totp_rs::Totp> {
    let secret = totp_rs::Secret::try_from_base32(secret).ok()?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(account.replace(':', ""))
        .with_issuer(Some("prom"))
        .build()
        .ok()
}

/// A new TOTP secret: 20 random bytes, in base32.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::fill(&mut bytes);
    totp_rs::Secret::new_stack(bytes).to_base32()
}

/// Confirms enrolment with its first code: the secret is confirmed, the
/// step used, recovery codes made (returned once, stored hashed) and the
/// login completed. `None` when the code is wrong.
pub fn enrol(
    conn: &Connection,
    half: &str,
    s: &Staff,
    code: &str,
    language: &str,
    now: DateTime<Utc>,
) -> Result<Option<(NewLogin, Vec<String>)>> {
    let Some(secret) = s.totp_secret.as_deref().filter(|_| !s.totp_confirmed) else {
        return Err(StorageError::Conflict(
            "the second factor is set up already".into(),
        ));
    };
    let Some(step) = totp_step(secret, &s.email, code, now) else {
        return Ok(None);
    };
    if !staff::use_step(conn, &s.id, step)? {
        return Ok(None);
    }
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let hashes: Vec<String> = codes.iter().map(|c| token_hash(&normal_code(c))).collect();
    staff::confirm_secret(conn, &s.id, &hashes, now)?;
    let at = ts(now);
    audit::append(
        conn,
        &Entry {
            at: &at,
            actor: &actor(s),
            action: "staff.enrol",
            clinic_id: Some(&s.clinic_id),
            ..Default::default()
        },
    )?;
    let session = login_complete(conn, half, s, language, now)?;
    Ok(Some((session, codes)))
}

/// Checks the second factor of an enrolled account: a TOTP code (each
/// step once) or an unused recovery code. `true` when it is right.
pub fn second_factor(conn: &Connection, s: &Staff, code: &str, now: DateTime<Utc>) -> Result<bool> {
    let Some(secret) = s.totp_secret.as_deref().filter(|_| s.totp_confirmed) else {
        return Ok(false);
    };
    if let Some(step) = totp_step(secret, &s.email, code, now) {
        return staff::use_step(conn, &s.id, step);
    }
    staff::use_recovery_code(conn, &s.id, &token_hash(&normal_code(code)), now)
}

/// A recovery code: 10 characters from an alphabet without look-alikes,
/// shown as two groups of five.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 10];
    rand::fill(&mut bytes);
    let s: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}", &s[..5], &s[5..])
}

/// A recovery code as typed: lower case, without spaces or dashes.
fn normal_code(c: &str) -> String {
    c.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Ends a session (logout), with its audit row.
pub fn logout(conn: &Connection, token_hash: &str, s: &Staff, now: DateTime<Utc>) -> Result<()> {
    sessions::end(conn, token_hash, now)?;
    let at = ts(now);
    audit::append(
        conn,
        &Entry {
            at: &at,
            actor: &actor(s),
            action: "staff.logout",
            clinic_id: Some(&s.clinic_id),
            ..Default::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_totp_code_matches_its_step_and_one_step_either_side_only() {
        let secret = new_secret();
        let t = totp(&secret, "a@b.dk").expect("totp");
        let now: DateTime<Utc> = "2026-03-02T10:00:00Z".parse().expect("time");
        let code = t.generate(now.timestamp() as u64).to_string();
        let step = now.timestamp() as u64 / 30;
        assert_eq!(totp_step(&secret, "a@b.dk", &code, now), Some(step));
        assert_eq!(
            totp_step(
                &secret,
                "a@b.dk",
                &format!("{} {}", &code[..3], &code[3..]),
                now
            ),
            Some(step),
            "spaces are allowed"
        );
        assert!(totp_step(&secret, "a@b.dk", &code, now + Duration::seconds(30)).is_some());
        assert!(totp_step(&secret, "a@b.dk", &code, now + Duration::seconds(90)).is_none());
    }

    #[test]
    fn recovery_codes_are_typed_forgivingly() {
        let c = recovery_code();
        assert_eq!(c.len(), 11);
        assert_eq!(
            normal_code(&c.to_uppercase().replace('-', " ")),
            c.replace('-', "")
        );
    }
}
