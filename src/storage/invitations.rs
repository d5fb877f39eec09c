//! Invitation links (stored as token hashes) and follow-up plans.

use super::Connection;
use super::db::{OptionalExtension, params};
use chrono::{DateTime, NaiveDate, Utc};

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

/// An invitation as its link finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    pub id: String,
    pub patient_id: String,
    pub clinic_id: String,
    pub patient_ref: String,
    pub language: String,
    pub questionnaire_id: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub response_id: Option<String>,
}

const INVITATION_COLUMNS: &str =
    "i.id, i.patient_id, p.clinic_id, p.ref, p.language, i.questionnaire_id,
    i.expires_at, i.used_at, i.response_id";

fn invitation_row(r: &super::db::Row<'_>) -> Result<Invitation> {
    Ok(Invitation {
        id: r.get(0)?,
        patient_id: r.get(1)?,
        clinic_id: r.get(2)?,
        patient_ref: r.get(3)?,
        language: r.get(4)?,
        questionnaire_id: r.get(5)?,
        expires_at: r.get(6)?,
        used_at: r.get(7)?,
        response_id: r.get(8)?,
    })
}

/// The invitation whose link token hashes to `token_hash`.
pub fn by_token_hash(conn: &Connection, token_hash: &str) -> Result<Option<Invitation>> {
    conn.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations i JOIN patients p ON p.id = i.patient_id
             WHERE i.token_hash = ?1
                OR i.id = (SELECT invitation_id FROM invitation_tokens WHERE token_hash = ?1)"
    ))?
    .query_row([token_hash], invitation_row)
    .optional()
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Invitation> {
    conn.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations i JOIN patients p ON p.id = i.patient_id
             WHERE i.id = ?1"
    ))?
    .query_row([id], invitation_row)
}

/// Marks an invitation used by the response it produced; `false` when it
/// was used already (a double tap: the first response stands).
pub fn mark_used(
    conn: &Connection,
    id: &str,
    response_id: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    let n = conn
        .prepare_cached(
            "UPDATE invitations SET used_at = ?2, response_id = ?3 WHERE id = ?1 AND used_at IS NULL",
        )?
        .execute(params![id, ts(now), response_id])?;
    Ok(n == 1)
}

/// Saves the answers so far and the page the patient is on.
pub fn save_draft(
    conn: &Connection,
    invitation_id: &str,
    answers: &serde_json::Map<String, serde_json::Value>,
    page: u32,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO drafts (invitation_id, answers, page, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (invitation_id) DO UPDATE SET answers = ?2, page = ?3, updated_at = ?4",
    )?
    .execute(params![
        invitation_id,
        serde_json::Value::Object(answers.clone()).to_string(),
        page,
        ts(now)
    ])?;
    Ok(())
}

/// The draft of an invitation: the answers so far and the page.
pub fn draft(
    conn: &Connection,
    invitation_id: &str,
) -> Result<Option<(serde_json::Map<String, serde_json::Value>, u32)>> {
    let row: Option<(String, u32)> = conn
        .prepare_cached("SELECT answers, page FROM drafts WHERE invitation_id = ?1")?
        .query_row([invitation_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.map(|(a, p)| (serde_json::from_str(&a).unwrap_or_default(), p)))
}

/// Forgets a draft once its response is stored.
pub fn drop_draft(conn: &Connection, invitation_id: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM drafts WHERE invitation_id = ?1")?
        .execute([invitation_id])?;
    Ok(())
}

/// A follow-up plan as staff see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Plan {
    pub id: String,
    pub questionnaire: String,
    pub every_days: u32,
    pub next_due: String,
    pub stopped_at: Option<String>,
}

