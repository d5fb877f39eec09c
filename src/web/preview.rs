//! `prom preview`: the author's view. It serves each questionnaire in a file
//! or folder exactly as a patient's form shows it (the same templates and
//! form views), compiled afresh at every request so a saved edit shows at
//! the next reload; a file with errors shows its diagnostics instead of the
//! form; beside the form stand the scores, bands, rules and level the
//! answers so far would give. It keeps the answers in memory. With a
//! database (`--db`), it also shows the alert load: the stored responses
//! replayed through the draft's rules beside the stored version's (it only
//! reads the database).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde::Serialize;
use serde_json::{Map, Value as Json};
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;
use tera::Context;

use super::pages::Pages;
use crate::catalog::{self, Entry};
use crate::core::diag::render_all;
use crate::core::engine::{Mode, evaluate, fire_rules, lenient_values, level_of, validate};
use crate::core::form::{merge_page, page_view, pages};

/// An author's answers so far to one questionnaire: the answers, the page
/// and the language.
type Progress = (Map<String, Json>, usize, String);

struct Preview {
    path: PathBuf,
    /// A database whose stored responses are replayed for the alert load.
    db: Option<PathBuf>,
    pages: Pages,
    answers: Mutex<HashMap<String, Progress>>,
}

type State = web::Data<Preview>;

/// Starts the preview server on `listener`.
pub fn server(
    path: PathBuf,
    db: Option<PathBuf>,
    listener: TcpListener,
) -> anyhow::Result<actix_web::dev::Server> {
    let state = web::Data::new(Preview {
        path,
        db,
        pages: Pages::load()?,
        answers: Mutex::default(),
    });
    let srv = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/", web::get().to(index))
            .route("/q/{id}", web::get().to(show))
            .route("/q/{id}", web::post().to(answer))
            .route("/q/{id}/visible", web::post().to(visible))
            .route("/print/{id}", web::get().to(print))
            .route("/static/app.css", web::get().to(super::pages::stylesheet))
            .route("/static/app.js", web::get().to(super::pages::script))
            .route(
                "/static/print.css",
                web::get().to(super::pages::print_stylesheet),
            )
            .default_service(web::to(unknown))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok(srv)
}

fn entries(state: &State) -> Vec<Entry> {
    match catalog::find(&state.path) {
        Ok(files) => files.iter().map(|p| catalog::load_file(p)).collect(),
        Err(_) => Vec::new(),
    }
}

/// The entry for `id`: by the id it compiled to, by the id its source
/// declares (so the form's address shows the file's errors while it does
/// not compile), or by its file name.
fn entry(state: &State, id: &str) -> Option<Entry> {
    entries(state).into_iter().find(|e| {
        e.questionnaire().is_some_and(|q| q.id == id)
            || declared_id(&e.source) == Some(id)
            || e.path
                .file_stem()
                .is_some_and(|s| s.to_string_lossy() == id)
    })
}

/// The `id:` a questionnaire's source declares at its top level.
fn declared_id(source: &str) -> Option<&str> {
    source.lines().find_map(|l| {
        l.strip_prefix("id:")
            .map(|v| v.trim().trim_matches(|c| c == '"' || c == '\''))
    })
}

/// An address the preview does not have: a page that says so and leads to
/// the list.
async fn unknown(state: State) -> HttpResponse {
    not_here(&state)
}

fn not_here(state: &State) -> HttpResponse {
    let mut c = Context::new();
    c.insert("heading", "Not in this preview");
    c.insert(
        "message",
        "There is no questionnaire or page at this address in the previewed folder.",
    );
    c.insert("back", "/");
    state
        .pages
        .render(StatusCode::NOT_FOUND, "patient/problem.html", "en", c)
}

/// `POST /q/{id}/visible`: the questions the page's answers show, for the
/// page's script (the answers so far with this page's fields; nothing is
/// kept).
async fn visible(
    state: State,
    id: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let id = id.into_inner();
    let Some(e) = entry(&state, &id) else {
        return HttpResponse::NotFound().finish();
    };
    let Some(q) = e.questionnaire() else {
        return HttpResponse::NotFound().finish();
    };
    let (answers, _, lang) = state
        .answers
        .lock()
        .ok()
        .and_then(|m| m.get(&id).cloned())
        .unwrap_or_default();
    let (page, answers) = merge_page(q, answers, &fields);
    let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let view = page_view(q, &lang, &answers, page, &[], date);
    super::pages::visible_answer(&view)
}

