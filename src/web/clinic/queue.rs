//! The review queue (the workspace's home page) and a response's page:
//! red before yellow, oldest first; take, resolve with an outcome and a
//! note, snooze a rule for the patient. A change names the revision the
//! page showed; a second person acting on an old page is told who did what
//! instead of overwriting it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::{
    Access, Me, State, failed, field, me, me_posting, message, not_found, read, render, see_other,
    urlencode, waited, when,
};
use crate::clock::overdue_before;
use crate::storage::audit;
use crate::storage::ids::ts;
use crate::storage::review::{self, Acted, QueueFilter, WorkItem};
use crate::usecase::review::{Action, act as do_act};

/// Patients' cards per page of the queue.
const PAGE: u32 = 25;
/// A card's items shown at most (the card counts them all).
const PER_CARD: u32 = 50;

/// One patient's card: the worst level, the newest answers' flags, how long
/// the oldest item has waited, how many there are, and the items.
#[derive(Serialize)]
struct CardView {
    patient: String,
    patient_id: String,
    level: String,
    level_text: String,
    count: u32,
    waited: String,
    since: String,
    overdue: bool,
    /// Some of its items are not resolved.
    resolvable: bool,
    flags: Vec<String>,
    items: Vec<ItemView>,
}

#[derive(serde::Deserialize, Default)]
pub struct QueueQuery {
    level: Option<String>,
    questionnaire: Option<String>,
    status: Option<String>,
    /// The page of cards (1 is the first).
    page: Option<u32>,
    /// `1`: only the items the staff member took.
    mine: Option<String>,
    /// `waiting`: oldest first whatever the level.
    sort: Option<String>,
    /// What was just done, to confirm (`super::with_done`).
    done: Option<String>,
}

#[derive(Serialize)]
pub(super) struct ItemView {
    id: String,
    /// `None` for a questionnaire not answered by its deadline.
    response: Option<String>,
    level: String,
    level_text: String,
    status: String,
    status_text: String,
    rev: i64,
    patient: String,
    patient_id: String,
    questionnaire: String,
    flags: Vec<String>,
    waited: String,
    since: String,
    taken_by: Option<String>,
    corrected: bool,
    outcome: Option<String>,
    /// What the patient asked for, in words.
    requests: Vec<String>,
    /// The patient asked to be contacted.
    contact: bool,
    /// Waiting past the clinic's response time (set by the queue).
    overdue: bool,
}

/// A flag's text in `lang` (the first language when it lacks `lang`).
pub(super) fn flag_text(text: &serde_json::Value, lang: &str, rule: &str) -> String {
    match text {
        serde_json::Value::Object(m) => m
            .get(lang)
            .or_else(|| m.values().next())
            .and_then(|v| v.as_str())
            .unwrap_or(rule)
            .to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => rule.to_string(),
    }
}

pub(super) fn item_view(state: &State, me: &Me, i: &WorkItem) -> ItemView {
    let t = |k: &str| state.pages.text(&me.lang, k);
    let now = state.clock.now();
    ItemView {
        id: i.id.clone(),
        response: i.response.clone(),
        level: i.level.clone(),
        level_text: t(&format!("c_level_{}", i.level)),
        status: i.status.clone(),
        status_text: t(&format!("c_status_{}", i.status)),
        rev: i.rev,
        patient: i.patient.clone(),
        patient_id: i.patient_id.clone(),
        questionnaire: state
            .catalog
            .get(&i.questionnaire)
            .map(|q| q.title.get(&me.lang).to_string())
            .unwrap_or_else(|| i.questionnaire.clone()),
        flags: if i.invitation.is_some() {
            vec![t("c_not_answered")]
        } else {
            i.flags
                .iter()
                .map(|f| flag_text(&f.text, &me.lang, &f.rule))
                .collect()
        },
        waited: waited(&i.created_at, now, &me.lang),
        since: when(&i.created_at),
        taken_by: i.taken_by.clone(),
        corrected: i.corrected,
        outcome: i.outcome.as_ref().map(|o| me.outcome_text(state, o)),
        requests: i
            .requests
            .iter()
            .map(|n| super::response::event_note(state, &me.lang, n))
            .collect(),
        contact: i
            .requests
            .iter()
            .any(|n| n == crate::usecase::contact::CONTACT_NOTE),
        overdue: false,
    }
}

