//! Typing in a response: a paper form (recorded as `paper`, with who
//! entered it) or a correction of a stored response (a new version with a
//! reason; the original stays, marked corrected). Both show the whole
//! questionnaire on one page, in the paper form's order.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value as Json};
use std::sync::Arc;

use super::patient::{posted, read_patient};
use super::{
    Access, Me, State, failed, field, me, me_posting, message, not_found, read, render, see_other,
};
use crate::clock::local_date;
use crate::core::engine::{AnswerError, Mode, validate};
use crate::core::form::{PageView, answers_from_form, page_view, pages};
use crate::core::model::Questionnaire;
use crate::security::{new_token, token_hash};
use crate::storage::patients::Patient;
use crate::storage::{StorageError, invitations};
use crate::usecase::{Idempotency, Submission, Submitted, submit_response};

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
    paper: &Paper,
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
    c.insert("paper_code", &paper.code);
    c.insert("answered_on", &paper.answered_on);
    c.insert(
        "blank_warning",
        &paper.blank.map(|(given, of)| {
            state
                .pages
                .text(&me.lang, "c_blank_warning")
                .replace("{given}", &given.to_string())
                .replace("{of}", &of.to_string())
        }),
    );
    c.insert(
        "correction",
        &correction.map(|(id, reason)| serde_json::json!({"id": id, "reason": reason})),
    );
    c.insert("p", p);
    c.insert("extra_error", &extra);
    render(state, me, status, "clinic/entry.html", c)
}

/// What a paper entry's own fields hold: the code on the form, the day the
/// patient answered, and, when most answers are blank, how many were given
/// of how many (asked to confirm before storing).
#[derive(Default)]
struct Paper {
    code: String,
    answered_on: String,
    blank: Option<(usize, usize)>,
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
    let Some(q) = state.catalog.get(&qid) else {
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
        &Paper::default(),
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
    let Some(q) = state.catalog.get(&qid) else {
        return not_found(&state, &me);
    };
    let action = format!("/clinic/patients/{}/paper/{}", p.id, q.id);
    let answers = answers_from_form(&q, &fields);
    let now = state.clock.now();
    let today = local_date(now, "Europe/Copenhagen");
    let mut paper = Paper {
        code: field(&fields, "paper_code")
            .unwrap_or_default()
            .trim()
            .to_uppercase(),
        answered_on: field(&fields, "answered_on")
            .unwrap_or_default()
            .trim()
            .to_string(),
        blank: None,
    };
    let refuse = |paper: &Paper, errs: &[AnswerError], extra: Option<(&str, &str)>| {
        entry_page(
            &state,
            &me,
            &p,
            &q,
            &answers,
            errs,
            action.clone(),
            None,
            paper,
            extra,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    // The day the patient answered: rules and time windows use it.
    let date = match chrono::NaiveDate::parse_from_str(&paper.answered_on, "%Y-%m-%d") {
        Ok(d) if d > today => {
            return refuse(&paper, &[], Some(("answered_on", "c_answered_future")));
        }
        Ok(d) => d,
        Err(_) => return refuse(&paper, &[], Some(("answered_on", "c_answered_missing"))),
    };
    let evaluation = match validate(&q, &answers, Mode::Paper, date) {
        Ok(ev) => ev,
        Err(errs) => return refuse(&paper, &errs, None),
    };
    // Mostly blank: asked once more before it is stored.
    let answerable = q.items.iter().filter(|i| i.kind.answerable()).count();
    if answers.len() * 2 < answerable && field(&fields, "blank_ok") != Some("1") {
        paper.blank = Some((answers.len(), answerable));
        return refuse(&paper, &[], None);
    }
    // The code on a patient's own paper form names its invitation, which
    // this entry answers; the form was not answered before it was sent.
    let invitation = if paper.code.is_empty() {
        None
    } else {
        let (pid2, qid2) = (p.id.clone(), q.id.clone());
        let list = read(&state, move |c| invitations::invitations_of(c, &pid2, 200)).await;
        match list {
            Ok(list) => match list.iter().find(|i| {
                i.questionnaire == qid2
                    && i.used_at.is_none()
                    && crate::web::patient::paper_code(&i.id) == paper.code
            }) {
                Some(i)
                    if i.created_at
                        .get(..10)
                        .is_some_and(|d| d > date.to_string().as_str()) =>
                {
                    return refuse(
                        &paper,
                        &[],
                        Some(("answered_on", "c_answered_before_invitation")),
                    );
                }
                Some(i) => Some(i.id.clone()),
                None => return refuse(&paper, &[], Some(("paper_code", "c_paper_code_unknown"))),
            },
            Err(e) => return failed(&state, e),
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
            see_other(&format!("/clinic/responses/{}?done=paper", r.id))
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
    let (clinic, rid) = (me.clinic(), rid.to_string());
    let loaded = read(state, move |c| {
        let r = crate::storage::responses::get_response(c, &clinic, &rid)?;
        let q = crate::storage::versions::load_version(c, &r.questionnaire, r.version)?;
        let pid = crate::storage::responses::response_patient(c, &clinic, &rid)?;
        Ok((r, q, pid))
    })
    .await;
    let (r, q, pid) = match loaded {
        Ok(x) => x,
        Err(StorageError::NotFound) => return Err(not_found(state, me)),
        Err(e) => return Err(failed(state, e)),
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
        &Paper::default(),
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
    let me = match me_posting(&req, &state, Access::Staff, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
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
            &Paper::default(),
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
            see_other(&format!("/clinic/responses/{}?done=corrected", n.id))
        }
        Err(StorageError::Conflict(_)) => {
            message(&state, &me, StatusCode::CONFLICT, "c_corrected_already")
        }
        Err(e) => failed(&state, e),
    }
}
