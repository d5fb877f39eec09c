//! The JSON API under `/api/v1`. Every call but `/healthz` needs a clinic's
//! API key and sees only that clinic's patients: anything else is 404.

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::ApiError;
use crate::clock::local_date;
use crate::core::engine::{Mode, validate};
use crate::storage::StorageError;
use crate::storage::records::{self, Clinic, NewPatient, ResponseRecord, Submission, Submitted};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz)).service(
        web::scope("/api/v1")
            .route("/questionnaires", web::get().to(list_questionnaires))
            .route("/questionnaires/{id}", web::get().to(get_questionnaire))
            .route("/questionnaires/{id}/fhir", web::get().to(not_yet_fhir))
            .route("/patients", web::post().to(create_patient))
            .route(
                "/patients/{ref}/responses",
                web::get().to(patient_responses),
            )
            .route("/responses", web::post().to(create_response))
            .route("/responses/{id}", web::get().to(get_response))
            .route("/responses/{id}/fhir", web::get().to(not_yet_fhir))
            .route(
                "/responses/{id}/corrections",
                web::post().to(correct_response),
            )
            .route("/flags", web::get().to(flags)),
    );
}

type State = web::Data<AppState>;

async fn healthz() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body("ok")
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(
        "not_found",
        "there is nothing at this address".into(),
    ))
}

async fn not_yet_fhir() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotImplemented(
        "FHIR R4 views are not available yet; use the JSON form of this resource".into(),
    ))
}

