//! `POST /responses`, `POST /responses/{id}/corrections`,
//! `GET /responses/{id}` and `GET /patients/{ref}/responses`.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use super::paging::{PageQuery, cursor, next_link};
use super::{
    ApiClinic, State, audit_reads, body, language, no_patient, no_response, read, response_json,
};
use crate::clock::local_date;
use crate::core::engine::{Mode, validate};
use crate::storage::clinics::Clinic;
use crate::storage::responses::{self, After};
use crate::storage::{StorageError, patients};
use crate::usecase::{Idempotency, Submission, Submitted, submit_response};
use crate::vocab::PatientRef;
use crate::web::error::ApiError;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct NewResponseBody {
    questionnaire: String,
    patient: String,
    #[serde(default, deserialize_with = "body::answers")]
    answers: Map<String, Json>,
    mode: Option<String>,
    idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct CorrectionBody {
    #[serde(default, deserialize_with = "body::answers")]
    answers: Map<String, Json>,
    reason: String,
    mode: Option<String>,
    idempotency_key: Option<String>,
}

pub(super) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::BadRequest("invalid", message.into())
}

/// `mode`: `app` (the default) or `paper`, as the interface says.
fn mode_of(mode: Option<&str>) -> Result<Mode, ApiError> {
    match mode {
        None | Some("app") => Ok(Mode::App),
        Some("paper") => Ok(Mode::Paper),
        Some(_) => Err(invalid("`mode` must be `app` or `paper`")),
    }
}

pub(super) fn idempotency<T: Serialize>(
    key: Option<&str>,
    scope: String,
    request: &T,
) -> Result<Option<Idempotency>, ApiError> {
    match key {
        None => Ok(None),
        Some(k) if !k.is_empty() && k.chars().count() <= 200 => Ok(Some(Idempotency {
            key: k.to_string(),
            scope,
            request_hash: body::canonical_hash(request),
        })),
        Some(_) => Err(invalid(
            "`idempotency_key` must be a string of 1 to 200 characters",
        )),
    }
}

/// Validates and stores a response (new, or a correction of `supersedes`)
/// and answers with it as JSON.
#[allow(clippy::too_many_arguments)]
async fn store(
    req: &HttpRequest,
    state: &State,
    c: Clinic,
    patient: PatientRef,
    questionnaire_id: &str,
    answers: &Map<String, Json>,
    mode: Mode,
    idempotency: Option<Idempotency>,
    supersedes: Option<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let lang = language(req);
    let rec = store_record(
        lang.as_deref(),
        state,
        c,
        patient,
        questionnaire_id,
        answers,
        mode,
        idempotency,
        supersedes,
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/responses/{}", rec.id)))
        .json(response_json(&rec, lang.as_deref())))
}

/// Validates and stores a response: the one way the API (JSON or FHIR)
/// stores answers, with the same clinic rules, idempotency and audit.
#[allow(clippy::too_many_arguments)]
pub(super) async fn store_record(
    lang: Option<&str>,
    state: &State,
    c: Clinic,
    patient: PatientRef,
    questionnaire_id: &str,
    answers: &Map<String, Json>,
    mode: Mode,
    idempotency: Option<Idempotency>,
    supersedes: Option<(String, String)>,
) -> Result<crate::storage::responses::ResponseRecord, ApiError> {
    let q = state.catalog.get(questionnaire_id).ok_or_else(|| {
        ApiError::NotFound(
            "unknown_questionnaire",
            format!("there is no questionnaire `{questionnaire_id}`"),
        )
    })?;
    let now = state.clock.now();
    let date = local_date(now, &c.time_zone);
    let evaluation = validate(&q, answers, mode, date).map_err(|errs| {
        let msg_lang = lang.unwrap_or(q.default_language()).to_string();
        let errors: Map<String, Json> = errs
            .iter()
            .map(|e| (e.item.clone(), Json::String(e.message(&msg_lang))))
            .collect();
        let message = if msg_lang == "da" {
            "Nogle svar kan ikke modtages; se `errors`"
        } else {
            "Some answers cannot be accepted; see `errors`"
        };
        ApiError::Unprocessable(message.into(), errors)
    })?;
    let correcting = supersedes.is_some();
    let sub = Submission {
        clinic_id: c.id.clone(),
        patient_ref: patient.into_string(),
        questionnaire: q,
        evaluation,
        mode,
        actor: format!("api:{}", c.id),
        now,
        idempotency,
        supersedes,
        base_url: state.base_url.clone(),
        invitation: None,
    };
    let stored = state
        .writer
        .write(move |conn| submit_response(conn, &sub))
        .await
        .map_err(|e| match e {
            StorageError::NotFound if correcting => no_response(),
            StorageError::NotFound => no_patient(),
            other => other.into(),
        })?;
    let (rec, replay) = match stored {
        Submitted::New(r) => (r, false),
        Submitted::Replayed(r) => (r, true),
    };
    state.stats.stored(&rec, replay, "api");
    tracing::debug!(response = %rec.id, clinic = %c.id, replay, "response stored");
    Ok(rec)
}

