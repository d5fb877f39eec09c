//! Patients' login through an OpenID provider (MitID through a broker):
//! `/me/login` begins (state, nonce and PKCE verifier kept on the server,
//! the state also in a cookie), `/me/login/callback` checks them, has the
//! ID token checked (`oidc`) and logs the person in (`usecase::person`).
//! When the browser held an invitation's session for a patient not yet
//! linked to the person, `/me/connect` asks before linking. A person's
//! `/me` shows every linked clinic's part and the questionnaires to
//! answer; `/me/answer/{invitation}` opens one.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use tera::Context;

use super::{State, csrf_ok, failed, problem};
use crate::oidc::OidcError;
use crate::security::token_hash;
use crate::storage::sessions;
use crate::usecase::person::{self, Linking, Login};
use crate::web::pages::{session_cookie, session_token};

const STATE_COOKIE: &str = "prom_me_state";
const PURPOSE: &str = "patient";

fn redirect_uri(state: &State) -> String {
    format!("{}/me/login/callback", state.base_url)
}

fn state_cookie(base_url: &str, value: &str, max_age: i64) -> String {
    crate::web::oidc_state_cookie(base_url, STATE_COOKIE, "/me/login", value, max_age)
}

fn to(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The session this browser holds, if live.
async fn held(req: &HttpRequest, state: &State) -> Option<(String, sessions::Session)> {
    let token = session_token(req, &state.base_url)?;
    let (hash, now, readers) = (token_hash(&token), state.clock.now(), state.readers.clone());
    let h = hash.clone();
    let s = web::block(move || readers.with(|c| sessions::live(c, &h, now)))
        .await
        .ok()?
        .ok()??;
    Some((hash, s))
}

/// `GET /me/login`: to the provider.
pub async fn start(state: State) -> HttpResponse {
    let Some(sso) = state.patient_sso.clone() else {
        return problem(&state, "da", StatusCode::NOT_FOUND, "link_unknown");
    };
    let begun = match sso.1.begin(&redirect_uri(&state)).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "a patient's login could not begin");
            return problem(
                &state,
                "da",
                StatusCode::SERVICE_UNAVAILABLE,
                "me_login_down",
            );
        }
    };
    let (now, s, n, v) = (
        state.clock.now(),
        begun.state.clone(),
        begun.nonce.clone(),
        begun.pkce_verifier.clone(),
    );
    if let Err(e) = state
        .writer
        .write(move |c| sessions::begin_oidc_login(c, &s, PURPOSE, &n, &v, None, now))
        .await
    {
        return failed(&state, e);
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, begun.url))
        .insert_header((
            header::SET_COOKIE,
            state_cookie(&state.base_url, &begun.state, 600),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[derive(serde::Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
}

/// `GET /me/login/callback`: back from the provider.
pub async fn callback(req: HttpRequest, state: State, q: web::Query<Callback>) -> HttpResponse {
    let Some(sso) = state.patient_sso.clone() else {
        return problem(&state, "da", StatusCode::NOT_FOUND, "link_unknown");
    };
    let now = state.clock.now();
    let refuse = |status: StatusCode, key: &str| {
        let mut r = problem(&state, "da", status, key);
        if let Ok(v) = header::HeaderValue::from_str(&state_cookie(&state.base_url, "", 0)) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        r
    };
    let audit = |reason: &'static str| {
        let writer = state.writer.clone();
        async move {
            let _ = writer
                .write(move |c| {
                    crate::storage::audit::append(
                        c,
                        &crate::storage::audit::Entry {
                            at: &crate::storage::ids::ts(now),
                            actor: "patient",
                            action: "person.login_refused",
                            subject: Some(reason),
                            ..Default::default()
                        },
                    )
                })
                .await;
        }
    };
    let cookie = super::super::clinic::read_cookie_named(&req, STATE_COOKIE);
    let (Some(sent), Some(code)) = (q.state.clone(), q.code.clone()) else {
        audit("no state or code").await;
        return refuse(StatusCode::BAD_REQUEST, "me_login_failed");
    };
    if !cookie.is_some_and(|c| crate::security::same_secret(&c, &sent)) {
        audit("the state is not this browser's").await;
        return refuse(StatusCode::BAD_REQUEST, "me_login_failed");
    }
    let begun = match state
        .writer
        .write(move |c| sessions::use_oidc_login(c, &sent, PURPOSE, now))
        .await
    {
        Ok(Some(b)) => b,
        Ok(None) => {
            audit("the state is unknown, used or too old").await;
            return refuse(StatusCode::BAD_REQUEST, "me_login_failed");
        }
        Err(e) => return failed(&state, e),
    };
    let who = match sso
        .1
        .complete(&redirect_uri(&state), &code, &begun.0, &begun.1, now)
        .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "a patient's login was refused");
            return match e {
                OidcError::Unreachable(_) => {
                    audit("the provider cannot be reached").await;
                    refuse(StatusCode::SERVICE_UNAVAILABLE, "me_login_down")
                }
                _ => {
                    audit("the provider refused the code or the ID token is not valid").await;
                    refuse(StatusCode::FORBIDDEN, "me_login_failed")
                }
            };
        }
    };
    let held = held(&req, &state).await.map(|(_, s)| s);
    let config = sso.clone();
    match state
        .writer
        .write(move |c| person::login(c, &config.0, &who, held.as_ref(), now))
        .await
    {
        Ok(Login::In(token, pending)) => {
            let mut r = to(if pending.is_some() {
                "/me/connect"
            } else {
                "/me"
            });
            if let Ok(v) = header::HeaderValue::from_str(&session_cookie(&state.base_url, &token)) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            if let Ok(v) = header::HeaderValue::from_str(&state_cookie(&state.base_url, "", 0)) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Login::TooWeak) => refuse(StatusCode::FORBIDDEN, "me_login_too_weak"),
        Ok(Login::NoIdentifier) => refuse(StatusCode::FORBIDDEN, "me_login_failed"),
        Err(e) => failed(&state, e),
    }
}

