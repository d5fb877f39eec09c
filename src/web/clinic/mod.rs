//! The clinic's workspace under `/clinic`: staff log in (password, then a
//! second factor), work the review queue, open a patient's timeline, enter
//! paper responses and corrections, and admins manage staff, patients, API
//! keys and read the audit log.
//!
//! Every route is declared once in [`table`], with who may use it; the
//! authorisation matrix test walks that table, so a new route cannot be
//! left out of it. A handler is: [`me`] (the staff session, its role, the
//! idle timeout) → for a form, [`Me::form_ok`] (CSRF) → a use case or a
//! read, with its audit row → a template.

use actix_web::http::{Method, StatusCode, header};
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, Route, web};
use serde::Serialize;

use super::pages::same_secret;
use super::{AppState, read};
use crate::security::token_hash;
use crate::storage::sessions;
use crate::storage::staff::Staff;

mod admin;
mod entry;
mod letters;
mod login;
mod patient;
mod queue;
mod response;
mod sso;

type State = web::Data<AppState>;

/// Who may use a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the login pages).
    Public,
    /// A half-logged-in staff member (password given, second factor not).
    HalfLogin,
    /// Any staff member of a clinic, for that clinic's data.
    Staff,
    /// An admin of a clinic.
    Admin,
}

/// A route of the workspace: its method, path and who may use it.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteInfo {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

fn r<F, Args>(method: &'static str, path: &'static str, access: Access, f: F) -> (RouteInfo, Route)
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    let m = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    (
        RouteInfo {
            method,
            path,
            access,
        },
        web::method(m).to(f),
    )
}

/// Every route of the workspace. Path parameters are named for what they
/// hold: `{patient}`, `{item}`, `{response}`, `{plan}`, `{staff}`, `{key}`,
/// `{questionnaire}`, `{message}`, `{invitation}`.
fn table() -> Vec<(RouteInfo, Route)> {
    use Access::*;
    vec![
        r("GET", "/clinic/login", Public, login::form),
        r("POST", "/clinic/login", Public, login::submit),
        r("GET", "/clinic/login/enrol", HalfLogin, login::enrol_form),
        r("POST", "/clinic/login/enrol", HalfLogin, login::enrol),
        r("GET", "/clinic/login/code", HalfLogin, login::code_form),
        r("POST", "/clinic/login/code", HalfLogin, login::code),
        r("GET", "/clinic/login/saved", Staff, login::saved),
        r("GET", "/clinic/sso", Public, sso::start),
        r("GET", "/clinic/sso/callback", Public, sso::callback),
        r("POST", "/clinic/sso/choose", Public, sso::choose),
        r("GET", "/clinic", Staff, queue::queue),
        r("POST", "/clinic/items/{item}", Staff, queue::act),
        r(
            "GET",
            "/clinic/responses/{response}",
            Staff,
            response::response,
        ),
        r("GET", "/clinic/patients", Staff, patient::list),
        r("POST", "/clinic/patients", Admin, patient::create),
        r("GET", "/clinic/patients/{patient}", Staff, patient::show),
        r(
            "POST",
            "/clinic/patients/{patient}/resolve",
            Staff,
            queue::resolve_all,
        ),
        r(
            "POST",
            "/clinic/patients/{patient}/invitations",
            Staff,
            patient::invite,
        ),
        r(
            "POST",
            "/clinic/patients/{patient}/plans",
            Staff,
            patient::add_plan,
        ),
        r(
            "POST",
            "/clinic/patients/{patient}/plans/{plan}/stop",
            Staff,
            patient::stop_plan,
        ),
        r(
            "POST",
            "/clinic/patients/{patient}/link",
            Staff,
            patient::personal_link,
        ),
        r(
            "GET",
            "/clinic/patients/{patient}/paper/{questionnaire}",
            Staff,
            entry::paper_form,
        ),
        r(
            "POST",
            "/clinic/patients/{patient}/paper/{questionnaire}",
            Staff,
            entry::paper,
        ),
        r(
            "GET",
            "/clinic/responses/{response}/correct",
            Staff,
            entry::correct_form,
        ),
        r(
            "POST",
            "/clinic/responses/{response}/correct",
            Staff,
            entry::correct,
        ),
        r("GET", "/clinic/letters", Staff, letters::letters),
        r(
            "GET",
            "/clinic/invitations/{invitation}/letter",
            Staff,
            letters::letter,
        ),
        r(
            "GET",
            "/clinic/questionnaires",
            Staff,
            admin::questionnaires,
        ),
        r(
            "GET",
            "/clinic/questionnaires/{questionnaire}",
            Staff,
            admin::questionnaire,
        ),
        r("GET", "/clinic/admin/staff", Admin, admin::staff),
        r("POST", "/clinic/admin/staff", Admin, admin::add_staff),
        r(
            "POST",
            "/clinic/admin/staff/{staff}/deactivate",
            Admin,
            admin::deactivate,
        ),
        r(
            "POST",
            "/clinic/admin/staff/{staff}/reset",
            Admin,
            admin::reset_factor,
        ),
        r(
            "POST",
            "/clinic/admin/staff/{staff}/break-glass",
            Admin,
            admin::break_glass,
        ),
        r(
            "POST",
            "/clinic/admin/local-login",
            Admin,
            admin::local_login,
        ),
        r("GET", "/clinic/admin/keys", Admin, admin::keys),
        r("POST", "/clinic/admin/keys", Admin, admin::add_key),
        r(
            "POST",
            "/clinic/admin/keys/{key}/revoke",
            Admin,
            admin::revoke_key,
        ),
        r("GET", "/clinic/admin/audit", Admin, admin::audit),
        r("GET", "/clinic/admin/mail", Admin, admin::mail),
        r(
            "POST",
            "/clinic/admin/mail/{message}/retry",
            Admin,
            admin::retry_mail,
        ),
        r("POST", "/clinic/logout", Staff, login::logout),
    ]
}

