//! Logging in: e-mail and password, then the second factor — set up at the
//! first login (a QR code drawn here, the secret also as text, recovery
//! codes shown once), a TOTP code or a recovery code afterwards. Failed
//! attempts are throttled per account and per address; the session is
//! renewed (a new token) when the login completes; logout ends it on the
//! server.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use std::sync::OnceLock;

use super::{
    Access, Me, State, cookie, cookie_name, failed, field, me, me_posting, message, read,
    read_cookie, render, safe_next, see_other,
};
use crate::security::{hash_password, signed_token, signed_token_ok, verify_password};
use crate::storage::staff;
use crate::usecase::staff as login;

/// What the login form's token is signed for.
const LOGIN_PURPOSE: &str = "staff login form";
/// How long a login form's token holds.
const LOGIN_TOKEN_SECONDS: i64 = 2 * 3600;

/// The pre-login CSRF cookie (double submit: the form carries the same
/// value).
fn login_cookie(base_url: &str) -> &'static str {
    if base_url.starts_with("https://") {
        "__Host-prom_login"
    } else {
        "prom_login"
    }
}

/// A hash to check a password against when the account does not exist, so
/// that a wrong e-mail takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default())
}

fn address(req: &HttpRequest) -> String {
    let trusted = req
        .app_data::<State>()
        .map(|s| s.trusted_proxies.clone())
        .unwrap_or_default();
    crate::web::client_address(req, &trusted)
}

fn lang_of(req: &HttpRequest) -> String {
    let q = req.query_string();
    if q.split('&').any(|p| p == "lang=en") {
        "en".into()
    } else {
        "da".into()
    }
}

#[derive(serde::Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    lang: Option<String>,
}

/// `GET /clinic/login`.
pub async fn form(req: HttpRequest, state: State, q: web::Query<LoginQuery>) -> HttpResponse {
    let lang = q
        .lang
        .clone()
        .filter(|l| l == "en")
        .unwrap_or_else(|| "da".into());
    let next = q.next.as_deref().and_then(safe_next);
    login_page(&req, &state, &lang, next.as_deref(), None, StatusCode::OK)
}

/// The login page with what went wrong (a single sign-on refused, the
/// provider down).
pub(super) fn page_with_error(
    req: &HttpRequest,
    state: &State,
    lang: &str,
    next: Option<&str>,
    error: &str,
    status: StatusCode,
) -> HttpResponse {
    login_page(req, state, lang, next, Some(error), status)
}

fn login_page(
    req: &HttpRequest,
    state: &State,
    lang: &str,
    next: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let name = login_cookie(&state.base_url);
    let now = state.clock.now().timestamp();
    // Only a token this server signed, with time left, is kept; anything
    // else (a planted cookie) is replaced.
    let token = read_cookie(req, name)
        .filter(|t| signed_token_ok(&state.web_key, LOGIN_PURPOSE, t, now + 300))
        .unwrap_or_else(|| signed_token(&state.web_key, LOGIN_PURPOSE, now + LOGIN_TOKEN_SECONDS));
    let mut c = tera::Context::new();
    c.insert("next", &next);
    c.insert("csrf", &token);
    c.insert("error", &error.map(|k| state.pages.text(lang, k)));
    let sso = state.staff_sso.as_ref().map(|_| {
        let mut q = vec![format!("lang={lang}")];
        if let Some(n) = next {
            q.push(format!("next={}", super::urlencode(n)));
        }
        format!("/clinic/sso?{}", q.join("&"))
    });
    c.insert("sso", &sso);
    let mut page = state.pages.render(status, "clinic/login.html", lang, c);
    if let Ok(v) = header::HeaderValue::from_str(&cookie(&state.base_url, name, &token, None)) {
        page.headers_mut().append(header::SET_COOKIE, v);
    }
    page
}

