//! "I want the clinic to contact me", from the receipt: the response gets a
//! yellow item in the review queue (or, when it has one already, the wish
//! is added to its history), once however often the button is pressed.

use chrono::{DateTime, Utc};

use crate::storage::ids::ts;
use crate::storage::{Connection, Result, audit, review};

/// The note a contact request leaves in a review item's history.
pub const CONTACT_NOTE: &str = "patient asks to be contacted";

/// The response's review item, opened at yellow when it had none and
/// opened again when it was resolved.
fn item_or_yellow(
    conn: &Connection,
    clinic_id: &str,
    response_id: &str,
    at: &str,
) -> Result<String> {
    match review::item_for_response(conn, response_id)? {
        Some((id, _, status)) => {
            // A request after the clinic closed the item puts it back in
            // the queue, at the level it carries.
            if status == "resolved" {
                review::reopen(conn, &id)?;
            }
            Ok(id)
        }
        None => review::open_item(conn, response_id, clinic_id, "yellow", at),
    }
}

pub fn request_contact(
    conn: &Connection,
    clinic_id: &str,
    patient_id: &str,
    response_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let at = ts(now);
    if let Some((item, _, _)) = review::item_for_response(conn, response_id)?
        && review::has_event(conn, &item, CONTACT_NOTE)?
    {
        return Ok(());
    }
    let item = item_or_yellow(conn, clinic_id, response_id, &at)?;
    review::add_event(conn, &item, "open", "patient", Some(CONTACT_NOTE), &at)?;
    audit::record(
        conn,
        "patient",
        "contact.request",
        clinic_id,
        Some(patient_id),
        Some(response_id),
        now,
    )
}

/// The note a correction request leaves, before the patient's reason.
pub const CORRECTION_NOTE: &str = "patient asks for a correction";

/// "This answer is wrong": a patient asks the clinic to correct one of
/// their responses, with a reason. The response gets a yellow review item
/// (or the request is added to its item's history); the clinic corrects it
/// (a new version, the original kept) or not.
pub fn request_correction(
    conn: &Connection,
    clinic_id: &str,
    patient_id: &str,
    response_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let at = ts(now);
    let item = item_or_yellow(conn, clinic_id, response_id, &at)?;
    review::add_event(
        conn,
        &item,
        "open",
        "patient",
        Some(&format!("{CORRECTION_NOTE}: {reason}")),
        &at,
    )?;
    audit::record(
        conn,
        "patient",
        "correction.request",
        clinic_id,
        Some(patient_id),
        Some(response_id),
        now,
    )
}
