//! The patients' pages: an invitation link (`/a/{token}`) exchanged at
//! once for a session and a redirect to `/a`; the form page by page
//! (`show_if` decided by the server, a draft saved at every page change,
//! refusals beside their fields, CSRF on every form); the receipt. Every
//! page works without JavaScript.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Map, Value as Json};
use tera::Context;

use super::AppState;
use super::pages::{same_secret, session_cookie, session_token};
use crate::clock::local_date;
use crate::core::engine::{AnswerError, Mode, validate};
use crate::core::form::{merge_page, page_view, pages, unseen_questions};
use crate::security::token_hash;
use crate::storage::{invitations, responses, sessions};
use crate::usecase::invitation::{LinkProblem, open_link};
use crate::usecase::{Submission, submit_response};

mod login;
mod mydata;

type State = web::Data<AppState>;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // Fixed paths before `/a/{token}`, which would take them as tokens.
    cfg.route("/", web::get().to(home))
        .route("/me", web::get().to(mydata::show))
        .route("/me/correction", web::post().to(mydata::correction))
        .route("/me/link", web::post().to(mydata::send_link))
        .route("/me/download/fhir", web::get().to(mydata::download_fhir))
        .route("/me/download/csv", web::get().to(mydata::download_csv))
        .route("/me/login", web::get().to(login::start))
        .route("/me/login/callback", web::get().to(login::callback))
        .route("/me/connect", web::get().to(login::connect_form))
        .route("/me/connect", web::post().to(login::connect))
        .route("/me/answer/{invitation}", web::post().to(login::answer))
        .route("/me/{token}", web::get().to(mydata::open))
        .route("/me/{token}", web::post().to(mydata::open_confirmed))
        .route("/a", web::get().to(show))
        .route("/a", web::post().to(answer))
        .route("/done", web::get().to(done))
        .route("/done/contact", web::post().to(contact))
        .route("/a/visible", web::post().to(visible))
        .route("/a/print", web::get().to(print_own))
        .route("/print/{questionnaire}", web::get().to(print_blank))
        .route(
            "/static/print.css",
            web::get().to(super::pages::print_stylesheet),
        )
        .route("/static/app.css", web::get().to(super::pages::stylesheet))
        .route("/static/app.js", web::get().to(super::pages::script))
        .route("/a/{token}", web::get().to(open))
        .route("/a/{token}", web::post().to(open_confirmed));
}

#[derive(serde::Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

/// `GET /`: what this is, for a patient without their link (Danish first,
/// English by `?lang=en`), and the way in for staff.
async fn home(state: State, q: web::Query<LangQuery>) -> HttpResponse {
    let lang = match q.lang.as_deref() {
        Some("en") => "en",
        _ => "da",
    };
    state
        .pages
        .render(StatusCode::OK, "patient/home.html", lang, Context::new())
}

fn problem(state: &State, lang: &str, status: StatusCode, key: &str) -> HttpResponse {
    let mut c = Context::new();
    c.insert(
        "heading",
        &state.pages.text(lang, &format!("{key}_heading")),
    );
    c.insert("message", &state.pages.text(lang, key));
    state.pages.render(status, "patient/problem.html", lang, c)
}

fn failed(state: &State, e: crate::storage::StorageError) -> HttpResponse {
    let id = crate::storage::ids::new_id();
    tracing::error!(error_id = %id, error = %e, "a patient page failed");
    let mut c = Context::new();
    c.insert("heading", "Der skete en fejl / Something went wrong");
    c.insert("message", &format!("Fejl-id / error id: {id}"));
    state.pages.render(
        StatusCode::SERVICE_UNAVAILABLE,
        "patient/problem.html",
        "da",
        c,
    )
}

