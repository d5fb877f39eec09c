//! "My data": every response the patient gave, in the version answered;
//! each score over time as a chart with its bands and a table; what was
//! flagged and what the clinic did; and who opened the patient's answers.
//! Only a session opened by a personal link (used once, short-lived) sees
//! it: an invitation's link travels by e-mail and letter and gets
//! forwarded, so its session may answer and see its receipt, nothing more;
//! it may ask for a personal link sent to the address the clinic has.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use tera::Context;

use super::{State, failed, problem};
use crate::security::token_hash;
use crate::storage::responses::PatientHistory;
use crate::storage::{audit, responses, sessions};
use crate::usecase::invitation::LinkProblem;
use crate::web::pages::{session_cookie, session_token};

#[derive(Serialize)]
struct ReadView {
    at: String,
    who: String,
}

/// `GET /me/{token}`: a personal link (used once), exchanged for a
/// session; after asking, when the browser holds another patient's.
pub async fn open(req: HttpRequest, state: State, token: web::Path<String>) -> HttpResponse {
    let token = token.into_inner();
    if let Some(ask) =
        super::ask_before_replacing(&req, &state, &token, &format!("/me/{token}")).await
    {
        return ask;
    }
    exchange(state, token).await
}

/// `POST /me/{token}`: the personal link opened after the patient
/// confirmed that it replaces the session this browser held.
pub async fn open_confirmed(
    req: HttpRequest,
    state: State,
    token: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    if !super::may_replace(&req, &state, &fields).await {
        return problem(&state, "da", StatusCode::FORBIDDEN, "session_gone");
    }
    exchange(state, token.into_inner()).await
}

