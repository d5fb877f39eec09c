//! FHIR R4 `QuestionnaireResponse`s: the view of a stored response and the
//! import of one from another system, against the real server. Each
//! response view is also written under the target folder's `tmp` so that
//! `.ci/run` can give them to the independent validator.

use crate::helpers::{TestApp, phq9, spawn};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Where the views are kept for `.ci/run`'s validator.
fn keep(name: &str, v: &Value) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("fhir-responses");
    std::fs::create_dir_all(&dir).expect("folder");
    std::fs::write(
        dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(v).expect("json"),
    )
    .expect("write");
}

async fn post_fhir(app: &TestApp, key: &str, body: &Value) -> (StatusCode, Value, String) {
    let r = app
        .http
        .post(format!("{}/api/v1/fhir/QuestionnaireResponse", app.base))
        .bearer_auth(key)
        .header("Accept-Language", "en")
        .json(body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, r.json().await.unwrap_or(Value::Null), ct)
}

fn answer(qr: &Value, link: &str) -> Value {
    fn find(items: &Value, link: &str) -> Option<Value> {
        for it in items.as_array()? {
            if it["linkId"] == link {
                return Some(it["answer"].clone());
            }
            if let Some(a) = find(&it["item"], link) {
                return Some(a);
            }
        }
        None
    }
    find(&qr["item"], link).unwrap_or(Value::Null)
}

fn ext<'a>(v: &'a Value, url: &str) -> Vec<&'a Value> {
    v["extension"]
        .as_array()
        .map(|xs| xs.iter().filter(|e| e["url"] == url).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_stored_response_is_a_questionnaire_response_of_its_version_with_scores_and_flags() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([1, 1, 1, 1, 1, 0, 0, 0, 1])});
    let (_, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    let id = r["id"].as_str().expect("id");
    let (s, f) = app
        .get(&app.key_a, &format!("/api/v1/responses/{id}/fhir"))
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    keep("phq9-red", &f);
    assert_eq!(f["resourceType"], "QuestionnaireResponse");
    assert_eq!(f["id"], id);
    assert_eq!(f["questionnaire"], "urn:prom:questionnaire:phq9|2");
    assert_eq!(f["status"], "completed");
    assert_eq!(f["authored"], "2026-03-02T10:00:00.000Z");
    assert_eq!(f["subject"]["identifier"]["value"], "P1");
    assert_eq!(
        f["subject"]["identifier"]["system"],
        "urn:prom:clinic:a:patient"
    );
    let q1 = answer(&f, "q1");
    assert_eq!(q1[0]["valueCoding"]["code"], "1");
    assert_eq!(
        q1[0]["valueCoding"]["system"],
        "urn:prom:questionnaire:phq9:q1"
    );
    assert_eq!(q1[0]["valueCoding"]["display"], "Flere dage");
    let total = answer(&f, "total");
    assert_eq!(total[0]["valueDecimal"], 6);
    assert_eq!(total[0]["extension"][0]["valueCode"], "mild");
    assert_eq!(
        ext(&f, "urn:prom:fhir:extension:level")[0]["valueCode"],
        "red"
    );
    let flags = ext(&f, "urn:prom:fhir:extension:flag");
    assert_eq!(flags.len(), 1);
    assert_eq!(flags[0]["extension"][0]["valueCode"], "self_harm");
    // Reading it is a read of the patient's data.
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'response.read'"),
        1
    );
    // Another clinic does not see it.
    let (s, _) = app
        .get(&app.key_b, &format!("/api/v1/responses/{id}/fhir"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_correction_is_amended_and_says_what_it_replaced() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([3, 3, 3, 3, 3, 3, 3, 3, 3])});
    let (_, orig) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    let old = orig["id"].as_str().expect("id");
    let fix = json!({"answers": phq9([0, 0, 0, 0, 0, 0, 0, 0, 0]), "reason": "wrong form"});
    let (_, c) = app
        .post(
            &app.key_a,
            &format!("/api/v1/responses/{old}/corrections"),
            &fix,
        )
        .await;
    let new = c["id"].as_str().expect("id");
    let (_, f) = app
        .get(&app.key_a, &format!("/api/v1/responses/{new}/fhir"))
        .await;
    keep("phq9-correction", &f);
    assert_eq!(f["status"], "amended");
    assert_eq!(
        ext(&f, "urn:prom:fhir:extension:replaces")[0]["valueReference"]["reference"],
        format!("QuestionnaireResponse/{old}")
    );
    assert_eq!(
        ext(&f, "urn:prom:fhir:extension:correction-reason")[0]["valueString"],
        "wrong form"
    );
    let (_, o) = app
        .get(&app.key_a, &format!("/api/v1/responses/{old}/fhir"))
        .await;
    keep("phq9-replaced", &o);
    assert_eq!(o["status"], "completed");
    assert_eq!(
        ext(&o, "urn:prom:fhir:extension:replaced-by")[0]["valueReference"]["reference"],
        format!("QuestionnaireResponse/{new}")
    );
    assert_eq!(answer(&o, "total")[0]["valueDecimal"], 27);
}