pub async fn create(
    req: HttpRequest,
    ApiClinic(c): ApiClinic,
    state: State,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let bytes = body::read(payload, &state.limits).await?;
    let b: NewResponseBody = body::parse(&bytes)?;
    let patient = PatientRef::parse(&b.patient).map_err(|e| invalid(format!("`patient`: {e}")))?;
    let mode = mode_of(b.mode.as_deref())?;
    let idem = idempotency(b.idempotency_key.as_deref(), "POST /responses".into(), &b)?;
    store(
        &req,
        &state,
        c,
        patient,
        &b.questionnaire,
        &b.answers,
        mode,
        idem,
        None,
    )
    .await
}

/// `POST /api/v1/responses/{id}/corrections` `{answers, reason, mode?}`: a new
/// response that supersedes the old one; the old one stays readable.
pub async fn correct(
    req: HttpRequest,
    ApiClinic(c): ApiClinic,
    state: State,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let bytes = body::read(payload, &state.limits).await?;
    let b: CorrectionBody = body::parse(&bytes)?;
    let reason = b.reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(invalid(
            "`reason` is required for a correction, at most 1000 characters",
        ));
    }
    let rid = id.into_inner();
    let mode = mode_of(b.mode.as_deref())?;
    let idem = idempotency(
        b.idempotency_key.as_deref(),
        format!("POST /responses/{rid}/corrections"),
        &b,
    )?;
    let (cid, rid2) = (c.id.clone(), rid.clone());
    let old = read(&state, no_response, move |conn| {
        responses::get_response(conn, &cid, &rid2)
    })
    .await?;
    let patient = PatientRef::parse(&old.patient).map_err(invalid)?;
    store(
        &req,
        &state,
        c,
        patient,
        &old.questionnaire,
        &b.answers,
        mode,
        idem,
        Some((rid, reason)),
    )
    .await
}

pub async fn get(
    req: HttpRequest,
    ApiClinic(c): ApiClinic,
    state: State,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (cid, rid) = (c.id.clone(), id.into_inner());
    let (rec, pid) = read(&state, no_response, move |conn| {
        let rec = responses::get_response(conn, &cid, &rid)?;
        let (pid, _) = responses::owner(conn, &cid, &rid)?;
        Ok((rec, pid))
    })
    .await?;
    audit_reads(
        &state,
        &c,
        "response.read",
        vec![(pid, Some(rec.id.clone()))],
    )
    .await?;
    Ok(HttpResponse::Ok().json(response_json(&rec, language(&req).as_deref())))
}

pub async fn of_patient(
    req: HttpRequest,
    ApiClinic(c): ApiClinic,
    state: State,
    reference: web::Path<String>,
    page: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page.limit()?;
    let after = page
        .after()?
        .map(|[submitted_at, id]| After { submitted_at, id });
    let reference = PatientRef::parse(&reference).map_err(|_| no_patient())?;
    let cid = c.id.clone();
    let (pid, list, more) = read(&state, no_patient, move |conn| {
        let pid = patients::patient_id(conn, &cid, reference.as_str())?;
        let (list, more) = responses::patient_responses(conn, &pid, limit, after.as_ref())?;
        Ok((pid, list, more))
    })
    .await?;
    audit_reads(&state, &c, "patient.responses.read", vec![(pid, None)]).await?;
    let lang = language(&req);
    let body: Vec<Json> = list
        .iter()
        .map(|r| response_json(r, lang.as_deref()))
        .collect();
    let mut resp = HttpResponse::Ok();
    if more && let Some(last) = list.last() {
        let next = cursor(&[&last.submitted_at, &last.id]);
        resp.insert_header(("Link", next_link(&req, "", limit, &next)));
    }
    Ok(resp.json(body))
}
