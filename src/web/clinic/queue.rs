//! The review queue (the workspace's home page) and a response's page:
//! red before yellow, oldest first; take, resolve with an outcome and a
//! note, snooze a rule for the patient. A change names the revision the
//! page showed; a second person acting on an old page is told who did what
//! instead of overwriting it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::{
    Access, Me, State, failed, field, me, me_posting, message, not_found, read, render, see_other,
    urlencode, waited, when,
};
use crate::clock::overdue_before;
use crate::storage::audit;
use crate::storage::ids::ts;
use crate::storage::review::{self, Acted, After, QueueFilter, WorkItem};
use crate::usecase::review::{Action, act as do_act};

/// Items per page of the queue.
const PAGE: u32 = 25;

#[derive(serde::Deserialize, Default)]
pub struct QueueQuery {
    level: Option<String>,
    questionnaire: Option<String>,
    status: Option<String>,
    after: Option<String>,
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
    let after = q
        .after
        .as_deref()
        .and_then(|c| URL_SAFE_NO_PAD.decode(c).ok())
        .and_then(|b| serde_json::from_slice::<[String; 3]>(&b).ok())
        .map(|[level, created_at, id]| After {
            level,
            created_at,
            // The workspace's queue pages by item id.
            response: id,
        });
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
        let page = review::work_queue(c, &clinic, &filter, PAGE, after.as_ref())?;
        Ok((counts, cuts, overdue, page))
    })
    .await;
    let (counts, cuts, overdue, (items, more)) = match loaded {
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
    let next = if more {
        items.last().map(|last| {
            let cursor = URL_SAFE_NO_PAD.encode(
                serde_json::to_vec(&[&last.level, &last.created_at, &last.id]).unwrap_or_default(),
            );
            let mut qs = vec![format!("after={cursor}")];
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
        })
    } else {
        None
    };
    let questionnaires: Vec<(String, String)> = state
        .catalog
        .all()
        .map(|q| (q.id.clone(), q.title.get(&me.lang).to_string()))
        .collect();
    let views: Vec<ItemView> = items
        .iter()
        .map(|i| {
            let mut v = item_view(&state, &me, i);
            let cut = if i.level == "red" { &cuts.0 } else { &cuts.1 };
            v.overdue = i.status != "resolved" && i.created_at < *cut;
            v
        })
        .collect();
    let mut c = tera::Context::new();
    c.insert("red", &count("red"));
    c.insert("yellow", &count("yellow"));
    c.insert("items", &views);
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