/// `POST /clinic/login`: the password.
pub async fn submit(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let lang = field(&fields, "lang")
        .filter(|l| *l == "en")
        .unwrap_or("da")
        .to_string();
    let next = field(&fields, "next").and_then(safe_next);
    let expected = read_cookie(&req, login_cookie(&state.base_url)).filter(|t| {
        signed_token_ok(
            &state.web_key,
            LOGIN_PURPOSE,
            t,
            state.clock.now().timestamp(),
        )
    });
    let sent = field(&fields, "csrf").unwrap_or_default();
    if !expected.is_some_and(|e| super::same_secret(&e, sent)) {
        return login_page(
            &req,
            &state,
            &lang,
            next.as_deref(),
            Some("c_csrf"),
            StatusCode::FORBIDDEN,
        );
    }
    let email = field(&fields, "email")
        .unwrap_or_default()
        .trim()
        .to_string();
    let password = field(&fields, "password").unwrap_or_default().to_string();
    let addr = address(&req);
    let now = state.clock.now();
    let (e, a) = (email.clone(), addr.clone());
    let found = state
        .writer
        .write(move |c| {
            let allowed = login::attempt(c, &e, &a, now)?;
            Ok((!allowed, staff::by_email(c, &e)?))
        })
        .await;
    let (throttled, account) = match found {
        Ok(x) => x,
        Err(e) => return failed(&state, e),
    };
    if throttled {
        return login_page(
            &req,
            &state,
            &lang,
            next.as_deref(),
            Some("c_throttled"),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    let account = account.filter(|s| !s.disabled);
    let hash = account
        .as_ref()
        .map(|s| s.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    let right = web::block(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
        && account.is_some();
    let Some(who) = account.filter(|_| right) else {
        let who = staff_or_none(&state, &email).await;
        let _ = state
            .writer
            .write(move |c| {
                login::failed(c, &email, who.as_ref(), &addr, "staff.login_failed", now)
            })
            .await;
        return login_page(
            &req,
            &state,
            &lang,
            next.as_deref(),
            Some("c_login_wrong"),
            StatusCode::UNAUTHORIZED,
        );
    };
    let enrolled = who.totp_confirmed;
    let (n, l) = (next.clone(), lang.clone());
    match state
        .writer
        .write(move |c| {
            login::passed(c, &email, &addr)?;
            if !login::password_login_allowed(c, &who, now)? {
                return Ok(None);
            }
            login::password_ok(c, &who, n.as_deref(), &l, now).map(Some)
        })
        .await
    {
        Ok(None) => login_page(
            &req,
            &state,
            &lang,
            next.as_deref(),
            Some("c_local_login_off"),
            StatusCode::FORBIDDEN,
        ),
        Ok(Some(token)) => {
            let to = if enrolled {
                "/clinic/login/code"
            } else {
                "/clinic/login/enrol"
            };
            let mut r = see_other(to);
            set_session(r.headers_mut(), &state.base_url, &token, None);
            r
        }
        Err(e) => failed(&state, e),
    }
}

/// Sets (or with `Some(0)` clears) the staff session cookie.
pub(super) fn set_session(
    headers: &mut header::HeaderMap,
    base_url: &str,
    token: &str,
    max_age: Option<i64>,
) {
    if let Ok(v) =
        header::HeaderValue::from_str(&cookie(base_url, cookie_name(base_url), token, max_age))
    {
        headers.append(header::SET_COOKIE, v);
    }
}

/// The account with this e-mail, for the audit row of a failure.
async fn staff_or_none(state: &State, email: &str) -> Option<staff::Staff> {
    let e = email.to_string();
    read(state, move |c| staff::by_email(c, &e))
        .await
        .ok()
        .flatten()
}

/// The QR code of an `otpauth://` address, as SVG.
fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(220, 220)
                .quiet_zone(true)
                .build();
            // Inline in HTML: no XML declaration.
            match svg.find("<svg") {
                Some(i) => {
                    svg[i..].replacen("<svg", "<svg role=\"img\" aria-labelledby=\"qr-label\"", 1)
                }
                None => svg,
            }
        }
        Err(_) => String::new(),
    }
}

/// The secret in groups of four, as typed into an app by hand.
fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `GET /clinic/login/enrol`: the second factor's set-up.
pub async fn enrol_form(req: HttpRequest, state: State) -> HttpResponse {
    let me = match me(&req, &state, Access::HalfLogin).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if me.staff.totp_confirmed {
        return see_other("/clinic/login/code");
    }
    enrol_page(&state, me, None, StatusCode::OK).await
}

async fn enrol_page(
    state: &State,
    me: Me,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let secret = match me.staff.totp_secret.clone() {
        Some(s) => s,
        None => {
            let s = login::new_secret();
            let (id, s2) = (me.staff.id.clone(), s.clone());
            match state
                .writer
                .write(move |c| staff::set_pending_secret(c, &id, &s2))
                .await
            {
                Ok(_) => s,
                Err(e) => return failed(state, e),
            }
        }
    };
    let url = login::totp(&secret, &me.staff.email)
        .and_then(|t| t.to_url().ok())
        .unwrap_or_default();
    let mut c = tera::Context::new();
    c.insert("qr", &qr_svg(&url));
    c.insert("secret", &grouped(&secret));
    c.insert("error", &error.map(|k| state.pages.text(&me.lang, k)));
    c.insert("half_login", &true);
    render(state, &me, status, "clinic/enrol.html", c)
}

/// `POST /clinic/login/enrol`: the first code confirms the set-up; the
/// recovery codes are shown, once.
pub async fn enrol(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::HalfLogin, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let code = field(&fields, "code").unwrap_or_default().to_string();
    let now = state.clock.now();
    let addr = address(&req);
    let (half, id, lang) = (me.token_hash.clone(), me.staff.id.clone(), me.lang.clone());
    let result = state
        .writer
        .write(move |c| {
            let Some(s) = staff::by_id(c, &id)? else {
                return Ok(Err(false));
            };
            if !login::attempt(c, &s.email, &addr, now)? {
                return Ok(Err(true));
            }
            match login::enrol(c, &half, &s, &code, &lang, now)? {
                Some(done) => {
                    login::passed(c, &s.email, &addr)?;
                    Ok(Ok(done))
                }
                None => {
                    login::failed(c, &s.email, Some(&s), &addr, "staff.code_failed", now)?;
                    Ok(Err(false))
                }
            }
        })
        .await;
    match result {
        Ok(Ok(((token, csrf), codes))) => {
            let mut c = tera::Context::new();
            c.insert(
                "download",
                &super::urlencode(&recovery_file(&state, &me.lang, &codes)),
            );
            c.insert("codes", &codes);
            c.insert("next", &me.next.clone().unwrap_or_else(|| "/clinic".into()));
            // The page belongs to the new session.
            let me = Me { csrf, ..me };
            let mut page = render(&state, &me, StatusCode::OK, "clinic/recovery.html", c);
            set_session(page.headers_mut(), &state.base_url, &token, None);
            page
        }
        Ok(Err(true)) => {
            enrol_page(
                &state,
                me,
                Some("c_throttled"),
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await
        }
        Ok(Err(false)) => {
            enrol_page(&state, me, Some("c_code_wrong"), StatusCode::UNAUTHORIZED).await
        }
        Err(e) => failed(&state, e),
    }
}

/// The recovery codes as a text file to keep.
fn recovery_file(state: &State, lang: &str, codes: &[String]) -> String {
    let mut out = state.pages.text(lang, "c_recovery_file");
    out.push_str("\n\n");
    for c in codes {
        out.push_str(c);
        out.push('\n');
    }
    out
}

#[derive(serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
    next: Option<String>,
}

/// `GET /clinic/login/saved`: after the recovery codes, on to where the
/// login was going once the staff member says the codes are kept (the
/// page asks for it; without it they are told what to do).
pub async fn saved(req: HttpRequest, state: State, q: web::Query<Saved>) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if q.saved.as_deref() != Some("1") {
        return message(&state, &me, StatusCode::OK, "c_recovery_not_saved");
    }
    see_other(
        &q.next
            .as_deref()
            .and_then(safe_next)
            .unwrap_or_else(|| "/clinic".into()),
    )
}