/// `GET /clinic`: the queue.
pub async fn queue(req: HttpRequest, state: State, q: web::Query<QueueQuery>) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let level = q.level.clone().filter(|l| l == "red" || l == "yellow");
    let questionnaire = q
        .questionnaire
        .clone()
        .filter(|x| state.catalog.get(x).is_some());
    let status = q
        .status
        .clone()
        .filter(|s| review::STATUSES.contains(&s.as_str()));
    let mine = q.mine.as_deref() == Some("1");
    let by_wait = q.sort.as_deref() == Some("waiting");
    let filter = QueueFilter {
        level: level.clone(),
        questionnaire: questionnaire.clone(),
        statuses: match status.as_deref() {
            Some(s) => review::STATUSES
                .iter()
                .copied()
                .filter(|x| *x == s)
                .collect(),
            None => Vec::new(),
        },
        taken_by: mine.then(|| me.staff.id.clone()),
        by_wait,
    };
    let page_no = q.page.unwrap_or(1).clamp(1, 10_000);
    let now = state.clock.now();
    // The queue shows patients' flags: its reading is in the log first.
    let (actor, clinic) = (me.actor(), me.clinic());
    if let Err(e) = state
        .writer
        .write(move |c| audit::record(c, &actor, "queue.read", &clinic, None, None, now))
        .await
    {
        return failed(&state, e);
    }
    let clinic = me.clinic();
    let loaded = read(&state, move |c| {
        let counts = review::counts(c, &clinic)?;
        let times = crate::storage::clinics::response_times(c, &clinic)?;
        let cut = |days| ts(overdue_before(now, &times.time_zone, days));
        let cuts = (cut(times.red_days), cut(times.yellow_days));
        let overdue = review::overdue_counts(c, &clinic, &cuts.0, &cuts.1)?;
        let (cards, more) = review::patient_cards(c, &clinic, &filter, PAGE, (page_no - 1) * PAGE)?;
        let ids: Vec<String> = cards.iter().map(|k| k.patient_id.clone()).collect();
        let items = review::items_of_patients(c, &clinic, &filter, &ids, PER_CARD)?;
        Ok((counts, cuts, overdue, (cards, items, more)))
    })
    .await;
    let (counts, cuts, overdue, (cards, items, more)) = match loaded {
        Ok(x) => x,
        Err(e) => return failed(&state, e),
    };
    let count = |level: &str| -> u32 {
        counts
            .iter()
            .filter(|(l, _, _)| l == level)
            .map(|(_, _, n)| n)
            .sum()
    };
    let next = more.then(|| {
        let mut qs = vec![format!("page={}", page_no + 1)];
        if let Some(l) = &level {
            qs.push(format!("level={l}"));
        }
        if let Some(x) = &questionnaire {
            qs.push(format!("questionnaire={}", urlencode(x)));
        }
        if let Some(s) = &status {
            qs.push(format!("status={s}"));
        }
        if mine {
            qs.push("mine=1".into());
        }
        if by_wait {
            qs.push("sort=waiting".into());
        }
        format!("/clinic?{}", qs.join("&"))
    });
    let questionnaires: Vec<(String, String)> = state
        .catalog
        .all()
        .map(|q| (q.id.clone(), q.title.get(&me.lang).to_string()))
        .collect();
    let views: Vec<CardView> = cards
        .iter()
        .map(|card| {
            let mine: Vec<&WorkItem> = items
                .iter()
                .filter(|i| i.patient_id == card.patient_id)
                .collect();
            // The newest answers' flags.
            let newest = mine.iter().max_by(|a, b| a.created_at.cmp(&b.created_at));
            let flags = newest
                .map(|n| item_view(&state, &me, n).flags)
                .unwrap_or_default();
            let item_views: Vec<ItemView> = mine
                .iter()
                .map(|i| {
                    let mut v = item_view(&state, &me, i);
                    let cut = if i.level == "red" { &cuts.0 } else { &cuts.1 };
                    v.overdue = i.status != "resolved" && i.created_at < *cut;
                    v
                })
                .collect();
            CardView {
                patient: mine.first().map(|i| i.patient.clone()).unwrap_or_default(),
                patient_id: card.patient_id.clone(),
                level: card.level.clone(),
                level_text: state
                    .pages
                    .text(&me.lang, &format!("c_level_{}", card.level)),
                count: card.count,
                waited: waited(&card.oldest, now, &me.lang),
                since: when(&card.oldest),
                overdue: item_views.iter().any(|v| v.overdue),
                resolvable: item_views.iter().any(|v| v.status != "resolved"),
                flags,
                items: item_views,
            }
        })
        .collect();
    let mut c = tera::Context::new();
    c.insert("red", &count("red"));
    c.insert("yellow", &count("yellow"));
    c.insert("cards", &views);
    c.insert("outcomes", &me.outcome_choices(&state));
    c.insert("quick_phone", &me.may_resolve_with("phone"));
    c.insert(
        "done_text",
        &super::done_text(&state, &me, q.done.as_deref()),
    );
    c.insert("overdue_red", &overdue.0);
    c.insert("overdue_yellow", &overdue.1);
    c.insert("mine", &mine);
    c.insert("by_wait", &by_wait);
    c.insert("next", &next);
    c.insert("level", &level);
    c.insert("questionnaire", &questionnaire);
    c.insert("status", &status);
    c.insert("questionnaires", &questionnaires);
    c.insert("statuses", review::STATUSES);
    render(&state, &me, StatusCode::OK, "clinic/queue.html", c)
}

