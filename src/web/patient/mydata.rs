//! "My data": every response the patient gave, in the version answered;
//! each score over time as a chart with its bands and a table; what was
//! flagged and what the clinic did; and who opened the patient's answers.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use std::collections::HashMap;
use tera::Context;

use super::{State, failed, problem};
use crate::core::chart::{Point, Stripe, svg};
use crate::core::model::Questionnaire;
use crate::security::token_hash;
use crate::storage::responses::ResponseRecord;
use crate::storage::{audit, responses, review, sessions, versions};
use crate::web::pages::{session_cookie, session_token};

#[derive(Serialize)]
struct Answer {
    question: String,
    answer: String,
}

#[derive(Serialize)]
struct ResponseView {
    id: String,
    date: String,
    questionnaire: String,
    version: u32,
    answers: Vec<Answer>,
    flags: Vec<String>,
    clinic: Option<String>,
    corrected: bool,
    /// The date of the response this one corrects.
    correction_of: Option<String>,
}

#[derive(Serialize)]
struct ChartView {
    title: String,
    svg: String,
    rows: Vec<(String, String, String)>,
}

#[derive(Serialize)]
struct ReadView {
    at: String,
    who: String,
}

/// `GET /me/{token}`: a personal link, exchanged for a session.
pub async fn open(state: State, token: web::Path<String>) -> HttpResponse {
    let now = state.clock.now();
    let token = token.into_inner();
    match state
        .writer
        .write(move |c| crate::usecase::invitation::open_personal_link(c, &token, now))
        .await
    {
        Ok(Some((session, _))) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/me"))
            .insert_header((
                header::SET_COOKIE,
                session_cookie(&state.base_url, &session),
            ))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .finish(),
        Ok(None) => problem(&state, "da", StatusCode::NOT_FOUND, "link_unknown"),
        Err(e) => failed(&state, e),
    }
}

fn answer_text(q: &Questionnaire, id: &str, v: &serde_json::Value, lang: &str) -> String {
    let Some(&i) = q.item_index.get(id) else {
        return v.to_string();
    };
    let it = &q.items[i];
    let one = |x: &serde_json::Value| {
        let val = match x {
            serde_json::Value::Number(n) => {
                crate::core::value::decimal_from_json(n).map(crate::core::value::Value::Num)
            }
            serde_json::Value::String(s) => Some(crate::core::value::Value::Str(s.clone())),
            _ => None,
        };
        val.and_then(|v| it.option(&v))
            .map(|o| o.text.get(lang).to_string())
            .unwrap_or_else(|| match x {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Bool(true) => if lang == "da" { "Ja" } else { "Yes" }.into(),
                serde_json::Value::Bool(false) => if lang == "da" { "Nej" } else { "No" }.into(),
                other => other.to_string(),
            })
    };
    match v {
        serde_json::Value::Array(xs) => xs.iter().map(one).collect::<Vec<_>>().join(", "),
        x => one(x),
    }
}

