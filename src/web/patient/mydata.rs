//! "My data": every response the patient gave, in the version answered;
//! each score over time as a chart with its bands and a table; what was
//! flagged and what the clinic did; and who opened the patient's answers.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tera::Context;

use super::{State, failed, problem};
use crate::security::token_hash;
use crate::storage::responses::PatientHistory;
use crate::storage::{audit, responses, sessions};
use crate::web::pages::{session_cookie, session_token};

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

/// `GET /me`: the patient's own data.
pub async fn show(req: HttpRequest, state: State) -> HttpResponse {
    let gone = || problem(&state, "da", StatusCode::UNAUTHORIZED, "session_gone");
    let Some(token) = session_token(&req, &state.base_url) else {
        return gone();
    };
    let hash = token_hash(&token);
    let now = state.clock.now();
    let readers = state.readers.clone();
    type Loaded = (sessions::Session, PatientHistory, Vec<audit::Read>);
    let loaded: Result<Option<Loaded>, crate::storage::StorageError> = match web::block(move || {
        readers.with(|c| {
            let Some(s) = sessions::live(c, &hash, now)? else {
                return Ok(None);
            };
            let Some(pid) = s.patient_id.clone().filter(|_| s.kind == "patient") else {
                return Ok(None);
            };
            let history = responses::patient_history(c, &pid, 200)?;
            let reads = audit::reads_of_patient(c, &pid, 50)?;
            Ok(Some((s, history, reads)))
        })
    })
    .await
    {
        Ok(r) => r,
        Err(_) => return failed(&state, crate::storage::StorageError::WriterGone),
    };
    let (session, loaded, reads) = match loaded {
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
    let (views, charts) = crate::web::history::views(
        &loaded,
        &lang,
        &t,
        crate::web::history::Shown {
            answers: true,
            responses: usize::MAX,
        },
    );
    let reads: Vec<ReadView> = reads
        .iter()
        .map(|r| ReadView {
            at: r.at.replace('T', " ").chars().take(16).collect(),
            who: if r.actor == "patient" {
                t("access_you")
            } else if let Some(c) = r.actor.strip_prefix("api:") {
                format!("{} ({c})", t("access_system"))
            } else {
                let role = match r.role.as_deref() {
                    Some("admin") => t("access_admin"),
                    Some(_) => t("access_clinician"),
                    None => t("access_staff"),
                };
                let clinic = r.clinic.clone().or(r.clinic_id.clone()).unwrap_or_default();
                format!("{role} ({clinic})")
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
