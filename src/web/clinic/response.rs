//! A response's page in the workspace: the answers in the version
//! answered, its scores, the rules that fired (with the answers that made
//! them fire), its review item with its history, and the forms to take,
//! resolve it or quiet a rule. The read is in the audit log before
//! anything is shown.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use serde_json::{Map, Value as Json};

use super::queue::{flag_text, item_view};
use super::{Access, Me, State, failed, me, not_found, read, render, when};
use crate::core::explain::{RuleReads, rule_reads};
use crate::core::model::Questionnaire;
use crate::storage::audit;
use crate::storage::responses::{AnswersAndScores, ResponseRecord};
use crate::storage::review;

#[derive(Serialize)]
struct ScoreView {
    title: String,
    value: String,
    band: String,
}

/// `GET /clinic/responses/{response}`: one response in the version
/// answered, its scores and flags, its review item and what was done.
pub async fn response(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    q: web::Query<Done>,
) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let done = super::done_text(&state, &me, q.done.as_deref());
    response_page(&state, &me, path.into_inner(), None, done).await
}

#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// A resolution refused: the note the staff member wrote, kept.
pub(super) struct Refused {
    pub note: String,
}

/// The response's page; with `refused`, its resolve form again with the
/// refusal beside the outcome (status 422); with `done`, the confirmation
/// of what was just done.
pub(super) async fn response_page(
    state: &State,
    me: &Me,
    id: String,
    refused: Option<Refused>,
    done: Option<String>,
) -> HttpResponse {
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
        Ok(None) => return not_found(state, me),
        Err(e) => return failed(state, e),
    };
    let (clinic, pid) = (me.clinic(), patient_id.clone());
    let at = crate::storage::ids::ts(now);
    let loaded = read(state, move |c| {
        let r = crate::storage::responses::get_response(c, &clinic, &id)?;
        let q = crate::storage::versions::load_version(c, &r.questionnaire, r.version)?;
        let item = review::work_item_of_response(c, &clinic, &id)?;
        let events = match &item {
            Some(i) => review::events(c, &i.id)?,
            None => Vec::new(),
        };
        let snoozes = review::snoozes(c, &pid, Some(&r.questionnaire), &at)?;
        let earlier = if r.flags.is_empty() {
            None
        } else {
            crate::storage::responses::previous_values(c, &r.id)?
        };
        Ok((r, q, item, events, snoozes, earlier))
    })
    .await;
    let (r, q, item, events, snoozes, earlier) = match loaded {
        Ok(x) => x,
        Err(crate::storage::StorageError::NotFound) => return not_found(state, me),
        Err(e) => return failed(state, e),
    };
    let lang = me.lang.clone();
    // Which answers made which rule fire, and what the rules on earlier
    // answers compared.
    let fired: Vec<(usize, RuleReads)> = r
        .flags
        .iter()
        .filter_map(|f| q.rule_index(&f.rule))
        .map(|i| (i, rule_reads(&q, i)))
        .collect();
    let answers: Vec<AnswerView> = q
        .items
        .iter()
        .enumerate()
        .filter_map(|(i, it)| {
            r.answers.get(&it.id).map(|v| AnswerView {
                id: it.id.clone(),
                question: it.text.get(&lang).to_string(),
                answer: crate::web::history::answer_text(&q, &it.id, v, &lang),
                fired: fired
                    .iter()
                    .filter(|(_, reads)| reads.items.contains(&i))
                    .map(|(rule, _)| q.rules[*rule].text.get(&lang).to_string())
                    .collect(),
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
    let flags: Vec<FlagView> = r
        .flags
        .iter()
        .map(|f| {
            let reads = fired
                .iter()
                .find(|(i, _)| q.rules[*i].id == f.rule)
                .map(|(_, reads)| reads.clone())
                .unwrap_or_default();
            FlagView {
                rule: f.rule.clone(),
                level: f.level.clone(),
                level_text: state.pages.text(&lang, &format!("c_level_{}", f.level)),
                text: flag_text(&f.text, &lang, &f.rule),
                why: f
                    .why
                    .iter()
                    .cloned()
                    .chain(why(state, &q, &r, &reads, earlier.as_ref(), &lang))
                    .collect(),
            }
        })
        .collect();
    let events: Vec<(String, String, String, String)> = events
        .into_iter()
        .map(|e| {
            (
                when(&e.at),
                state.pages.text(&lang, &format!("c_status_{}", e.status)),
                event_actor(state, &lang, &e.by),
                e.note
                    .map(|n| event_note(state, &lang, &n))
                    .unwrap_or_default(),
            )
        })
        .collect();
    let outcomes = me.outcome_choices(state);
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
    c.insert("item", &item.as_ref().map(|i| item_view(state, me, i)));
    c.insert("events", &events);
    c.insert("snoozes", &super::dated_snoozes(snoozes));
    c.insert("outcomes", &outcomes);
    let status = match &refused {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    };
    c.insert("refused_note", &refused.as_ref().map(|x| x.note.as_str()));
    c.insert("done_text", &done);
    render(state, me, status, "clinic/response.html", c)
}

#[derive(Serialize)]
struct AnswerView {
    id: String,
    question: String,
    answer: String,
    /// The texts of the rules that fired on this answer.
    fired: Vec<String>,
}

#[derive(Serialize)]
struct FlagView {
    rule: String,
    level: String,
    level_text: String,
    text: String,
    /// The values the rule read: scores now, and earlier values beside
    /// the new ones ("Total: 6 → 14").
    why: Vec<String>,
}

/// What a fired rule read, in words: each score it read with its value,
/// and each name it read in earlier answers with the earlier value and
/// this response's.
fn why(
    state: &State,
    q: &Questionnaire,
    r: &ResponseRecord,
    reads: &RuleReads,
    earlier: Option<&AnswersAndScores>,
    lang: &str,
) -> Vec<String> {
    let title = |name: &str| -> String {
        if let Some(s) = q.scores.iter().find(|s| s.id == name) {
            return s
                .title
                .as_ref()
                .map(|t| t.get(lang).to_string())
                .unwrap_or_else(|| s.id.clone());
        }
        q.item_index
            .get(name)
            .map(|&i| q.items[i].text.get(lang).to_string())
            .unwrap_or_else(|| name.to_string())
    };
    let value = |answers: &Map<String, Json>, scores: &Map<String, Json>, name: &str| {
        let none = state.pages.text(lang, "c_no_answer");
        if q.item_index.contains_key(name) {
            answers
                .get(name)
                .map(|v| crate::web::history::answer_text(q, name, v, lang))
                .unwrap_or(none)
        } else {
            match scores.get(name) {
                Some(Json::Number(n)) => n.to_string(),
                _ => none,
            }
        }
    };
    let mut out: Vec<String> = reads
        .scores
        .iter()
        .map(|&s| {
            let id = &q.scores[s].id;
            format!("{}: {}", title(id), value(&r.answers, &r.scores, id))
        })
        .collect();
    for name in &reads.earlier {
        let before = match earlier {
            Some((a, s)) => value(a, s, name),
            None => state.pages.text(lang, "c_no_earlier"),
        };
        out.push(format!(
            "{}: {} {before} → {} {}",
            title(name),
            state.pages.text(lang, "c_earlier"),
            state.pages.text(lang, "c_now"),
            value(&r.answers, &r.scores, name)
        ));
    }
    out
}

/// Who did something in an item's history, in the page's language (staff
/// by name).
pub(super) fn event_actor(state: &State, lang: &str, by: &str) -> String {
    match by {
        "patient" | "system" | "scheduler" => state.pages.text(lang, &format!("c_actor_{by}")),
        other => other.to_string(),
    }
}

/// An item history's note in the page's language: the notes prom writes
/// itself (a patient's request, an outcome, a rule quieted, a correction)
/// in words; a staff member's own note as written.
pub(super) fn event_note(state: &State, lang: &str, note: &str) -> String {
    use crate::usecase::contact::{CONTACT_NOTE, CORRECTION_NOTE};
    let t = |k: &str| state.pages.text(lang, k);
    if note == CONTACT_NOTE {
        return t("c_request_contact");
    }
    if let Some(reason) = note.strip_prefix(CORRECTION_NOTE) {
        return format!(
            "{}{}",
            t("c_request_correction"),
            reason.trim_start_matches(':')
        );
    }
    if note.starts_with(crate::usecase::review::SUPERSEDED_NOTE) {
        // The page links the correction in its own notice.
        return t("c_superseded_note");
    }
    if let Some(rest) = note.strip_prefix("snoozed ")
        && let Some((rule, days)) = rest.split_once(" for ")
        && let Some(days) = days.strip_suffix(" days")
    {
        return t("c_quieted_note")
            .replace("{rule}", rule)
            .replace("{days}", days);
    }
    let (code, own) = match note.split_once(": ") {
        Some((c, n)) => (c, Some(n)),
        None => (note, None),
    };
    if review::OUTCOMES.contains(&code) || review::EARLIER_OUTCOMES.contains(&code) {
        let outcome = t(&format!("c_outcome_{code}"));
        return match own {
            Some(n) => format!("{outcome}: {n}"),
            None => outcome,
        };
    }
    note.to_string()
}