/// The page that asks before a link replaces the session of another
/// patient that this browser holds (a shared tablet, a relative's phone);
/// `None` when there is no such session. The form posts back to the
/// link's own address with the held session's CSRF token.
pub(super) async fn ask_before_replacing(
    req: &HttpRequest,
    state: &State,
    link: &str,
    action: &str,
) -> Option<HttpResponse> {
    let token = session_token(req, &state.base_url)?;
    let (hash, now, link) = (token_hash(&token), state.clock.now(), link.to_string());
    let readers = state.readers.clone();
    let found = web::block(move || {
        readers.with(|c| {
            let Some(s) = sessions::live(c, &hash, now)? else {
                return Ok(None);
            };
            let linked = crate::usecase::invitation::patient_of_link(c, &link, now)?;
            Ok(Some((s, linked)))
        })
    })
    .await
    .ok()?
    .ok()??;
    let (held, linked) = found;
    if held.kind != "patient" || linked.is_none() || held.patient_id == linked {
        return None;
    }
    let mut c = Context::new();
    c.insert("csrf", &held.csrf);
    c.insert("action", action);
    Some(
        state
            .pages
            .render(StatusCode::OK, "patient/replace.html", &held.language, c),
    )
}

/// Whether a confirmed link may replace the session this browser holds:
/// the form must carry that session's CSRF token (no session held, or one
/// ended: nothing to protect).
pub(super) async fn may_replace(
    req: &HttpRequest,
    state: &State,
    fields: &[(String, String)],
) -> bool {
    let Some(token) = session_token(req, &state.base_url) else {
        return true;
    };
    let (hash, now, readers) = (token_hash(&token), state.clock.now(), state.readers.clone());
    match web::block(move || readers.with(|c| sessions::live(c, &hash, now))).await {
        Ok(Ok(Some(s))) => csrf_ok(fields, &s),
        Ok(Ok(None)) => true,
        _ => false,
    }
}

/// `GET /a/{token}`: the link, exchanged for a session at once (after
/// asking, when the browser holds another patient's session).
async fn open(req: HttpRequest, state: State, token: web::Path<String>) -> HttpResponse {
    let token = token.into_inner();
    if let Some(ask) = ask_before_replacing(&req, &state, &token, &format!("/a/{token}")).await {
        return ask;
    }
    exchange(state, token).await
}

/// `POST /a/{token}`: the link opened after the patient confirmed that it
/// replaces the session this browser held.
async fn open_confirmed(
    req: HttpRequest,
    state: State,
    token: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    if !may_replace(&req, &state, &fields).await {
        return problem(&state, "da", StatusCode::FORBIDDEN, "session_gone");
    }
    exchange(state, token.into_inner()).await
}

