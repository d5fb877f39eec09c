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
use crate::storage::audit;
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
}

#[derive(Serialize)]
struct ItemView {
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
    request: Option<String>,
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

fn item_view(state: &State, me: &Me, i: &WorkItem) -> ItemView {
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
        outcome: i.outcome.as_ref().map(|o| t(&format!("c_outcome_{o}"))),
        request: i.request.as_ref().map(|n| {
            use crate::usecase::contact::{CONTACT_NOTE, CORRECTION_NOTE};
            match n.strip_prefix(CORRECTION_NOTE) {
                Some(reason) => format!(
                    "{}{}",
                    t("c_request_correction"),
                    reason.trim_start_matches(':')
                ),
                None if n == CONTACT_NOTE => t("c_request_contact"),
                None => n.clone(),
            }
        }),
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
        let page = review::work_queue(c, &clinic, &filter, PAGE, after.as_ref())?;
        Ok((counts, page))
    })
    .await;
    let (counts, (items, more)) = match loaded {
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
    let views: Vec<ItemView> = items.iter().map(|i| item_view(&state, &me, i)).collect();
    let mut c = tera::Context::new();
    c.insert("red", &count("red"));
    c.insert("yellow", &count("yellow"));
    c.insert("items", &views);
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
    match read(&state, move |c| review::work_item_by_id(c, &clinic, &i)).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found(&state, &me),
        Err(e) => return failed(&state, e),
    }
    let rev: i64 = field(&fields, "rev")
        .and_then(|r| r.parse().ok())
        .unwrap_or(-1);
    let action = match field(&fields, "action") {
        Some("take") => Action::Take,
        Some("resolve") => {
            let outcome = field(&fields, "outcome").unwrap_or_default();
            let note = field(&fields, "note").map(|n| n.trim().to_string());
            if !review::OUTCOMES.contains(&outcome)
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
    let now = state.clock.now();
    let (clinic, staff, i) = (me.clinic(), me.staff.id.clone(), id.clone());
    match state
        .writer
        .write(move |c| do_act(c, &clinic, &staff, &i, rev, &action, now))
        .await
    {
        Ok(Acted::Done) => see_other(&back),
        Ok(Acted::Missing) => not_found(&state, &me),
        Ok(Acted::Stale(now_item)) => {
            let mut c = tera::Context::new();
            c.insert("item", &item_view(&state, &me, &now_item));
            render(&state, &me, StatusCode::CONFLICT, "clinic/stale.html", c)
        }
        Err(e) => failed(&state, e),
    }
}

#[derive(Serialize)]
struct ScoreView {
    title: String,
    value: String,
    band: String,
}

/// `GET /clinic/responses/{response}`: one response in the version
/// answered, its scores and flags, its review item and what was done.
pub async fn response(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let id = path.into_inner();
    let now = state.clock.now();
    let (clinic, actor, rid) = (me.clinic(), me.actor(), id.clone());
    // The read is logged before anything is shown (and only for the
    // clinic's own responses).
    let logged = state
        .writer
        .write(move |c| {
            let pid = match crate::storage::responses::response_patient(c, &clinic, &rid) {
                Ok(p) => p,
                Err(crate::storage::StorageError::NotFound) => return Ok(None),
                Err(e) => return Err(e),
            };
            audit::record(
                c,
                &actor,
                "response.read",
                &clinic,
                Some(&pid),
                Some(&rid),
                now,
            )?;
            Ok(Some(pid))
        })
        .await;
    let patient_id = match logged {
        Ok(Some(p)) => p,
        Ok(None) => return not_found(&state, &me),
        Err(e) => return failed(&state, e),
    };
    let (clinic, pid) = (me.clinic(), patient_id.clone());
    let at = crate::storage::ids::ts(now);
    let loaded = read(&state, move |c| {
        let r = crate::storage::responses::get_response(c, &clinic, &id)?;
        let q = crate::storage::versions::load_version(c, &r.questionnaire, r.version)?;
        let item = review::work_item_of_response(c, &clinic, &id)?;
        let events = match &item {
            Some(i) => review::events(c, &i.id)?,
            None => Vec::new(),
        };
        let snoozes = review::snoozes(c, &pid, Some(&r.questionnaire), &at)?;
        Ok((r, q, item, events, snoozes))
    })
    .await;
    let (r, q, item, events, snoozes) = match loaded {
        Ok(x) => x,
        Err(crate::storage::StorageError::NotFound) => return not_found(&state, &me),
        Err(e) => return failed(&state, e),
    };
    let lang = me.lang.clone();
    let answers: Vec<crate::web::history::Answer> = q
        .items
        .iter()
        .filter_map(|it| {
            r.answers.get(&it.id).map(|v| crate::web::history::Answer {
                question: it.text.get(&lang).to_string(),
                answer: crate::web::history::answer_text(&q, &it.id, v, &lang),
            })
        })
        .collect();
    let scores: Vec<ScoreView> = q
        .scores
        .iter()
        .map(|s| ScoreView {
            title: s
                .title
                .as_ref()
                .map(|t| t.get(&lang).to_string())
                .unwrap_or_else(|| s.id.clone()),
            value: match r.scores.get(&s.id) {
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => "—".into(),
            },
            band: r
                .bands
                .get(&s.id)
                .and_then(|b| b.as_str())
                .and_then(|b| s.bands.iter().find(|x| x.id == b))
                .map(|b| {
                    b.text
                        .as_ref()
                        .map(|t| t.get(&lang).to_string())
                        .unwrap_or_else(|| b.id.clone())
                })
                .unwrap_or_default(),
        })
        .collect();
    let flags: Vec<(String, String, String)> = r
        .flags
        .iter()
        .map(|f| {
            (
                f.rule.clone(),
                state.pages.text(&lang, &format!("c_level_{}", f.level)),
                flag_text(&f.text, &lang, &f.rule),
            )
        })
        .collect();
    let events: Vec<(String, String, String, String)> = events
        .into_iter()
        .map(|e| {
            (
                when(&e.at),
                state.pages.text(&lang, &format!("c_status_{}", e.status)),
                e.by,
                e.note.unwrap_or_default(),
            )
        })
        .collect();
    let outcomes: Vec<(&str, String)> = review::OUTCOMES
        .iter()
        .map(|o| (*o, state.pages.text(&lang, &format!("c_outcome_{o}"))))
        .collect();
    let mut c = tera::Context::new();
    c.insert(
        "r",
        &serde_json::json!({
            "id": r.id,
            "patient": r.patient,
            "patient_id": patient_id,
            "questionnaire": q.title.get(&lang),
            "version": r.version,
            "date": r.response_date,
            "submitted": when(&r.submitted_at),
            "mode": state.pages.text(&lang, &format!("c_mode_{}", r.mode)),
            "level": r.level,
            "level_text": state.pages.text(&lang, &format!("c_level_{}", r.level)),
            "supersedes": r.supersedes,
            "superseded_by": r.superseded_by,
            "correction_reason": r.correction_reason,
        }),
    );
    c.insert("answers", &answers);
    c.insert("scores", &scores);
    c.insert("flags", &flags);
    c.insert("item", &item.as_ref().map(|i| item_view(&state, &me, i)));
    c.insert("events", &events);
    let snoozes: Vec<review::Snooze> = snoozes
        .into_iter()
        .map(|mut s| {
            s.until = when(&s.until);
            s
        })
        .collect();
    c.insert("snoozes", &snoozes);
    c.insert("outcomes", &outcomes);
    render(&state, &me, StatusCode::OK, "clinic/response.html", c)
}