#[tokio::test]
async fn an_imported_questionnaire_response_is_scored_and_flagged_like_one_from_the_form() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    app.patient(&app.key_a, "P2").await;
    let (_, from_form) = app
        .post(
            &app.key_a,
            "/api/v1/responses",
            &json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([2, 2, 2, 2, 2, 2, 2, 2, 1])}),
        )
        .await;
    // What another system sends: only answers, another canonical base, the
    // sender's identifier; our score items in it are ignored.
    let incoming = json!({
        "resourceType": "QuestionnaireResponse",
        "identifier": {"system": "urn:example:his", "value": "qr-1"},
        "questionnaire": "http://example.org/fhir/Questionnaire/phq9|2",
        "status": "completed",
        "subject": {"identifier": {"value": "P2"}},
        "authored": "2026-03-01T09:00:00Z",
        "item": (1..=9).map(|i| json!({
            "linkId": format!("q{i}"),
            "answer": [{"valueCoding": {"code": if i == 9 { "1" } else { "2" }}}]
        })).chain([
            json!({"linkId": "q10", "answer": [{"valueCoding": {"code": "1"}}]}),
            json!({"linkId": "total", "answer": [{"valueDecimal": 0}]}),
        ]).collect::<Vec<_>>(),
    });
    let (s, f, ct) = post_fhir(&app, &app.key_a, &incoming).await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    assert!(ct.starts_with("application/fhir+json"), "{ct}");
    keep("phq9-imported", &f);
    assert_eq!(answer(&f, "total")[0]["valueDecimal"], 17);
    assert_eq!(from_form["scores"]["total"], 17);
    assert_eq!(
        ext(&f, "urn:prom:fhir:extension:level")[0]["valueCode"],
        from_form["level"]
    );
    let rules = |v: &Value| -> Vec<String> {
        ext(v, "urn:prom:fhir:extension:flag")
            .iter()
            .map(|e| {
                e["extension"][0]["valueCode"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    let form_rules: Vec<String> = from_form["flags"]
        .as_array()
        .expect("flags")
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(rules(&f), form_rules);
    assert!(form_rules.contains(&"self_harm".to_string()));
    // Stored like any answer: a review item, in the JSON view too.
    assert_eq!(
        app.count("SELECT count(*) FROM review_items WHERE status = 'open'"),
        2
    );
    let (s, json_view) = app
        .get(
            &app.key_a,
            &format!("/api/v1/responses/{}", f["id"].as_str().expect("id")),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json_view["patient"], "P2");
    assert_eq!(json_view["scores"], from_form["scores"]);
    // The same identifier again is the same response; nothing new stored.
    let (s, again, _) = post_fhir(&app, &app.key_a, &incoming).await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(again["id"], f["id"]);
    assert_eq!(app.count("SELECT count(*) FROM responses"), 2);
    // The same identifier with other answers is a conflict.
    let mut other = incoming.clone();
    other["item"][0]["answer"][0]["valueCoding"]["code"] = json!("0");
    let (s, oo, _) = post_fhir(&app, &app.key_a, &other).await;
    assert_eq!(s, StatusCode::CONFLICT, "{oo}");
    assert_eq!(oo["resourceType"], "OperationOutcome");
    // Our own view goes back in as well (another patient, no identifier).
    let mut back = f.clone();
    back.as_object_mut().expect("object").remove("id");
    back["subject"]["identifier"]["value"] = json!("P1");
    let (s, f2, _) = post_fhir(&app, &app.key_a, &back).await;
    assert_eq!(s, StatusCode::CREATED, "{f2}");
    assert_eq!(answer(&f2, "total"), answer(&f, "total"));
}

#[tokio::test]
async fn a_questionnaire_response_that_cannot_be_stored_gets_an_operation_outcome() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    app.patient(&app.key_b, "PB").await;
    let base = json!({
        "resourceType": "QuestionnaireResponse",
        "questionnaire": "urn:prom:questionnaire:phq9",
        "status": "completed",
        "subject": {"identifier": {"value": "P1"}},
        "item": (1..=9).map(|i| json!({
            "linkId": format!("q{i}"), "answer": [{"valueCoding": {"code": "1"}}]
        })).chain([json!({"linkId": "q10", "answer": [{"valueCoding": {"code": "0"}}]})])
        .collect::<Vec<_>>(),
    });
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Change, StatusCode, &str)> = vec![
        (
            "an unknown item",
            Box::new(|b| b["item"][0]["linkId"] = json!("q99")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "`q99` is not an item of `phq9`",
        ),
        (
            "a code that is no option",
            Box::new(|b| b["item"][0]["answer"][0]["valueCoding"]["code"] = json!("7")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "`7` is not one of the options of `q1`",
        ),
        (
            "a string for a choice",
            Box::new(|b| b["item"][0]["answer"][0] = json!({"valueString": "1"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "`q1` is answered with valueCoding, not valueString",
        ),
        (
            "another version",
            Box::new(|b| b["questionnaire"] = json!("urn:prom:questionnaire:phq9|1")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "this server takes answers to version 2 of `phq9`, not version 1",
        ),
        (
            "a response still in progress",
            Box::new(|b| b["status"] = json!("in-progress")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "only a `completed` or `amended` response can be stored",
        ),
        (
            "an unknown questionnaire",
            Box::new(|b| b["questionnaire"] = json!("urn:prom:questionnaire:nope")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "there is no questionnaire",
        ),
        (
            "another clinic's patient",
            Box::new(|b| b["subject"]["identifier"]["value"] = json!("PB")),
            StatusCode::NOT_FOUND,
            "there is no patient with that reference",
        ),
        (
            "an answer out of range (as the form refuses it)",
            Box::new(|b| {
                b["questionnaire"] = json!("urn:prom:questionnaire:pain_nrs");
                b["item"] = json!([{"linkId": "pain_now", "answer": [{"valueInteger": 11}]}]);
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "pain_now",
        ),
        (
            "not a QuestionnaireResponse",
            Box::new(|b| b["resourceType"] = json!("Patient")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "this address takes a QuestionnaireResponse",
        ),
    ];
    for (what, change, status, says) in cases {
        let mut b = base.clone();
        change(&mut b);
        let (s, oo, ct) = post_fhir(&app, &app.key_a, &b).await;
        assert_eq!(s, status, "{what}: {oo}");
        assert!(ct.starts_with("application/fhir+json"), "{what}: {ct}");
        assert_eq!(oo["resourceType"], "OperationOutcome", "{what}");
        assert!(
            oo.to_string().contains(says),
            "{what}: expected {says:?} in {oo}"
        );
    }
    assert_eq!(app.count("SELECT count(*) FROM responses"), 0);
    // Without a key, nothing at all.
    let r = app
        .http
        .post(format!("{}/api/v1/fhir/QuestionnaireResponse", app.base))
        .json(&base)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_shipped_questionnaires_test_answers_go_out_as_fhir_and_back_with_the_same_result() {
    let app = spawn().await;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("questionnaires");
    let mut compared = 0;
    for e in prom::catalog::load(&dir).expect("questionnaires") {
        let q = e.questionnaire().expect("compiles").clone();
        for (n, t) in e.compiled.tests.iter().enumerate() {
            if !t.history.is_empty() {
                continue; // a new patient has none
            }
            let (p_json, p_fhir) = (format!("J{n}{}", q.id.len()), format!("F{n}{}", q.id.len()));
            let (p_json, p_fhir) = (
                format!("{}-{p_json}", &q.id[..3]),
                format!("{}-{p_fhir}", &q.id[..3]),
            );
            app.patient(&app.key_a, &p_json).await;
            app.patient(&app.key_a, &p_fhir).await;
            let mode = if t.mode == prom::core::engine::Mode::Paper {
                "paper"
            } else {
                "app"
            };
            let body = json!({"questionnaire": q.id, "patient": p_json, "answers": t.answers, "mode": mode});
            let (s, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
            if s != StatusCode::CREATED {
                continue; // a test of a refused answer
            }
            let id = r["id"].as_str().expect("id");
            // As read back (the answer to a POST lists flags in the file's
            // order; every read, red first).
            let (_, r) = app
                .get(&app.key_a, &format!("/api/v1/responses/{id}"))
                .await;
            let (_, mut f) = app
                .get(&app.key_a, &format!("/api/v1/responses/{id}/fhir"))
                .await;
            if n < 3 {
                keep(&format!("{}-{n}", q.id), &f);
            }
            f.as_object_mut().expect("object").remove("id");
            f["subject"]["identifier"]["value"] = json!(p_fhir);
            let (s, back, _) = post_fhir(&app, &app.key_a, &f).await;
            assert_eq!(s, StatusCode::CREATED, "{} {}: {back}", q.id, t.name);
            let (_, again) = app
                .get(
                    &app.key_a,
                    &format!("/api/v1/responses/{}", back["id"].as_str().expect("id")),
                )
                .await;
            for k in ["answers", "scores", "bands", "flags", "level", "mode"] {
                assert_eq!(again[k], r[k], "{} {}: {k}", q.id, t.name);
            }
            compared += 1;
        }
    }
    assert!(compared >= 30, "only {compared} compared");
}