/// The route table, for the authorisation matrix and the docs.
pub fn route_table() -> Vec<RouteInfo> {
    table().into_iter().map(|(i, _)| i).collect()
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    for (info, route) in table() {
        cfg.route(info.path, route);
    }
}

/// The staff session cookie: `__Host-` and `Secure` over HTTPS, and
/// `SameSite=Strict` (a link from an e-mail arrives without it, logs in,
/// and lands where it pointed).
fn cookie_name(base_url: &str) -> &'static str {
    if base_url.starts_with("https://") {
        "__Host-prom_staff"
    } else {
        "prom_staff"
    }
}

fn cookie(base_url: &str, name: &str, value: &str, max_age: Option<i64>) -> String {
    let secure = if base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}")
}

/// A cookie's value by name (for the patients' pages too).
pub(crate) fn read_cookie_named(req: &HttpRequest, name: &str) -> Option<String> {
    read_cookie(req, name)
}

fn read_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The staff member of a request, with their session.
pub struct Me {
    pub staff: Staff,
    pub token_hash: String,
    pub csrf: String,
    pub lang: String,
    /// For a half login: where the login goes afterwards.
    pub next: Option<String>,
    /// The clinic's own list of outcomes (`None`: the default list).
    pub outcomes: Option<Vec<crate::storage::clinics::OutcomeChoice>>,
}

impl Me {
    /// The outcomes staff choose from when resolving, as code and text.
    fn outcome_choices(&self, state: &State) -> Vec<(String, String)> {
        match &self.outcomes {
            Some(own) => own
                .iter()
                .map(|o| {
                    let text = if self.lang == "en" { &o.en } else { &o.da };
                    (o.code.clone(), text.clone())
                })
                .collect(),
            None => crate::storage::review::OUTCOMES
                .iter()
                .map(|o| {
                    (
                        o.to_string(),
                        state.pages.text(&self.lang, &format!("c_outcome_{o}")),
                    )
                })
                .collect(),
        }
    }

    /// Whether `code` is an outcome the clinic's staff may choose now.
    fn may_resolve_with(&self, code: &str) -> bool {
        match &self.outcomes {
            Some(own) => own.iter().any(|o| o.code == code),
            None => crate::storage::review::OUTCOMES.contains(&code),
        }
    }

    /// An outcome's text: the clinic's own, else the catalogue's (earlier
    /// outcomes too), else the code.
    fn outcome_text(&self, state: &State, code: &str) -> String {
        if let Some(o) = self.outcomes.iter().flatten().find(|o| o.code == code) {
            return if self.lang == "en" {
                o.en.clone()
            } else {
                o.da.clone()
            };
        }
        if crate::storage::review::OUTCOMES.contains(&code)
            || crate::storage::review::EARLIER_OUTCOMES.contains(&code)
            || code == "superseded"
        {
            return state.pages.text(&self.lang, &format!("c_outcome_{code}"));
        }
        code.to_string()
    }

