//! Letters: plans' invitations for patients without e-mail, printed as
//! the paper form with the patient's reference and the code to type in.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value as Json;

use super::{Access, State, failed, me, not_found, read, render, when};
use crate::storage::{audit, invitations};

/// `GET /clinic/letters`: plans' invitations for patients without e-mail,
/// to print and post.
pub async fn letters(req: HttpRequest, state: State) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let (clinic, now) = (me.clinic(), state.clock.now());
    let list = match read(&state, move |c| invitations::letters(c, &clinic, now)).await {
        Ok(l) => l,
        Err(e) => return failed(&state, e),
    };
    let rows: Vec<Json> = list
        .iter()
        .map(|i| {
            serde_json::json!({
                "id": i.id,
                "patient": i.reference,
                "patient_id": i.patient_id,
                "questionnaire": state.catalog.get(&i.questionnaire).map(|q| q.title.get(&me.lang).to_string()).unwrap_or_else(|| i.questionnaire.clone()),
                "created": when(&i.created_at),
                "expires": when(&i.expires_at),
            })
        })
        .collect();
    let mut c = tera::Context::new();
    c.insert("letters", &rows);
    render(&state, &me, StatusCode::OK, "clinic/letters.html", c)
}

/// `GET /clinic/invitations/{invitation}/letter`: the paper form of one
/// invitation, with the patient's reference and the code staff type in
/// when the answers come back.
pub async fn letter(req: HttpRequest, state: State, path: web::Path<String>) -> HttpResponse {
    let me = match me(&req, &state, Access::Staff).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let (clinic, id) = (me.clinic(), path.into_inner());
    let found = match read(&state, move |c| {
        invitations::plan_invitation_in(c, &clinic, &id)
    })
    .await
    {
        Ok(f) => f,
        Err(e) => return failed(&state, e),
    };
    let Some(i) = found else {
        return not_found(&state, &me);
    };
    let Some(q) = state.catalog.get(&i.questionnaire) else {
        return not_found(&state, &me);
    };
    // Printing a letter shows the patient's reference: a read of their data.
    let (actor, clinic, pid, iid, now) = (
        me.actor(),
        me.clinic(),
        i.patient_id.clone(),
        i.id.clone(),
        state.clock.now(),
    );
    if let Err(e) = state
        .writer
        .write(move |c| {
            audit::record(
                c,
                &actor,
                "letter.read",
                &clinic,
                Some(&pid),
                Some(&iid),
                now,
            )
        })
        .await
    {
        return failed(&state, e);
    }
    let code = crate::web::patient::paper_code(&i.id);
    state
        .pages
        .paper(&q, &i.language, Some(&i.reference), Some(&code))
}
