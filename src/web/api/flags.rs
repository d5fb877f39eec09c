//! `GET /flags?status=open`: the review queue, red before yellow, oldest
//! first, in pages.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::paging::{PageQuery, cursor, next_link};
use super::{ApiClinic, State, audit_reads, flags_json, language, no_response, read};
use crate::storage::review::{self, After};
use crate::web::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct FlagsQuery {
    status: Option<String>,
    // Not `#[serde(flatten)]`: flattened numbers cannot be read from a
    // query string.
    limit: Option<u32>,
    cursor: Option<String>,
}

pub async fn queue(
    req: HttpRequest,
    ApiClinic(c): ApiClinic,
    state: State,
    query: web::Query<FlagsQuery>,
) -> Result<HttpResponse, ApiError> {
    let status = query.status.clone().unwrap_or_else(|| "open".into());
    if !["open", "acknowledged", "resolved"].contains(&status.as_str()) {
        return Err(ApiError::BadRequest(
            "invalid",
            "`status` must be open, acknowledged or resolved".into(),
        ));
    }
    let page = PageQuery {
        limit: query.limit,
        cursor: query.cursor.clone(),
    };
    let limit = page.limit()?;
    let after = page.after()?.map(|[level, created_at, response]| After {
        level,
        created_at,
        response,
    });
    let (cid, st) = (c.id.clone(), status.clone());
    let (items, more) = read(&state, no_response, move |conn| {
        review::review_queue(conn, &cid, &st, limit, after.as_ref())
    })
    .await?;
    // The queue shows patients' references and flags: a read of each.
    let reads = items
        .iter()
        .map(|i| (i.patient_id.clone(), Some(i.response.clone())))
        .collect();
    audit_reads(&state, &c, "review_queue.read", reads).await?;
    let lang = language(&req);
    let body: Vec<Json> = items
        .iter()
        .map(|i| {
            json!({
                "response": i.response,
                "patient": i.patient,
                "questionnaire": i.questionnaire,
                "level": i.level,
                "flags": flags_json(&i.flags, lang.as_deref()),
                "submitted_at": i.submitted_at,
                "status": i.status,
            })
        })
        .collect();
    let mut resp = HttpResponse::Ok();
    if more && let Some(last) = items.last() {
        let next = cursor(&[&last.level, &last.submitted_at, &last.response]);
        resp.insert_header((
            "Link",
            next_link(&req, &format!("status={status}&"), limit, &next),
        ));
    }
    Ok(resp.json(body))
}
