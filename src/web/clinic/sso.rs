//! Staff single sign-on through the hospital's OpenID provider:
//! `/clinic/sso` begins (the login's state, nonce and PKCE verifier kept
//! on the server, the state also in a cookie of this browser), the
//! provider sends the browser back to `/clinic/sso/callback`, where the
//! state must match the cookie and a login begun and not yet used, the
//! code is exchanged and the ID token checked (`oidc`), and
//! `usecase::sso` makes or updates the account. Every failure is a clear
//! page (the login page with what went wrong; the local login still
//! works where it is allowed) and an audit row.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use super::{State, login, read_cookie, safe_next, see_other};
use crate::oidc::OidcError;
use crate::usecase::sso::{Outcome, staff_login};

/// The cookie that ties the provider's answer to this browser.
const STATE_COOKIE: &str = "prom_sso_state";
/// What a login begun here is for (patients' logins are another purpose).
const PURPOSE: &str = "staff";

fn redirect_uri(state: &State) -> String {
    format!("{}/clinic/sso/callback", state.base_url)
}

fn state_cookie(base_url: &str, value: &str, max_age: i64) -> String {
    crate::web::oidc_state_cookie(base_url, STATE_COOKIE, "/clinic/sso", value, max_age)
}

#[derive(serde::Deserialize)]
pub struct Start {
    next: Option<String>,
    lang: Option<String>,
}

fn lang(l: Option<&str>) -> String {
    if l == Some("en") {
        "en".into()
    } else {
        "da".into()
    }
}