/// Runs a read on a blocking thread (rusqlite blocks); `missing` is the
/// error when the thing is not found.
async fn read<T: Send + 'static>(
    state: &State,
    missing: fn() -> ApiError,
    f: impl FnOnce(&rusqlite::Connection) -> crate::storage::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let readers = state.readers.clone();
    web::block(move || readers.with(f))
        .await
        .map_err(|_| ApiError::Internal(records::new_id()))?
        .map_err(|e| match e {
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

/// The caller's clinic, from `Authorization: Bearer KEY`.
async fn clinic(req: &HttpRequest, state: &State) -> Result<Clinic, ApiError> {
    let key = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(ApiError::Unauthorized)?;
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    if let Some(c) = state.keys.read().ok().and_then(|m| m.get(&hash).cloned()) {
        return Ok(c);
    }
    let h = hash.clone();
    let found = read(
        state,
        || ApiError::Unauthorized,
        move |conn| records::clinic_for_key(conn, &h),
    )
    .await?;
    let c = found.ok_or(ApiError::Unauthorized)?;
    if let Ok(mut m) = state.keys.write() {
        m.insert(hash, c.clone());
    }
    Ok(c)
}

/// The first language of `Accept-Language`, when it is one we speak.
fn language(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get("accept-language")?.to_str().ok()?;
    header
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .filter_map(|t| t.split('-').next())
        .map(str::to_ascii_lowercase)
        .find(|l| l == "da" || l == "en")
}

/// Reads a JSON body of at most `MAX_BODY` bytes.
async fn json_body(mut payload: web::Payload) -> Result<Json, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| {
            ApiError::BadRequest("bad_body", "the request body could not be read".into())
        })?;
        if body.len() + chunk.len() > super::MAX_BODY {
            return Err(ApiError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::BadRequest(
            "bad_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })
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

fn response_json(r: &ResponseRecord, lang: Option<&str>) -> Json {
    let flags: Vec<Json> = r
        .flags
        .iter()
        .map(|f| json!({"rule": f.rule, "level": f.level, "text": text_in(&f.text, lang)}))
        .collect();
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
        "flags": flags,
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

async fn list_questionnaires(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    clinic(&req, &state).await?;
    let list: Vec<Json> = state
        .catalog
        .all()
        .map(|q| json!({"id": q.id, "version": q.version, "hash": q.hash, "title": q.title.to_json()}))
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

async fn get_questionnaire(
    req: HttpRequest,
    state: State,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    clinic(&req, &state).await?;
    let q = state.catalog.get(&id).ok_or_else(|| {
        ApiError::NotFound(
            "unknown_questionnaire",
            format!("there is no questionnaire `{id}`"),
        )
    })?;
    let mut body = q.to_json();
    body["hash"] = json!(q.hash);
    Ok(HttpResponse::Ok().json(body))
}

fn opt_string(body: &Json, key: &str, max: usize) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if s.chars().count() <= max => Ok(Some(s.trim().to_string())),
        Some(Json::String(_)) => Err(ApiError::BadRequest(
            "invalid",
            format!("`{key}` may be at most {max} characters"),
        )),
        Some(_) => Err(ApiError::BadRequest(
            "invalid",
            format!("`{key}` must be a string"),
        )),
    }
}

async fn create_patient(
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let c = clinic(&req, &state).await?;
    let body = json_body(payload).await?;
    let reference = opt_string(&body, "ref", 100)?
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "invalid",
                "`ref`, the clinic's reference for the patient, is required".into(),
            )
        })?;
    let email = opt_string(&body, "email", 254)?;
    if let Some(e) = &email
        && (!e.contains('@') || e.contains(char::is_whitespace))
    {
        return Err(ApiError::BadRequest(
            "invalid",
            "`email` is not an e-mail address".into(),
        ));
    }
    let language = opt_string(&body, "language", 2)?.unwrap_or_else(|| "da".into());
    if language != "da" && language != "en" {
        return Err(ApiError::BadRequest(
            "invalid",
            "`language` must be `da` or `en`".into(),
        ));
    }
    let p = NewPatient {
        clinic_id: c.id.clone(),
        reference: reference.clone(),
        name: opt_string(&body, "name", 200)?,
        email,
        language,
    };
    let now = state.clock.now();
    let actor = format!("api:{}", c.id);
    let id = state
        .writer
        .write(move |conn| {
            let id = records::insert_patient(conn, &p, now)?;
            records::audit(
                conn,
                &actor,
                "patient.create",
                &p.clinic_id,
                Some(&id),
                None,
                now,
            )?;
            Ok(id)
        })
        .await?;
    Ok(HttpResponse::Created().json(json!({"id": id, "ref": reference})))
}

fn mode_of(body: &Json) -> Result<Mode, ApiError> {
    match body.get("mode") {
        None | Some(Json::Null) => Ok(Mode::App),
        Some(Json::String(m)) => Mode::parse(m).ok_or_else(|| {
            ApiError::BadRequest("invalid", "`mode` must be `app` or `paper`".into())
        }),
        Some(_) => Err(ApiError::BadRequest(
            "invalid",
            "`mode` must be `app` or `paper`".into(),
        )),
    }
}

/// Validates and stores a response (new, or a correction of `supersedes`).
async fn store_response(
    req: &HttpRequest,
    state: &State,
    c: Clinic,
    body: Json,
    patient_ref: String,
    questionnaire_id: &str,
    supersedes: Option<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let lang = language(req);
    let q = state
        .catalog
        .get(questionnaire_id)
        .cloned()
        .ok_or_else(|| {
            ApiError::NotFound(
                "unknown_questionnaire",
                format!("there is no questionnaire `{questionnaire_id}`"),
            )
        })?;
    let answers = match body.get("answers") {
        Some(Json::Object(m)) => m.clone(),
        None | Some(Json::Null) => Map::new(),
        Some(_) => {
            return Err(ApiError::BadRequest(
                "invalid",
                "`answers` must map item ids to answers".into(),
            ));
        }
    };
    let mode = mode_of(&body)?;
    let idempotency = match body.get("idempotency_key") {
        None | Some(Json::Null) => None,
        Some(Json::String(k)) if !k.is_empty() && k.len() <= 200 => {
            let hash = hex::encode(Sha256::digest(body.to_string().as_bytes()));
            Some((k.clone(), hash))
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "invalid",
                "`idempotency_key` must be a string of 1 to 200 characters".into(),
            ));
        }
    };
    let now = state.clock.now();
    let date = local_date(now, &c.time_zone);
    let evaluation = match validate(&q, &answers, mode, date) {
        Ok(ev) => ev,
        Err(errs) => {
            let msg_lang = lang.as_deref().unwrap_or(q.default_language()).to_string();
            let errors: Map<String, Json> = errs
                .iter()
                .map(|e| (e.item.clone(), Json::String(e.message(&msg_lang))))
                .collect();
            let message = if msg_lang == "da" {
                "Nogle svar kan ikke modtages; se `errors`"
            } else {
                "Some answers cannot be accepted; see `errors`"
            };
            return Err(ApiError::Unprocessable(message.into(), errors));
        }
    };
    let correcting = supersedes.is_some();
    let sub = Submission {
        clinic_id: c.id.clone(),
        patient_ref,
        questionnaire: q,
        evaluation,
        mode,
        actor: format!("api:{}", c.id),
        now,
        idempotency,
        supersedes,
        base_url: state.base_url.clone(),
    };
    let stored = state
        .writer
        .write(move |conn| records::submit(conn, &sub))
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
    tracing::info!(response = %rec.id, clinic = %c.id, replay, "response stored");
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/responses/{}", rec.id)))
        .json(response_json(&rec, lang.as_deref())))
}