/// `GET /me/connect`: asks before the invitation's patient is linked to
/// the person who logged in.
pub async fn connect_form(req: HttpRequest, state: State) -> HttpResponse {
    let Some((_, s)) = held(&req, &state).await else {
        return problem(&state, "da", StatusCode::UNAUTHORIZED, "session_gone");
    };
    let Some(patient) = s
        .next
        .as_deref()
        .and_then(|n| n.strip_prefix("link:"))
        .map(String::from)
        .filter(|_| s.person_id.is_some())
    else {
        return to("/me");
    };
    let readers = state.readers.clone();
    let clinic = match web::block(move || {
        readers.with(|c| {
            let id = crate::storage::patients::clinic_of(c, &patient)?;
            crate::storage::clinics::get_clinic(c, &id)
        })
    })
    .await
    {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return failed(&state, e),
        Err(_) => return failed(&state, crate::storage::StorageError::WriterGone),
    };
    let mut c = Context::new();
    c.insert("csrf", &s.csrf);
    c.insert("clinic", &clinic.name);
    state
        .pages
        .render(StatusCode::OK, "patient/connect.html", &s.language, c)
}

/// `POST /me/connect`: the person says yes.
pub async fn connect(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let Some((hash, s)) = held(&req, &state).await else {
        return problem(&state, "da", StatusCode::UNAUTHORIZED, "session_gone");
    };
    if !csrf_ok(&fields, &s) {
        return problem(&state, "da", StatusCode::FORBIDDEN, "session_gone");
    }
    let now = state.clock.now();
    match state
        .writer
        .write(move |c| person::confirm_link(c, &hash, &s, now))
        .await
    {
        Ok(Linking::Refused) => to("/me?link=refused"),
        Ok(_) => to("/me"),
        Err(e) => failed(&state, e),
    }
}

/// `POST /me/answer/{invitation}`: a person opens one of their
/// questionnaires.
pub async fn answer(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let Some((_, s)) = held(&req, &state).await else {
        return problem(&state, "da", StatusCode::UNAUTHORIZED, "session_gone");
    };
    if !csrf_ok(&fields, &s) {
        return problem(&state, "da", StatusCode::FORBIDDEN, "session_gone");
    }
    let (now, id) = (state.clock.now(), path.into_inner());
    match state
        .writer
        .write(move |c| person::answer(c, &s, &id, now))
        .await
    {
        Ok(Some(token)) => {
            let mut r = to("/a");
            if let Ok(v) = header::HeaderValue::from_str(&session_cookie(&state.base_url, &token)) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Ok(None) => problem(&state, "da", StatusCode::NOT_FOUND, "link_unknown"),
        Err(e) => failed(&state, e),
    }
}
