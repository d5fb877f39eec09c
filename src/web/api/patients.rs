//! `POST /patients`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::{ApiClinic, State, body};
use crate::storage::patients::NewPatient;
use crate::vocab::{Email, Language, PatientRef};
use crate::web::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPatientBody {
    #[serde(rename = "ref")]
    reference: String,
    name: Option<String>,
    email: Option<String>,
    language: Option<String>,
}

fn invalid(message: String) -> ApiError {
    ApiError::BadRequest("invalid", message)
}

pub async fn create(
    ApiClinic(c): ApiClinic,
    state: State,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let bytes = body::read(payload, &state.limits).await?;
    let b: NewPatientBody = body::parse(&bytes)?;
    let reference = PatientRef::parse(&b.reference).map_err(|e| invalid(format!("`ref`: {e}")))?;
    let email = b
        .email
        .as_deref()
        .map(Email::parse)
        .transpose()
        .map_err(|e| invalid(format!("`email`: {e}")))?;
    let language = Language::parse(b.language.as_deref().unwrap_or("da"))
        .map_err(|e| invalid(format!("`language`: {e}")))?;
    let name = match b.name.map(|n| n.trim().to_string()) {
        Some(n) if n.chars().count() > 200 || n.chars().any(char::is_control) => {
            return Err(invalid(
                "`name` may be at most 200 characters, with no control characters".into(),
            ));
        }
        other => other.filter(|n| !n.is_empty()),
    };
    let p = NewPatient {
        clinic_id: c.id.clone(),
        reference: reference.as_str().to_string(),
        name,
        email: email.map(Email::into_string),
        language: language.code().into(),
    };
    let now = state.clock.now();
    let actor = format!("api:{}", c.id);
    let id = state
        .writer
        .write(move |conn| {
            let id = crate::storage::patients::insert_patient(conn, &p, now)?;
            crate::storage::audit::record(
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
    Ok(HttpResponse::Created().json(json!({"id": id, "ref": reference.as_str()})))
}
