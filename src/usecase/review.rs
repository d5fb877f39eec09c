//! What staff do with a review item — take it, resolve it, snooze one of
//! its rules for the patient — each with its audit row in the same
//! transaction. A change names the item's revision as the staff member saw
//! it; a second person acting on an old view is told what happened
//! instead of overwriting it.

use crate::storage::Connection;
use chrono::{DateTime, Utc};

use crate::storage::Result;
use crate::storage::audit;
use crate::storage::ids::ts;
use crate::storage::review::{self, Acted};

/// The note that closes the item of a response a correction replaced,
/// before the correction's id.
pub const SUPERSEDED_NOTE: &str = "superseded by correction";

/// What a staff member wants done.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Take,
    Resolve {
        outcome: String,
        note: Option<String>,
    },
    /// Snooze `rule` of the item's questionnaire for the patient for
    /// `days`, at the rule's level on this item.
    Snooze {
        rule: String,
        days: u32,
    },
}

/// Does `action` on item `id` of `clinic_id` as `staff_id`, from revision
/// `rev`.
pub fn act(
    conn: &Connection,
    clinic_id: &str,
    staff_id: &str,
    id: &str,
    rev: i64,
    action: &Action,
    now: DateTime<Utc>,
) -> Result<Acted> {
    let at = ts(now);
    let Some(item) = review::work_item_by_id(conn, clinic_id, id)? else {
        return Ok(Acted::Missing);
    };
    let (done, what) = match action {
        Action::Take => (
            review::take(conn, clinic_id, id, staff_id, rev, &at)?,
            "review.take",
        ),
        Action::Resolve { outcome, note } => (
            review::resolve(
                conn,
                clinic_id,
                id,
                staff_id,
                rev,
                outcome,
                note.as_deref(),
                &at,
            )?,
            "review.resolve",
        ),
        Action::Snooze { rule, days } => {
            let Some(flag) = item.flags.iter().find(|f| &f.rule == rule) else {
                return Ok(Acted::Missing);
            };
            let until = ts(now + chrono::Duration::days(i64::from(*days)));
            review::snooze(
                conn,
                clinic_id,
                &item.patient_id,
                &item.questionnaire,
                rule,
                &flag.level,
                &until,
                staff_id,
                &at,
            )?;
            let note = format!("snoozed {rule} for {days} days");
            review::add_event(
                conn,
                id,
                &item.status,
                &format!("staff:{staff_id}"),
                Some(&note),
                &at,
            )?;
            (Acted::Done, "review.snooze")
        }
    };
    if done == Acted::Done {
        audit::record(
            conn,
            &format!("staff:{staff_id}"),
            what,
            clinic_id,
            Some(&item.patient_id),
            Some(id),
            now,
        )?;
    }
    Ok(done)
}
