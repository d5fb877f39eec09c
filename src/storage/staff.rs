//! Staff accounts: the password hash, the second factor (a TOTP secret,
//! confirmed by a first code, and recovery codes), deactivation, and the
//! failed logins and the throttles that slow guessing.

use super::Connection;
use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::Result;
use super::ids::ts;

/// A staff account as the workspace sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Staff {
    pub id: String,
    pub clinic_id: String,
    pub email: String,
    pub name: String,
    /// `clinician` or `admin`.
    pub role: String,
    pub password_hash: String,
    /// The TOTP secret in base32: set at enrolment, before it is confirmed.
    pub totp_secret: Option<String>,
    pub totp_confirmed: bool,
    pub disabled: bool,
    pub created_at: String,
    /// A named break-glass account: it may log in with its password when
    /// the clinic's local login is off; every use is audited loudly.
    pub break_glass: bool,
}

const COLUMNS: &str = "id, clinic_id, email, name, role, password_hash, totp_secret,
    totp_confirmed_at IS NOT NULL, disabled_at IS NOT NULL, created_at, break_glass = 1";

fn row(r: &super::db::Row<'_>) -> Result<Staff> {
    Ok(Staff {
        id: r.get(0)?,
        clinic_id: r.get(1)?,
        email: r.get(2)?,
        name: r.get(3)?,
        role: r.get(4)?,
        password_hash: r.get(5)?,
        totp_secret: r.get(6)?,
        totp_confirmed: r.get(7)?,
        disabled: r.get(8)?,
        created_at: r.get(9)?,
        break_glass: r.get(10)?,
    })
}

/// The account with this e-mail (any case).
pub fn by_email(conn: &Connection, email: &str) -> Result<Option<Staff>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM staff_users WHERE lower(email) = lower(?1)"
    ))?
    .query_row([email.trim()], row)
    .optional()
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<Staff>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM staff_users WHERE id = ?1"))?
        .query_row([id], row)
        .optional()
}

/// A clinic's staff, by name.
pub fn of_clinic(conn: &Connection, clinic_id: &str) -> Result<Vec<Staff>> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM staff_users WHERE clinic_id = ?1 ORDER BY name, email"
        ))?
        .query_map([clinic_id], row)?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// Stores a new, unconfirmed TOTP secret (enrolment restarts with a new
/// one); refused once a secret is confirmed.
pub fn set_pending_secret(conn: &Connection, id: &str, secret: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE staff_users SET totp_secret = ?2, totp_last_step = NULL
         WHERE id = ?1 AND totp_confirmed_at IS NULL",
        params![id, secret],
    )? == 1)
}

/// Takes a TOTP time step as used, once: `false` when this step (or a
/// later one) was used already, so a code cannot be replayed.
pub fn use_step(conn: &Connection, id: &str, step: u64) -> Result<bool> {
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    Ok(conn.execute(
        "UPDATE staff_users SET totp_last_step = ?2
         WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
        params![id, step],
    )? == 1)
}

/// Confirms the pending secret and replaces the recovery codes with these
/// hashes.
pub fn confirm_secret(
    conn: &Connection,
    id: &str,
    code_hashes: &[String],
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "UPDATE staff_users SET totp_confirmed_at = ?2 WHERE id = ?1",
        params![id, ts(now)],
    )?;
    conn.execute("DELETE FROM recovery_codes WHERE staff_id = ?1", [id])?;
    for h in code_hashes {
        conn.execute(
            "INSERT INTO recovery_codes (staff_id, code_hash) VALUES (?1, ?2)",
            params![id, h],
        )?;
    }
    Ok(())
}

/// Uses a recovery code, once.
pub fn use_recovery_code(
    conn: &Connection,
    id: &str,
    code_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE recovery_codes SET used_at = ?3
         WHERE staff_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        params![id, code_hash, ts(now)],
    )? == 1)
}

/// How many unused recovery codes an account has left.
pub fn recovery_codes_left(conn: &Connection, id: &str) -> Result<u32> {
    conn.query_row(
        "SELECT count(*) FROM recovery_codes WHERE staff_id = ?1 AND used_at IS NULL",
        [id],
        |r| r.get(0),
    )
}

/// Clears the second factor (an admin's reset): the next login enrols
/// again. Ends the account's sessions.
pub fn reset_second_factor(conn: &Connection, id: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE staff_users SET totp_secret = NULL, totp_confirmed_at = NULL, totp_last_step = NULL
         WHERE id = ?1",
        [id],
    )?;
    conn.execute("DELETE FROM recovery_codes WHERE staff_id = ?1", [id])?;
    end_sessions(conn, id, now)?;
    Ok(())
}

/// Deactivates an account and ends its sessions at once.
pub fn deactivate(conn: &Connection, id: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE staff_users SET disabled_at = ?2 WHERE id = ?1 AND disabled_at IS NULL",
        params![id, ts(now)],
    )?;
    end_sessions(conn, id, now)
}

