//! Clinics (departments) and their staff accounts.

use super::Connection;
use super::db::params;
use chrono::{DateTime, Utc};

use super::Result;
use super::ids::{conflict_on_unique, new_id, ts};

#[derive(Debug, Clone, PartialEq)]
pub struct Clinic {
    pub id: String,
    pub name: String,
    pub alert_emails: Vec<String>,
    pub time_zone: String,
}

pub fn insert_clinic(conn: &Connection, c: &Clinic, now: DateTime<Utc>) -> Result<()> {
    conn.execute(
        "INSERT INTO clinics (id, name, alert_emails, time_zone, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            c.id,
            c.name,
            serde_json::to_string(&c.alert_emails).unwrap_or_else(|_| "[]".into()),
            c.time_zone,
            ts(now)
        ],
    )
    .map_err(|e| conflict_on_unique(e, &format!("the clinic `{}` exists already", c.id)))?;
    Ok(())
}

pub(super) fn clinic_row(r: &super::db::Row<'_>) -> Result<Clinic> {
    let emails: String = r.get(2)?;
    Ok(Clinic {
        id: r.get(0)?,
        name: r.get(1)?,
        alert_emails: serde_json::from_str(&emails).unwrap_or_default(),
        time_zone: r.get(3)?,
    })
}

pub fn get_clinic(conn: &Connection, id: &str) -> Result<Clinic> {
    conn.prepare_cached("SELECT id, name, alert_emails, time_zone FROM clinics WHERE id = ?1")?
        .query_row([id], clinic_row)
}

pub fn insert_user(
    conn: &Connection,
    clinic_id: &str,
    email: &str,
    name: &str,
    role: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<String> {
    get_clinic(conn, clinic_id)?;
    let id = new_id();
    conn.execute(
        "INSERT INTO staff_users (id, clinic_id, email, name, role, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, clinic_id, email, name, role, password_hash, ts(now)],
    )
    .map_err(|e| {
        conflict_on_unique(e, &format!("a user with the e-mail {email} exists already"))
    })?;
    Ok(id)
}

/// Whether a clinic exists.
pub fn exists(conn: &Connection, id: &str) -> Result<bool> {
    conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM clinics WHERE id = ?1)")?
        .query_row([id], |r| r.get(0))
}

/// Sets a staff account's password hash; `false` when there is no such
/// account.
pub fn set_password(conn: &Connection, email: &str, password_hash: &str) -> Result<bool> {
    let n = conn.execute(
        "UPDATE staff_users SET password_hash = ?1 WHERE lower(email) = lower(?2)",
        params![password_hash, email],
    )?;
    Ok(n > 0)
}

/// How a clinic is alerted (migration 5).
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// The language of the clinic's e-mails.
    pub language: String,
    /// Where a red item that nobody took goes.
    pub escalation_emails: Vec<String>,
    /// Reds after the first within this many minutes are gathered.
    pub storm_minutes: u32,
    /// The hour (clinic time) of the yellow digest.
    pub digest_hour: u32,
    /// A red item not taken within this many hours is escalated.
    pub escalate_hours: u32,
}

pub fn alerting(conn: &Connection, clinic_id: &str) -> Result<Alerting> {
    conn.prepare_cached(
        "SELECT language, escalation_emails, storm_minutes, digest_hour, escalate_hours
             FROM clinics WHERE id = ?1",
    )?
    .query_row([clinic_id], |r| {
        let emails: String = r.get(1)?;
        Ok(Alerting {
            language: r.get(0)?,
            escalation_emails: serde_json::from_str(&emails).unwrap_or_default(),
            storm_minutes: r.get(2)?,
            digest_hour: r.get(3)?,
            escalate_hours: r.get(4)?,
        })
    })
}

pub fn set_alerting(conn: &Connection, clinic_id: &str, a: &Alerting) -> Result<()> {
    conn.execute(
        "UPDATE clinics SET language = ?2, escalation_emails = ?3, storm_minutes = ?4,
            digest_hour = ?5, escalate_hours = ?6 WHERE id = ?1",
        params![
            clinic_id,
            a.language,
            serde_json::to_string(&a.escalation_emails).unwrap_or_else(|_| "[]".into()),
            a.storm_minutes,
            a.digest_hour,
            a.escalate_hours
        ],
    )?;
    Ok(())
}

/// How soon a clinic answers its items (migration 8), and its time zone.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseTimes {
    pub time_zone: String,
    /// Working days after the day a red item opened (0: the same day).
    pub red_days: u32,
    /// Working days after the day a yellow item opened.
    pub yellow_days: u32,
}

pub fn response_times(conn: &Connection, clinic_id: &str) -> Result<ResponseTimes> {
    conn.prepare_cached(
        "SELECT time_zone, response_days_red, response_days_yellow FROM clinics WHERE id = ?1",
    )?
    .query_row([clinic_id], |r| {
        Ok(ResponseTimes {
            time_zone: r.get(0)?,
            red_days: r.get(1)?,
            yellow_days: r.get(2)?,
        })
    })
}

pub fn set_response_times(conn: &Connection, clinic_id: &str, t: &ResponseTimes) -> Result<()> {
    conn.execute(
        "UPDATE clinics SET response_days_red = ?2, response_days_yellow = ?3 WHERE id = ?1",
        params![clinic_id, t.red_days, t.yellow_days],
    )?;
    Ok(())
}

/// Every clinic's id.
pub fn all_ids(conn: &Connection) -> Result<Vec<String>> {
    let rows = conn
        .prepare_cached("SELECT id FROM clinics ORDER BY id")?
        .query_map((), |r| r.get(0))?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// Whether a clinic's staff may log in with a password (break-glass
/// accounts always may).
pub fn local_login(conn: &Connection, clinic_id: &str) -> Result<bool> {
    conn.prepare_cached("SELECT local_login = 'on' FROM clinics WHERE id = ?1")?
        .query_row([clinic_id], |r| r.get(0))
}

/// Turns a clinic's local password login on or off.
pub fn set_local_login(conn: &Connection, clinic_id: &str, on: bool) -> Result<()> {
    conn.prepare_cached("UPDATE clinics SET local_login = ?2 WHERE id = ?1")?
        .execute([clinic_id, if on { "on" } else { "off" }])?;
    Ok(())
}

/// An outcome of a clinic's own list: its code and its texts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutcomeChoice {
    pub code: String,
    pub da: String,
    pub en: String,
}

/// A clinic's own outcomes; `None`: the default list
/// (`review::OUTCOMES`).
pub fn outcomes(conn: &Connection, clinic_id: &str) -> Result<Option<Vec<OutcomeChoice>>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT outcomes FROM clinics WHERE id = ?1")?
        .query_row([clinic_id], |r| r.get(0))?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Sets a clinic's own outcomes, or (`None`) returns it to the default.
pub fn set_outcomes(
    conn: &Connection,
    clinic_id: &str,
    list: Option<&[OutcomeChoice]>,
) -> Result<()> {
    let text = list.map(|l| serde_json::to_string(l).unwrap_or_else(|_| "[]".into()));
    conn.prepare_cached("UPDATE clinics SET outcomes = ?2 WHERE id = ?1")?
        .execute(super::db::params![clinic_id, text])?;
    Ok(())
}
