//! Submitting a response: the three steps of the one transaction that makes
//! a 201 mean "on disk".
//!
//! 1. **Read** what the decision needs: the idempotency key's record, the
//!    patient, the response being corrected, a page of history.
//! 2. **Decide** in the core: which rules fire, the level, whether the
//!    clinic is alerted.
//! 3. **Record**: the response with its scores and flags, the review item,
//!    the audit row (covering the response's content), the alert e-mails
//!    and the idempotency key.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value as Json};
use std::sync::Arc;

use crate::core::engine::{
    Evaluation, Mode, explain, fire_rules, fire_rules_on_page, level_of, stored_answers,
};
use crate::core::model::{Level, Questionnaire};
use crate::core::value::decimal_to_json;
use crate::storage::audit::{self, Entry};
use crate::storage::ids::{new_id, ts};
use crate::storage::responses::{self, FlagRecord, NewResponse, ResponseRecord, StoredScore};
use crate::storage::{
    Connection, Result, StorageError, idempotency, invitations, patients, review,
};

/// How many earlier responses are read first for the rules; everything is
/// read only when a rule needs more.
const HISTORY_PAGE: u32 = 8;

/// An idempotency key with what it is used for.
#[derive(Debug, Clone, PartialEq)]
pub struct Idempotency {
    pub key: String,
    /// The route and target (`POST /responses`,
    /// `POST /responses/ID/corrections`): a key is only replayed there.
    pub scope: String,
    /// The SHA-256 of the request's canonical body.
    pub request_hash: String,
}