async fn exchange(state: State, token: String) -> HttpResponse {
    let now = state.clock.now();
    match state
        .writer
        .write(move |c| crate::usecase::invitation::open_personal_link(c, &token, now))
        .await
    {
        Ok(Ok((session, _))) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/me"))
            .insert_header((
                header::SET_COOKIE,
                session_cookie(&state.base_url, &session),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .finish(),
        Ok(Err(p)) => {
            let (status, key) = match p {
                LinkProblem::Unknown => (StatusCode::NOT_FOUND, "link_unknown"),
                LinkProblem::Expired => (StatusCode::GONE, "me_link_expired"),
                LinkProblem::Used => (StatusCode::GONE, "me_link_used"),
            };
            problem(&state, "da", status, key)
        }
        Err(e) => failed(&state, e),
    }
}

/// A patient session that may see the patient's whole history: one
/// opened by a personal link (or a login), never an invitation's, whose
/// link may have been forwarded.
fn may_see_history(s: &sessions::Session) -> bool {
    s.kind == "patient"
        && (s.person_id.is_some() || (s.patient_id.is_some() && s.invitation_id.is_none()))
}

/// The page an invitation's session gets at `/me`: how to see one's own
/// data (a link sent to the address the clinic has), without any of it.
fn locked(state: &State, s: &sessions::Session, sent: Option<bool>) -> HttpResponse {
    let mut c = Context::new();
    c.insert("csrf", &s.csrf);
    c.insert("sent", &sent);
    c.insert("login", &state.patient_sso.is_some());
    state
        .pages
        .render(StatusCode::OK, "patient/mydata_locked.html", &s.language, c)
}

/// `POST /me/link`: the patient on an invitation's session asks for a
/// link to their own data, sent to the address the clinic has.
pub async fn send_link(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let gone = || problem(&state, "da", StatusCode::UNAUTHORIZED, "session_gone");
    let Some(token) = session_token(&req, &state.base_url) else {
        return gone();
    };
    let (hash, now, base) = (
        token_hash(&token),
        state.clock.now(),
        state.base_url.clone(),
    );
    let sent_csrf = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let result = state
        .writer
        .write(move |c| {
            let Some(s) = sessions::live(c, &hash, now)? else {
                return Ok(None);
            };
            let Some(pid) = s.patient_id.clone().filter(|_| s.kind == "patient") else {
                return Ok(None);
            };
            if !crate::web::pages::same_secret(&sent_csrf, &s.csrf) {
                return Ok(None);
            }
            let sent =
                crate::usecase::invitation::send_personal_link(c, &pid, &s.language, &base, now)?;
            Ok(Some((s, sent)))
        })
        .await;
    match result {
        Ok(Some((s, sent))) => locked(&state, &s, Some(sent)),
        Ok(None) => problem(&state, "da", StatusCode::FORBIDDEN, "session_gone"),
        Err(e) => failed(&state, e),
    }
}

/// One clinic's part of "my data": its heading (for a person linked by
/// several clinics), the charts, the responses and who opened them.
#[derive(Serialize)]
struct Part {
    heading: Option<String>,
    responses: Vec<crate::web::history::ResponseView>,
    charts: Vec<crate::web::history::ChartView>,
    reads: Vec<ReadView>,
}

/// The patients a session may see the history of, with their clinic's
/// name when they come through a person's login: the person's linked
/// patients, or the personal link's one patient. Empty: none (an
/// invitation's session).
fn seen_patients(
    c: &crate::storage::Connection,
    s: &sessions::Session,
) -> Result<Vec<(String, Option<String>)>, crate::storage::StorageError> {
    if s.kind != "patient" {
        return Ok(Vec::new());
    }
    if let Some(person) = &s.person_id {
        return Ok(crate::storage::persons::linked(c, person)?
            .into_iter()
            .map(|l| (l.patient_id, Some(l.clinic_name)))
            .collect());
    }
    Ok(s.patient_id
        .clone()
        .filter(|_| may_see_history(s))
        .map(|p| vec![(p, None)])
        .unwrap_or_default())
}

/// `GET /me`: the patient's own data (a person's: every clinic's part).
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
        Vec<(String, Option<String>, PatientHistory, Vec<audit::Read>)>,
        Vec<crate::storage::persons::Open>,
    );
    let loaded: Result<Option<Result<Loaded, sessions::Session>>, crate::storage::StorageError> =
        match web::block(move || {
            readers.with(|c| {
                let Some(s) = sessions::live(c, &hash, now)? else {
                    return Ok(None);
                };
                let seen = seen_patients(c, &s)?;
                if seen.is_empty() && s.person_id.is_none() {
                    return Ok(Some(Err(s)));
                }
                // One part per linked clinic (a person has one patient per
                // clinic, so a handful at most).
                let mut parts = Vec::new();
                for (pid, heading) in seen {
                    let history = responses::patient_history(c, &pid, 200)?;
                    let reads = audit::reads_of_patient(c, &pid, 50)?;
                    parts.push((pid, heading, history, reads));
                }
                let open = match &s.person_id {
                    Some(p) => crate::storage::persons::open_invitations(c, p, now)?,
                    None => Vec::new(),
                };
                Ok(Some(Ok((s, parts, open))))
            })
        })
        .await
        {
            Ok(r) => r,
            Err(_) => return failed(&state, crate::storage::StorageError::WriterGone),
        };
    let (session, loaded, open) = match loaded {
        Ok(Some(Ok(x))) => x,
        Ok(Some(Err(s))) if s.kind == "patient" => return locked(&state, &s, None),
        Ok(Some(Err(_))) => return gone(),
        Ok(None) => return gone(),
        Err(e) => return failed(&state, e),
    };
    // The patient's own read of their data is in the log too.
    let read: Vec<String> = loaded.iter().map(|p| p.0.clone()).collect();
    let _ = state
        .writer
        .write(move |c| {
            for pid in &read {
                let clinic = crate::storage::patients::clinic_of(c, pid)?;
                audit::record(c, "patient", "mydata.read", &clinic, Some(pid), None, now)?;
            }
            Ok(())
        })
        .await;
    let lang = session.language.clone();
    let t = |k: &str| state.pages.text(&lang, k);
    let parts: Vec<Part> = loaded
        .iter()
        .map(|(_, heading, history, reads)| {
            let (responses, charts) = crate::web::history::views(
                history,
                &lang,
                &t,
                crate::web::history::Shown {
                    answers: true,
                    responses: usize::MAX,
                    why: false,
                },
            );
            Part {
                heading: heading.clone(),
                responses,
                charts,
                reads: read_views(reads, &t),
            }
        })
        .collect();
    let open: Vec<serde_json::Value> = open
        .iter()
        .map(|o| {
            serde_json::json!({
                "id": o.invitation_id,
                "title": state
                    .catalog
                    .get(&o.questionnaire_id)
                    .map(|q| q.title.get(&lang).to_string())
                    .unwrap_or_else(|| o.questionnaire_id.clone()),
                "clinic": o.clinic_name,
                "until": o.expires_at.chars().take(10).collect::<String>(),
            })
        })
        .collect();
    let asked = req.query_string().split('&').any(|p| p == "asked=1");
    let refused = req.query_string().split('&').any(|p| p == "link=refused");
    let mut c = Context::new();
    c.insert("asked", &asked);
    c.insert("link_refused", &refused);
    c.insert("csrf", &session.csrf);
    c.insert("parts", &parts);
    c.insert("person", &session.person_id.is_some());
    c.insert("open", &open);
    state
        .pages
        .render(StatusCode::OK, "patient/mydata.html", &lang, c)
}

fn read_views(reads: &[audit::Read], t: &dyn Fn(&str) -> String) -> Vec<ReadView> {
    reads
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
                match &r.name {
                    Some(name) => format!("{name}, {role} ({clinic})"),
                    None => format!("{role} ({clinic})"),
                }
            },
        })
        .collect()
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
            if !crate::web::pages::same_secret(&form.csrf, &s.csrf) || reason.is_empty() {
                return Ok(false);
            }
            // Only a response of a patient the session sees.
            let mut mine = None;
            for (pid, _) in seen_patients(c, &s)? {
                let clinic = crate::storage::patients::clinic_of(c, &pid)?;
                if let Ok((owner, _)) = responses::owner(c, &clinic, &form.response)
                    && owner == pid
                {
                    mine = Some((pid, clinic));
                }
            }
            let Some((pid, clinic)) = mine else {
                return Ok(false);
            };
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

