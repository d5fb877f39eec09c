//! The JSON API under `/api/v1`. Every call but `/healthz` needs a clinic's
//! API key ([`ApiClinic`]) and sees only that clinic's patients: anything
//! else is 404. A file per resource; bodies are parsed into typed requests
//! by one mechanism ([`body`]); the work is a use case or a storage read.

pub mod auth;
mod body;
mod fhir;
mod flags;
pub mod paging;
mod patients;
mod questionnaires;
mod responses;

use actix_web::{HttpRequest, HttpResponse, middleware, web};
use serde_json::{Value as Json, json};

use super::AppState;
use super::error::ApiError;
use crate::storage::StorageError;
use crate::storage::responses::ResponseRecord;

pub use auth::ApiClinic;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|e, _| {
        ApiError::BadRequest("bad_query", format!("the query string is not valid: {e}")).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|e, _| {
        ApiError::BadRequest("bad_path", format!("the address is not valid: {e}")).into()
    }))
    .route("/healthz", web::get().to(super::health::healthz))
    .route("/readyz", web::get().to(super::health::readyz));
    let mut scope = web::scope("/api/v1")
        // Every answer may hold patient data: no cache keeps it.
        .wrap(middleware::DefaultHeaders::new().add(("Cache-Control", "no-store")));
    for (_, path, route) in table() {
        scope = scope.route(path, route);
    }
    cfg.service(scope);
}

/// The OpenAPI 3.1 description of this API (`docs/openapi.json`; a test
/// holds it to the server).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Every call under `/api/v1`: method, path (below `/api/v1`) and route.
/// A test checks that `docs/openapi.json` describes exactly these.
pub fn table() -> Vec<(&'static str, &'static str, actix_web::Route)> {
    vec![
        ("GET", "/openapi.json", web::get().to(openapi)),
        (
            "GET",
            "/questionnaires",
            web::get().to(questionnaires::list),
        ),
        (
            "GET",
            "/questionnaires/{id}",
            web::get().to(questionnaires::get),
        ),
        (
            "GET",
            "/questionnaires/{id}/fhir",
            web::get().to(fhir::questionnaire),
        ),
        ("POST", "/patients", web::post().to(patients::create)),
        (
            "GET",
            "/patients/{ref}/responses",
            web::get().to(responses::of_patient),
        ),
        ("POST", "/responses", web::post().to(responses::create)),
        ("GET", "/responses/{id}", web::get().to(responses::get)),
        ("GET", "/responses/{id}/fhir", web::get().to(fhir::response)),
        (
            "POST",
            "/fhir/QuestionnaireResponse",
            web::post().to(fhir::import),
        ),
        (
            "POST",
            "/responses/{id}/corrections",
            web::post().to(responses::correct),
        ),
        ("GET", "/flags", web::get().to(flags::queue)),
    ]
}

/// `GET /api/v1/openapi.json`: no key needed.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

type State = web::Data<AppState>;

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(
        "not_found",
        "there is nothing at this address".into(),
    ))
}

/// Runs a read on a blocking thread (SQLite blocks); `missing` is the
/// error when the thing is not found.
async fn read<T: Send + 'static>(
    state: &State,
    missing: fn() -> ApiError,
    f: impl FnOnce(&crate::storage::Connection) -> crate::storage::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    super::read(state, f).await.map_err(|e| match e {
        StorageError::NotFound => missing(),
        other => other.into(),
    })
}

fn no_response() -> ApiError {
    ApiError::NotFound("unknown_response", "there is no such response".into())
}

fn no_patient() -> ApiError {
    ApiError::NotFound(
        "unknown_patient",
        "there is no patient with that reference".into(),
    )
}

/// The first language of `Accept-Language`, when it is one we speak.
fn language(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get("accept-language")?.to_str().ok()?;
    header
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .filter_map(|t| t.split('-').next())
        .map(str::to_ascii_lowercase)
        .find(|l| crate::vocab::LANGUAGES.contains(&l.as_str()))
}

fn text_in(text: &Json, lang: Option<&str>) -> Json {
    match text {
        Json::Object(m) => lang
            .and_then(|l| m.get(l))
            .or_else(|| m.values().next())
            .cloned()
            .unwrap_or(Json::Null),
        other => other.clone(),
    }
}

fn flags_json(flags: &[crate::storage::responses::FlagRecord], lang: Option<&str>) -> Vec<Json> {
    flags
        .iter()
        .map(|f| json!({"rule": f.rule, "level": f.level, "text": text_in(&f.text, lang)}))
        .collect()
}

fn response_json(r: &ResponseRecord, lang: Option<&str>) -> Json {
    let mut o = json!({
        "id": r.id,
        "questionnaire": r.questionnaire,
        "version": r.version,
        "patient": r.patient,
        "submitted_at": r.submitted_at,
        "response_date": r.response_date,
        "mode": r.mode,
        "answers": r.answers,
        "scores": r.scores,
        "imputed": r.imputed,
        "bands": r.bands,
        "flags": flags_json(&r.flags, lang),
        "level": r.level,
    });
    for (k, v) in [
        ("supersedes", &r.supersedes),
        ("superseded_by", &r.superseded_by),
        ("correction_reason", &r.correction_reason),
    ] {
        if let Some(v) = v {
            o[k] = json!(v);
        }
    }
    o
}

/// Every read of a patient's data is in the audit log, before the data
/// leaves: one row per patient read.
async fn audit_reads(
    state: &State,
    clinic: &crate::storage::clinics::Clinic,
    action: &'static str,
    reads: Vec<(String, Option<String>)>,
) -> Result<(), ApiError> {
    if reads.is_empty() {
        return Ok(());
    }
    let now = state.clock.now();
    let actor = format!("api:{}", clinic.id);
    let cid = clinic.id.clone();
    state
        .writer
        .write(move |conn| {
            for (patient, subject) in &reads {
                crate::storage::audit::record(
                    conn,
                    &actor,
                    action,
                    &cid,
                    Some(patient),
                    subject.as_deref(),
                    now,
                )?;
            }
            Ok(())
        })
        .await?;
    Ok(())
}