/// `POST /clinic/items/{item}`: take, resolve or snooze.
pub async fn act(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::Staff, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let id = path.into_inner();
    // Another clinic's item is not found, whatever the form says.
    let (clinic, i) = (me.clinic(), id.clone());
    let response = match read(&state, move |c| review::work_item_by_id(c, &clinic, &i)).await {
        Ok(Some(item)) => item.response,
        Ok(None) => return not_found(&state, &me),
        Err(e) => return failed(&state, e),
    };
    let rev: i64 = field(&fields, "rev")
        .and_then(|r| r.parse().ok())
        .unwrap_or(-1);
    let action = match field(&fields, "action") {
        Some("take") => Action::Take,
        Some("resolve") => {
            let outcome = field(&fields, "outcome").unwrap_or_default();
            let note = field(&fields, "note").map(|n| n.trim().to_string());
            // No outcome is chosen for the staff member: without one the
            // item stays open and the page says why, the note kept.
            if !me.may_resolve_with(outcome)
                && let Some(rid) = response
                && note.as_ref().is_none_or(|n| n.chars().count() <= 2000)
            {
                let refused = super::response::Refused {
                    note: note.unwrap_or_default(),
                };
                return super::response::response_page(&state, &me, rid, Some(refused), None).await;
            }
            if !me.may_resolve_with(outcome)
                || note.as_ref().is_some_and(|n| n.chars().count() > 2000)
            {
                return message(
                    &state,
                    &me,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "c_resolve_refused",
                );
            }
            Action::Resolve {
                outcome: outcome.to_string(),
                note: note.filter(|n| !n.is_empty()),
            }
        }
        Some("snooze") => {
            let days: u32 = field(&fields, "days")
                .and_then(|d| d.trim().parse().ok())
                .unwrap_or(0);
            let rule = field(&fields, "rule").unwrap_or_default().to_string();
            if !(1..=365).contains(&days) || rule.is_empty() {
                return message(
                    &state,
                    &me,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "c_snooze_refused",
                );
            }
            Action::Snooze { rule, days }
        }
        _ => {
            return message(
                &state,
                &me,
                StatusCode::UNPROCESSABLE_ENTITY,
                "c_action_unknown",
            );
        }
    };
    let back = field(&fields, "back")
        .and_then(super::safe_next)
        .unwrap_or_else(|| "/clinic".into());
    let done = match action {
        Action::Take => "taken",
        Action::Resolve { .. } => "resolved",
        Action::Snooze { .. } => "quieted",
    };
    let now = state.clock.now();
    let (clinic, staff, i) = (me.clinic(), me.staff.id.clone(), id.clone());
    match state
        .writer
        .write(move |c| do_act(c, &clinic, &staff, &i, rev, &action, now))
        .await
    {
        Ok(Acted::Done) => see_other(&super::with_done(&back, done)),
        Ok(Acted::Missing) => not_found(&state, &me),
        Ok(Acted::Stale(now_item)) => {
            let mut c = tera::Context::new();
            c.insert("item", &item_view(&state, &me, &now_item));
            render(&state, &me, StatusCode::CONFLICT, "clinic/stale.html", c)
        }
        Err(e) => failed(&state, e),
    }
}

/// `POST /clinic/patients/{patient}/resolve`: every unresolved item of the
/// patient resolved with one outcome and note from the patient's card;
/// each item keeps its own history (an event each). An item changed by
/// someone else meanwhile is left as it is and said so.
pub async fn resolve_all(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::Staff, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let patient = path.into_inner();
    let outcome = field(&fields, "outcome").unwrap_or_default().to_string();
    let note = field(&fields, "note")
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    // Another clinic's patient is not found, whatever the form says.
    let (clinic, p) = (me.clinic(), patient.clone());
    match read(&state, move |c| {
        crate::storage::patients::in_clinic(c, &clinic, &p)
    })
    .await
    {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(&state, &me),
        Err(e) => return failed(&state, e),
    }
    if !me.may_resolve_with(&outcome) || note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return message(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "c_resolve_refused",
        );
    }
    let action = Action::Resolve { outcome, note };
    let now = state.clock.now();
    let (clinic, staff) = (me.clinic(), me.staff.id.clone());
    let result = state
        .writer
        .write(move |c| {
            let mut stale = 0;
            for item in review::unresolved_of_patient(c, &clinic, &patient)? {
                if !matches!(
                    do_act(c, &clinic, &staff, &item.id, item.rev, &action, now)?,
                    Acted::Done
                ) {
                    stale += 1;
                }
            }
            Ok(stale)
        })
        .await;
    match result {
        Ok(0) => see_other(&super::with_done("/clinic", "resolved")),
        Ok(_) => message(&state, &me, StatusCode::CONFLICT, "c_resolve_some_changed"),
        Err(e) => failed(&state, e),
    }
}