/// The responses a download carries: each seen patient's, with its clinic.
type Downloaded = Vec<(String, PatientHistory)>;

/// Everything the session may see, for a download, with the read audited
/// (`mydata.download`, per patient).
async fn downloaded(
    req: &HttpRequest,
    state: &State,
    format: &'static str,
) -> Result<(sessions::Session, Downloaded), HttpResponse> {
    let gone = || problem(state, "da", StatusCode::UNAUTHORIZED, "session_gone");
    let token = session_token(req, &state.base_url).ok_or_else(gone)?;
    let (hash, now) = (token_hash(&token), state.clock.now());
    let found = state
        .writer
        .write(move |c| {
            let Some(s) = sessions::live(c, &hash, now)? else {
                return Ok(None);
            };
            let seen = seen_patients(c, &s)?;
            if seen.is_empty() {
                return Ok(None);
            }
            let mut out = Vec::new();
            for (pid, _) in seen {
                let clinic = crate::storage::patients::clinic_of(c, &pid)?;
                // A patient's whole history (a few hundred responses at
                // most in practice; the bound keeps a download finite).
                let history = responses::patient_history(c, &pid, 100_000)?;
                audit::record(
                    c,
                    "patient",
                    "mydata.download",
                    &clinic,
                    Some(&pid),
                    Some(format),
                    now,
                )?;
                out.push((clinic, history));
            }
            Ok(Some((s, out)))
        })
        .await;
    match found {
        Ok(Some(x)) => Ok(x),
        Ok(None) => Err(problem(state, "da", StatusCode::FORBIDDEN, "session_gone")),
        Err(e) => Err(failed(state, e)),
    }
}

fn attachment(body: String, content_type: &str, name: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

/// `GET /me/download/fhir`: every response of the patient (a person's:
/// of every linked clinic) as a FHIR R4 Bundle of QuestionnaireResponses.
pub async fn download_fhir(req: HttpRequest, state: State) -> HttpResponse {
    let (_, data) = match downloaded(&req, &state, "fhir").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut entries = Vec::new();
    for (clinic, h) in &data {
        for r in &h.list {
            if let Some(q) = h.qs.get(&(r.questionnaire.clone(), r.version)) {
                entries.push(serde_json::json!({
                    "fullUrl": format!("urn:uuid:{}", r.id),
                    "resource": crate::fhir::response::questionnaire_response(q, r, clinic),
                }));
            }
        }
    }
    let bundle = serde_json::json!({
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": crate::storage::ids::ts(state.clock.now()),
        "entry": entries,
    });
    attachment(
        serde_json::to_string_pretty(&bundle).unwrap_or_default(),
        "application/fhir+json",
        "my-answers.fhir.json",
    )
}

/// `GET /me/download/csv`: every answer and score of the patient as CSV,
/// one row each, in the session's language.
pub async fn download_csv(req: HttpRequest, state: State) -> HttpResponse {
    let (session, data) = match downloaded(&req, &state, "csv").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let lang = session.language.clone();
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "clinic",
        "response",
        "answered",
        "questionnaire",
        "version",
        "kind",
        "id",
        "question",
        "value",
    ]);
    let safe = crate::storage::export::safe_cell;
    for (clinic, h) in &data {
        for r in &h.list {
            let Some(q) = h.qs.get(&(r.questionnaire.clone(), r.version)) else {
                continue;
            };
            let title = q.title.get(&lang).to_string();
            let version = r.version.to_string();
            let base = [
                clinic.as_str(),
                r.id.as_str(),
                r.response_date.as_str(),
                title.as_str(),
                version.as_str(),
            ];
            for it in &q.items {
                if let Some(v) = r.answers.get(&it.id) {
                    let answer = crate::web::history::answer_text(q, &it.id, v, &lang);
                    let mut row: Vec<String> = base.iter().map(|s| safe(s)).collect();
                    row.extend([
                        "answer".into(),
                        it.id.clone(),
                        safe(it.text.get(&lang)),
                        safe(&answer),
                    ]);
                    let _ = w.write_record(&row);
                }
            }
            for (id, v) in &r.scores {
                let mut row: Vec<String> = base.iter().map(|s| safe(s)).collect();
                let value = match v {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                row.extend(["score".into(), id.clone(), String::new(), safe(&value)]);
                let _ = w.write_record(&row);
            }
        }
    }
    let body = w
        .into_inner()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    attachment(body, "text/csv; charset=utf-8", "my-answers.csv")
}