/// `GET /clinic/sso`: to the provider.
pub async fn start(req: HttpRequest, state: State, q: web::Query<Start>) -> HttpResponse {
    let lang = lang(q.lang.as_deref());
    let Some(sso) = state.staff_sso.clone() else {
        return login::page_with_error(
            &req,
            &state,
            &lang,
            None,
            "c_sso_off",
            StatusCode::NOT_FOUND,
        );
    };
    let begun = match sso.1.begin(&redirect_uri(&state)).await {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "staff single sign-on could not begin");
            return login::page_with_error(
                &req,
                &state,
                &lang,
                None,
                "c_sso_down",
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    let next = q.next.as_deref().and_then(safe_next);
    let (now, s, n, v) = (
        state.clock.now(),
        begun.state.clone(),
        begun.nonce.clone(),
        begun.pkce_verifier.clone(),
    );
    if let Err(e) = state
        .writer
        .write(move |c| {
            crate::storage::sessions::begin_oidc_login(c, &s, PURPOSE, &n, &v, next.as_deref(), now)
        })
        .await
    {
        return super::failed(&state, e);
    }
    let mut r = see_other(&begun.url);
    if let Ok(v) = header::HeaderValue::from_str(&state_cookie(&state.base_url, &begun.state, 600))
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(serde::Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /clinic/sso/callback`: back from the provider.
pub async fn callback(req: HttpRequest, state: State, q: web::Query<Callback>) -> HttpResponse {
    let lang = "da".to_string();
    let refuse = |key: &str, status: StatusCode| {
        let mut r = login::page_with_error(&req, &state, &lang, None, key, status);
        if let Ok(v) = header::HeaderValue::from_str(&state_cookie(&state.base_url, "", 0)) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        r
    };
    let Some(sso) = state.staff_sso.clone() else {
        return login::page_with_error(
            &req,
            &state,
            &lang,
            None,
            "c_sso_off",
            StatusCode::NOT_FOUND,
        );
    };
    let now = state.clock.now();
    let audit = |reason: &'static str| {
        let writer = state.writer.clone();
        async move {
            let _ = writer
                .write(move |c| {
                    crate::storage::audit::append(
                        c,
                        &crate::storage::audit::Entry {
                            at: &crate::storage::ids::ts(now),
                            actor: "sso",
                            action: "staff.sso_refused",
                            subject: Some(reason),
                            ..Default::default()
                        },
                    )
                })
                .await;
        }
    };
    if q.error.is_some() {
        audit("the provider answered with an error").await;
        return refuse("c_sso_failed", StatusCode::FORBIDDEN);
    }
    // The state must be this browser's and a login begun, unused.
    let cookie = read_cookie(&req, STATE_COOKIE);
    let (Some(sent), Some(code)) = (q.state.clone(), q.code.clone()) else {
        audit("no state or code").await;
        return refuse("c_sso_state", StatusCode::BAD_REQUEST);
    };
    if !cookie.is_some_and(|c| crate::security::same_secret(&c, &sent)) {
        audit("the state is not this browser's").await;
        return refuse("c_sso_state", StatusCode::BAD_REQUEST);
    }
    let s = sent.clone();
    let begun = match state
        .writer
        .write(move |c| crate::storage::sessions::use_oidc_login(c, &s, PURPOSE, now))
        .await
    {
        Ok(Some(b)) => b,
        Ok(None) => {
            audit("the state is unknown, used or too old").await;
            return refuse("c_sso_state", StatusCode::BAD_REQUEST);
        }
        Err(e) => return super::failed(&state, e),
    };
    let (nonce, verifier, next) = begun;
    let who = match sso
        .1
        .complete(&redirect_uri(&state), &code, &nonce, &verifier, now)
        .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "a staff single sign-on was refused");
            let (reason, key, status) = match e {
                OidcError::Unreachable(_) => (
                    "the provider cannot be reached",
                    "c_sso_down",
                    StatusCode::SERVICE_UNAVAILABLE,
                ),
                OidcError::Refused(_) => (
                    "the provider refused the code",
                    "c_sso_failed",
                    StatusCode::FORBIDDEN,
                ),
                OidcError::Invalid(_) => (
                    "the ID token is not valid",
                    "c_sso_failed",
                    StatusCode::FORBIDDEN,
                ),
            };
            audit(reason).await;
            return refuse(key, status);
        }
    };
    let l = lang.clone();
    let config = sso.clone();
    let parked = serde_json::to_string(&who).unwrap_or_default();
    let outcome = state
        .writer
        .write(move |c| {
            let outcome = staff_login(c, &config.0, &who, None, &l, now)?;
            if matches!(outcome, Outcome::Choose(_)) {
                crate::storage::sessions::park_identity(c, &sent, &parked)?;
            }
            Ok(outcome)
        })
        .await;
    finish(&req, &state, &lang, next, outcome).await
}

/// The answer to a single sign-on's outcome: the page that goes on to the
/// workspace, the chooser of clinics, or the page that says why not.
async fn finish(
    req: &HttpRequest,
    state: &State,
    lang: &str,
    next: Option<String>,
    outcome: Result<Outcome, crate::storage::StorageError>,
) -> HttpResponse {
    let refuse = |key: &str, status: StatusCode| {
        let mut r = login::page_with_error(req, state, lang, None, key, status);
        if let Ok(v) = header::HeaderValue::from_str(&state_cookie(&state.base_url, "", 0)) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
        r
    };
    match outcome {
        Ok(Outcome::LoggedIn(token, _)) => {
            // A page that goes on by itself, not a redirect: the session
            // cookie is SameSite=Strict, and a browser does not send it on
            // a redirect chain that began at the provider's site.
            let mut c = tera::Context::new();
            c.insert("to", next.as_deref().unwrap_or("/clinic"));
            let mut r = state
                .pages
                .render(StatusCode::OK, "clinic/continue.html", lang, c);
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            login::set_session(r.headers_mut(), &state.base_url, &token, None);
            if let Ok(v) = header::HeaderValue::from_str(&state_cookie(&state.base_url, "", 0)) {
                r.headers_mut().append(header::SET_COOKIE, v);
            }
            r
        }
        Ok(Outcome::NoAccess) => refuse("c_sso_no_access", StatusCode::FORBIDDEN),
        Ok(Outcome::TooWeak) => refuse("c_sso_too_weak", StatusCode::FORBIDDEN),
        Ok(Outcome::EmailTaken) => refuse("c_sso_email_taken", StatusCode::CONFLICT),
        Ok(Outcome::Choose(clinics)) => {
            let ids: Vec<String> = clinics.iter().map(|(c, _)| c.clone()).collect();
            let names = match super::read(state, move |c| {
                ids.iter()
                    .map(|id| crate::storage::clinics::get_clinic(c, id).map(|k| k.name))
                    .collect::<Result<Vec<String>, _>>()
            })
            .await
            {
                Ok(n) => n,
                Err(e) => return super::failed(state, e),
            };
            let choices: Vec<serde_json::Value> = clinics
                .iter()
                .zip(names)
                .map(|((id, role), name)| serde_json::json!({"id": id, "name": name, "role": role}))
                .collect();
            let mut c = tera::Context::new();
            c.insert("choices", &choices);
            c.insert("sso_state", &read_cookie(req, STATE_COOKIE));
            c.insert("next", &next);
            state
                .pages
                .render(StatusCode::OK, "clinic/choose.html", lang, c)
        }
        Err(e) => super::failed(state, e),
    }
}

/// `POST /clinic/sso/choose`: the clinic chosen, where the claims give
/// roles in several; the identity parked at the callback is taken (once).
pub async fn choose(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let lang = "da".to_string();
    let Some(sso) = state.staff_sso.clone() else {
        return login::page_with_error(
            &req,
            &state,
            &lang,
            None,
            "c_sso_off",
            StatusCode::NOT_FOUND,
        );
    };
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(sent), Some(clinic)) = (field("state"), field("clinic")) else {
        return login::page_with_error(
            &req,
            &state,
            &lang,
            None,
            "c_sso_state",
            StatusCode::BAD_REQUEST,
        );
    };
    // The form carries the state, which must be this browser's (its
    // cookie): the double submit that ties the choice to the login.
    if !read_cookie(&req, STATE_COOKIE).is_some_and(|c| crate::security::same_secret(&c, &sent)) {
        return login::page_with_error(
            &req,
            &state,
            &lang,
            None,
            "c_sso_state",
            StatusCode::BAD_REQUEST,
        );
    }
    let next = field("next").as_deref().and_then(safe_next);
    let (now, l, config) = (state.clock.now(), lang.clone(), sso.clone());
    let outcome = state
        .writer
        .write(move |c| {
            let Some(parked) = crate::storage::sessions::take_identity(c, &sent, now)? else {
                return Ok(None);
            };
            let Ok(who) = serde_json::from_str::<crate::oidc::Identity>(&parked) else {
                return Ok(None);
            };
            let outcome = staff_login(c, &config.0, &who, Some(&clinic), &l, now)?;
            if matches!(outcome, Outcome::Choose(_)) {
                crate::storage::sessions::park_identity(c, &sent, &parked)?;
            }
            Ok(Some(outcome))
        })
        .await;
    match outcome {
        Ok(None) => login::page_with_error(
            &req,
            &state,
            &lang,
            None,
            "c_sso_state",
            StatusCode::BAD_REQUEST,
        ),
        Ok(Some(o)) => finish(&req, &state, &lang, next, Ok(o)).await,
        Err(e) => super::failed(&state, e),
    }
}