async fn exchange(state: State, token: String) -> HttpResponse {
    let now = state.clock.now();
    match state
        .writer
        .write(move |conn| open_link(conn, &token, now))
        .await
    {
        Ok(Ok(opened)) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/a"))
            .insert_header((
                header::SET_COOKIE,
                session_cookie(&state.base_url, &opened.session_token),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .finish(),
        Ok(Err(p)) => {
            let (status, key) = match p {
                LinkProblem::Unknown => (StatusCode::NOT_FOUND, "link_unknown"),
                LinkProblem::Expired => (StatusCode::GONE, "link_expired"),
                LinkProblem::Used => (StatusCode::GONE, "link_used"),
            };
            problem(&state, "da", status, key)
        }
        Err(e) => failed(&state, e),
    }
}

/// Whether a form carries its session's CSRF token.
fn csrf_ok(fields: &[(String, String)], session: &sessions::Session) -> bool {
    fields
        .iter()
        .any(|(k, t)| k == "csrf" && same_secret(t, &session.csrf))
}

/// The request's patient session and its invitation.
struct Visit {
    token_hash: String,
    session: sessions::Session,
    invitation: invitations::Invitation,
    /// The answers so far and the page, read with the session (one trip to
    /// the database per page).
    draft: Option<(Map<String, Json>, u32)>,
}

async fn visit(req: &HttpRequest, state: &State) -> Result<Visit, HttpResponse> {
    let gone = || problem(state, "da", StatusCode::UNAUTHORIZED, "session_gone");
    let token = session_token(req, &state.base_url).ok_or_else(gone)?;
    let hash = token_hash(&token);
    let now = state.clock.now();
    let readers = state.readers.clone();
    let h = hash.clone();
    let found = web::block(move || {
        readers.with(|conn| {
            let Some(s) = sessions::live(conn, &h, now)? else {
                return Ok(None);
            };
            let Some(inv) = s.invitation_id.as_deref() else {
                return Ok(None);
            };
            let inv = invitations::by_id(conn, inv)?;
            let draft = invitations::draft(conn, &inv.id)?;
            Ok(Some((s, inv, draft)))
        })
    })
    .await;
    match found {
        Ok(Ok(Some((session, invitation, draft)))) if session.kind == "patient" => Ok(Visit {
            token_hash: hash,
            session,
            invitation,
            draft,
        }),
        Ok(Ok(_)) => Err(gone()),
        Ok(Err(e)) => Err(failed(state, e)),
        Err(_) => Err(failed(
            state,
            crate::storage::StorageError::Sqlite("a blocking task failed".into()),
        )),
    }
}

#[derive(serde::Deserialize)]
struct ShowQuery {
    lang: Option<String>,
}

/// `GET /a`: the page the patient is on, in the session's language;
/// `?lang=en` switches it and is remembered.
async fn show(req: HttpRequest, state: State, q: web::Query<ShowQuery>) -> HttpResponse {
    let v = match visit(&req, &state).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    if let Some(lang) = q.lang.clone()
        && crate::vocab::Language::parse(&lang).is_ok()
    {
        let h = v.token_hash.clone();
        let _ = state
            .writer
            .write(move |conn| sessions::set_language(conn, &h, &lang))
            .await;
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/a"))
            .finish();
    }
    if v.invitation.response_id.is_some() {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/done"))
            .finish();
    }
    let (answers, page) = v.draft.clone().unwrap_or_default();
    form(&state, &v, &answers, page as usize, &[], StatusCode::OK)
}

fn form(
    state: &State,
    v: &Visit,
    answers: &Map<String, Json>,
    page: usize,
    errors: &[AnswerError],
    status: StatusCode,
) -> HttpResponse {
    form_with(state, v, answers, page, errors, status, false)
}

/// The form page; `more` says that the answers just sent brought new
/// questions on this page.
fn form_with(
    state: &State,
    v: &Visit,
    answers: &Map<String, Json>,
    page: usize,
    errors: &[AnswerError],
    status: StatusCode,
    more: bool,
) -> HttpResponse {
    let Some(q) = state.catalog.get(&v.invitation.questionnaire_id) else {
        return problem(state, &v.session.language, StatusCode::GONE, "link_unknown");
    };
    let date = local_date(state.clock.now(), "Europe/Copenhagen");
    let view = page_view(&q, &v.session.language, answers, page, errors, date);
    let shown: Vec<Json> = view
        .items
        .iter()
        .filter_map(|i| {
            i.error
                .as_ref()
                .map(|m| serde_json::json!({"id": i.id, "message": m}))
        })
        .collect();
    state.pages.render_cached(
        status,
        "patient/form.html",
        &view.language,
        &FormPage {
            page: &view,
            errors: shown,
            more,
        },
        &v.session.csrf,
    )
}

/// What the form page shows besides the session's CSRF token.
#[derive(serde::Serialize)]
struct FormPage<'a> {
    page: &'a crate::core::form::PageView,
    errors: Vec<Json>,
    more: bool,
}

/// `POST /a`: this page's answers; back, next or send.
async fn answer(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let v = match visit(&req, &state).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if !csrf_ok(&fields, &v.session) {
        return problem(
            &state,
            &v.session.language,
            StatusCode::FORBIDDEN,
            "session_gone",
        );
    }
    let Some(q) = state.catalog.get(&v.invitation.questionnaire_id) else {
        return problem(
            &state,
            &v.session.language,
            StatusCode::GONE,
            "link_unknown",
        );
    };
    // This page's answers replace what the draft held for its items.
    let before = v.draft.clone().map(|d| d.0).unwrap_or_default();
    let (page, answers) = merge_page(&q, before.clone(), &fields);
    let all = pages(&q);
    let on_page: Vec<&str> = all
        .get(page)
        .map(|r| q.items[r.clone()].iter().map(|i| i.id.as_str()).collect())
        .unwrap_or_default();
    let now = state.clock.now();
    let date = local_date(now, "Europe/Copenhagen");
    let lang = v.session.language.clone();
    let go = field("go").unwrap_or("next");
    let checked = validate(&q, &answers, Mode::Web, date);
    let errors_here: Vec<AnswerError> = match &checked {
        Ok(_) => Vec::new(),
        Err(errs) => errs
            .iter()
            .filter(|e| on_page.contains(&e.item.as_str()))
            .cloned()
            .collect(),
    };
    // Without JavaScript a question that the answers on this page just
    // showed has not been seen: the same page again, with it, before any
    // refusal of it (the patient has not had the chance to answer it).
    let unseen = if go == "back" {
        Vec::new()
    } else {
        unseen_questions(&q, &before, &answers, page, &fields, date)
    };
    let errors_here: Vec<AnswerError> = errors_here
        .into_iter()
        .filter(|e| !unseen.contains(&e.item))
        .collect();
    let next_page = match go {
        "back" => page.saturating_sub(1),
        _ if !errors_here.is_empty() || !unseen.is_empty() => page,
        "submit" => page,
        _ => (page + 1).min(all.len().saturating_sub(1)),
    };
    let (inv, a2) = (v.invitation.id.clone(), answers.clone());
    if let Err(e) = state
        .writer
        .write(move |conn| invitations::save_draft(conn, &inv, &a2, next_page as u32, now))
        .await
    {
        return failed(&state, e);
    }
    if go != "back" && (!errors_here.is_empty() || !unseen.is_empty()) {
        let status = if errors_here.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        return form_with(
            &state,
            &v,
            &answers,
            page,
            &errors_here,
            status,
            !unseen.is_empty(),
        );
    }
    if go != "submit" {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/a"))
            .finish();
    }
    let evaluation = match checked {
        Ok(ev) => ev,
        Err(errs) => {
            // Show the first page with a refusal.
            let first = all
                .iter()
                .position(|r| {
                    q.items[r.clone()]
                        .iter()
                        .any(|it| errs.iter().any(|e| e.item == it.id))
                })
                .unwrap_or(page);
            return form(
                &state,
                &v,
                &answers,
                first,
                &errs,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    let sub = Submission {
        clinic_id: v.invitation.clinic_id.clone(),
        patient_ref: v.invitation.patient_ref.clone(),
        questionnaire: q,
        evaluation,
        mode: Mode::Web,
        actor: "patient".into(),
        now,
        idempotency: None,
        supersedes: None,
        base_url: state.base_url.clone(),
        invitation: Some(v.invitation.id.clone()),
    };
    match state
        .writer
        .write(move |conn| submit_response(conn, &sub))
        .await
    {
        Ok(stored) => {
            if let crate::usecase::submit::Submitted::New(rec) = &stored {
                state.stats.stored(rec, false, "web");
            }
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, "/done"))
                .finish()
        }
        Err(e) => {
            tracing::warn!(error = %e, "a patient's response was not stored");
            problem(
                &state,
                &lang,
                StatusCode::SERVICE_UNAVAILABLE,
                "session_gone",
            )
        }
    }
}

/// `POST /a/visible`: which questions of the page show for the answers so
/// far and those in the form (the page's script asks; nothing is saved).
async fn visible(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let v = match visit(&req, &state).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    if !csrf_ok(&fields, &v.session) {
        return HttpResponse::Forbidden().finish();
    }
    let Some(q) = state.catalog.get(&v.invitation.questionnaire_id) else {
        return HttpResponse::NotFound().finish();
    };
    let answers = v.draft.clone().map(|d| d.0).unwrap_or_default();
    let (page, answers) = merge_page(&q, answers, &fields);
    let date = local_date(state.clock.now(), "Europe/Copenhagen");
    let view = page_view(&q, &v.session.language, &answers, page, &[], date);
    super::pages::visible_answer(&view)
}

#[derive(serde::Deserialize)]
struct PrintQuery {
    lang: Option<String>,
}

/// The code printed on a paper form, which staff type in when they enter
/// it: the end of the invitation's id, in two groups.
pub fn paper_code(invitation_id: &str) -> String {
    let hex: String = invitation_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .collect::<String>()
        .to_uppercase();
    let tail = &hex[hex.len().saturating_sub(8)..];
    format!(
        "{}-{}",
        &tail[..tail.len().min(4)],
        &tail[tail.len().min(4)..]
    )
}

/// `GET /print/{questionnaire}`: the blank paper form (no patient data).
async fn print_blank(
    state: State,
    id: web::Path<String>,
    q: web::Query<PrintQuery>,
) -> HttpResponse {
    let lang = q.lang.clone().unwrap_or_else(|| "da".into());
    match state.catalog.get(&id) {
        Some(qn) => state.pages.paper(&qn, &lang, None, None),
        None => problem(&state, &lang, StatusCode::NOT_FOUND, "link_unknown"),
    }
}

/// `GET /a/print`: the patient's own questionnaire on paper, with their
/// reference and the code for the clinic.
async fn print_own(req: HttpRequest, state: State) -> HttpResponse {
    let v = match visit(&req, &state).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match state.catalog.get(&v.invitation.questionnaire_id) {
        Some(qn) => state.pages.paper(
            &qn,
            &v.session.language,
            Some(&v.invitation.patient_ref),
            Some(&paper_code(&v.invitation.id)),
        ),
        None => problem(
            &state,
            &v.session.language,
            StatusCode::GONE,
            "link_unknown",
        ),
    }
}

/// `GET /done`: the receipt, with the advice of every rule that fired,
/// safety advice first.
async fn done(req: HttpRequest, state: State) -> HttpResponse {
    let v = match visit(&req, &state).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let Some(rid) = v.invitation.response_id.clone() else {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/a"))
            .finish();
    };
    let (cid, readers) = (v.invitation.clinic_id.clone(), state.readers.clone());
    let rec =
        match web::block(move || readers.with(|c| responses::get_response(c, &cid, &rid))).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return failed(&state, e),
            Err(_) => return failed(&state, crate::storage::StorageError::WriterGone),
        };
    let lang = v.session.language.clone();
    let mut advice: Vec<String> = Vec::new();
    if let Some(q) = state.catalog.get(&rec.questionnaire) {
        // Red rules' advice first.
        let mut fired: Vec<&crate::core::model::Rule> = rec
            .flags
            .iter()
            .filter_map(|f| q.rules.iter().find(|r| r.id == f.rule))
            .collect();
        fired.sort_by_key(|r| std::cmp::Reverse(r.level));
        for r in fired {
            if let Some(t) = &r.patient_text {
                advice.push(t.get(&lang).to_string());
            }
        }
    }
    let asked = q_asked(&req);
    let mut c = Context::new();
    c.insert("advice", &advice);
    c.insert("csrf", &v.session.csrf);
    c.insert("asked", &asked);
    state
        .pages
        .render(StatusCode::OK, "patient/receipt.html", &lang, c)
}

/// Whether the receipt is shown after a contact request (`?asked=1`).
fn q_asked(req: &HttpRequest) -> bool {
    req.query_string().split('&').any(|p| p == "asked=1")
}

/// `POST /done/contact`: "I want the clinic to contact me".
async fn contact(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let v = match visit(&req, &state).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let token_ok = csrf_ok(&fields, &v.session);
    let Some(rid) = v.invitation.response_id.clone().filter(|_| token_ok) else {
        return problem(
            &state,
            &v.session.language,
            StatusCode::FORBIDDEN,
            "session_gone",
        );
    };
    let now = state.clock.now();
    let (cid, pid) = (
        v.invitation.clinic_id.clone(),
        v.invitation.patient_id.clone(),
    );
    match state
        .writer
        .write(move |conn| crate::usecase::contact::request_contact(conn, &cid, &pid, &rid, now))
        .await
    {
        Ok(()) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/done?asked=1"))
            .finish(),
        Err(e) => failed(&state, e),
    }
}
