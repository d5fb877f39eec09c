//! A patient for staff: the timeline of responses with charts (the same as
//! the patient's "my data"), each response in the version answered, flags
//! and what was done, plans and invitations; inviting, plans, the personal
//! link, paper entry and corrections (a new version with a reason; the
//! original stays, marked corrected).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value as Json};
use std::sync::Arc;

use super::{Access, Me, State, failed, field, me, message, not_found, render, see_other, when};
use crate::clock::local_date;
use crate::core::engine::{AnswerError, Mode, validate};
use crate::core::form::{PageView, answers_from_form, page_view, pages};
use crate::core::model::Questionnaire;
use crate::security::{new_token, token_hash};
use crate::storage::patients::{self, NewPatient, Patient};
use crate::storage::{StorageError, audit, invitations, outbox, review};
use crate::usecase::{Idempotency, Submission, Submitted, submit_response};

/// How many responses the timeline lists, newest first.
const TIMELINE: usize = 50;

#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
}

/// `GET /clinic/patients`: the clinic's patients by reference.
pub async fn list(req: HttpRequest, state: State, q: web::Query<ListQuery>) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    list_page(
        &state,
        &me,
        q.q.clone().unwrap_or_default(),
        None,
        StatusCode::OK,
    )
    .await
}

async fn list_page(
    state: &State,
    me: &Me,
    prefix: String,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let readers = state.readers.clone();
    let (clinic, p) = (me.clinic(), prefix.clone());
    let found =
        web::block(move || readers.with(|c| patients::search(c, &clinic, p.trim(), 200))).await;
    let list = match found {
        Ok(Ok(l)) => l,
        Ok(Err(e)) => return failed(state, e),
        Err(_) => return failed(state, StorageError::WriterGone),
    };
    let mut c = tera::Context::new();
    c.insert("patients", &list);
    c.insert("q", &prefix);
    c.insert("error", &error.map(|k| state.pages.text(&me.lang, k)));
    render(state, me, status, "clinic/patients.html", c)
}