/// Everything needed to store one response.
pub struct Submission {
    pub clinic_id: String,
    pub patient_ref: String,
    pub questionnaire: Arc<Questionnaire>,
    pub evaluation: Evaluation,
    pub mode: Mode,
    pub actor: String,
    pub now: DateTime<Utc>,
    pub idempotency: Option<Idempotency>,
    /// `(response id, reason)` for a correction.
    pub supersedes: Option<(String, String)>,
    /// The base of links in alert e-mails.
    pub base_url: String,
    /// The invitation answered, for a response from the patient's pages:
    /// it is used once, and a second submit (a double tap, a retry after a
    /// timeout) answers with the first response.
    pub invitation: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Submitted {
    New(ResponseRecord),
    /// The idempotency key was seen with the same body: the first answer.
    Replayed(ResponseRecord),
}

/// Stores one response in the current transaction.
pub fn submit_response(conn: &Connection, s: &Submission) -> Result<Submitted> {
    // 1. Read.
    if let Some(idem) = &s.idempotency
        && let Some(seen) = idempotency::lookup(conn, &s.clinic_id, &idem.key)?
    {
        if seen.scope != idem.scope {
            return Err(StorageError::Conflict(format!(
                "this idempotency key was used before for `{}`; use a new key for each request",
                seen.scope
            )));
        }
        if seen.request_hash != idem.request_hash {
            return Err(StorageError::Conflict(
                "this idempotency key was used before with a different request".into(),
            ));
        }
        let rec = responses::get_response(conn, &s.clinic_id, &seen.response_id)?;
        // A replay shows the stored response: a read of the patient's data.
        let (patient_id, _) = responses::owner(conn, &s.clinic_id, &rec.id)?;
        audit::record(
            conn,
            &s.actor,
            "response.replay.read",
            &s.clinic_id,
            Some(&patient_id),
            Some(&rec.id),
            s.now,
        )?;
        return Ok(Submitted::Replayed(rec));
    }
    let q = &s.questionnaire;
    let patient = patients::for_submission(conn, &s.clinic_id, &s.patient_ref, &q.id, &ts(s.now))?;
    let patient_id = patient.id.clone();
    if let Some(inv) = &s.invitation {
        let inv = invitations::by_id(conn, inv)?;
        if inv.patient_id != patient_id || inv.questionnaire_id != q.id {
            return Err(StorageError::Invalid(
                "the invitation is for another patient or questionnaire".into(),
            ));
        }
        if let Some(first) = inv.response_id {
            return Ok(Submitted::Replayed(responses::get_response(
                conn,
                &s.clinic_id,
                &first,
            )?));
        }
    }
    if let Some((old, _)) = &s.supersedes {
        let (old_patient, old_q) = responses::owner(conn, &s.clinic_id, old)?;
        if old_patient != patient_id || old_q != q.id {
            return Err(StorageError::Invalid(
                "a correction must be for the same patient and questionnaire".into(),
            ));
        }
        if let Some(newer) = responses::superseded_by(conn, old)? {
            return Err(StorageError::Conflict(format!(
                "that response was already corrected by {newer}; correct the newest one"
            )));
        }
    }
    let except = s.supersedes.as_ref().map(|x| x.0.as_str());
    let until = s.evaluation.date;
    let history = |limit| responses::load_history(conn, &patient_id, q, except, until, limit);

    // 2. Decide. Most rules look one or two answers back: a page of the
    // newest first, and everything only when a rule needs more.
    let ev = &s.evaluation;
    let page = history(Some(HISTORY_PAGE + 1))?;
    let (fired, read, complete) = if page.len() <= HISTORY_PAGE as usize {
        (fire_rules(q, ev, &page), page, true)
    } else {
        match fire_rules_on_page(q, ev, &page) {
            Some(f) => (f, page, false),
            None => {
                let all = history(None)?;
                (fire_rules(q, ev, &all), all, true)
            }
        }
    };
    let level = level_of(q, &fired);
    // Why each rule fired, with the values it read, for staff.
    let why: Vec<String> = fired
        .iter()
        .map(|&r| explain(q, ev, &read, complete, r))
        .collect();

    // 3. Record.
    let rec = record(conn, s, &patient, &fired, &why, level)?;
    if let Some(inv) = &s.invitation {
        invitations::mark_used(conn, inv, &rec.id, s.now)?;
        invitations::drop_draft(conn, inv)?;
    }
    if let Some(idem) = &s.idempotency {
        idempotency::record(
            conn,
            &s.clinic_id,
            &idem.key,
            &idempotency::Seen {
                scope: idem.scope.clone(),
                request_hash: idem.request_hash.clone(),
                response_id: rec.id.clone(),
            },
            s.now,
        )?;
    }
    Ok(Submitted::New(rec))
}

/// Writes the response and everything that goes with it.
fn record(
    conn: &Connection,
    s: &Submission,
    patient: &patients::ForSubmission,
    fired: &[usize],
    why: &[String],
    level: Level,
) -> Result<ResponseRecord> {
    let patient_id = patient.id.as_str();
    let q = &s.questionnaire;
    let ev = &s.evaluation;
    let id = new_id();
    let now = ts(s.now);
    let date = ev.date.to_string();
    let answers = stored_answers(q, ev);
    let mut score_values = Map::new();
    let mut imputed = Map::new();
    let mut bands = Map::new();
    let mut stored = Vec::with_capacity(q.scores.len());
    for (j, (sc, r)) in q.scores.iter().zip(&ev.scores).enumerate() {
        let band = ev.band(q, j).map(|b| b.id.as_str());
        score_values.insert(
            sc.id.clone(),
            r.value.map(decimal_to_json).unwrap_or(Json::Null),
        );
        imputed.insert(sc.id.clone(), Json::from(r.imputed));
        if !sc.bands.is_empty() {
            bands.insert(sc.id.clone(), band.map(Json::from).unwrap_or(Json::Null));
        }
        stored.push(StoredScore {
            id: &sc.id,
            value: r.value.map(|v| v.normalize().to_string()),
            imputed: r.imputed,
            band,
        });
    }
    let flags: Vec<FlagRecord> = fired
        .iter()
        .zip(why)
        .map(|(&r, why)| {
            let rule = &q.rules[r];
            FlagRecord {
                rule: rule.id.clone(),
                level: rule.level.name().into(),
                text: rule.text.to_json(),
                why: Some(why.clone()).filter(|w| !w.is_empty()),
            }
        })
        .collect();
    let (supersedes, reason) = match &s.supersedes {
        Some((a, b)) => (Some(a.as_str()), Some(b.as_str())),
        None => (None, None),
    };
    let row = NewResponse {
        id: &id,
        clinic_id: &s.clinic_id,
        patient_id,
        questionnaire_id: &q.id,
        version: q.version,
        hash: &q.hash,
        mode: s.mode.name(),
        submitted_at: &now,
        response_date: &date,
        answers: &answers,
        score_values: &score_values,
        scores: &stored,
        flags: &flags,
        level: level.name(),
        actor: &s.actor,
        supersedes,
        correction_reason: reason,
    };
    let content = responses::insert(conn, &row)?;
    // The review item and the alert follow the flags that no snooze for
    // this patient covers: a snooze holds a rule at its level, so a worse
    // level still comes through. The response keeps its level.
    let review_level = if level == Level::Green {
        level
    } else {
        let snoozed = if patient.snoozed {
            review::snoozes(conn, patient_id, Some(&q.id), &now)?
        } else {
            Vec::new()
        };
        fired
            .iter()
            .map(|&r| &q.rules[r])
            .filter(|rule| {
                !snoozed.iter().any(|z| {
                    z.rule == rule.id && (z.level == "red" || rule.level.name() == z.level)
                })
            })
            .map(|rule| rule.level)
            .max()
            .unwrap_or(Level::Green)
    };
    if review_level != Level::Green {
        review::open_item(conn, &id, &s.clinic_id, review_level.name(), &now)?;
    }
    // One problem, one item: the replaced response's item is closed,
    // pointing at the correction (which has its own item if it needs one).
    if let Some(old) = supersedes {
        let note = format!("{}: {id}", super::review::SUPERSEDED_NOTE);
        review::close_superseded(conn, old, &s.actor, &note, &now)?;
    }
    if level != Level::Green && patient.early_plans {
        // A worrying answer brings a plan's next questionnaire forward,
        // when the plan asks for that.
        invitations::due_earlier(conn, patient_id, &q.id, ev.date)?;
    }
    // The audit row covers the response's content as stored.
    audit::append(
        conn,
        &Entry {
            at: &now,
            actor: &s.actor,
            action: if s.supersedes.is_some() {
                "response.correct"
            } else {
                "response.submit"
            },
            clinic_id: Some(&s.clinic_id),
            patient_id: Some(patient_id),
            subject: Some(&id),
            content_hash: Some(&content),
        },
    )?;
    if review_level == Level::Red {
        super::alerts::red_flag(conn, &s.clinic_id, &id, &s.base_url, s.now)?;
    }
    Ok(ResponseRecord {
        id,
        questionnaire: q.id.clone(),
        version: q.version,
        patient: s.patient_ref.clone(),
        submitted_at: now,
        response_date: date,
        mode: s.mode.name().into(),
        answers,
        scores: score_values,
        imputed,
        bands,
        flags,
        level: level.name().into(),
        actor: s.actor.clone(),
        supersedes: supersedes.map(String::from),
        superseded_by: None,
        correction_reason: reason.map(String::from),
    })
}
