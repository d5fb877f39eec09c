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
    // Without a key, nothing at all; said as FHIR, with the challenge.
    let r = app
        .http
        .post(format!("{}/api/v1/fhir/QuestionnaireResponse", app.base))
        .json(&base)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.headers().get("www-authenticate").map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    let oo: Value = r.json().await.expect("json");
    assert_eq!(oo["resourceType"], "OperationOutcome");
    assert_eq!(oo["issue"][0]["code"], "security");
    for path in [
        "/api/v1/questionnaires/phq9/fhir",
        "/api/v1/responses/nope/fhir",
    ] {
        let r = app
            .http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
        let oo: Value = r.json().await.expect("json");
        assert_eq!(oo["resourceType"], "OperationOutcome", "{path}");
    }
    let (s, oo) = app
        .get(&app.key_a, "/api/v1/questionnaires/nope/fhir")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(oo["issue"][0]["code"], "not-found");
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
            keep(&format!("{}-{n}", q.id), &f);
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

/// The parts of a compiled questionnaire a round trip through FHIR keeps.
fn essentials(q: &prom::core::model::Questionnaire) -> Value {
    let items: Vec<Value> = q
        .items
        .iter()
        .map(|it| {
            json!({
                "id": it.id,
                "kind": format!("{:?}", it.kind),
                "text": it.text.to_json(),
                "help": it.help.as_ref().map(|t| t.to_json()),
                "required": it.required,
                "options": it.options.iter().map(|o| json!({
                    "value": o.value.to_json(),
                    "text": o.text.to_json(),
                    "score": o.scoring_value().map(|d| d.to_string()),
                    "exclusive": o.exclusive,
                    "not_applicable": o.not_applicable,
                })).collect::<Vec<_>>(),
                "min": it.min.map(|d| d.to_string()),
                "max": it.max.map(|d| d.to_string()),
                "step": it.step.map(|d| d.to_string()),
                "unit": it.unit.as_ref().map(|t| t.to_json()),
                "min_text": it.min_text.as_ref().map(|t| t.to_json()),
                "max_text": it.max_text.as_ref().map(|t| t.to_json()),
                "max_length": it.max_length,
                "show_if": it.show_if.as_ref().map(|e| e.source.clone()),
            })
        })
        .collect();
    let scores: Vec<Value> = q
        .scores
        .iter()
        .map(|s| {
            let ids = |xs: &[usize]| xs.iter().map(|&i| q.items[i].id.clone()).collect::<Vec<_>>();
            json!({
                "id": s.id,
                "title": s.title.as_ref().map(|t| t.to_json()),
                "items": ids(&s.items),
                "method": format!("{:?}", s.method),
                "expr": s.expr.as_ref().map(|e| e.source.clone()),
                "reverse": ids(&s.reverse),
                "allow_missing": s.allow_missing,
                "impute": format!("{:?}", s.impute),
                "transform": s.transform.as_ref().map(|e| e.source.clone()),
                "round": s.round,
                "bands": s.bands.iter().map(|b| json!([b.from.to_string(), b.id, b.text.as_ref().map(|t| t.to_json())])).collect::<Vec<_>>(),
            })
        })
        .collect();
    let rules: Vec<Value> = q
        .rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id, "when": r.when.source, "level": r.level.name(),
                "text": r.text.to_json(),
                "patient_text": r.patient_text.as_ref().map(|t| t.to_json()),
                "source": r.source,
            })
        })
        .collect();
    json!({
        "id": q.id, "version": q.version, "title": q.title.to_json(),
        "languages": q.languages, "items": items, "scores": scores, "rules": rules,
        "tables": q.tables.iter().map(|t| json!([t.name, t.entries.iter().map(|(k, v)| json!([k.to_json(), v.to_string()])).collect::<Vec<_>>()])).collect::<Vec<_>>(),
    })
}

