//! A patient for staff: the timeline of responses with charts (the same as
//! the patient's "my data"), each response in the version answered, flags
//! and what was done, plans and invitations; inviting, plans, the personal
//! link. Paper entry and corrections are in `entry.rs`, letters in
//! `letters.rs`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{
    Access, Me, State, failed, field, me, me_posting, message, not_found, read, render, see_other,
    when,
};
use crate::clock::local_date;
use crate::security::{new_token, token_hash};
use crate::storage::patients::{self, NewPatient, Patient};
use crate::storage::{StorageError, audit, invitations, outbox, review};

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
    let (clinic, p) = (me.clinic(), prefix.clone());
    let found = read(state, move |c| patients::search(c, &clinic, p.trim(), 200)).await;
    let list = match found {
        Ok(l) => l,
        Err(e) => return failed(state, e),
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
    let me = match me_posting(&req, &state, Access::Admin, &fields).await {
        Ok(m) => m,
        Err(r) => return r,
    };
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
pub(super) async fn read_patient(
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
    let (pid, at) = (p.id.clone(), crate::storage::ids::ts(state.clock.now()));
    let loaded = read(state, move |c| {
        let history = crate::storage::responses::patient_history(c, &pid, TIMELINE as u32)?;
        let plans = invitations::plans_of(c, &pid)?;
        let invites = invitations::invitations_of(c, &pid, 50)?;
        let snoozes = review::snoozes(c, &pid, None, &at)?;
        Ok((history, plans, invites, snoozes))
    })
    .await;
    let (history, plans, invites, snoozes) = match loaded {
        Ok(x) => x,
        Err(e) => return failed(state, e),
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
            why: true,
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
    c.insert("snoozes", &super::dated_snoozes(snoozes));
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
pub(super) async fn posted(
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

/// The form's `questionnaire`, one the server serves; else the refusal
/// page (a guard like `me`, so the error is the response itself).
#[allow(clippy::result_large_err)]
fn chosen_questionnaire(
    state: &State,
    me: &Me,
    fields: &[(String, String)],
) -> Result<String, HttpResponse> {
    field(fields, "questionnaire")
        .filter(|q| state.catalog.get(q).is_some())
        .map(String::from)
        .ok_or_else(|| {
            message(
                state,
                me,
                StatusCode::UNPROCESSABLE_ENTITY,
                "c_questionnaire_unknown",
            )
        })
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
    let q = match chosen_questionnaire(&state, &me, &fields) {
        Ok(q) => q,
        Err(r) => return r,
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
    let q = match chosen_questionnaire(&state, &me, &fields) {
        Ok(q) => q,
        Err(r) => return r,
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