#[derive(Serialize)]
struct Listed {
    file: String,
    id: Option<String>,
    status: String,
}

async fn index(state: State) -> HttpResponse {
    let files: Vec<Listed> = entries(&state)
        .iter()
        .map(|e| Listed {
            file: e.display.clone(),
            id: e
                .questionnaire()
                .map(|q| q.id.clone())
                .or_else(|| e.path.file_stem().map(|s| s.to_string_lossy().to_string())),
            status: if e.errors() > 0 {
                format!("{} errors", e.errors())
            } else {
                format!("compiles ({} warnings)", e.warnings())
            },
        })
        .collect();
    let mut c = Context::new();
    c.insert("files", &files);
    c.insert("path", &state.path.display().to_string());
    state
        .pages
        .render(StatusCode::OK, "preview/index.html", "en", c)
}

#[derive(serde::Deserialize)]
struct ShowQuery {
    lang: Option<String>,
    reset: Option<String>,
}

#[derive(Serialize)]
struct ScoreRow {
    id: String,
    value: String,
    band: String,
    imputed: u32,
}

#[derive(Serialize)]
struct FlagRow {
    id: String,
    level: String,
    text: String,
    patient_text: Option<String>,
}

/// The alert load of the draft `q` on the stored responses, beside the
/// stored version's: per rule, flags a week.
#[derive(Serialize)]
struct LoadView {
    responses: u64,
    weeks: String,
    stored_version: Option<u32>,
    rules: Vec<(String, String, String, String)>,
    refused: u64,
    error: Option<String>,
}

fn alert_load(db: &std::path::Path, q: &crate::core::model::Questionnaire) -> LoadView {
    let read = || -> crate::storage::Result<_> {
        let conn = crate::storage::connect(db, &Default::default())?;
        let responses = crate::storage::responses::for_replay(&conn, &q.id, None)?;
        let stored = crate::storage::versions::latest_shared(&conn, &q.id)?;
        Ok((responses, stored))
    };
    let (responses, stored) = match read() {
        Ok(x) => x,
        Err(e) => {
            return LoadView {
                responses: 0,
                weeks: String::new(),
                stored_version: None,
                rules: Vec::new(),
                refused: 0,
                error: Some(e.to_string()),
            };
        }
    };
    let draft = crate::core::simulate::replay(q, &responses);
    let before = stored
        .as_ref()
        .map(|s| crate::core::simulate::replay(s, &responses));
    let per_week = |n: u64| format!("{:.2}", n as f64 / draft.weeks);
    let rules = draft
        .rules
        .iter()
        .map(|(id, level, n)| {
            let was = before
                .as_ref()
                .and_then(|b| b.rules.iter().find(|(r, _, _)| r == id))
                .map(|(_, _, m)| per_week(*m))
                .unwrap_or_else(|| "—".into());
            (id.clone(), level.to_string(), per_week(*n), was)
        })
        .collect();
    LoadView {
        responses: responses.len() as u64,
        weeks: format!("{:.1}", draft.weeks),
        stored_version: stored.map(|s| s.version),
        rules,
        refused: draft.refused,
        error: None,
    }
}

