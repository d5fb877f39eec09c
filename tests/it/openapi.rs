//! The OpenAPI document (`docs/openapi.json`, served at
//! `/api/v1/openapi.json`) held to the real server: it describes exactly
//! the calls the server routes; every status it documents for every call
//! is reached here by a real request; and every answer's body is valid
//! against the schema documented for that call and status. `.ci/run` also
//! runs schemathesis against a live server. On SQLite only: the 503s are
//! reached by filling the database (`max_pages`), which PostgreSQL has no
//! counterpart for here; the PostgreSQL run proves its own 503s in
//! `postgres`.

use crate::helpers::{NOW, config, phq9, spawn, spawn_in};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

fn document() -> Value {
    serde_json::from_str(prom::web::api::OPENAPI).expect("docs/openapi.json is JSON")
}

/// The documented `(METHOD, path)` pairs.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect()
}

#[test]
fn the_document_describes_exactly_the_calls_the_server_routes() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut routed: BTreeSet<(String, String)> = prom::web::api::table()
        .into_iter()
        .map(|(m, p, _)| (m.to_string(), format!("/api/v1{p}")))
        .collect();
    routed.insert(("GET".into(), "/healthz".into()));
    routed.insert(("GET".into(), "/readyz".into()));
    assert_eq!(documented_operations(&doc), routed);
}

/// Checks answers against the document and remembers which documented
/// statuses were reached.
struct Contract {
    doc: Value,
    reached: BTreeSet<(String, String, u16)>,
}

impl Contract {
    fn new() -> Contract {
        Contract {
            doc: document(),
            reached: BTreeSet::new(),
        }
    }

    /// The answer `status`/`body` of `method path` (the documented path):
    /// documented, and valid against its schema.
    fn check(&mut self, method: &str, path: &str, status: u16, content_type: &str, body: &str) {
        let op = &self.doc["paths"][path][method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not documented");
        let answer = &op["responses"][status.to_string()];
        assert!(
            answer.is_object(),
            "{method} {path} answered {status}, which is not documented: {body}"
        );
        let media = content_type.split(';').next().unwrap_or_default().trim();
        let content = &answer["content"];
        if let Some(kinds) = content.as_object() {
            let schema = &content[media]["schema"];
            assert!(
                schema.is_object(),
                "{method} {path} {status} answered {media}, documented {:?}",
                kinds.keys().collect::<Vec<_>>()
            );
            let instance: Value = if media == "text/plain" {
                Value::String(body.to_string())
            } else {
                serde_json::from_str(body)
                    .unwrap_or_else(|e| panic!("{method} {path} {status}: not JSON ({e}): {body}"))
            };
            let mut root = schema.clone();
            root["components"] = self.doc["components"].clone();
            let validator = jsonschema::draft202012::new(&root).expect("a valid schema");
            let problems: Vec<String> = validator
                .iter_errors(&instance)
                .map(|e| format!("{} at {}", e, e.instance_path))
                .collect();
            assert!(
                problems.is_empty(),
                "{method} {path} {status} breaks its schema: {problems:?}\n{body}"
            );
        }
        self.reached
            .insert((method.to_string(), path.to_string(), status));
    }

    /// Every documented `(method, path, status)`.
    fn documented(&self) -> BTreeSet<(String, String, u16)> {
        let mut out = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                for status in op["responses"].as_object().expect("responses").keys() {
                    out.insert((
                        method.to_uppercase(),
                        path.clone(),
                        status.parse().expect("a status"),
                    ));
                }
            }
        }
        out
    }
}

/// Sends a request and checks its answer against the contract.
async fn call(
    c: &mut Contract,
    http: &reqwest::Client,
    base: &str,
    (method, path, documented): (&str, &str, &str),
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let url = format!("{base}{path}");
    let mut r = match method {
        "GET" => http.get(&url),
        _ => http.post(&url),
    };
    if let Some(k) = key {
        r = r.bearer_auth(k);
    }
    match body {
        // A string is sent as it is: a body that is not JSON.
        Some(Value::String(raw)) => {
            r = r.header("content-type", "application/json").body(raw);
        }
        Some(b) => r = r.json(&b),
        None => {}
    }
    let r = r.send().await.expect("request");
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = r.text().await.expect("body");
    c.check(method, documented, status, &ct, &text);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A call: method, path as sent, path as documented.
type Operation = (&'static str, String, &'static str);

fn r_full() -> Operation {
    ("POST", "/api/v1/responses".into(), "/api/v1/responses")
}

/// A raw request over its own connection, for what a client library will
/// not send (a body announced and not sent, bodies sent at once).
async fn raw(addr: &str, head: String) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("head");
    s
}