/// `GET /me`: the patient's own data.
pub async fn show(req: HttpRequest, state: State) -> HttpResponse {
    let gone = || problem(&state, "da", StatusCode::UNAUTHORIZED, "session_gone");
    let Some(token) = session_token(&req, &state.base_url) else {
        return gone();
    };
    let hash = token_hash(&token);
    let now = state.clock.now();
    let readers = state.readers.clone();
    type Loaded = (
        sessions::Session,
        Vec<ResponseRecord>,
        HashMap<(String, u32), Questionnaire>,
        Vec<audit::Read>,
        HashMap<String, Option<review::ReviewHistory>>,
    );
    let loaded: Result<Option<Loaded>, crate::storage::StorageError> = match web::block(move || {
        readers.with(|c| {
            let Some(s) = sessions::live(c, &hash, now)? else {
                return Ok(None);
            };
            let Some(pid) = s.patient_id.clone().filter(|_| s.kind == "patient") else {
                return Ok(None);
            };
            let (list, _) = responses::patient_responses(c, &pid, 200, None)?;
            let mut qs = HashMap::new();
            let mut history = HashMap::new();
            for r in &list {
                let k = (r.questionnaire.clone(), r.version);
                if let std::collections::hash_map::Entry::Vacant(e) = qs.entry(k) {
                    e.insert(versions::load_version(c, &r.questionnaire, r.version)?);
                }
                history.insert(r.id.clone(), review::history_of_response(c, &r.id)?);
            }
            let reads = audit::reads_of_patient(c, &pid, 50)?;
            Ok(Some((s, list, qs, reads, history)))
        })
    })
    .await
    {
        Ok(r) => r,
        Err(_) => return failed(&state, crate::storage::StorageError::WriterGone),
    };
    let (session, list, qs, reads, history) = match loaded {
        Ok(Some(x)) => x,
        Ok(None) => return gone(),
        Err(e) => return failed(&state, e),
    };
    // The patient's own read of their data is in the log too.
    if let Some(pid) = session.patient_id.clone() {
        let _ = state
            .writer
            .write(move |c| {
                let clinic = crate::storage::patients::clinic_of(c, &pid)?;
                audit::record(c, "patient", "mydata.read", &clinic, Some(&pid), None, now)
            })
            .await;
    }
    let lang = session.language.clone();
    let t = |k: &str| state.pages.text(&lang, k);
    // Responses, newest first, each in the version answered.
    let mut views = Vec::new();
    for r in &list {
        let Some(q) = qs.get(&(r.questionnaire.clone(), r.version)) else {
            continue;
        };
        let answers = q
            .items
            .iter()
            .filter_map(|it| {
                r.answers.get(&it.id).map(|v| Answer {
                    question: it.text.get(&lang).to_string(),
                    answer: answer_text(q, &it.id, v, &lang),
                })
            })
            .collect();
        let flags = r
            .flags
            .iter()
            .map(|f| match &f.text {
                serde_json::Value::Object(m) => m
                    .get(&lang)
                    .or_else(|| m.values().next())
                    .and_then(|v| v.as_str())
                    .unwrap_or(&f.rule)
                    .to_string(),
                _ => f.rule.clone(),
            })
            .collect();
        let clinic = history.get(&r.id).cloned().flatten().map(|h| {
            let what = t(&format!("review_{}", h.status));
            match h.events.last() {
                Some(e) => format!("{what} ({})", &e.at[..10.min(e.at.len())]),
                None => what,
            }
        });
        views.push(ResponseView {
            id: r.id.clone(),
            date: r.response_date.clone(),
            questionnaire: q.title.get(&lang).to_string(),
            version: r.version,
            answers,
            flags,
            clinic,
            corrected: r.superseded_by.is_some(),
            correction_of: r.supersedes.as_ref().and_then(|old| {
                list.iter()
                    .find(|x| &x.id == old)
                    .map(|x| x.response_date.clone())
            }),
        });
    }
    // Charts: each score of each questionnaire, oldest first, from
    // responses not corrected since.
    let mut charts = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for r in list.iter().rev() {
        if seen.contains(&r.questionnaire) {
            continue;
        }
        seen.push(r.questionnaire.clone());
        let Some(q) = qs.get(&(r.questionnaire.clone(), r.version)) else {
            continue;
        };
        let of_q: Vec<&ResponseRecord> = list
            .iter()
            .rev()
            .filter(|x| x.questionnaire == r.questionnaire && x.superseded_by.is_none())
            .collect();
        for s in &q.scores {
            let points: Vec<Point> = of_q
                .iter()
                .filter_map(|x| {
                    x.scores
                        .get(&s.id)
                        .and_then(|v| v.as_number())
                        .and_then(crate::core::value::decimal_from_json)
                        .map(|value| Point {
                            label: x.response_date.clone(),
                            value,
                        })
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            let title = format!(
                "{} — {}",
                q.title.get(&lang),
                s.title.as_ref().map(|t| t.get(&lang)).unwrap_or(&s.id)
            );
            let stripes: Vec<Stripe> = s
                .bands
                .iter()
                .map(|b| Stripe {
                    from: b.from,
                    name: b
                        .text
                        .as_ref()
                        .map(|t| t.get(&lang).to_string())
                        .unwrap_or_else(|| b.id.clone()),
                })
                .collect();
            let rows = points
                .iter()
                .map(|p| {
                    let band = s
                        .band_of(p.value)
                        .map(|b| {
                            b.text
                                .as_ref()
                                .map(|t| t.get(&lang).to_string())
                                .unwrap_or_else(|| b.id.clone())
                        })
                        .unwrap_or_default();
                    (p.label.clone(), crate::core::value::fmt_num(p.value), band)
                })
                .collect();
            charts.push(ChartView {
                svg: svg(&title, &points, s.range, &stripes),
                title,
                rows,
            });
        }
    }
    let reads: Vec<ReadView> = reads
        .iter()
        .map(|r| ReadView {
            at: r.at.replace('T', " ").chars().take(16).collect(),
            who: if r.actor == "patient" {
                t("access_you")
            } else if let Some(c) = r.actor.strip_prefix("api:") {
                format!("{} ({c})", t("access_system"))
            } else {
                format!(
                    "{} ({})",
                    t("access_staff"),
                    r.clinic_id.clone().unwrap_or_default()
                )
            },
        })
        .collect();
    let asked = req.query_string().split('&').any(|p| p == "asked=1");
    let mut c = Context::new();
    c.insert("asked", &asked);
    c.insert("csrf", &session.csrf);
    c.insert("responses", &views);
    c.insert("charts", &charts);
    c.insert("reads", &reads);
    state
        .pages
        .render(StatusCode::OK, "patient/mydata.html", &lang, c)
}

#[derive(serde::Deserialize)]
pub struct CorrectionForm {
    csrf: String,
    response: String,
    reason: String,
}

/// `POST /me/correction`: the patient asks for a correction of one of their
/// responses, with a reason.
pub async fn correction(
    req: HttpRequest,
    state: State,
    form: web::Form<CorrectionForm>,
) -> HttpResponse {
    let gone = || problem(&state, "da", StatusCode::UNAUTHORIZED, "session_gone");
    let Some(token) = session_token(&req, &state.base_url) else {
        return gone();
    };
    let (hash, now) = (token_hash(&token), state.clock.now());
    let form = form.into_inner();
    let reason: String = form.reason.trim().chars().take(1000).collect();
    let result = state
        .writer
        .write(move |c| {
            let Some(s) = sessions::live(c, &hash, now)? else {
                return Ok(false);
            };
            let Some(pid) = s.patient_id.filter(|_| s.kind == "patient") else {
                return Ok(false);
            };
            if !crate::web::pages::same_secret(&form.csrf, &s.csrf) || reason.is_empty() {
                return Ok(false);
            }
            let clinic = crate::storage::patients::clinic_of(c, &pid)?;
            // Only the patient's own response.
            let Ok((owner, _)) = responses::owner(c, &clinic, &form.response) else {
                return Ok(false);
            };
            if owner != pid {
                return Ok(false);
            }
            crate::usecase::contact::request_correction(
                c,
                &clinic,
                &pid,
                &form.response,
                &reason,
                now,
            )?;
            Ok(true)
        })
        .await;
    match result {
        Ok(true) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/me?asked=1"))
            .finish(),
        Ok(false) => problem(&state, "da", StatusCode::FORBIDDEN, "session_gone"),
        Err(e) => failed(&state, e),
    }
}
