//! `GET /questionnaires` and `GET /questionnaires/{id}`.

use actix_web::{HttpResponse, web};
use serde_json::{Value as Json, json};

use super::{ApiClinic, State};
use crate::web::error::ApiError;

pub async fn list(_: ApiClinic, state: State) -> Result<HttpResponse, ApiError> {
    let list: Vec<Json> = state
        .catalog
        .all()
        .map(|q| json!({"id": q.id, "version": q.version, "hash": q.hash, "title": q.title.to_json()}))
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

pub async fn get(
    _: ApiClinic,
    state: State,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
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