async fn create_response(
    req: HttpRequest,
    state: State,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let c = clinic(&req, &state).await?;
    let body = json_body(payload).await?;
    let qid = match body.get("questionnaire") {
        Some(Json::String(s)) => s.clone(),
        _ => {
            return Err(ApiError::BadRequest(
                "invalid",
                "`questionnaire` (an id) is required".into(),
            ));
        }
    };
    let patient = match body.get("patient") {
        Some(Json::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(ApiError::BadRequest(
                "invalid",
                "`patient` (the patient's ref) is required".into(),
            ));
        }
    };
    store_response(&req, &state, c, body, patient, &qid, None).await
}

/// `POST /api/v1/responses/{id}/corrections` `{answers, reason, mode?}`: a new
/// response that supersedes the old one; the old one stays readable.
async fn correct_response(
    req: HttpRequest,
    state: State,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let c = clinic(&req, &state).await?;
    let body = json_body(payload).await?;
    let reason = opt_string(&body, "reason", 1000)?
        .filter(|r| !r.is_empty())
        .ok_or_else(|| {
            ApiError::BadRequest("invalid", "`reason` is required for a correction".into())
        })?;
    let (cid, rid) = (c.id.clone(), id.into_inner());
    let rid2 = rid.clone();
    let old = read(&state, no_response, move |conn| {
        records::get_response(conn, &cid, &rid2)
    })
    .await?;
    let qid = old.questionnaire.clone();
    store_response(
        &req,
        &state,
        c,
        body,
        old.patient,
        &qid,
        Some((rid, reason)),
    )
    .await
}

async fn get_response(
    req: HttpRequest,
    state: State,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = clinic(&req, &state).await?;
    let (cid, rid) = (c.id.clone(), id.into_inner());
    let rec = read(&state, no_response, move |conn| {
        let rec = records::get_response(conn, &cid, &rid)?;
        let pid = records::response_patient(conn, &cid, &rid)?;
        Ok((rec, pid))
    })
    .await?;
    let (rec, pid) = rec;
    audit_read(&state, &c, "response.read", Some(pid), Some(rec.id.clone())).await?;
    Ok(HttpResponse::Ok().json(response_json(&rec, language(&req).as_deref())))
}

/// Every read of a patient's data is in the audit log, before the data
/// leaves.
async fn audit_read(
    state: &State,
    c: &Clinic,
    action: &'static str,
    patient_id: Option<String>,
    subject: Option<String>,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let actor = format!("api:{}", c.id);
    let cid = c.id.clone();
    state
        .writer
        .write(move |conn| {
            records::audit(
                conn,
                &actor,
                action,
                &cid,
                patient_id.as_deref(),
                subject.as_deref(),
                now,
            )
        })
        .await?;
    Ok(())
}

async fn patient_responses(
    req: HttpRequest,
    state: State,
    reference: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = clinic(&req, &state).await?;
    let (cid, r) = (c.id.clone(), reference.into_inner());
    let (pid, list) = read(&state, no_patient, move |conn| {
        records::patient_responses(conn, &cid, &r)
    })
    .await?;
    audit_read(&state, &c, "patient.responses.read", Some(pid), None).await?;
    let lang = language(&req);
    let body: Vec<Json> = list
        .iter()
        .map(|r| response_json(r, lang.as_deref()))
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

#[derive(serde::Deserialize)]
struct FlagsQuery {
    status: Option<String>,
}

async fn flags(
    req: HttpRequest,
    state: State,
    query: web::Query<FlagsQuery>,
) -> Result<HttpResponse, ApiError> {
    let c = clinic(&req, &state).await?;
    let status = query.status.clone().unwrap_or_else(|| "open".into());
    if !["open", "acknowledged", "resolved"].contains(&status.as_str()) {
        return Err(ApiError::BadRequest(
            "invalid",
            "`status` must be open, acknowledged or resolved".into(),
        ));
    }
    let cid = c.id.clone();
    let items = read(&state, no_response, move |conn| {
        records::review_queue(conn, &cid, &status, 1000)
    })
    .await?;
    let subject = format!("{} items", items.len());
    audit_read(&state, &c, "review_queue.read", None, Some(subject)).await?;
    let lang = language(&req);
    let body: Vec<Json> = items
        .iter()
        .map(|i| {
            let flags: Vec<Json> = i
                .flags
                .iter()
                .map(|f| json!({"rule": f.rule, "level": f.level, "text": text_in(&f.text, lang.as_deref())}))
                .collect();
            json!({
                "response": i.response,
                "patient": i.patient,
                "questionnaire": i.questionnaire,
                "level": i.level,
                "flags": flags,
                "submitted_at": i.submitted_at,
                "status": i.status,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(body))
}
