//! A clinic's alerting: what goes into the outbox when a red flag fires,
//! and what the scheduler adds as time passes. Each decision is made in
//! the transaction that caused it, and each message that must happen once
//! (a gathered storm, a digest, an escalation) carries a key that makes a
//! second one impossible — after a restart, after downtime, whatever the
//! clock did.
//!
//! - A red flag mails the clinic's alert addresses at once; further reds
//!   within the clinic's storm window are gathered into one message per
//!   address, sent at the window's end, that says how many wait.
//! - Yellow items go into one digest a day, at the clinic's digest hour.
//! - A red item nobody took within the clinic's escalation time goes to its
//!   escalation addresses.
//! - A snoozed rule sends nothing (the submission opens no item for it).

use chrono::{DateTime, Duration, Timelike, Utc};

use crate::mail::messages;
use crate::storage::ids::ts;
use crate::storage::{Connection, Result, clinics, outbox, review};

fn queue_link(base_url: &str, query: &str) -> String {
    format!("{}/clinic{query}", base_url.trim_end_matches('/'))
}

/// A red flag for `response_id` fired in `clinic_id` at `now`.
pub fn red_flag(
    conn: &Connection,
    clinic_id: &str,
    response_id: &str,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let link = format!(
        "{}/clinic/responses/{response_id}",
        base_url.trim_end_matches('/')
    );
    red(conn, clinic_id, Some(response_id), &link, base_url, now)
}

/// A red item for a patient who missed two questionnaires in a row.
pub fn red_missed(
    conn: &Connection,
    clinic_id: &str,
    patient_id: &str,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let link = format!(
        "{}/clinic/patients/{patient_id}",
        base_url.trim_end_matches('/')
    );
    red(conn, clinic_id, None, &link, base_url, now)
}

fn red(
    conn: &Connection,
    clinic_id: &str,
    response_id: Option<&str>,
    link: &str,
    base_url: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let clinic = clinics::get_clinic(conn, clinic_id)?;
    let policy = clinics::alerting(conn, clinic_id)?;
    let at = ts(now);
    let window = Duration::minutes(i64::from(policy.storm_minutes));
    let first = outbox::last_of_kind(conn, clinic_id, "red_flag", &ts(now - window))?;
    match first {
        None => {
            let m = messages::red_alert(&policy.language, &clinic.name, link);
            for to in &clinic.alert_emails {
                outbox::enqueue(
                    conn,
                    &outbox::NewMessage {
                        kind: "red_flag",
                        recipient: to,
                        subject: &m.subject,
                        body: &m.text,
                        html: Some(&m.html),
                        response_id,
                        clinic_id: Some(clinic_id),
                        ..Default::default()
                    },
                    &at,
                )?;
            }
        }
        Some(started) => {
            // Gathered: one message per address at the window's end,
            // reworded with every red that joins it.
            let end = DateTime::parse_from_rfc3339(&started)
                .map(|t| t.with_timezone(&Utc) + window)
                .unwrap_or(now + window);
            let count = review::red_since(conn, clinic_id, &started)?;
            let link = queue_link(base_url, "?level=red");
            let m = messages::red_batch(
                &policy.language,
                &clinic.name,
                count,
                u64::from(policy.storm_minutes),
                &link,
            );
            for to in &clinic.alert_emails {
                let key = format!("red_batch:{clinic_id}:{started}:{to}");
                let due = ts(end);
                let added = outbox::enqueue(
                    conn,
                    &outbox::NewMessage {
                        kind: "red_batch",
                        recipient: to,
                        subject: &m.subject,
                        body: &m.text,
                        html: Some(&m.html),
                        clinic_id: Some(clinic_id),
                        once_key: Some(&key),
                        due_at: Some(&due),
                        ..Default::default()
                    },
                    &at,
                )?;
                if !added {
                    outbox::reword(conn, &key, &m.subject, &m.text, &m.html)?;
                }
            }
        }
    }
    Ok(())
}

/// What one look of the scheduler added.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tick {
    pub digests: usize,
    pub escalations: usize,
}

/// One look at every clinic at `now`: the day's yellow digest once its
/// hour has come, and escalations of red items nobody took in time.
pub fn tick(conn: &Connection, base_url: &str, now: DateTime<Utc>) -> Result<Tick> {
    let mut done = Tick::default();
    let at = ts(now);
    for clinic_id in clinics::all_ids(conn)? {
        let clinic = clinics::get_clinic(conn, &clinic_id)?;
        let policy = clinics::alerting(conn, &clinic_id)?;
        let tz: chrono_tz::Tz = clinic
            .time_zone
            .parse()
            .unwrap_or(chrono_tz::Europe::Copenhagen);
        let local = now.with_timezone(&tz);
        if local.hour() >= policy.digest_hour {
            let yellow = review::open_count(conn, &clinic_id, "yellow")?;
            if yellow > 0 {
                let m = messages::yellow_digest(
                    &policy.language,
                    &clinic.name,
                    yellow,
                    &queue_link(base_url, "?level=yellow"),
                );
                let day = local.date_naive();
                for to in &clinic.alert_emails {
                    let key = format!("digest:{clinic_id}:{day}:{to}");
                    if outbox::enqueue(
                        conn,
                        &outbox::NewMessage {
                            kind: "yellow_digest",
                            recipient: to,
                            subject: &m.subject,
                            body: &m.text,
                            html: Some(&m.html),
                            clinic_id: Some(&clinic_id),
                            once_key: Some(&key),
                            ..Default::default()
                        },
                        &at,
                    )? {
                        done.digests += 1;
                    }
                }
            }
        }
        if policy.escalation_emails.is_empty() {
            continue;
        }
        let hours = i64::from(policy.escalate_hours);
        for (item, response, patient) in
            review::untaken_red(conn, &clinic_id, &ts(now - Duration::hours(hours)))?
        {
            let link = match &response {
                Some(r) => format!("{}/clinic/responses/{r}", base_url.trim_end_matches('/')),
                None => format!(
                    "{}/clinic/patients/{patient}",
                    base_url.trim_end_matches('/')
                ),
            };
            let m = messages::escalation(&policy.language, &clinic.name, hours as u64, &link);
            for to in &policy.escalation_emails {
                let key = format!("escalate:{item}:{to}");
                if outbox::enqueue(
                    conn,
                    &outbox::NewMessage {
                        kind: "escalation",
                        recipient: to,
                        subject: &m.subject,
                        body: &m.text,
                        html: Some(&m.html),
                        response_id: response.as_deref(),
                        clinic_id: Some(&clinic_id),
                        once_key: Some(&key),
                        ..Default::default()
                    },
                    &at,
                )? {
                    done.escalations += 1;
                }
            }
        }
    }
    Ok(done)
}
