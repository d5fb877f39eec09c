//! Follow-up plans that run by themselves: when a plan falls due (in its
//! clinic's calendar) the scheduler makes the invitation and e-mails the
//! patient, or, for a patient without e-mail, lists the letter to print
//! for staff; an unanswered invitation gets one reminder (with a new link;
//! the first keeps working); a questionnaire not answered by its deadline
//! puts a yellow item "not answered" in the queue, two in a row a red one;
//! after a red or yellow response the next invitation comes earlier when
//! the plan says so.
//!
//! Everything is decided from `now` and made once: a plan's next due date
//! moves in the transaction that made its invitation, and a reminder
//! carries a key. After downtime, a plan that missed several periods gets
//! one invitation (for the present one), not a pile.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::clock::local_date;
use crate::mail::messages;
use crate::security::{new_token, token_hash};
use crate::storage::ids::ts;
use crate::storage::{Connection, Result, audit, invitations, outbox};

/// A plan's invitation goes from this hour of its day, clinic time.
pub const SEND_FROM_HOUR: u32 = 8;

fn local_hour(now: DateTime<Utc>, zone: &str) -> u32 {
    use chrono::Timelike;
    let tz: chrono_tz::Tz = zone.parse().unwrap_or(chrono_tz::Europe::Copenhagen);
    now.with_timezone(&tz).hour()
}

/// What one look made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanTick {
    pub invitations: usize,
    pub emails: usize,
    pub reminders: usize,
    /// Questionnaires not answered by their deadline: yellow items, red
    /// for the second in a row.
    pub missed: usize,
}

/// The first date after `today` on a plan's rhythm from `due`.
pub fn next_after(due: NaiveDate, every_days: u32, today: NaiveDate) -> NaiveDate {
    let every = i64::from(every_days.max(1));
    let behind = (today - due).num_days().max(0);
    due + Duration::days((behind / every + 1) * every)
}

fn link(base_url: &str, token: &str) -> String {
    format!("{}/a/{token}", base_url.trim_end_matches('/'))
}

/// One look at every plan and open invitation at `now`.
pub fn tick(conn: &Connection, base_url: &str, now: DateTime<Utc>) -> Result<PlanTick> {
    let mut done = PlanTick::default();
    let at = ts(now);
    // A day ahead of UTC covers every clinic's today; each plan is checked
    // against its own clinic's date.
    let horizon = now.date_naive() + Duration::days(1);
    for p in invitations::due_plans(conn, horizon, 1000)? {
        let today = local_date(now, &p.time_zone);
        // Not before the morning of the day it falls due (a patient is not
        // e-mailed at midnight); a day that passed goes at once.
        if p.next_due > today
            || (p.next_due == today && local_hour(now, &p.time_zone) < SEND_FROM_HOUR)
        {
            continue;
        }
        let token = new_token("prom_inv_");
        let expires = now + Duration::days(i64::from(p.deadline_days.max(1)));
        let id = invitations::insert_plan_invitation(
            conn,
            &p.id,
            &p.patient_id,
            &p.questionnaire,
            &token_hash(&token),
            expires,
            now,
        )?;
        invitations::set_next_due(conn, &p.id, next_after(p.next_due, p.every_days, today))?;
        audit::record(
            conn,
            "scheduler",
            "invitation.create",
            &p.clinic_id,
            Some(&p.patient_id),
            Some(&id),
            now,
        )?;
        done.invitations += 1;
        if let Some(to) = &p.email {
            let deadline = local_date(expires, &p.time_zone).to_string();
            let m = messages::invitation(&p.language, &link(base_url, &token), &deadline);
            let key = format!("invite:{id}");
            outbox::enqueue(
                conn,
                &outbox::NewMessage {
                    kind: "invitation",
                    recipient: to,
                    subject: &m.subject,
                    body: &m.text,
                    html: Some(&m.html),
                    clinic_id: Some(&p.clinic_id),
                    once_key: Some(&key),
                    ..Default::default()
                },
                &at,
            )?;
            done.emails += 1;
        }
    }
    for i in invitations::to_remind(conn, now)? {
        let Some(to) = &i.email else {
            continue;
        };
        let token = new_token("prom_inv_");
        let deadline = DateTime::parse_from_rfc3339(&i.expires_at)
            .map(|t| t.with_timezone(&Utc).date_naive().to_string())
            .unwrap_or_default();
        let m = messages::reminder(&i.language, &link(base_url, &token), &deadline);
        let key = format!("remind:{}", i.id);
        let added = outbox::enqueue(
            conn,
            &outbox::NewMessage {
                kind: "reminder",
                recipient: to,
                subject: &m.subject,
                body: &m.text,
                html: Some(&m.html),
                clinic_id: Some(&i.clinic_id),
                once_key: Some(&key),
                ..Default::default()
            },
            &at,
        )?;
        if added {
            invitations::add_token(conn, &i.id, &token_hash(&token), now)?;
            done.reminders += 1;
        }
    }
    // Not answered by the deadline: a yellow item; twice in a row, red
    // (and the clinic is alerted as for any red).
    for m in invitations::missed(conn, now, 1000)? {
        let level = if m.twice { "red" } else { "yellow" };
        if crate::storage::review::open_missed(conn, &m.id, &m.clinic_id, level, &at)? {
            audit::record(
                conn,
                "scheduler",
                "invitation.missed",
                &m.clinic_id,
                Some(&m.patient_id),
                Some(&m.id),
                now,
            )?;
            if m.twice {
                super::alerts::red_missed(conn, &m.clinic_id, &m.patient_id, base_url, now)?;
            }
            done.missed += 1;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn the_next_date_keeps_the_plans_rhythm_and_skips_what_downtime_missed() {
        assert_eq!(
            next_after(d("2026-03-02"), 14, d("2026-03-02")),
            d("2026-03-16")
        );
        assert_eq!(
            next_after(d("2026-03-02"), 14, d("2026-03-15")),
            d("2026-03-16")
        );
        assert_eq!(
            next_after(d("2026-03-02"), 14, d("2026-03-16")),
            d("2026-03-30")
        );
        // Down for six weeks: one invitation now, the next on the rhythm.
        assert_eq!(
            next_after(d("2026-03-02"), 14, d("2026-04-14")),
            d("2026-04-27")
        );
        assert_eq!(
            next_after(d("2026-03-02"), 0, d("2026-03-02")),
            d("2026-03-03")
        );
    }
}