async fn answer_of(mut s: tokio::net::TcpStream) -> (u16, String, String) {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut buf))
        .await
        .expect("an answer")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text[9..12].parse().expect("status");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let ct = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("content-type:")
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    (status, ct, body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_status_of_every_call_is_reached_and_every_answer_fits_its_schema() {
    let mut c = Contract::new();
    let app = spawn().await;
    let http = reqwest::Client::new();
    let (base, a, b) = (app.base.as_str(), app.key_a.as_str(), app.key_b.as_str());
    let addr = base.trim_start_matches("http://").to_string();

    // Health and the document itself.
    call(
        &mut c,
        &http,
        base,
        ("GET", "/healthz", "/healthz"),
        None,
        None,
    )
    .await;
    call(
        &mut c,
        &http,
        base,
        ("GET", "/readyz", "/readyz"),
        None,
        None,
    )
    .await;
    let (s, served) = call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json"),
        None,
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(served, document(), "the server serves docs/openapi.json");

    // Questionnaires.
    let q = ("GET", "/api/v1/questionnaires", "/api/v1/questionnaires");
    call(&mut c, &http, base, q, Some(a), None).await;
    call(&mut c, &http, base, q, None, None).await;
    let doc = "/api/v1/questionnaires/{id}";
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/questionnaires/phq9", doc),
        Some(a),
        None,
    )
    .await;
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/questionnaires/phq9", doc),
        None,
        None,
    )
    .await;
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/questionnaires/nope", doc),
        Some(a),
        None,
    )
    .await;
    let doc = "/api/v1/questionnaires/{id}/fhir";
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/questionnaires/phq9/fhir", doc),
        Some(a),
        None,
    )
    .await;
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/questionnaires/phq9/fhir", doc),
        None,
        None,
    )
    .await;
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/questionnaires/nope/fhir", doc),
        Some(a),
        None,
    )
    .await;

    // Patients.
    let p = ("POST", "/api/v1/patients", "/api/v1/patients");
    let (s, _) = call(
        &mut c,
        &http,
        base,
        p,
        Some(a),
        Some(json!({"ref": "OA1", "name": "Open Api", "language": "en"})),
    )
    .await;
    assert_eq!(s, 201);
    call(&mut c, &http, base, p, Some(a), Some(json!({"ref": "OA1"}))).await; // 409
    call(
        &mut c,
        &http,
        base,
        p,
        Some(a),
        Some(json!({"ref": "OA2", "colour": "red"})),
    )
    .await; // 400
    call(&mut c, &http, base, p, None, Some(json!({"ref": "OA3"}))).await; // 401

    // Responses.
    let r = ("POST", "/api/v1/responses", "/api/v1/responses");
    let (s, red) = call(&mut c, &http, base, r, Some(a), Some(json!({"questionnaire": "phq9", "patient": "OA1", "answers": phq9([3; 9]), "idempotency_key": "oa-1"}))).await;
    assert_eq!(s, 201);
    let id = red["id"].as_str().expect("id").to_string();
    call(&mut c, &http, base, r, Some(a), Some(json!({"questionnaire": "phq9", "patient": "OA1", "answers": phq9([1; 9]), "idempotency_key": "oa-1"}))).await; // 409
    call(
        &mut c,
        &http,
        base,
        r,
        Some(a),
        Some(json!({"questionnaire": "phq9", "patient": "OA1", "answers": {"q1": 17}})),
    )
    .await; // 422
    call(
        &mut c,
        &http,
        base,
        r,
        Some(a),
        Some(json!({"questionnaire": "phq9", "patient": "NOBODY", "answers": phq9([0; 9])})),
    )
    .await; // 404
    call(
        &mut c,
        &http,
        base,
        r,
        Some(a),
        Some(json!({"questionnaire": "phq9"})),
    )
    .await; // 400
    call(&mut c, &http, base, r, None, Some(json!({}))).await; // 401
    let one = format!("/api/v1/responses/{id}");
    let doc = "/api/v1/responses/{id}";
    call(&mut c, &http, base, ("GET", &one, doc), Some(a), None).await;
    call(&mut c, &http, base, ("GET", &one, doc), Some(b), None).await; // 404: another clinic's
    call(&mut c, &http, base, ("GET", &one, doc), None, None).await;
    let fhir = format!("/api/v1/responses/{id}/fhir");
    let doc = "/api/v1/responses/{id}/fhir";
    call(&mut c, &http, base, ("GET", &fhir, doc), Some(a), None).await;
    call(&mut c, &http, base, ("GET", &fhir, doc), Some(b), None).await;
    call(&mut c, &http, base, ("GET", &fhir, doc), None, None).await;
    let doc = "/api/v1/patients/{ref}/responses";
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/patients/OA1/responses?limit=1", doc),
        Some(a),
        None,
    )
    .await;
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/patients/OA1/responses?limit=0", doc),
        Some(a),
        None,
    )
    .await;
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/patients/NOBODY/responses", doc),
        Some(a),
        None,
    )
    .await;
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/patients/OA1/responses", doc),
        None,
        None,
    )
    .await;
    let f = "/api/v1/flags";
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/flags?status=open", f),
        Some(a),
        None,
    )
    .await;
    call(
        &mut c,
        &http,
        base,
        ("GET", "/api/v1/flags?status=lost", f),
        Some(a),
        None,
    )
    .await;
    call(&mut c, &http, base, ("GET", "/api/v1/flags", f), None, None).await;

    // Corrections.
    let corr = format!("/api/v1/responses/{id}/corrections");
    let doc = "/api/v1/responses/{id}/corrections";
    let (s, _) = call(
        &mut c,
        &http,
        base,
        ("POST", &corr, doc),
        Some(a),
        Some(json!({"answers": phq9([0; 9]), "reason": "typed wrong"})),
    )
    .await;
    assert_eq!(s, 201);
    call(
        &mut c,
        &http,
        base,
        ("POST", &corr, doc),
        Some(a),
        Some(json!({"answers": phq9([1; 9]), "reason": "again"})),
    )
    .await; // 409: superseded
    call(
        &mut c,
        &http,
        base,
        ("POST", "/api/v1/responses/nope/corrections", doc),
        Some(a),
        Some(json!({"answers": {}, "reason": "x"})),
    )
    .await; // 404
    call(
        &mut c,
        &http,
        base,
        ("POST", &corr, doc),
        Some(a),
        Some(json!({"answers": {}})),
    )
    .await; // 400
    call(
        &mut c,
        &http,
        base,
        ("POST", &corr, doc),
        None,
        Some(json!({})),
    )
    .await; // 401
    // A correction whose answers are refused: on a response not yet superseded.
    let (_, other) = call(
        &mut c,
        &http,
        base,
        r,
        Some(a),
        Some(json!({"questionnaire": "phq9", "patient": "OA1", "answers": phq9([0; 9])})),
    )
    .await;
    let corr2 = format!(
        "/api/v1/responses/{}/corrections",
        other["id"].as_str().expect("id")
    );
    call(
        &mut c,
        &http,
        base,
        ("POST", &corr2, doc),
        Some(a),
        Some(json!({"answers": {"q1": 99}, "reason": "x"})),
    )
    .await; // 422

    // FHIR import.
    let imp = (
        "POST",
        "/api/v1/fhir/QuestionnaireResponse",
        "/api/v1/fhir/QuestionnaireResponse",
    );
    let fhir_body = |patient: &str, q1: i64, ident: &str| {
        let items: Vec<Value> = (1..=9)
            .map(|i| json!({"linkId": format!("q{i}"), "answer": [{"valueCoding": {"code": if i == 1 { q1.to_string() } else { "0".into() }}}]}))
            .collect();
        json!({"resourceType": "QuestionnaireResponse", "status": "completed",
               "identifier": {"value": ident},
               "questionnaire": "phq9",
               "subject": {"identifier": {"value": patient}},
               "authored": NOW, "item": items})
    };
    let (s, body) = call(
        &mut c,
        &http,
        base,
        imp,
        Some(a),
        Some(fhir_body("OA1", 1, "fhir-1")),
    )
    .await;
    assert_eq!(s, 201, "{body}");
    call(
        &mut c,
        &http,
        base,
        imp,
        Some(a),
        Some(fhir_body("OA1", 2, "fhir-1")),
    )
    .await; // 409
    call(
        &mut c,
        &http,
        base,
        imp,
        Some(a),
        Some(fhir_body("NOBODY", 1, "fhir-2")),
    )
    .await; // 404
    call(
        &mut c,
        &http,
        base,
        imp,
        Some(a),
        Some(fhir_body("OA1", 9, "fhir-3")),
    )
    .await; // 422
    call(
        &mut c,
        &http,
        base,
        imp,
        Some(a),
        Some(Value::String("{not json".into())),
    )
    .await; // 400
    call(
        &mut c,
        &http,
        base,
        imp,
        None,
        Some(fhir_body("OA1", 1, "fhir-4")),
    )
    .await; // 401

    // What only a raw connection sends: a body announced over the limit
    // (413), one that stops arriving (408), and more bodies at once with
    // one key than it may send (429).
    for (path, documented) in [
        ("/api/v1/patients", "/api/v1/patients"),
        ("/api/v1/responses", "/api/v1/responses"),
        (corr2.as_str(), "/api/v1/responses/{id}/corrections"),
        (
            "/api/v1/fhir/QuestionnaireResponse",
            "/api/v1/fhir/QuestionnaireResponse",
        ),
    ] {
        let head = |len: usize| {
            format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {a}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n{{"
            )
        };
        let (s, ct, body) = answer_of(raw(&addr, head(5_000_000)).await).await;
        c.check("POST", documented, s, &ct, &body);
        let (s, ct, body) = answer_of(raw(&addr, head(100)).await).await;
        c.check("POST", documented, s, &ct, &body);
        let mut held = Vec::new();
        for _ in 0..16 {
            held.push(raw(&addr, head(100)).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (s, ct, body) = answer_of(raw(&addr, head(100)).await).await;
        assert_eq!(s, 429, "{body}");
        c.check("POST", documented, s, &ct, &body);
        drop(held);
        // Their slots free as their bodies are cut off.
        tokio::time::sleep(Duration::from_millis(3_500)).await;
    }

    // Not ready: the database file is not where it was.
    if !crate::helpers::postgres() {
        let moved = app.db.with_extension("moved");
        std::fs::rename(&app.db, &moved).expect("move");
        let (s, _) = call(
            &mut c,
            &http,
            base,
            ("GET", "/readyz", "/readyz"),
            None,
            None,
        )
        .await;
        std::fs::rename(&moved, &app.db).expect("back");
        assert_eq!(s, 503);
    }

    // A full database: writes, and reads that must be audited, are 503.
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    let pages: i64 = prom::storage::open(&cfg.db, &Default::default())
        .expect("open")
        .query_row("PRAGMA page_count", (), |r| r.get(0))
        .expect("pages");
    cfg.storage.max_pages = Some(pages as u64 + 60);
    let full = spawn_in(cfg, dir).await;
    let (fb, fa) = (full.base.as_str(), full.key_a.as_str());
    full.patient(fa, "F1").await;
    let mut last_id = None;
    for i in 0..5000 {
        let (s, b) = full
            .post(
                fa,
                "/api/v1/responses",
                &json!({"questionnaire": "phq9", "patient": "F1", "answers": phq9([2; 9])}),
            )
            .await;
        if s != 201 {
            break;
        }
        last_id = b["id"].as_str().map(String::from);
        assert!(i < 4999, "the database never filled");
    }
    let id = last_id.expect("some stored");
    // Until each call is refused: a small row may still fit after a large
    // one did not, and every read writes its audit row.
    let calls: Vec<(Operation, Option<Value>)> = vec![
        (
            r_full(),
            Some(json!({"questionnaire": "phq9", "patient": "F1", "answers": phq9([2; 9])})),
        ),
        (
            ("POST", "/api/v1/patients".into(), "/api/v1/patients"),
            None,
        ),
        (
            (
                "POST",
                format!("/api/v1/responses/{id}/corrections"),
                "/api/v1/responses/{id}/corrections",
            ),
            Some(json!({"answers": phq9([1; 9]), "reason": "x"})),
        ),
        (
            (
                "POST",
                "/api/v1/fhir/QuestionnaireResponse".into(),
                "/api/v1/fhir/QuestionnaireResponse",
            ),
            None,
        ),
        (
            (
                "GET",
                format!("/api/v1/responses/{id}"),
                "/api/v1/responses/{id}",
            ),
            None,
        ),
        (
            (
                "GET",
                "/api/v1/patients/F1/responses".into(),
                "/api/v1/patients/{ref}/responses",
            ),
            None,
        ),
        (("GET", "/api/v1/flags".into(), "/api/v1/flags"), None),
    ];
    for ((method, path, documented), body) in calls {
        let mut refused = false;
        for i in 0..2000 {
            let body = match (documented, &body) {
                ("/api/v1/patients", _) => Some(json!({"ref": format!("F2-{i}")})),
                ("/api/v1/fhir/QuestionnaireResponse", _) => {
                    Some(fhir_body("F1", 1, &format!("full-{i}")))
                }
                (_, b) => b.clone(),
            };
            let (s, _) = call(
                &mut c,
                &http,
                fb,
                (method, &path, documented),
                Some(fa),
                body,
            )
            .await;
            if s == 503 {
                refused = true;
                break;
            }
        }
        assert!(refused, "{method} {path} on a full database");
    }

    let missing: Vec<_> = c.documented().difference(&c.reached).cloned().collect();
    assert!(
        missing.is_empty(),
        "documented but never reached: {missing:?}"
    );
}