#[test]
fn every_shipped_questionnaire_goes_to_fhir_and_back_to_yaml_unchanged() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut entries = prom::catalog::load(&root.join("questionnaires")).expect("questionnaires");
    // And one with every feature the view carries.
    entries.push(prom::catalog::load_file(
        &root.join("tests/fhir/everything.yaml"),
    ));
    assert_eq!(entries.len(), 6);
    for e in entries {
        let q = e.questionnaire().expect("compiles");
        let fhir = prom::fhir::questionnaire(q);
        let back = prom::fhir::import::to_yaml(&fhir, &[], Some(&q.id)).expect("imports");
        let compiled = prom::core::compile::compile_yaml(&back.yaml);
        assert!(
            !compiled.has_errors(),
            "{}:\n{}\n{}",
            q.id,
            prom::core::diag::render_all(&compiled.diagnostics, "back.yaml", &back.yaml),
            back.yaml
        );
        let again = compiled.questionnaire.expect("compiles");
        let (a, b) = (essentials(q), essentials(&again));
        for k in [
            "id",
            "version",
            "title",
            "languages",
            "items",
            "scores",
            "rules",
            "tables",
        ] {
            if let (Some(xs), Some(ys)) = (a[k].as_array(), b[k].as_array()) {
                assert_eq!(xs.len(), ys.len(), "{}: {k}", q.id);
                for (x, y) in xs.iter().zip(ys) {
                    assert_eq!(x, y, "{}: {k}", q.id);
                }
            } else {
                assert_eq!(a[k], b[k], "{}: {k}", q.id);
            }
        }
        assert!(back.notes.is_empty(), "{}: {:?}", q.id, back.notes);
    }
}