/// `POST /clinic/patients` (admins): a new patient.
pub async fn create(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me(&req, &state, Access::Admin).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if !me.form_ok(&fields) {
        return super::csrf_refused(&state, &me);
    }
    let reference =
        match crate::vocab::PatientRef::parse(field(&fields, "reference").unwrap_or_default()) {
            Ok(r) => r.as_str().to_string(),
            Err(_) => {
                return list_page(
                    &state,
                    &me,
                    String::new(),
                    Some("c_patient_ref_bad"),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        };
    let email = match field(&fields, "email")
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        None => None,
        Some(e) => match crate::vocab::Email::parse(e) {
            Ok(e) => Some(e.as_str().to_string()),
            Err(_) => {
                return list_page(
                    &state,
                    &me,
                    String::new(),
                    Some("c_email_bad"),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        },
    };
    let language = match field(&fields, "language") {
        Some("en") => "en",
        _ => "da",
    };
    let p = NewPatient {
        clinic_id: me.clinic(),
        reference,
        name: field(&fields, "name")
            .map(|n| n.trim().chars().take(200).collect())
            .filter(|n: &String| !n.is_empty()),
        email,
        language: language.into(),
    };
    let (now, actor) = (state.clock.now(), me.actor());
    match state
        .writer
        .write(move |c| {
            let id = patients::insert_patient(c, &p, now)?;
            audit::record(
                c,
                &actor,
                "patient.create",
                &p.clinic_id,
                Some(&id),
                None,
                now,
            )?;
            Ok(id)
        })
        .await
    {
        Ok(id) => see_other(&format!("/clinic/patients/{id}")),
        Err(StorageError::Conflict(_)) => {
            list_page(
                &state,
                &me,
                String::new(),
                Some("c_patient_exists"),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => failed(&state, e),
    }
}

/// Logs a staff read of the patient and returns them; `None` for another
/// clinic's patient (nothing is logged then).
async fn read_patient(
    state: &State,
    me: &Me,
    id: &str,
    action: &'static str,
) -> Result<Patient, HttpResponse> {
    let (clinic, actor, pid, now) = (me.clinic(), me.actor(), id.to_string(), state.clock.now());
    match state
        .writer
        .write(move |c| {
            let Some(p) = patients::in_clinic(c, &clinic, &pid)? else {
                return Ok(None);
            };
            if action.ends_with(".read") {
                audit::record(c, &actor, action, &clinic, Some(&pid), None, now)?;
            }
            Ok(Some(p))
        })
        .await
    {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(not_found(state, me)),
        Err(e) => Err(failed(state, e)),
    }
}

/// `GET /clinic/patients/{patient}`: the timeline.
pub async fn show(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let patient = match read_patient(&state, &me, &path.into_inner(), "patient.read").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let link = req
        .query_string()
        .split('&')
        .find_map(|p| p.strip_prefix("shown="))
        .is_some();
    patient_page(&state, &me, &patient, None, link).await
}

async fn patient_page(
    state: &State,
    me: &Me,
    p: &Patient,
    link: Option<String>,
    _shown: bool,
) -> HttpResponse {
    let readers = state.readers.clone();
    let (pid, at) = (p.id.clone(), crate::storage::ids::ts(state.clock.now()));
    let loaded = web::block(move || {
        readers.with(|c| {
            let history = crate::storage::responses::patient_history(c, &pid, TIMELINE as u32)?;
            let plans = invitations::plans_of(c, &pid)?;
            let invites = invitations::invitations_of(c, &pid, 50)?;
            let snoozes = review::snoozes(c, &pid, None, &at)?;
            Ok((history, plans, invites, snoozes))
        })
    })
    .await;
    let (history, plans, invites, snoozes) = match loaded {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return failed(state, e),
        Err(_) => return failed(state, StorageError::WriterGone),
    };
    let lang = me.lang.clone();
    let t = |k: &str| state.pages.text(&lang, k);
    // The timeline's newest responses (each links to its page); the charts
    // and their tables hold them all.
    let (responses, charts) = crate::web::history::views(
        &history,
        &lang,
        &t,
        crate::web::history::Shown {
            answers: false,
            responses: TIMELINE,
        },
    );
    let questionnaires: Vec<(String, String)> = state
        .catalog
        .all()
        .map(|q| (q.id.clone(), q.title.get(&lang).to_string()))
        .collect();
    let invites: Vec<serde_json::Value> = invites
        .iter()
        .map(|i| {
            serde_json::json!({
                "questionnaire": i.questionnaire,
                "created": when(&i.created_at),
                "expires": when(&i.expires_at),
                "used": i.used_at.as_deref().map(when),
                "response": i.response_id,
                "code": crate::web::patient::paper_code(&i.id),
            })
        })
        .collect();
    let mut c = tera::Context::new();
    c.insert("p", p);
    c.insert("responses", &responses);
    c.insert("total", &history.points.len());
    c.insert("charts", &charts);
    c.insert("plans", &plans);
    c.insert("invitations", &invites);
    let snoozes: Vec<review::Snooze> = snoozes
        .into_iter()
        .map(|mut s| {
            s.until = when(&s.until);
            s
        })
        .collect();
    c.insert("snoozes", &snoozes);
    c.insert("questionnaires", &questionnaires);
    c.insert("link", &link);
    c.insert(
        "today",
        &local_date(state.clock.now(), "Europe/Copenhagen").to_string(),
    );
    render(state, me, StatusCode::OK, "clinic/patient.html", c)
}

/// Checks the session, the form's CSRF token and the patient (of the
/// clinic) of a form posted about a patient.
async fn posted(
    req: &HttpRequest,
    state: &State,
    fields: &[(String, String)],
    pid: &str,
) -> Result<(Me, Patient), HttpResponse> {
    let me = me(req, state, Access::Staff).await?;
    if !me.form_ok(fields) {
        return Err(super::csrf_refused(state, &me));
    }
    let p = read_patient(state, &me, pid, "patient.act").await?;
    Ok((me, p))
}

/// `POST /clinic/patients/{patient}/invitations`: a new invitation link.
pub async fn invite(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let (me, p) = match posted(&req, &state, &fields, &path.into_inner()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(q) = field(&fields, "questionnaire")
        .filter(|q| state.catalog.get(q).is_some())
        .map(String::from)
    else {
        return message(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "c_questionnaire_unknown",
        );
    };
    let days: i64 = field(&fields, "days")
        .and_then(|d| d.parse().ok())
        .filter(|d| (1..=365).contains(d))
        .unwrap_or(14);
    let token = new_token("prom_inv_");
    let (now, actor, clinic, pid, hash) = (
        state.clock.now(),
        me.actor(),
        me.clinic(),
        p.id.clone(),
        token_hash(&token),
    );
    match state
        .writer
        .write(move |c| {
            let id = invitations::insert_invitation(
                c,
                &pid,
                &q,
                &hash,
                now + chrono::Duration::days(days),
                now,
            )?;
            audit::record(
                c,
                &actor,
                "invitation.create",
                &clinic,
                Some(&pid),
                Some(&id),
                now,
            )
        })
        .await
    {
        Ok(()) => {
            patient_page(
                &state,
                &me,
                &p,
                Some(format!("{}/a/{token}", state.base_url)),
                true,
            )
            .await
        }
        Err(e) => failed(&state, e),
    }
}

/// `POST /clinic/patients/{patient}/plans`: a follow-up plan.
pub async fn add_plan(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let (me, p) = match posted(&req, &state, &fields, &path.into_inner()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(q) = field(&fields, "questionnaire")
        .filter(|q| state.catalog.get(q).is_some())
        .map(String::from)
    else {
        return message(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "c_questionnaire_unknown",
        );
    };
    let Some(every) = field(&fields, "every")
        .and_then(|d| d.trim().parse::<u32>().ok())
        .filter(|d| (1..=3650).contains(d))
    else {
        return message(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "c_plan_refused",
        );
    };
    let today = local_date(state.clock.now(), "Europe/Copenhagen");
    let start = match field(&fields, "start")
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => today,
        Some(s) => match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(d) if d >= today => d,
            _ => {
                return message(
                    &state,
                    &me,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "c_plan_refused",
                );
            }
        },
    };
    // Deadline, reminder and early days: the plan's defaults unless given.
    let days = |name: &str, default: u32, max: u32| -> Option<u32> {
        match field(&fields, name)
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => Some(default),
            Some(v) => v.parse::<u32>().ok().filter(|d| *d <= max),
        }
    };
    let (Some(deadline), Some(reminder), Some(early)) = (
        days("deadline", 14, 365).filter(|d| *d >= 1),
        days("reminder", 3, 365),
        days("early", 0, 3650),
    ) else {
        return message(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "c_plan_refused",
        );
    };
    let (now, actor, clinic, pid) = (state.clock.now(), me.actor(), me.clinic(), p.id.clone());
    match state
        .writer
        .write(move |c| {
            let id = invitations::insert_plan(c, &pid, &q, every, start, now)?;
            invitations::set_plan_timing(c, &id, deadline, reminder, early)?;
            audit::record(
                c,
                &actor,
                "plan.create",
                &clinic,
                Some(&pid),
                Some(&id),
                now,
            )
        })
        .await
    {
        Ok(()) => see_other(&format!("/clinic/patients/{}", p.id)),
        Err(e) => failed(&state, e),
    }
}

/// `POST /clinic/patients/{patient}/plans/{plan}/stop`.
pub async fn stop_plan(
    req: HttpRequest,
    state: State,
    path: web::Path<(String, String)>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let (pid, plan) = path.into_inner();
    let (me, p) = match posted(&req, &state, &fields, &pid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (now, actor, clinic, pid) = (state.clock.now(), me.actor(), me.clinic(), p.id.clone());
    match state
        .writer
        .write(move |c| {
            if !invitations::stop_plan(c, &pid, &plan, now)? {
                return Ok(false);
            }
            audit::record(
                c,
                &actor,
                "plan.stop",
                &clinic,
                Some(&pid),
                Some(&plan),
                now,
            )?;
            Ok(true)
        })
        .await
    {
        Ok(true) => see_other(&format!("/clinic/patients/{}", p.id)),
        Ok(false) => not_found(&state, &me),
        Err(e) => failed(&state, e),
    }
}

/// `POST /clinic/patients/{patient}/link`: a personal "my data" link,
/// shown once (and e-mailed when the patient has an address).
pub async fn personal_link(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let (me, p) = match posted(&req, &state, &fields, &path.into_inner()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (now, actor, clinic, pid, email, base) = (
        state.clock.now(),
        me.actor(),
        me.clinic(),
        p.id.clone(),
        p.email.clone(),
        state.base_url.clone(),
    );
    match state
        .writer
        .write(move |c| {
            let token = crate::usecase::invitation::new_personal_link(
                c,
                &actor,
                &pid,
                &clinic,
                crate::usecase::invitation::PERSONAL_LINK_DAYS,
                now,
            )?;
            let link = format!("{base}/me/{token}");
            if let Some(to) = email {
                let lang = crate::storage::patients::in_clinic(c, &clinic, &pid)?
                    .map(|p| p.language)
                    .unwrap_or_else(|| "da".into());
                let m = crate::mail::messages::personal_link(&lang, &link);
                outbox::enqueue(
                    c,
                    &outbox::NewMessage {
                        kind: "personal_link",
                        recipient: &to,
                        subject: &m.subject,
                        body: &m.text,
                        html: Some(&m.html),
                        clinic_id: Some(&clinic),
                        ..Default::default()
                    },
                    &crate::storage::ids::ts(now),
                )?;
            }
            Ok(link)
        })
        .await
    {
        Ok(link) => patient_page(&state, &me, &p, Some(link), true).await,
        Err(e) => failed(&state, e),
    }
}

/// Every item of a questionnaire on one page, all shown: the paper form's
/// order, for typing from paper.
fn whole_form(
    q: &Questionnaire,
    lang: &str,
    answers: &Map<String, Json>,
    errors: &[AnswerError],
    date: chrono::NaiveDate,
) -> PageView {
    let n = pages(q).len();
    let mut view = page_view(q, lang, answers, 0, errors, date);
    for p in 1..n {
        let more = page_view(q, lang, answers, p, errors, date);
        view.items.extend(more.items);
    }
    for it in &mut view.items {
        it.visible = true;
    }
    view.number = 1;
    view.count = 1;
    view
}

#[allow(clippy::too_many_arguments)]
fn entry_page(
    state: &State,
    me: &Me,
    p: &Patient,
    q: &Questionnaire,
    answers: &Map<String, Json>,
    errors: &[AnswerError],
    action: String,
    correction: Option<(&str, &str)>,
    paper_code: &str,
    extra: Option<(&str, &str)>,
    status: StatusCode,
) -> HttpResponse {
    let date = local_date(state.clock.now(), "Europe/Copenhagen");
    let view = whole_form(q, &me.lang, answers, errors, date);
    // A refusal of the entry's own fields (the code, the reason) first.
    let extra = extra.map(|(id, key)| (id.to_string(), state.pages.text(&me.lang, key)));
    let shown: Vec<Json> = extra
        .iter()
        .map(|(id, m)| serde_json::json!({"id": id, "message": m}))
        .chain(view.items.iter().filter_map(|i| {
            i.error
                .as_ref()
                .map(|m| serde_json::json!({"id": i.id, "message": m}))
        }))
        .collect();
    let mut c = tera::Context::new();
    c.insert("page", &view);
    c.insert("errors", &shown);
    c.insert("more", &false);
    c.insert("preview", &true);
    c.insert("form_action", &action);
    c.insert("entry", &new_token(""));
    c.insert("staff_entry", &true);
    c.insert("paper_code", paper_code);
    c.insert(
        "correction",
        &correction.map(|(id, reason)| serde_json::json!({"id": id, "reason": reason})),
    );
    c.insert("p", p);
    c.insert("extra_error", &extra);
    render(state, me, status, "clinic/entry.html", c)
}

/// `GET /clinic/patients/{patient}/paper/{questionnaire}`: the paper form
/// to type in.
pub async fn paper_form(
    req: HttpRequest,
    state: State,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let (pid, qid) = path.into_inner();
    let p = match read_patient(&state, &me, &pid, "patient.act").await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(q) = state.catalog.get(&qid).cloned() else {
        return not_found(&state, &me);
    };
    let action = format!("/clinic/patients/{}/paper/{}", p.id, q.id);
    entry_page(
        &state,
        &me,
        &p,
        &q,
        &Map::new(),
        &[],
        action,
        None,
        "",
        None,
        StatusCode::OK,
    )
}

/// A key for a posted form's content, so a double submit is one response.
fn form_hash(fields: &[(String, String)]) -> String {
    let mut f: Vec<&(String, String)> = fields.iter().filter(|(k, _)| k != "csrf").collect();
    f.sort();
    token_hash(&serde_json::to_string(&f).unwrap_or_default())
}

/// `POST /clinic/patients/{patient}/paper/{questionnaire}`: a paper
/// response, recorded with who entered it.
pub async fn paper(
    req: HttpRequest,
    state: State,
    path: web::Path<(String, String)>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let (pid, qid) = path.into_inner();
    let (me, p) = match posted(&req, &state, &fields, &pid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(q) = state.catalog.get(&qid).cloned() else {
        return not_found(&state, &me);
    };
    let action = format!("/clinic/patients/{}/paper/{}", p.id, q.id);
    let answers = answers_from_form(&q, &fields);
    let now = state.clock.now();
    let date = local_date(now, "Europe/Copenhagen");
    let code = field(&fields, "paper_code")
        .unwrap_or_default()
        .trim()
        .to_uppercase();
    let evaluation = match validate(&q, &answers, Mode::Paper, date) {
        Ok(ev) => ev,
        Err(errs) => {
            return entry_page(
                &state,
                &me,
                &p,
                &q,
                &answers,
                &errs,
                action,
                None,
                &code,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    // The code on a patient's own paper form names its invitation, which
    // this entry answers.
    let invitation = if code.is_empty() {
        None
    } else {
        let readers = state.readers.clone();
        let (pid2, qid2) = (p.id.clone(), q.id.clone());
        let list =
            web::block(move || readers.with(|c| invitations::invitations_of(c, &pid2, 200))).await;
        match list {
            Ok(Ok(list)) => match list.iter().find(|i| {
                i.questionnaire == qid2
                    && i.used_at.is_none()
                    && crate::web::patient::paper_code(&i.id) == code
            }) {
                Some(i) => Some(i.id.clone()),
                None => {
                    return entry_page(
                        &state,
                        &me,
                        &p,
                        &q,
                        &answers,
                        &[],
                        action,
                        None,
                        &code,
                        Some(("paper_code", "c_paper_code_unknown")),
                        StatusCode::UNPROCESSABLE_ENTITY,
                    );
                }
            },
            Ok(Err(e)) => return failed(&state, e),
            Err(_) => return failed(&state, StorageError::WriterGone),
        }
    };
    let entry = field(&fields, "entry").unwrap_or_default().to_string();
    let sub = Submission {
        clinic_id: me.clinic(),
        patient_ref: p.reference.clone(),
        questionnaire: q,
        evaluation,
        mode: Mode::Paper,
        actor: me.actor(),
        now,
        idempotency: (!entry.is_empty()).then(|| Idempotency {
            key: format!("paper:{entry}"),
            scope: "POST /clinic/paper".into(),
            request_hash: form_hash(&fields),
        }),
        supersedes: None,
        base_url: state.base_url.clone(),
        invitation,
    };
    match state.writer.write(move |c| submit_response(c, &sub)).await {
        Ok(Submitted::New(r)) | Ok(Submitted::Replayed(r)) => {
            see_other(&format!("/clinic/responses/{}", r.id))
        }
        Err(StorageError::Conflict(_)) => {
            message(&state, &me, StatusCode::CONFLICT, "c_entry_conflict")
        }
        Err(e) => failed(&state, e),
    }
}

/// The response to correct, its questionnaire version and its patient.
async fn correctable(
    state: &State,
    me: &Me,
    rid: &str,
) -> Result<
    (
        crate::storage::responses::ResponseRecord,
        Arc<Questionnaire>,
        Patient,
    ),
    HttpResponse,
> {
    let readers = state.readers.clone();
    let (clinic, rid) = (me.clinic(), rid.to_string());
    let loaded = web::block(move || {
        readers.with(|c| {
            let r = crate::storage::responses::get_response(c, &clinic, &rid)?;
            let q = crate::storage::versions::load_version(c, &r.questionnaire, r.version)?;
            let pid = crate::storage::responses::response_patient(c, &clinic, &rid)?;
            Ok((r, q, pid))
        })
    })
    .await;
    let (r, q, pid) = match loaded {
        Ok(Ok(x)) => x,
        Ok(Err(StorageError::NotFound)) => return Err(not_found(state, me)),
        Ok(Err(e)) => return Err(failed(state, e)),
        Err(_) => return Err(failed(state, StorageError::WriterGone)),
    };
    let p = read_patient(state, me, &pid, "response.read").await?;
    Ok((r, Arc::new(q), p))
}

/// `GET /clinic/responses/{response}/correct`: the response's answers in a
/// form, and a reason.
pub async fn correct_form(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let rid = path.into_inner();
    let (r, q, p) = match correctable(&state, &me, &rid).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    if r.superseded_by.is_some() {
        return message(&state, &me, StatusCode::CONFLICT, "c_corrected_already");
    }
    let action = format!("/clinic/responses/{rid}/correct");
    entry_page(
        &state,
        &me,
        &p,
        &q,
        &r.answers,
        &[],
        action,
        Some((&rid, "")),
        "",
        None,
        StatusCode::OK,
    )
}

/// `POST /clinic/responses/{response}/correct`: a new version with a
/// reason; the original stays, marked corrected.
pub async fn correct(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if !me.form_ok(&fields) {
        return super::csrf_refused(&state, &me);
    }
    let rid = path.into_inner();
    let (r, q, p) = match correctable(&state, &me, &rid).await {
        Ok(x) => x,
        Err(resp) => return resp,
    };
    let action = format!("/clinic/responses/{rid}/correct");
    let reason: String = field(&fields, "reason")
        .unwrap_or_default()
        .trim()
        .chars()
        .take(1000)
        .collect();
    let answers = answers_from_form(&q, &fields);
    let now = state.clock.now();
    let date = chrono::NaiveDate::parse_from_str(&r.response_date, "%Y-%m-%d")
        .unwrap_or_else(|_| local_date(now, "Europe/Copenhagen"));
    let mode = Mode::parse(&r.mode).unwrap_or(Mode::Paper);
    let checked = validate(&q, &answers, mode, date);
    if reason.is_empty() || checked.is_err() {
        let errs = checked.err().unwrap_or_default();
        let extra = reason.is_empty().then_some(("reason", "c_reason_missing"));
        return entry_page(
            &state,
            &me,
            &p,
            &q,
            &answers,
            &errs,
            action,
            Some((&rid, &reason)),
            "",
            extra,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    let Ok(evaluation) = checked else {
        return failed(&state, StorageError::Invalid("unreachable".into()));
    };
    let sub = Submission {
        clinic_id: me.clinic(),
        patient_ref: p.reference.clone(),
        questionnaire: q,
        evaluation,
        mode,
        actor: me.actor(),
        now,
        idempotency: None,
        supersedes: Some((rid.clone(), reason)),
        base_url: state.base_url.clone(),
        invitation: None,
    };
    match state.writer.write(move |c| submit_response(c, &sub)).await {
        Ok(Submitted::New(n)) | Ok(Submitted::Replayed(n)) => {
            see_other(&format!("/clinic/responses/{}", n.id))
        }
        Err(StorageError::Conflict(_)) => {
            message(&state, &me, StatusCode::CONFLICT, "c_corrected_already")
        }
        Err(e) => failed(&state, e),
    }
}

/// `GET /clinic/letters`: plans' invitations for patients without e-mail,
/// to print and post.
pub async fn letters(req: HttpRequest, state: State) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let readers = state.readers.clone();
    let (clinic, now) = (me.clinic(), state.clock.now());
    let list =
        match web::block(move || readers.with(|c| invitations::letters(c, &clinic, now))).await {
            Ok(Ok(l)) => l,
            Ok(Err(e)) => return failed(&state, e),
            Err(_) => return failed(&state, StorageError::WriterGone),
        };
    let rows: Vec<Json> = list
        .iter()
        .map(|i| {
            serde_json::json!({
                "id": i.id,
                "patient": i.reference,
                "patient_id": i.patient_id,
                "questionnaire": state.catalog.get(&i.questionnaire).map(|q| q.title.get(&me.lang).to_string()).unwrap_or_else(|| i.questionnaire.clone()),
                "created": when(&i.created_at),
                "expires": when(&i.expires_at),
            })
        })
        .collect();
    let mut c = tera::Context::new();
    c.insert("letters", &rows);
    render(&state, &me, StatusCode::OK, "clinic/letters.html", c)
}

/// `GET /clinic/invitations/{invitation}/letter`: the paper form of one
/// invitation, with the patient's reference and the code staff type in
/// when the answers come back.
pub async fn letter(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let readers = state.readers.clone();
    let (clinic, id) = (me.clinic(), path.into_inner());
    let found = match web::block(move || {
        readers.with(|c| invitations::plan_invitation_in(c, &clinic, &id))
    })
    .await
    {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return failed(&state, e),
        Err(_) => return failed(&state, StorageError::WriterGone),
    };
    let Some(i) = found else {
        return not_found(&state, &me);
    };
    let Some(q) = state.catalog.get(&i.questionnaire).cloned() else {
        return not_found(&state, &me);
    };
    // Printing a letter shows the patient's reference: a read of their data.
    let (actor, clinic, pid, iid, now) = (
        me.actor(),
        me.clinic(),
        i.patient_id.clone(),
        i.id.clone(),
        state.clock.now(),
    );
    if let Err(e) = state
        .writer
        .write(move |c| {
            audit::record(
                c,
                &actor,
                "letter.read",
                &clinic,
                Some(&pid),
                Some(&iid),
                now,
            )
        })
        .await
    {
        return failed(&state, e);
    }
    let code = crate::web::patient::paper_code(&i.id);
    state
        .pages
        .paper(&q, &i.language, Some(&i.reference), Some(&code))
}
