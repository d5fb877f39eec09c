//! The FHIR R4 side of the API: `GET /questionnaires/{id}/fhir`,
//! `GET /responses/{id}/fhir` and `POST /fhir/QuestionnaireResponse`.
//! Errors here, a missing or wrong key included, are FHIR
//! `OperationOutcome`s (with the same status codes as the JSON API), so a
//! FHIR client can read them.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde_json::{Value as Json, json};

use super::responses::{idempotency, store_record};
use super::{ApiClinic, State, audit_reads, body, language, no_response, read};
use crate::core::engine::Mode;
use crate::fhir::response::{Problem, incoming, questionnaire_response};
use crate::storage::{responses, versions};
use crate::usecase::Idempotency;
use crate::vocab::PatientRef;
use crate::web::error::ApiError;

const FHIR_JSON: &str = "application/fhir+json; charset=utf-8";

/// An API error written as an `OperationOutcome`.
#[derive(Debug)]
pub struct FhirError(ApiError);

impl From<ApiError> for FhirError {
    fn from(e: ApiError) -> FhirError {
        FhirError(e)
    }
}

impl std::fmt::Display for FhirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// An `OperationOutcome` with one issue per problem.
fn outcome(code: &str, problems: &[(Option<String>, String)]) -> Json {
    let issues: Vec<Json> = problems
        .iter()
        .map(|(at, message)| {
            let mut i = json!({"severity": "error", "code": code, "diagnostics": message});
            if let Some(at) = at {
                i["expression"] = json!([format!("QuestionnaireResponse.{at}")]);
            }
            i
        })
        .collect();
    json!({"resourceType": "OperationOutcome", "issue": issues})
}

impl ResponseError for FhirError {
    fn status_code(&self) -> StatusCode {
        self.0.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let code = match status.as_u16() {
            401 | 403 => "security",
            404 => "not-found",
            409 => "conflict",
            413 => "too-costly",
            400 | 422 => "invalid",
            408 | 503 => "transient",
            _ => "exception",
        };
        let mut problems = vec![(None, self.0.to_string())];
        if let ApiError::Unprocessable(_, errors) = &self.0 {
            problems.extend(errors.iter().map(|(item, m)| {
                (
                    Some(format!("item.where(linkId='{item}')")),
                    m.as_str().unwrap_or_default().to_string(),
                )
            }));
        }
        let mut plain = self.0.error_response();
        let mut resp = HttpResponse::build(status);
        for (k, v) in plain.headers_mut().iter() {
            if k != actix_web::http::header::CONTENT_TYPE {
                resp.insert_header((k.clone(), v.clone()));
            }
        }
        if plain.head().connection_type() == actix_web::http::ConnectionType::Close {
            resp.force_close();
        }
        resp.content_type(FHIR_JSON)
            .body(outcome(code, &problems).to_string())
    }
}

/// `GET /api/v1/questionnaires/{id}/fhir`: the questionnaire as a FHIR R4
/// `Questionnaire` (see `crate::fhir` for what is mapped), made once.
pub async fn questionnaire(
    auth: Result<ApiClinic, ApiError>,
    state: State,
    id: web::Path<String>,
) -> Result<HttpResponse, FhirError> {
    auth?;
    let body = state.catalog.fhir_json(&id).ok_or_else(|| {
        ApiError::NotFound(
            "unknown_questionnaire",
            format!("there is no questionnaire `{id}`"),
        )
    })?;
    Ok(HttpResponse::Ok()
        .content_type(FHIR_JSON)
        .body(body.to_string()))
}

/// `GET /api/v1/responses/{id}/fhir`: a stored response as a FHIR R4
/// `QuestionnaireResponse` of the exact version answered.
pub async fn response(
    auth: Result<ApiClinic, ApiError>,
    state: State,
    id: web::Path<String>,
) -> Result<HttpResponse, FhirError> {
    let ApiClinic(c) = auth?;
    let (cid, rid) = (c.id.clone(), id.into_inner());
    let (rec, pid, q) = read(&state, no_response, move |conn| {
        let rec = responses::get_response(conn, &cid, &rid)?;
        let (pid, _) = responses::owner(conn, &cid, &rid)?;
        let q = versions::load_version_shared(conn, &rec.questionnaire, rec.version)?;
        Ok((rec, pid, q))
    })
    .await?;
    audit_reads(
        &state,
        &c,
        "response.read",
        vec![(pid, Some(rec.id.clone()))],
    )
    .await?;
    Ok(HttpResponse::Ok()
        .content_type(FHIR_JSON)
        .body(questionnaire_response(&q, &rec, &c.id).to_string()))
}

fn invalid(problems: Vec<Problem>) -> FhirError {
    let errors = problems
        .into_iter()
        .map(|(at, m)| (at, Json::String(m)))
        .collect();
    FhirError(ApiError::Unprocessable(
        "the QuestionnaireResponse cannot be stored; see the issues".into(),
        errors,
    ))
}

/// `POST /api/v1/fhir/QuestionnaireResponse`: a response from another
/// system, validated, scored and flagged like one from the form, stored
/// for the patient of this clinic that `subject.identifier` names, and
/// answered with the stored response as FHIR. The sender's `identifier` is
/// the idempotency key: the same one again answers with the first
/// response.
pub async fn import(
    req: HttpRequest,
    auth: Result<ApiClinic, ApiError>,
    state: State,
    payload: web::Payload,
) -> Result<HttpResponse, FhirError> {
    let ApiClinic(c) = auth?;
    let bytes = body::read(payload, &state.limits).await?;
    let body: Json = body::parse(&bytes)?;
    let catalog = &state.catalog;
    let known = |name: &str| {
        catalog
            .all()
            .find(|q| q.id == name || crate::fhir::fhir_id(&q.id) == name)
            .map(|q| q.id.clone())
    };
    let by_id = |id: &str| catalog.get(id);
    let (inc, q) = incoming(&body, &c.id, &known, &by_id).map_err(invalid)?;
    let patient = PatientRef::parse(&inc.patient).map_err(|e| {
        invalid(vec![(
            "subject".into(),
            format!("the patient's reference: {e}"),
        )])
    })?;
    let idem: Option<Idempotency> = match &inc.identifier {
        Some(key) => idempotency(
            Some(key.as_str()),
            "POST /fhir/QuestionnaireResponse".into(),
            &body,
        )?,
        None => None,
    };
    let mode = if inc.paper { Mode::Paper } else { Mode::App };
    let lang = language(&req);
    let rec = store_record(
        lang.as_deref(),
        &state,
        c.clone(),
        patient,
        &inc.questionnaire,
        &inc.answers,
        mode,
        idem,
        None,
    )
    .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/responses/{}/fhir", rec.id)))
        .content_type(FHIR_JSON)
        .body(questionnaire_response(&q, &rec, &c.id).to_string()))
}