fn import(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
        .arg("import")
        .arg("fhir")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("prom runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn prom_import_fhir_writes_a_questionnaire_that_passes_check_and_says_what_it_left_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("sleep_check.yaml");
    let (code, _, err) = import(&[
        "tests/fhir/external-questionnaire.json",
        "--valueset",
        "tests/fhir/external-valueset.json",
        "--out",
        out.to_str().expect("path"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("check: no errors"), "{err}");
    let yaml = std::fs::read_to_string(&out).expect("written");
    let e = prom::catalog::load_file(&out);
    assert_eq!(e.errors(), 0, "{}", e.render());
    let q = e.questionnaire().expect("compiles");
    assert_eq!(q.id, "sleep_check");
    assert_eq!(q.languages, ["da"]);
    let kinds: Vec<(String, String)> = q
        .items
        .iter()
        .map(|i| (i.id.clone(), format!("{:?}", i.kind)))
        .collect();
    let expect = [
        ("sleep", "Section"),
        ("sleep_wake_ups", "Choice"),
        ("sleep_hours", "Decimal"),
        ("sleep_aids", "Multi"),
        ("sleep_pill_name", "Text"),
        ("day", "Section"),
        ("day_tired", "Boolean"),
        ("day_naps", "Integer"),
        ("day_when", "Date"),
        ("day_other", "Choice"),
    ];
    assert_eq!(
        kinds,
        expect
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    );
    // Options from the contained value set with their weights as scores,
    // and from the value set given beside it.
    let wake = &q.items[1];
    assert_eq!(wake.options.len(), 3);
    assert_eq!(wake.options[2].text.get("da"), "Ofte");
    assert_eq!(
        wake.options[2].scoring_value(),
        Some(rust_decimal::Decimal::from(2))
    );
    assert_eq!(q.items[9].options.len(), 2);
    assert_eq!((q.items[1].required, q.items[2].required), (true, false));
    assert_eq!(q.items[2].max, Some(rust_decimal::Decimal::from(24)));
    // Conditions: a multi's answer, a group's condition on each of its
    // items, `any`, and FHIR's `!=` (true when unanswered).
    let show = |i: usize| q.items[i].show_if.as_ref().map(|e| e.source.clone());
    assert_eq!(show(4).as_deref(), Some("'pill' in sleep_aids"));
    assert_eq!(show(6).as_deref(), Some("not (sleep_wake_ups = 'LA-0')"));
    assert_eq!(
        show(7).as_deref(),
        Some("(not (sleep_wake_ups = 'LA-0')) and ((day_tired = true) or (sleep_hours < 6))")
    );
    // What could not be carried over is said in the file and on stderr.
    for said in [
        "`/day/photo` (attachment) was not imported",
        "the calculated item `/day/score` was not imported: write it as a score",
        "a date and time in FHIR: here the date",
        "translations into en were left out",
        "open-choice in FHIR",
    ] {
        assert!(
            yaml.contains(&format!("# import: {said}")),
            "{said}:\n{yaml}"
        );
        assert!(err.contains(said), "{said}: {err}");
    }
    assert!(yaml.contains("# import: linkId `/sleep/wakeUps`"));
    // `prom check` agrees.
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
        .arg("check")
        .arg(&out)
        .output()
        .expect("prom runs");
    assert!(check.status.success());
    // Without the value set beside it, that item is a text answer and the
    // file says where its options are.
    let (code, yaml2, err2) = import(&["tests/fhir/external-questionnaire.json"]);
    assert_eq!(code, 0, "{err2}");
    assert!(yaml2.contains("which is not in the file: give it with --valueset"));
}

#[test]
fn prom_import_fhir_refuses_what_is_not_a_questionnaire_with_one_clear_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, "{\"resourceType\": \"Patient\"}").expect("write");
    let (code, out, err) = import(&[bad.to_str().expect("path")]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("this is a FHIR Patient; `prom import fhir` reads a Questionnaire"),
        "{err}"
    );
    std::fs::write(&bad, "{not json").expect("write");
    let (code, _, err) = import(&[bad.to_str().expect("path")]);
    assert_eq!(code, 2);
    assert!(err.contains("is not JSON"), "{err}");
    // An existing file is not replaced unless asked.
    let existing = dir.path().join("keep.yaml");
    std::fs::write(&existing, "mine").expect("write");
    let target = existing.to_str().expect("path");
    let (code, _, err) = import(&["tests/fhir/external-questionnaire.json", "--out", target]);
    assert_eq!(code, 2);
    assert!(
        err.contains("exists; give another --out, or --force"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&existing).expect("read"), "mine");
    let (code, _, _) = import(&[
        "tests/fhir/external-questionnaire.json",
        "--out",
        target,
        "--force",
    ]);
    assert_eq!(code, 0);
    let (code, _, err) = import(&["tests/fhir/external-questionnaire.json", "--id", "Bad-Id"]);
    assert_eq!(code, 2);
    assert!(err.contains("`Bad-Id` is not an id"), "{err}");
}

#[tokio::test]
async fn prom_export_fhir_bundles_the_questionnaire_with_one_clinics_responses() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    app.patient(&app.key_b, "Q1").await;
    let post = |key: String, p: &'static str, v: [u8; 9]| {
        let body = json!({"questionnaire": "phq9", "patient": p, "answers": phq9(v)});
        let app = &app;
        async move { app.post(&key, "/api/v1/responses", &body).await.1 }
    };
    let first = post(app.key_a.clone(), "P1", [1; 9]).await;
    post(app.key_a.clone(), "P1", [0; 9]).await;
    post(app.key_b.clone(), "Q1", [2; 9]).await;
    let fix = json!({"answers": phq9([2; 9]), "reason": "typed wrongly"});
    let (s, _) = app
        .post(
            &app.key_a,
            &format!(
                "/api/v1/responses/{}/corrections",
                first["id"].as_str().expect("id")
            ),
            &fix,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let out = app.dir.path().join("bundle.json");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
        .args([
            "export",
            "--questionnaire",
            "phq9",
            "--format",
            "fhir",
            "--clinic",
            "a",
        ])
        .args(app.db_args())
        .arg("--out")
        .arg(&out)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("prom runs");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let bundle: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("JSON");
    keep("phq9-bundle", &bundle);
    let entries = bundle["entry"].as_array().expect("entries");
    assert_eq!(entries[0]["resource"]["resourceType"], "Questionnaire");
    let responses: Vec<&Value> = entries[1..].iter().map(|e| &e["resource"]).collect();
    assert_eq!(responses.len(), 3, "clinic a's three, not clinic b's");
    assert!(
        responses
            .iter()
            .all(|r| r["subject"]["identifier"]["value"] == "P1")
    );
    let statuses: Vec<&str> = responses
        .iter()
        .map(|r| r["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["completed", "completed", "amended"]);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'export.fhir'"),
        1
    );
}
