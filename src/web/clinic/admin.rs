//! Administration: the questionnaires loaded (for all staff), and for
//! admins the clinic's staff (create, deactivate, reset a second factor),
//! API keys (issue, list, revoke at once) and the audit log.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::{
    Access, Me, State, failed, field, me, me_posting, message, not_found, read, render, see_other,
    when,
};
use crate::clock::local_date;
use crate::core::form::page_view;
use crate::security::{hash_password, new_password, new_token, token_hash};
use crate::storage::{StorageError, audit, keys, staff};

#[derive(Serialize)]
struct QuestionnaireRow {
    id: String,
    title: String,
    version: u32,
    hash: String,
    languages: Vec<String>,
    responses: i64,
}

/// `GET /clinic/questionnaires`: each questionnaire loaded.
pub async fn questionnaires(req: HttpRequest, state: State) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let clinic = me.clinic();
    let counts = match read(&state, move |c| {
        crate::storage::responses::count_by_questionnaire(c, &clinic)
    })
    .await
    {
        Ok(c) => c,
        Err(e) => return failed(&state, e),
    };
    let rows: Vec<QuestionnaireRow> = state
        .catalog
        .all()
        .map(|q| QuestionnaireRow {
            id: q.id.clone(),
            title: q.title.get(&me.lang).to_string(),
            version: q.version,
            hash: q.hash.chars().take(16).collect(),
            languages: q.languages.clone(),
            responses: counts.get(&q.id).copied().unwrap_or(0),
        })
        .collect();
    let mut c = tera::Context::new();
    c.insert("questionnaires", &rows);
    render(&state, &me, StatusCode::OK, "clinic/questionnaires.html", c)
}

/// `GET /clinic/questionnaires/{questionnaire}`: the form as a patient
/// sees it (nothing is sent from here).
pub async fn questionnaire(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let Some(q) = state.catalog.get(&path.into_inner()) else {
        return not_found(&state, &me);
    };
    let date = local_date(state.clock.now(), "Europe/Copenhagen");
    let pages: Vec<_> = (0..crate::core::form::pages(&q).len())
        .map(|p| page_view(&q, &me.lang, &serde_json::Map::new(), p, &[], date))
        .collect();
    let mut c = tera::Context::new();
    c.insert("pages", &pages);
    c.insert("errors", &Vec::<String>::new());
    c.insert("more", &false);
    c.insert("preview", &true);
    c.insert("form_action", "#");
    c.insert("id", &q.id);
    c.insert("version", &q.version);
    render(&state, &me, StatusCode::OK, "clinic/questionnaire.html", c)
}

#[derive(Serialize)]
struct StaffRow {
    id: String,
    name: String,
    email: String,
    role: String,
    second_factor: bool,
    disabled: bool,
    me: bool,
    break_glass: bool,
}

async fn staff_page(
    state: &State,
    me: &Me,
    shown: Option<(String, String)>,
    error: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let (clinic, since) = (me.clinic(), state.clock.now() - chrono::Duration::days(30));
    let (list, local_login, uses) = match read(state, move |c| {
        Ok((
            staff::of_clinic(c, &clinic)?,
            crate::storage::clinics::local_login(c, &clinic)?,
            audit::break_glass_uses(c, &clinic, since)?,
        ))
    })
    .await
    {
        Ok(l) => l,
        Err(e) => return failed(state, e),
    };
    let rows: Vec<StaffRow> = list
        .into_iter()
        .map(|s| StaffRow {
            me: s.id == me.staff.id,
            id: s.id,
            name: s.name,
            email: s.email,
            role: s.role,
            second_factor: s.totp_confirmed,
            disabled: s.disabled,
            break_glass: s.break_glass,
        })
        .collect();
    let mut c = tera::Context::new();
    c.insert("staff", &rows);
    c.insert("sso", &state.staff_sso.is_some());
    c.insert("local_login", &local_login);
    let uses: Vec<(String, String)> = uses
        .into_iter()
        .map(|(at, who)| (at.replace('T', " ").chars().take(16).collect(), who))
        .collect();
    c.insert("break_glass_uses", &uses);
    c.insert("shown", &shown);
    c.insert("error", &error.map(|k| state.pages.text(&me.lang, k)));
    render(state, me, status, "clinic/staff.html", c)
}

/// `GET /clinic/admin/staff`.
pub async fn staff(req: HttpRequest, state: State) -> HttpResponse {
    let me = match me(&req, &state, Access::Admin).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    staff_page(&state, &me, None, None, StatusCode::OK).await
}