fn render(state: &State, id: &str, status: StatusCode) -> HttpResponse {
    let Some(e) = entry(state, id) else {
        return not_here(state);
    };
    let (answers, page, lang) = state
        .answers
        .lock()
        .ok()
        .and_then(|m| m.get(id).cloned())
        .unwrap_or((Map::new(), 0, String::new()));
    let mut c = Context::new();
    c.insert("file", &e.display);
    c.insert("id", id);
    c.insert("self_url", &format!("/q/{id}"));
    let Some(q) = e.questionnaire() else {
        c.insert(
            "diagnostics",
            &render_all(&e.compiled.diagnostics, &e.display, &e.source),
        );
        return state
            .pages
            .render(StatusCode::OK, "preview/page.html", "en", c);
    };
    let lang = if lang.is_empty() {
        q.default_language().to_string()
    } else {
        lang
    };
    let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    // What the answers so far give, as if sent on paper (blank allowed).
    let ev = evaluate(q, lenient_values(q, &answers), date);
    let fired = fire_rules(q, &ev, &[]);
    let refusals: Vec<String> = match validate(q, &answers, Mode::Web, date) {
        Ok(_) => Vec::new(),
        Err(errs) => errs.iter().map(|e| e.message(&lang)).collect(),
    };
    let scores: Vec<ScoreRow> = q
        .scores
        .iter()
        .zip(&ev.scores)
        .enumerate()
        .map(|(j, (s, r))| ScoreRow {
            id: s.id.clone(),
            value: r
                .value
                .map(crate::core::value::fmt_num)
                .unwrap_or_else(|| "null".into()),
            band: ev.band(q, j).map(|b| b.id.clone()).unwrap_or_default(),
            imputed: r.imputed,
        })
        .collect();
    let flags: Vec<FlagRow> = fired
        .iter()
        .map(|&i| {
            let r = &q.rules[i];
            FlagRow {
                id: r.id.clone(),
                level: r.level.name().into(),
                text: r.text.get(&lang).to_string(),
                patient_text: r.patient_text.as_ref().map(|t| t.get(&lang).to_string()),
            }
        })
        .collect();
    let view = page_view(q, &lang, &answers, page, &[], date);
    c.insert("page", &view);
    c.insert("errors", &Vec::<Json>::new());
    c.insert("csrf", "");
    c.insert("more", &false);
    c.insert("preview", &true);
    c.insert("form_action", &format!("/q/{id}"));
    c.insert("scores", &scores);
    c.insert("flags", &flags);
    // Nothing answered gives no level: "green" would say the answers are
    // fine.
    let answered = answers.values().any(|v| !v.is_null());
    c.insert("answered", &answered);
    c.insert("level", level_of(q, &fired).name());
    c.insert("refusals", &refusals);
    let warnings = render_all(&e.compiled.diagnostics, &e.display, &e.source);
    c.insert("warnings", &warnings);
    if let Some(db) = &state.db {
        c.insert("load", &alert_load(db, q));
    }
    state
        .pages
        .render(status, "preview/page.html", &view.language, c)
}

async fn show(state: State, id: web::Path<String>, q: web::Query<ShowQuery>) -> HttpResponse {
    let id = id.into_inner();
    if let Ok(mut m) = state.answers.lock() {
        let slot = m.entry(id.clone()).or_default();
        if q.reset.is_some() {
            *slot = (Map::new(), 0, slot.2.clone());
        }
        if let Some(l) = &q.lang {
            slot.2 = l.clone();
        }
    }
    if q.reset.is_some() || q.lang.is_some() {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("/q/{id}")))
            .finish();
    }
    render(&state, &id, StatusCode::OK)
}

async fn answer(
    state: State,
    id: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> HttpResponse {
    let id = id.into_inner();
    let Some(e) = entry(&state, &id) else {
        return not_here(&state);
    };
    let Some(q) = e.questionnaire() else {
        return render(&state, &id, StatusCode::OK);
    };
    let all = pages(q);
    if let Ok(mut m) = state.answers.lock() {
        let (answers, page, _) = m.entry(id.clone()).or_default();
        let (current, merged) = merge_page(q, std::mem::take(answers), &fields);
        *answers = merged;
        let go = fields
            .iter()
            .find(|(k, _)| k == "go")
            .map(|(_, v)| v.as_str())
            .unwrap_or("next");
        *page = match go {
            "back" => current.saturating_sub(1),
            "next" => (current + 1).min(all.len().saturating_sub(1)),
            _ => current,
        };
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("/q/{id}")))
        .finish()
}

async fn print(state: State, id: web::Path<String>) -> HttpResponse {
    let Some(e) = entry(&state, &id) else {
        return not_here(&state);
    };
    let Some(q) = e.questionnaire() else {
        return render(&state, &id, StatusCode::OK);
    };
    state.pages.paper(q, q.default_language(), None, None)
}