/// `GET /clinic/login/code`.
pub async fn code_form(req: HttpRequest, state: State) -> HttpResponse {
    let me = match me(&req, &state, Access::HalfLogin).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if !me.staff.totp_confirmed {
        return see_other("/clinic/login/enrol");
    }
    code_page(&state, &me, None, StatusCode::OK)
}

fn code_page(state: &State, me: &Me, error: Option<&str>, status: StatusCode) -> HttpResponse {
    let mut c = tera::Context::new();
    c.insert("error", &error.map(|k| state.pages.text(&me.lang, k)));
    c.insert("half_login", &true);
    render(state, me, status, "clinic/code.html", c)
}

/// `POST /clinic/login/code`: a TOTP code or a recovery code completes the
/// login; the session is renewed and the browser goes where it was going.
pub async fn code(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::HalfLogin, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let code = field(&fields, "code").unwrap_or_default().to_string();
    let now = state.clock.now();
    let addr = address(&req);
    let (half, id, lang) = (me.token_hash.clone(), me.staff.id.clone(), me.lang.clone());
    let result = state
        .writer
        .write(move |c| {
            let Some(s) = staff::by_id(c, &id)? else {
                return Ok(Err(false));
            };
            if !login::attempt(c, &s.email, &addr, now)? {
                return Ok(Err(true));
            }
            if login::second_factor(c, &s, &code, now)? {
                login::passed(c, &s.email, &addr)?;
                Ok(Ok(login::login_complete(c, &half, &s, &lang, now)?))
            } else {
                login::failed(c, &s.email, Some(&s), &addr, "staff.code_failed", now)?;
                Ok(Err(false))
            }
        })
        .await;
    match result {
        Ok(Ok((token, _))) => {
            let mut r = see_other(me.next.as_deref().unwrap_or("/clinic"));
            set_session(r.headers_mut(), &state.base_url, &token, None);
            r
        }
        Ok(Err(true)) => code_page(
            &state,
            &me,
            Some("c_throttled"),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Ok(Err(false)) => code_page(&state, &me, Some("c_code_wrong"), StatusCode::UNAUTHORIZED),
        Err(e) => failed(&state, e),
    }
}

/// `POST /clinic/logout`: ends the session on the server.
pub async fn logout(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::Staff, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let now = state.clock.now();
    let (h, s) = (me.token_hash.clone(), me.staff.clone());
    let id_token = match state
        .writer
        .write(move |c| {
            let id_token = crate::storage::sessions::id_token(c, &h)?;
            login::logout(c, &h, &s, now)?;
            Ok(id_token)
        })
        .await
    {
        Ok(t) => t,
        Err(e) => return failed(&state, e),
    };
    let back = format!(
        "/clinic/login{}",
        if lang_of(&req) == "en" {
            "?lang=en"
        } else {
            ""
        }
    );
    // A single sign-on session ends at the provider too, where it offers
    // that (RP-initiated logout), coming back to the login page.
    let provider = id_token.and_then(|t| {
        state.staff_sso.as_ref().and_then(|sso| {
            sso.1
                .logout_url(&t, &format!("{}/clinic/login", state.base_url))
        })
    });
    let mut r = see_other(provider.as_deref().unwrap_or(&back));
    set_session(r.headers_mut(), &state.base_url, "", Some(0));
    r
}