/// `POST /clinic/admin/staff`: a new account; its first password is shown
/// once (the second factor is set up at its first login).
pub async fn add_staff(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::Admin, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let email = match crate::vocab::Email::parse(field(&fields, "email").unwrap_or_default()) {
        Ok(e) => e.as_str().to_string(),
        Err(_) => {
            return staff_page(
                &state,
                &me,
                None,
                Some("c_email_bad"),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let name: String = field(&fields, "name")
        .unwrap_or_default()
        .trim()
        .chars()
        .take(200)
        .collect();
    let role = field(&fields, "role").unwrap_or_default().to_string();
    if name.is_empty() || !["clinician", "admin"].contains(&role.as_str()) {
        return staff_page(
            &state,
            &me,
            None,
            Some("c_staff_refused"),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let password = new_password();
    let hash = match web::block({
        let p = password.clone();
        move || hash_password(&p)
    })
    .await
    {
        Ok(Ok(h)) => h,
        _ => {
            return failed(
                &state,
                StorageError::Invalid("the password could not be hashed".into()),
            );
        }
    };
    let (now, actor, clinic, e2) = (state.clock.now(), me.actor(), me.clinic(), email.clone());
    match state
        .writer
        .write(move |c| {
            let id =
                crate::storage::clinics::insert_user(c, &clinic, &e2, &name, &role, &hash, now)?;
            audit::record(c, &actor, "staff.create", &clinic, None, Some(&id), now)
        })
        .await
    {
        Ok(()) => staff_page(&state, &me, Some((email, password)), None, StatusCode::OK).await,
        Err(StorageError::Conflict(_)) => {
            staff_page(
                &state,
                &me,
                None,
                Some("c_staff_exists"),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(e) => failed(&state, e),
    }
}

/// Applies `f` to a staff account of the admin's clinic, with its audit
/// row; `404` for another clinic's account.
async fn on_staff(
    req: HttpRequest,
    state: State,
    id: String,
    fields: &[(String, String)],
    action: &'static str,
    f: fn(
        &crate::storage::Connection,
        &str,
        chrono::DateTime<chrono::Utc>,
    ) -> crate::storage::Result<()>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::Admin, fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if id == me.staff.id && action == "staff.deactivate" {
        return message(
            &state,
            &me,
            StatusCode::UNPROCESSABLE_ENTITY,
            "c_not_yourself",
        );
    }
    let (now, actor, clinic) = (state.clock.now(), me.actor(), me.clinic());
    match state
        .writer
        .write(move |c| {
            match staff::by_id(c, &id)? {
                Some(s) if s.clinic_id == clinic => {}
                _ => return Ok(false),
            }
            f(c, &id, now)?;
            audit::record(c, &actor, action, &clinic, None, Some(&id), now)?;
            Ok(true)
        })
        .await
    {
        Ok(true) => see_other("/clinic/admin/staff"),
        Ok(false) => not_found(&state, &me),
        Err(e) => failed(&state, e),
    }
}

/// `POST /clinic/admin/staff/{staff}/deactivate`: at once (sessions end).
pub async fn deactivate(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    on_staff(
        req,
        state,
        path.into_inner(),
        &fields,
        "staff.deactivate",
        staff::deactivate,
    )
    .await
}

/// `POST /clinic/admin/staff/{staff}/break-glass`: makes a named
/// break-glass account (it may use its password when the clinic's local
/// login is off), or no longer one.
pub async fn break_glass(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    on_staff(
        req,
        state,
        path.into_inner(),
        &fields,
        "staff.break_glass_toggle",
        staff::toggle_break_glass,
    )
    .await
}

/// `POST /clinic/admin/local-login`: turns the clinic's local password
/// login off (`local=off`, only with single sign-on configured) or on.
pub async fn local_login(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::Admin, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let on = match field(&fields, "local") {
        Some("on") => true,
        Some("off") => false,
        _ => {
            return staff_page(
                &state,
                &me,
                None,
                Some("c_local_login_choose"),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    if !on && state.staff_sso.is_none() {
        return staff_page(
            &state,
            &me,
            None,
            Some("c_local_login_needs_sso"),
            StatusCode::CONFLICT,
        )
        .await;
    }
    let (now, actor, clinic) = (state.clock.now(), me.actor(), me.clinic());
    match state
        .writer
        .write(move |c| {
            crate::storage::clinics::set_local_login(c, &clinic, on)?;
            let action = if on {
                "clinic.local_login_on"
            } else {
                "clinic.local_login_off"
            };
            audit::record(c, &actor, action, &clinic, None, None, now)
        })
        .await
    {
        Ok(()) => see_other("/clinic/admin/staff"),
        Err(e) => failed(&state, e),
    }
}

/// `POST /clinic/admin/staff/{staff}/reset`: the second factor is set up
/// again at the next login.
pub async fn reset_factor(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    on_staff(
        req,
        state,
        path.into_inner(),
        &fields,
        "staff.reset_factor",
        staff::reset_second_factor,
    )
    .await
}

#[derive(Serialize)]
struct KeyRow {
    name: String,
    created: String,
    last_used: Option<String>,
    revoked: Option<String>,
}

async fn keys_page(
    state: &State,
    me: &Me,
    shown: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let clinic = me.clinic();
    let list = match read(state, move |c| keys::list(c, &clinic)).await {
        Ok(l) => l,
        Err(e) => return failed(state, e),
    };
    let rows: Vec<KeyRow> = list
        .into_iter()
        .map(|k| KeyRow {
            name: k.name,
            created: when(&k.created_at),
            last_used: k.last_used_at.as_deref().map(when),
            revoked: k.revoked_at.as_deref().map(when),
        })
        .collect();
    let mut c = tera::Context::new();
    c.insert("keys", &rows);
    c.insert("shown", &shown);
    render(state, me, status, "clinic/keys.html", c)
}

/// `GET /clinic/admin/keys`.
pub async fn keys(req: HttpRequest, state: State) -> HttpResponse {
    let me = match me(&req, &state, Access::Admin).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    keys_page(&state, &me, None, StatusCode::OK).await
}

/// `POST /clinic/admin/keys`: a new key, shown once.
pub async fn add_key(
    req: HttpRequest,
    state: State,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::Admin, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let key = new_token("prom_key_");
    let (hash, prefix) = (token_hash(&key), keys::prefix_of(&key));
    let (now, actor, clinic) = (state.clock.now(), me.actor(), me.clinic());
    match state
        .writer
        .write(move |c| {
            let id = keys::insert_api_key(c, &clinic, &hash, Some(&prefix), now)?;
            audit::record(c, &actor, "apikey.create", &clinic, None, Some(&id), now)
        })
        .await
    {
        Ok(()) => keys_page(&state, &me, Some(key), StatusCode::OK).await,
        Err(e) => failed(&state, e),
    }
}

/// `POST /clinic/admin/keys/{key}/revoke`: effective at once (the server's
/// key cache is emptied).
pub async fn revoke_key(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::Admin, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let name = path.into_inner();
    let (now, actor, clinic) = (state.clock.now(), me.actor(), me.clinic());
    let result = state
        .writer
        .write(move |c| {
            keys::revoke_in_clinic(c, &clinic, &name, now)?;
            audit::record(c, &actor, "apikey.revoke", &clinic, None, Some(&name), now)
        })
        .await;
    if let Ok(mut cache) = state.keys.write() {
        cache.clear();
    }
    match result {
        Ok(()) => see_other("/clinic/admin/keys"),
        Err(StorageError::NotFound) => not_found(&state, &me),
        Err(e) => failed(&state, e),
    }
}

#[derive(serde::Deserialize, Default)]
pub struct AuditQuery {
    action: Option<String>,
    patient: Option<String>,
    staff: Option<String>,
    before: Option<i64>,
}

#[derive(Serialize)]
struct AuditRow {
    at: String,
    who: String,
    action: String,
    patient: Option<String>,
    patient_id: Option<String>,
    subject: Option<String>,
}

/// `GET /clinic/admin/audit`: the clinic's audit log, newest first,
/// filtered by action, patient reference and staff member. Reading it is
/// logged too.
pub async fn audit(req: HttpRequest, state: State, q: web::Query<AuditQuery>) -> HttpResponse {
    let me = match me(&req, &state, Access::Admin).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let now = state.clock.now();
    let (actor, clinic) = (me.actor(), me.clinic());
    if let Err(e) = state
        .writer
        .write(move |c| audit::record(c, &actor, "audit.read", &clinic, None, None, now))
        .await
    {
        return failed(&state, e);
    }
    let clinic = me.clinic();
    let action = q
        .action
        .clone()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    let reference = q
        .patient
        .clone()
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty());
    let staff_id = q.staff.clone().filter(|s| !s.is_empty());
    let before = q.before;
    let (a2, r2, s2) = (action.clone(), reference.clone(), staff_id.clone());
    let loaded = read(&state, move |c| {
        let patient_id = match &r2 {
            Some(r) => match crate::storage::patients::patient_id(c, &clinic, r) {
                Ok(id) => Some(id),
                Err(StorageError::NotFound) => Some(String::new()),
                Err(e) => return Err(e),
            },
            None => None,
        };
        let filter = audit::Filter {
            action: a2,
            patient_id,
            actor: s2.map(|s| format!("staff:{s}")),
        };
        let rows = audit::browse(c, &clinic, &filter, before, 100)?;
        let people = staff::of_clinic(c, &clinic)?;
        Ok((rows, people))
    })
    .await;
    let (rows, people) = match loaded {
        Ok(x) => x,
        Err(e) => return failed(&state, e),
    };
    let t = |k: &str| state.pages.text(&me.lang, k);
    let next = if rows.len() == 100 {
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    let view: Vec<AuditRow> = rows
        .into_iter()
        .map(|r| AuditRow {
            at: when(&r.at),
            who: match (&r.who, r.actor.as_str()) {
                (Some(name), _) => name.clone(),
                (None, "patient") => t("c_actor_patient"),
                (None, a) if a.starts_with("api:") => format!("{} ({})", t("c_actor_api"), &a[4..]),
                (None, a) => a.to_string(),
            },
            action: {
                // In words; an action without words is shown as its code.
                let key = format!("audit_{}", r.action.replace('.', "_"));
                match t(&key) {
                    words if words != key => words,
                    _ => r.action,
                }
            },
            patient: r.patient,
            patient_id: r.patient_id,
            subject: r.subject.map(|s| s.chars().take(13).collect()),
        })
        .collect();
    let people: Vec<(String, String)> = people.into_iter().map(|s| (s.id, s.name)).collect();
    let mut c = tera::Context::new();
    c.insert("rows", &view);
    c.insert("people", &people);
    c.insert("action", &action);
    c.insert("patient", &reference);
    c.insert("staff_id", &staff_id);
    c.insert("next", &next);
    render(&state, &me, StatusCode::OK, "clinic/audit.html", c)
}

#[derive(Serialize)]
struct DeadRow {
    id: String,
    kind: String,
    recipient: String,
    subject: String,
    attempts: i64,
    error: String,
    dead: String,
}

/// `GET /clinic/admin/mail`: the clinic's messages that could not be sent.
pub async fn mail(req: HttpRequest, state: State) -> HttpResponse {
    let me = match me(&req, &state, Access::Admin).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let clinic = me.clinic();
    let dead = match read(&state, move |c| {
        crate::storage::outbox::dead_of_clinic(c, &clinic, 200)
    })
    .await
    {
        Ok(d) => d,
        Err(e) => return failed(&state, e),
    };
    let rows: Vec<DeadRow> = dead
        .into_iter()
        .map(|d| DeadRow {
            id: d.id,
            kind: d.kind,
            recipient: d.recipient,
            subject: d.subject,
            attempts: d.attempts,
            // The server's own words, cut short: never more than a line.
            error: d
                .last_error
                .unwrap_or_default()
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect(),
            dead: when(&d.dead_at),
        })
        .collect();
    let mut c = tera::Context::new();
    c.insert("messages", &rows);
    render(&state, &me, StatusCode::OK, "clinic/mail.html", c)
}

/// `POST /clinic/admin/mail/{message}/retry`: a dead message is tried
/// again from the start.
pub async fn retry_mail(
    req: HttpRequest,
    state: State,
    path: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let me = match me_posting(&req, &state, Access::Admin, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let id = path.into_inner();
    let (now, actor, clinic) = (state.clock.now(), me.actor(), me.clinic());
    match state
        .writer
        .write(move |c| {
            if !crate::storage::outbox::retry(c, &clinic, &id, now)? {
                return Ok(false);
            }
            audit::record(c, &actor, "mail.retry", &clinic, None, Some(&id), now)?;
            Ok(true)
        })
        .await
    {
        Ok(true) => see_other("/clinic/admin/mail"),
        Ok(false) => not_found(&state, &me),
        Err(e) => failed(&state, e),
    }
}