/// Ends every live session of an account.
pub fn end_sessions(conn: &Connection, id: &str, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "UPDATE sessions SET ended_at = ?2 WHERE staff_id = ?1 AND ended_at IS NULL",
        params![id, ts(now)],
    )?;
    Ok(())
}

/// Records a failed login (a wrong password or code) for the account typed
/// and the address it came from.
pub fn record_failure(
    conn: &Connection,
    account: &str,
    address: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached("INSERT INTO login_failures (account, address, at) VALUES (?1, ?2, ?3)")?
        .execute(params![account.trim().to_lowercase(), address, ts(now)])?;
    Ok(())
}

/// Forgets an account's failures after a successful login, and everyone's
/// failures older than `before`.
pub fn clear_failures(conn: &Connection, account: &str, before: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("DELETE FROM login_failures WHERE account = ?1 OR at < ?2")?
        .execute(params![account.trim().to_lowercase(), ts(before)])?;
    conn.prepare_cached(
        "DELETE FROM login_throttle WHERE updated_s < CAST(?1 AS BIGINT) AND until_s < CAST(?1 AS BIGINT)",
    )?
    .execute(params![before.timestamp()])?;
    Ok(())
}

/// The delay after the `n`th attempt past a throttle's limit (0 is the
/// attempt that reaches it): 1, 2, 4 … 512 seconds, then 15 minutes.
const DELAYS: &str = "CASE (login_throttle.attempts + 1 - CAST(?3 AS BIGINT)) WHEN 0 THEN 1 WHEN 1 THEN 2 WHEN 2 THEN 4 WHEN 3 THEN 8 WHEN 4 THEN 16 WHEN 5 THEN 32 WHEN 6 THEN 64 WHEN 7 THEN 128 WHEN 8 THEN 256 WHEN 9 THEN 512 ELSE 900 END";

/// Counts an attempt under the throttle `key` and says whether it may be
/// checked (`true`) or must wait (`false`, and is not counted). The count
/// and the check are one statement, so parallel attempts (on any node)
/// cannot all pass: from the `limit`th attempt on, each sets a delay
/// that grows (1 s, 2 s, 4 s … 15 min) before the next may be checked.
/// An attempt is counted before its password is checked; a right one
/// gives its count back (`throttle_passed`). The count starts again
/// after `window` seconds without an attempt.
pub fn throttle_attempt(
    conn: &Connection,
    key: &str,
    limit: u32,
    now: DateTime<Utc>,
    window: i64,
) -> Result<bool> {
    let now_s = now.timestamp();
    let sql = format!(
        "INSERT INTO login_throttle (key, attempts, until_s, updated_s, last)
         VALUES (?1, 1, 0, CAST(?2 AS BIGINT), 'checked')
         ON CONFLICT (key) DO UPDATE SET
           attempts = CASE WHEN login_throttle.until_s > CAST(?2 AS BIGINT) THEN login_throttle.attempts
                           WHEN login_throttle.updated_s <= CAST(?4 AS BIGINT) THEN 1
                           ELSE login_throttle.attempts + 1 END,
           until_s = CASE WHEN login_throttle.until_s > CAST(?2 AS BIGINT) THEN login_throttle.until_s
                          WHEN login_throttle.updated_s <= CAST(?4 AS BIGINT) THEN 0
                          WHEN login_throttle.attempts + 1 >= CAST(?3 AS BIGINT) THEN CAST(?2 AS BIGINT) + {DELAYS}
                          ELSE 0 END,
           updated_s = CASE WHEN login_throttle.until_s > CAST(?2 AS BIGINT) THEN login_throttle.updated_s
                            ELSE CAST(?2 AS BIGINT) END,
           last = CASE WHEN login_throttle.until_s > CAST(?2 AS BIGINT) THEN 'refused' ELSE 'checked' END
         RETURNING last"
    );
    let last: String = conn
        .prepare_cached(&sql)?
        .query_row(params![key, now_s, i64::from(limit), now_s - window], |r| {
            r.get(0)
        })?;
    Ok(last == "checked")
}

/// A right password or code: the attempt counted under `key` is given
/// back, and with the count under the limit again no delay is left.
pub fn throttle_passed(conn: &Connection, key: &str, limit: u32) -> Result<()> {
    conn.prepare_cached(
        "UPDATE login_throttle SET attempts = attempts - 1,
             until_s = CASE WHEN attempts - 1 < CAST(?2 AS BIGINT) THEN 0 ELSE until_s END
         WHERE key = ?1 AND attempts > 0",
    )?
    .execute(params![key, i64::from(limit)])?;
    Ok(())
}

/// Forgets a throttle's count (a login completed for its pair).
pub fn throttle_clear(conn: &Connection, key: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM login_throttle WHERE key = ?1")?
        .execute(params![key])?;
    Ok(())
}

/// Makes an account a break-glass account, or no longer one.
pub fn toggle_break_glass(conn: &Connection, id: &str, _now: DateTime<Utc>) -> Result<()> {
    conn.prepare_cached("UPDATE staff_users SET break_glass = 1 - break_glass WHERE id = ?1")?
        .execute(params![id])?;
    Ok(())
}