/// A patient's plans, running first.
pub fn plans_of(conn: &Connection, patient_id: &str) -> Result<Vec<Plan>> {
    let rows = conn
        .prepare_cached(
            "SELECT id, questionnaire_id, every_days, next_due, stopped_at FROM plans
             WHERE patient_id = ?1 ORDER BY stopped_at IS NOT NULL, created_at",
        )?
        .query_map([patient_id], |r| {
            Ok(Plan {
                id: r.get(0)?,
                questionnaire: r.get(1)?,
                every_days: r.get(2)?,
                next_due: r.get(3)?,
                stopped_at: r.get(4)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// Stops a plan of the patient (a stopped plan stays stopped when it was
/// stopped); `false` when the patient has no such plan.
pub fn stop_plan(
    conn: &Connection,
    patient_id: &str,
    plan_id: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE plans SET stopped_at = coalesce(stopped_at, ?3) WHERE id = ?2 AND patient_id = ?1",
        params![patient_id, plan_id, ts(now)],
    )? == 1)
}

/// An invitation as staff see it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InvitationInfo {
    pub id: String,
    pub questionnaire: String,
    pub created_at: String,
    pub expires_at: String,
    pub used_at: Option<String>,
    pub response_id: Option<String>,
}

/// A patient's newest invitations.
pub fn invitations_of(
    conn: &Connection,
    patient_id: &str,
    limit: u32,
) -> Result<Vec<InvitationInfo>> {
    let rows = conn
        .prepare_cached(
            "SELECT id, questionnaire_id, created_at, expires_at, used_at, response_id
             FROM invitations WHERE patient_id = ?1 ORDER BY created_at DESC, id DESC LIMIT ?2",
        )?
        .query_map(params![patient_id, limit], |r| {
            Ok(InvitationInfo {
                id: r.get(0)?,
                questionnaire: r.get(1)?,
                created_at: r.get(2)?,
                expires_at: r.get(3)?,
                used_at: r.get(4)?,
                response_id: r.get(5)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// A running plan that is due, with what its invitation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DuePlan {
    pub id: String,
    pub patient_id: String,
    pub clinic_id: String,
    pub time_zone: String,
    pub questionnaire: String,
    pub every_days: u32,
    pub next_due: NaiveDate,
    pub deadline_days: u32,
    pub email: Option<String>,
    pub language: String,
}

/// Running plans due on or before `date` (the caller checks each against
/// its clinic's own date), oldest first.
pub fn due_plans(conn: &Connection, date: NaiveDate, limit: u32) -> Result<Vec<DuePlan>> {
    let rows = conn
        .prepare_cached(
            "SELECT pl.id, pl.patient_id, p.clinic_id, c.time_zone, pl.questionnaire_id, pl.every_days,
                pl.next_due, pl.deadline_days, p.email, p.language
             FROM plans pl JOIN patients p ON p.id = pl.patient_id JOIN clinics c ON c.id = p.clinic_id
             WHERE pl.stopped_at IS NULL AND pl.next_due <= ?1
             ORDER BY pl.next_due, pl.id LIMIT ?2",
        )?
        .query_map(params![date.to_string(), limit], |r| {
            let due: String = r.get(6)?;
            Ok(DuePlan {
                id: r.get(0)?,
                patient_id: r.get(1)?,
                clinic_id: r.get(2)?,
                time_zone: r.get(3)?,
                questionnaire: r.get(4)?,
                every_days: r.get(5)?,
                next_due: NaiveDate::parse_from_str(&due, "%Y-%m-%d").unwrap_or(date),
                deadline_days: r.get(7)?,
                email: r.get(8)?,
                language: r.get(9)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// Moves a plan's next due date.
pub fn set_next_due(conn: &Connection, plan_id: &str, next: NaiveDate) -> Result<()> {
    conn.prepare_cached("UPDATE plans SET next_due = ?2 WHERE id = ?1")?
        .execute(params![plan_id, next.to_string()])?;
    Ok(())
}

/// Brings a running plan's next due date forward to `by` at the latest
/// (after a worrying response), when the plan asks for that: to the day
/// answered plus the plan's early days, when that is sooner.
pub fn due_earlier(
    conn: &Connection,
    patient_id: &str,
    questionnaire: &str,
    answered: NaiveDate,
) -> Result<()> {
    let plans: Vec<(String, String, i64)> = conn
        .prepare_cached(
            "SELECT id, next_due, early_days FROM plans
             WHERE patient_id = ?1 AND questionnaire_id = ?2 AND stopped_at IS NULL AND early_days > 0",
        )?
        .query_map(params![patient_id, questionnaire], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_>>()?;
    for (id, next_due, early) in plans {
        let sooner = (answered + chrono::Duration::days(early)).to_string();
        if sooner < next_due {
            conn.prepare_cached("UPDATE plans SET next_due = ?2 WHERE id = ?1")?
                .execute(params![id, sooner])?;
        }
    }
    Ok(())
}

/// A plan's invitation.
pub fn insert_plan_invitation(
    conn: &Connection,
    plan_id: &str,
    patient_id: &str,
    questionnaire_id: &str,
    token_hash: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<String> {
    let id = new_id();
    conn.execute(
        "INSERT INTO invitations (id, token_hash, patient_id, questionnaire_id, plan_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![id, token_hash, patient_id, questionnaire_id, plan_id, ts(now), ts(expires_at)],
    )?;
    Ok(id)
}

/// Another link to an invitation (the first keeps working).
pub fn add_token(
    conn: &Connection,
    invitation_id: &str,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute(
        "INSERT INTO invitation_tokens (token_hash, invitation_id, created_at) VALUES (?1, ?2, ?3)",
        params![token_hash, invitation_id, ts(now)],
    )?;
    Ok(())
}

/// An open invitation of a plan, as the scheduler and the letters page see
/// it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PlanInvitation {
    pub id: String,
    pub plan_id: String,
    pub patient_id: String,
    pub reference: String,
    pub clinic_id: String,
    pub questionnaire: String,
    pub created_at: String,
    pub expires_at: String,
    pub email: Option<String>,
    pub language: String,
}

const PLAN_INVITATION: &str =
    "SELECT i.id, i.plan_id, i.patient_id, p.ref, p.clinic_id, i.questionnaire_id,
        i.created_at, i.expires_at, p.email, p.language";

/// What `PLAN_INVITATION`'s columns come from.
const PLAN_INVITATION_FROM: &str =
    "FROM invitations i JOIN patients p ON p.id = i.patient_id JOIN plans pl ON pl.id = i.plan_id";

fn plan_invitation(r: &super::db::Row<'_>) -> Result<PlanInvitation> {
    Ok(PlanInvitation {
        id: r.get(0)?,
        plan_id: r.get(1)?,
        patient_id: r.get(2)?,
        reference: r.get(3)?,
        clinic_id: r.get(4)?,
        questionnaire: r.get(5)?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
        email: r.get(8)?,
        language: r.get(9)?,
    })
}

/// Open plan invitations of patients with an e-mail address, unanswered
/// for their plan's reminder days at `now` (and not expired), oldest
/// first, at most 1,000.
pub fn to_remind(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<PlanInvitation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{PLAN_INVITATION}, pl.reminder_days {PLAN_INVITATION_FROM}
         WHERE i.used_at IS NULL AND i.plan_id IS NOT NULL AND i.expires_at > ?1 AND p.email IS NOT NULL
           AND pl.reminder_days > 0
         ORDER BY i.created_at"
    ))?;
    let mut rows = stmt.query(params![ts(now)])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()?
        && out.len() < 1000
    {
        let days: i64 = r.get(10)?;
        let due = ts(now - chrono::Duration::days(days));
        let inv = plan_invitation(&r)?;
        // The same instant format on both sides: text order is time order.
        if inv.created_at <= due {
            out.push(inv);
        }
    }
    Ok(out)
}

/// The clinic's open plan invitations for patients without e-mail: letters
/// to print.
pub fn letters(
    conn: &Connection,
    clinic_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<PlanInvitation>> {
    let rows = conn
        .prepare_cached(&format!(
            "{PLAN_INVITATION} {PLAN_INVITATION_FROM}
             WHERE p.clinic_id = ?1 AND i.used_at IS NULL AND i.plan_id IS NOT NULL AND i.expires_at > ?2
               AND p.email IS NULL
             ORDER BY i.created_at LIMIT 500"
        ))?
        .query_map(params![clinic_id, ts(now)], plan_invitation)?
        .collect::<Result<_>>()?;
    Ok(rows)
}

/// One invitation of the clinic, for its letter.
pub fn plan_invitation_in(
    conn: &Connection,
    clinic_id: &str,
    id: &str,
) -> Result<Option<PlanInvitation>> {
    conn
        .prepare_cached(
            "SELECT i.id, coalesce(i.plan_id, ''), i.patient_id, p.ref, p.clinic_id, i.questionnaire_id,
                i.created_at, i.expires_at, p.email, p.language
             FROM invitations i JOIN patients p ON p.id = i.patient_id
             WHERE p.clinic_id = ?1 AND i.id = ?2"
        )?
        .query_row(params![clinic_id, id], plan_invitation)
        .optional()
}

/// A plan's deadline, reminder and early days.
pub fn set_plan_timing(
    conn: &Connection,
    plan_id: &str,
    deadline_days: u32,
    reminder_days: u32,
    early_days: u32,
) -> Result<()> {
    conn.execute(
        "UPDATE plans SET deadline_days = ?2, reminder_days = ?3, early_days = ?4 WHERE id = ?1",
        params![plan_id, deadline_days, reminder_days, early_days],
    )?;
    Ok(())
}

/// A plan's invitation that passed its deadline unanswered and has no
/// review item yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Missed {
    pub id: String,
    pub plan_id: String,
    pub clinic_id: String,
    pub patient_id: String,
    /// The plan's invitation before this one was missed too.
    pub twice: bool,
}

/// Plans' invitations unanswered at their deadline (`expires_at <= now`)
/// without a review item, oldest first.
pub fn missed(conn: &Connection, now: DateTime<Utc>, limit: u32) -> Result<Vec<Missed>> {
    let rows = conn
        .prepare_cached(
            "SELECT i.id, i.plan_id, p.clinic_id, i.patient_id,
                EXISTS (SELECT 1 FROM invitations b
                    WHERE b.plan_id = i.plan_id AND b.used_at IS NULL AND b.expires_at <= ?1
                      AND b.created_at = (SELECT max(c.created_at) FROM invitations c
                                          WHERE c.plan_id = i.plan_id AND c.created_at < i.created_at))
             FROM invitations i JOIN patients p ON p.id = i.patient_id
             WHERE i.plan_id IS NOT NULL AND i.used_at IS NULL AND i.expires_at <= ?1
               AND NOT EXISTS (SELECT 1 FROM review_items ri WHERE ri.invitation_id = i.id)
             ORDER BY i.expires_at LIMIT ?2",
        )?
        .query_map(params![ts(now), limit], |r| {
            Ok(Missed {
                id: r.get(0)?,
                plan_id: r.get(1)?,
                clinic_id: r.get(2)?,
                patient_id: r.get(3)?,
                twice: r.get(4)?,
            })
        })?
        .collect::<Result<_>>()?;
    Ok(rows)
}