    fn actor(&self) -> String {
        format!("staff:{}", self.staff.id)
    }

    fn clinic(&self) -> String {
        self.staff.clinic_id.clone()
    }

    /// Whether a form carries this session's CSRF token.
    fn form_ok(&self, fields: &[(String, String)]) -> bool {
        field(fields, "csrf").is_some_and(|t| same_secret(t, &self.csrf))
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Where a request wanted to go, if it is a page of the workspace.
fn safe_next(path: &str) -> Option<String> {
    let ok = path.starts_with("/clinic")
        && !path.starts_with("/clinic/login")
        && !path.contains("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control)
        && path.len() < 500;
    ok.then(|| path.to_string())
}

fn to_login(req: &HttpRequest) -> HttpResponse {
    let next = if req.method() == Method::GET {
        let uri = req.uri();
        let pq = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/clinic");
        safe_next(pq)
    } else {
        None
    };
    let location = match next {
        Some(n) => format!("/clinic/login?next={}", urlencode(&n)),
        None => "/clinic/login".into(),
    };
    see_other(&location)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What staff may be told was just done (`?done=` after an action).
const DONE: &[&str] = &["taken", "resolved", "quieted", "paper", "corrected"];

/// `path` with `done=what`, so the next page confirms the action.
fn with_done(path: &str, what: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}done={what}")
}

/// The confirmation of `done` in the staff member's language.
fn done_text(state: &State, me: &Me, done: Option<&str>) -> Option<String> {
    done.filter(|d| DONE.contains(d))
        .map(|d| state.pages.text(&me.lang, &format!("c_done_{d}")))
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .finish()
}

/// The staff session of the request at `access`: a login page for none
/// (or a half login where a whole one is needed), `403` for a clinician on
/// an admin's page. A whole session's idle timeout starts again.
async fn me(req: &HttpRequest, state: &State, access: Access) -> Result<Me, HttpResponse> {
    let Some(token) = read_cookie(req, cookie_name(&state.base_url)) else {
        return Err(to_login(req));
    };
    let hash = token_hash(&token);
    let now = state.clock.now();
    let h = hash.clone();
    let found = read(state, move |c| {
        let Some(s) = sessions::live(c, &h, now)? else {
            return Ok(None);
        };
        let Some(id) = s.staff_id.as_deref().filter(|_| s.kind == "staff") else {
            return Ok(None);
        };
        let Some(who) = crate::storage::staff::by_id(c, id)?.filter(|w| !w.disabled) else {
            return Ok(None);
        };
        let outcomes = crate::storage::clinics::outcomes(c, &who.clinic_id)?;
        Ok(Some((s, who, outcomes)))
    })
    .await;
    let (session, staff, outcomes) = match found {
        Ok(Some(x)) => x,
        Ok(None) => return Err(to_login(req)),
        Err(e) => return Err(failed(state, e)),
    };
    let half = session.stage != "full";
    match (access, half) {
        (Access::HalfLogin, false) => return Err(see_other("/clinic")),
        (Access::HalfLogin, true) => {}
        (_, true) => return Err(to_login(req)),
        (Access::Admin, false) if staff.role != "admin" => {
            let me = Me {
                staff,
                token_hash: hash,
                csrf: session.csrf,
                lang: session.language,
                next: None,
                outcomes,
            };
            return Err(message(state, &me, StatusCode::FORBIDDEN, "c_admins_only"));
        }
        _ => {}
    }
    if !half {
        // The idle timeout starts again (written at most once a minute).
        let expires = chrono::DateTime::parse_from_rfc3339(&session.expires_at)
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or(now);
        let renewed = now + crate::usecase::staff::IDLE;
        if renewed - expires > chrono::Duration::minutes(1) {
            let h = hash.clone();
            let _ = state
                .writer
                .write(move |c| sessions::extend(c, &h, renewed))
                .await;
        }
    }
    // `?lang=en` (or `da`) switches the language and is remembered.
    let mut lang = session.language;
    if let Some(l) = req
        .query_string()
        .split('&')
        .find_map(|p| p.strip_prefix("lang="))
        .filter(|l| ["da", "en"].contains(l) && *l != lang)
    {
        lang = l.to_string();
        let (h, l) = (hash.clone(), lang.clone());
        let _ = state
            .writer
            .write(move |c| sessions::set_language(c, &h, &l))
            .await;
    }
    Ok(Me {
        staff,
        token_hash: hash,
        csrf: session.csrf,
        lang,
        next: session.next,
        outcomes,
    })
}

/// What every workspace page gets: who is logged in, the CSRF token, the
/// language.
#[derive(Serialize)]
struct Who<'a> {
    name: &'a str,
    role: &'a str,
    admin: bool,
}

fn render(
    state: &State,
    me: &Me,
    status: StatusCode,
    template: &str,
    mut c: tera::Context,
) -> HttpResponse {
    c.insert(
        "me",
        &Who {
            name: &me.staff.name,
            role: &me.staff.role,
            admin: me.staff.role == "admin",
        },
    );
    c.insert("csrf", &me.csrf);
    state.pages.render(status, template, &me.lang, c)
}

/// A page with one message (refusals, conflicts).
fn message(state: &State, me: &Me, status: StatusCode, key: &str) -> HttpResponse {
    let mut c = tera::Context::new();
    c.insert(
        "heading",
        &state.pages.text(&me.lang, &format!("{key}_heading")),
    );
    c.insert("message", &state.pages.text(&me.lang, key));
    render(state, me, status, "clinic/message.html", c)
}

/// A workspace address that does not exist: the workspace's "not found"
/// page in the staff member's language, or, without a login, `None` (the
/// caller answers with the general page).
pub(crate) async fn unknown_address(req: &HttpRequest, state: &State) -> Option<HttpResponse> {
    let me = me(req, state, Access::Staff).await.ok()?;
    Some(not_found(state, &me))
}

fn failed(state: &State, e: crate::storage::StorageError) -> HttpResponse {
    let id = crate::storage::ids::new_id();
    tracing::error!(error_id = %id, error = %e, "a workspace page failed");
    let mut c = tera::Context::new();
    c.insert("heading", "Der skete en fejl / Something went wrong");
    c.insert("message", &format!("Fejl-id / error id: {id}"));
    state.pages.render(
        StatusCode::SERVICE_UNAVAILABLE,
        "patient/problem.html",
        "da",
        c,
    )
}

fn not_found(state: &State, me: &Me) -> HttpResponse {
    message(state, me, StatusCode::NOT_FOUND, "c_not_found")
}

/// [`me`] for a form: the staff member, once the form's CSRF token is
/// theirs (else the refusal page).
async fn me_posting(
    req: &HttpRequest,
    state: &State,
    access: Access,
    fields: &[(String, String)],
) -> Result<Me, HttpResponse> {
    let me = me(req, state, access).await?;
    if !me.form_ok(fields) {
        return Err(csrf_refused(state, &me));
    }
    Ok(me)
}

fn csrf_refused(state: &State, me: &Me) -> HttpResponse {
    message(state, me, StatusCode::FORBIDDEN, "c_csrf")
}

/// A time as staff read it: `2026-03-02 10:00` (UTC, as stored).
fn when(ts: &str) -> String {
    ts.replace('T', " ").chars().take(16).collect()
}

/// Snoozes with their end as the workspace shows times.
fn dated_snoozes(
    snoozes: Vec<crate::storage::review::Snooze>,
) -> Vec<crate::storage::review::Snooze> {
    snoozes
        .into_iter()
        .map(|mut s| {
            s.until = when(&s.until);
            s
        })
        .collect()
}

/// How long since `ts`, in words of `lang`: minutes, hours or days.
fn waited(ts: &str, now: chrono::DateTime<chrono::Utc>, lang: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(ts) else {
        return String::new();
    };
    let mins = (now - t.with_timezone(&chrono::Utc)).num_minutes().max(0);
    let (n, da, en) = if mins < 120 {
        (mins, "min.", "min")
    } else if mins < 48 * 60 {
        (mins / 60, "timer", "hours")
    } else {
        (mins / (24 * 60), "dage", "days")
    };
    format!("{n} {}", if lang == "en" { en } else { da })
}
