//! The JSON API contract, against the real server on port 0.

use crate::helpers::{phq9, spawn};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn healthz_answers_ok_without_a_key() {
    let app = spawn().await;
    let r = reqwest::get(format!("{}/healthz", app.base))
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.expect("body"), "ok");
}

#[tokio::test]
async fn a_call_without_a_valid_key_is_401_with_a_json_error() {
    let app = spawn().await;
    let (s, b) = app.get("not-a-key", "/api/v1/questionnaires").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(b["error"], "unauthorized");
    let r = app
        .http
        .get(format!("{}/api/v1/questionnaires", app.base))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn questionnaires_are_listed_with_version_and_hash_and_shown_compiled() {
    let app = spawn().await;
    let (s, list) = app.get(&app.key_a, "/api/v1/questionnaires").await;
    assert_eq!(s, StatusCode::OK);
    let phq = list
        .as_array()
        .expect("list")
        .iter()
        .find(|q| q["id"] == "phq9")
        .expect("phq9");
    assert_eq!(phq["version"], 2);
    assert_eq!(phq["hash"].as_str().expect("hash").len(), 64);
    assert_eq!(phq["title"]["en"], "Patient Health Questionnaire (PHQ-9)");
    let (s, q) = app.get(&app.key_a, "/api/v1/questionnaires/phq9").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(q["items"].as_array().expect("items").len(), 10);
    assert_eq!(q["hash"], phq["hash"]);
    let (s, b) = app.get(&app.key_a, "/api/v1/questionnaires/nope").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_questionnaire"))
    );
    // The FHIR R4 view of every shipped questionnaire.
    for id in [
        "phq9",
        "gad7",
        "pain_nrs",
        "ovarian_followup",
        "chronic_followup",
    ] {
        let (s, f) = app
            .get(&app.key_a, &format!("/api/v1/questionnaires/{id}/fhir"))
            .await;
        assert_eq!(s, StatusCode::OK, "{id}");
        assert_eq!(f["resourceType"], "Questionnaire");
        assert_eq!(f["url"], format!("urn:prom:questionnaire:{id}"));
        assert!(!f["id"].as_str().expect("id").contains('_'));
        assert!(!f["item"].as_array().expect("items").is_empty());
    }
    let (s, f) = app
        .get(&app.key_a, "/api/v1/questionnaires/phq9/fhir")
        .await;
    assert_eq!(s, StatusCode::OK);
    let q1 = &f["item"][0];
    assert_eq!(q1["type"], "choice");
    assert_eq!(q1["answerOption"].as_array().expect("options").len(), 4);
    assert!(
        q1["_text"]["extension"][0]["url"]
            .as_str()
            .expect("translation")
            .ends_with("/translation")
    );
    let (s, _) = app.get(&app.key_a, "/api/v1/responses/nope/fhir").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patients_are_created_once_per_clinic_reference() {
    let app = spawn().await;
    let (s, b) = app
        .post(
            &app.key_a,
            "/api/v1/patients",
            &json!({"ref": "P1", "name": "Ann", "language": "en"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(b["ref"], "P1");
    assert!(b["id"].is_string());
    let (s, b) = app
        .post(&app.key_a, "/api/v1/patients", &json!({"ref": "P1"}))
        .await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    // Another clinic may use the same reference for its own patient.
    let (s, _) = app
        .post(&app.key_b, "/api/v1/patients", &json!({"ref": "P1"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = app
        .post(&app.key_a, "/api/v1/patients", &json!({"name": "no ref"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(b["message"].as_str().expect("message").contains("ref"));
    let (s, _) = app
        .post(
            &app.key_a,
            "/api/v1/patients",
            &json!({"ref": "P2", "language": "de"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_response_is_scored_flagged_stored_and_read_back() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([1, 1, 1, 1, 1, 0, 0, 0, 1])});
    let (s, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["questionnaire"], "phq9");
    assert_eq!(r["version"], 2);
    assert_eq!(r["patient"], "P1");
    assert_eq!(r["mode"], "app");
    assert_eq!(r["scores"]["total"], 6);
    assert_eq!(r["scores"]["phq2"], 2);
    assert_eq!(r["bands"]["total"], "mild");
    assert_eq!(r["level"], "red");
    assert_eq!(
        r["flags"],
        json!([{"rule": "self_harm", "level": "red", "text": "Thoughts of death or self-harm reported (item 9)"}])
    );
    assert_eq!(r["submitted_at"], "2026-03-02T10:00:00.000Z");
    assert_eq!(r["response_date"], "2026-03-02");
    let id = r["id"].as_str().expect("id");
    let (s, again) = app
        .get(&app.key_a, &format!("/api/v1/responses/{id}"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again, r);
    let (s, list) = app.get(&app.key_a, "/api/v1/patients/P1/responses").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().expect("list").len(), 1);
    assert_eq!(app.count("SELECT count(*) FROM response_scores"), 2);
    assert_eq!(app.count("SELECT count(*) FROM flags"), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM review_items WHERE status = 'open'"),
        1
    );
}

#[tokio::test]
async fn refused_answers_are_422_with_a_message_per_item_in_the_callers_language() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let mut answers = phq9([0; 9]);
    answers["q1"] = json!(7);
    answers.as_object_mut().expect("map").remove("q9");
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": answers});
    let (s, b) = app
        .post_lang(&app.key_a, "/api/v1/responses", &body, "da-DK,da;q=0.9")
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(b["error"], "invalid_answers");
    assert_eq!(
        b["errors"]["q1"],
        "Svaret på q1 skal være en af svarmulighederne (0, 1, 2, 3)"
    );
    assert_eq!(b["errors"]["q9"], "q9 skal besvares");
    let (_, b) = app
        .post_lang(&app.key_a, "/api/v1/responses", &body, "en")
        .await;
    assert_eq!(b["errors"]["q9"], "q9 must be answered");
    // A paper form may leave items out.
    let mut paper = body.clone();
    paper["mode"] = json!("paper");
    paper["answers"]["q1"] = json!(0);
    let (s, r) = app.post(&app.key_a, "/api/v1/responses", &paper).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["flags"][0]["rule"], "self_harm_unanswered");
    assert_eq!(
        app.count("SELECT count(*) FROM responses"),
        1,
        "nothing stored for the refused one"
    );
}

#[tokio::test]
async fn unknown_patients_questionnaires_and_responses_are_404() {
    let app = spawn().await;
    let body = json!({"questionnaire": "phq9", "patient": "nobody", "answers": phq9([0; 9])});
    let (s, b) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_patient"))
    );
    let body = json!({"questionnaire": "nope", "patient": "nobody", "answers": {}});
    let (s, b) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_questionnaire"))
    );
    let (s, _) = app
        .get(
            &app.key_a,
            "/api/v1/responses/01900000-0000-7000-8000-000000000000",
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, b) = app.get(&app.key_a, "/api/v1/no/such/route").await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn a_clinic_never_sees_another_clinics_patients_or_responses() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([0, 0, 0, 0, 0, 0, 0, 0, 2])});
    let (_, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    let id = r["id"].as_str().expect("id");
    let (s, _) = app
        .get(&app.key_b, &format!("/api/v1/responses/{id}"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "404, never 403");
    let (s, _) = app.get(&app.key_b, "/api/v1/patients/P1/responses").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.post(&app.key_b, "/api/v1/responses", &body).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "clinic b cannot answer for clinic a's patient"
    );
    let (s, _) = app
        .post(
            &app.key_b,
            &format!("/api/v1/responses/{id}/corrections"),
            &json!({"answers": {}, "reason": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, queue) = app.get(&app.key_b, "/api/v1/flags?status=open").await;
    assert_eq!(queue, json!([]));
    let (_, queue) = app.get(&app.key_a, "/api/v1/flags?status=open").await;
    assert_eq!(queue.as_array().expect("queue").len(), 1);
}

#[tokio::test]
async fn an_idempotent_retry_answers_as_the_first_time_and_stores_nothing_new() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([1; 9]), "idempotency_key": "tablet-7-0001"});
    let (s1, r1) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    let (s2, r2) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(r1, r2);
    assert_eq!(app.count("SELECT count(*) FROM responses"), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM outbox"),
        1,
        "one alert, not two"
    );
    let mut other = body.clone();
    other["answers"]["q1"] = json!(0);
    let (s, b) = app.post(&app.key_a, "/api/v1/responses", &other).await;
    assert_eq!(
        (s, b["error"].as_str()),
        (StatusCode::CONFLICT, Some("conflict"))
    );
    // Keys are per clinic.
    app.patient(&app.key_b, "P1").await;
    let (s, _) = app.post(&app.key_b, "/api/v1/responses", &body).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn oversize_and_malformed_bodies_get_clear_json_errors() {
    let app = spawn().await;
    let big = format!("{{\"ref\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = app
        .http
        .post(format!("{}/api/v1/patients", app.base))
        .bearer_auth(&app.key_a)
        .header("Content-Type", "application/json")
        .body(big)
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let b: serde_json::Value = r.json().await.expect("json");
    assert_eq!(b["error"], "too_large");
    let r = app
        .http
        .post(format!("{}/api/v1/responses", app.base))
        .bearer_auth(&app.key_a)
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b: serde_json::Value = r.json().await.expect("json");
    assert_eq!(b["error"], "bad_json");
    let (s, b) = app
        .post(
            &app.key_a,
            "/api/v1/responses",
            &json!({"questionnaire": "phq9", "patient": "P1", "answers": [1, 2]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
}

#[tokio::test]
async fn the_review_queue_puts_red_before_yellow_and_oldest_first() {
    let app = spawn().await;
    for p in ["P1", "P2", "P3"] {
        app.patient(&app.key_a, p).await;
    }
    let post = |p: &str, a| json!({"questionnaire": "pain_nrs", "patient": p, "answers": a});
    // Yellow first (a rise of 3 needs history), then two reds.
    app.post(
        &app.key_a,
        "/api/v1/responses",
        &post("P1", json!({"pain_now": 1, "pain_worst": 1})),
    )
    .await;
    let (_, yellow) = app
        .post(
            &app.key_a,
            "/api/v1/responses",
            &post("P1", json!({"pain_now": 4, "pain_worst": 4})),
        )
        .await;
    assert_eq!(yellow["level"], "yellow", "{yellow}");
    let (_, red1) = app
        .post(
            &app.key_a,
            "/api/v1/responses",
            &post("P2", json!({"pain_now": 9, "pain_worst": 9})),
        )
        .await;
    let (_, red2) = app
        .post(
            &app.key_a,
            "/api/v1/responses",
            &post("P3", json!({"pain_now": 8, "pain_worst": 8})),
        )
        .await;
    let (s, q) = app.get(&app.key_a, "/api/v1/flags?status=open").await;
    assert_eq!(s, StatusCode::OK);
    let order: Vec<&str> = q
        .as_array()
        .expect("queue")
        .iter()
        .map(|i| i["response"].as_str().expect("id"))
        .collect();
    assert_eq!(
        order,
        [
            red1["id"].as_str().expect("id"),
            red2["id"].as_str().expect("id"),
            yellow["id"].as_str().expect("id")
        ]
    );
    assert_eq!(q[0]["patient"], "P2");
    assert_eq!(q[0]["status"], "open");
    assert_eq!(q[0]["flags"][0]["rule"], "severe_pain");
    let (s, _) = app.get(&app.key_a, "/api/v1/flags?status=bogus").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rules_read_the_patients_stored_history() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let first = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([1, 1, 0, 0, 0, 0, 0, 0, 0])});
    let (_, r) = app.post(&app.key_a, "/api/v1/responses", &first).await;
    assert_eq!(r["level"], "green");
    let second = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([2, 2, 1, 1, 1, 0, 0, 0, 0])});
    let (_, r) = app.post(&app.key_a, "/api/v1/responses", &second).await;
    assert_eq!(r["flags"][0]["rule"], "worsening", "{r}");
}

#[tokio::test]
async fn a_correction_supersedes_the_original_which_stays_readable() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([3, 3, 3, 3, 3, 3, 3, 3, 3])});
    let (_, orig) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    let id = orig["id"].as_str().expect("id");
    let fix = json!({"answers": phq9([0, 0, 0, 0, 0, 0, 0, 0, 0]), "reason": "entered on the wrong patient's form", "mode": "paper"});
    let (s, c) = app
        .post(
            &app.key_a,
            &format!("/api/v1/responses/{id}/corrections"),
            &fix,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["supersedes"], id);
    assert_eq!(
        c["correction_reason"],
        "entered on the wrong patient's form"
    );
    assert_eq!(c["scores"]["total"], 0);
    let (_, old) = app
        .get(&app.key_a, &format!("/api/v1/responses/{id}"))
        .await;
    assert_eq!(old["scores"]["total"], 27, "the original is unchanged");
    assert_eq!(old["superseded_by"], c["id"]);
    let (s, _) = app
        .post(
            &app.key_a,
            &format!("/api/v1/responses/{id}/corrections"),
            &fix,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "correct the newest one");
    let (s, _) = app
        .post(
            &app.key_a,
            &format!(
                "/api/v1/responses/{}/corrections",
                c["id"].as_str().expect("id")
            ),
            &json!({"answers": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a reason is required");
    // Rows are never changed in place.
    let e = app
        .conn()
        .execute("UPDATE responses SET level = 'green'", ())
        .expect_err("refused");
    assert!(e.to_string().contains("append-only"));
}

#[tokio::test]
async fn every_read_of_a_patients_data_is_audited_and_the_chain_holds() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([0; 9])});
    let (_, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    let before = app.count("SELECT count(*) FROM audit_log WHERE action LIKE '%read'");
    app.get(
        &app.key_a,
        &format!("/api/v1/responses/{}", r["id"].as_str().expect("id")),
    )
    .await;
    app.get(&app.key_a, "/api/v1/patients/P1/responses").await;
    let after = app.count("SELECT count(*) FROM audit_log WHERE action LIKE '%read'");
    assert_eq!(after - before, 2);
    let v = prom::storage::audit::verify(&app.conn(), &app.files()).expect("verify");
    assert!(
        matches!(v, prom::storage::audit::Verdict::Intact { .. }),
        "{v:?}"
    );
}

#[tokio::test]
async fn a_red_response_puts_an_alert_in_the_outbox_that_is_written_without_health_data() {
    let app = spawn().await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([0, 0, 0, 0, 0, 0, 0, 0, 3])});
    let (_, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    let id = r["id"].as_str().expect("id");
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM outbox WHERE response_id = '{id}'"
        )),
        1
    );
    let mut found = None;
    for _ in 0..50 {
        if let Some(f) = std::fs::read_dir(&app.mail_dir).ok().and_then(|mut d| {
            d.find_map(|e| {
                e.ok()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            })
        }) {
            found = Some(std::fs::read_to_string(f.path()).expect("read"));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let mail = found.expect("the mailer wrote the alert");
    assert!(mail.contains("alerts@a.example"));
    assert!(mail.contains(id));
    // The MIME boundary and Message-ID are random letters and digits (the
    // boundary once held "P1"): the check is of the other lines, as in
    // the alerts and mail tests.
    let mail: String = mail
        .lines()
        .filter(|l| {
            !l.starts_with("--") && !l.contains("boundary=") && !l.starts_with("Message-ID:")
        })
        .collect::<Vec<_>>()
        .join("\n");
    for secret in ["self", "harm", "q9", "P1", "score", "PHQ"] {
        assert!(
            !mail.contains(secret),
            "the alert mentions {secret}:\n{mail}"
        );
    }
}

/// A newer version of a served questionnaire, recorded in the database as
/// another node started with newer files records it, is served here too
/// without a restart, and a submission is then stored against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_questionnaire_version_recorded_by_another_node_is_served_within_a_second() {
    let app = spawn().await;
    let (s, q) = app.get(&app.key_a, "/api/v1/questionnaires/phq9").await;
    assert_eq!(s, StatusCode::OK);
    let served = q["version"].as_u64().expect("a version") as u32;
    let src = std::fs::read_to_string(crate::helpers::root().join("questionnaires/phq9.yaml"))
        .expect("phq9");
    let newer = src.replacen(
        &format!("\nversion: {served}\n"),
        &format!("\nversion: {}\n", served + 1),
        1,
    );
    assert_ne!(newer, src, "the version line was found");
    let newer = prom::core::compile_yaml(&newer)
        .questionnaire
        .expect("compiles");
    let database = app.database.clone();
    let now = crate::helpers::NOW.parse().expect("time");
    std::thread::spawn(move || {
        let conn = prom::storage::connect_to(&database, &Default::default()).expect("connect");
        prom::storage::versions::record_version(&conn, &newer, now).expect("recorded");
    })
    .join()
    .expect("thread");
    let started = std::time::Instant::now();
    let mut seen = served;
    while seen == served && started.elapsed() < std::time::Duration::from_secs(10) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let (_, q) = app.get(&app.key_a, "/api/v1/questionnaires/phq9").await;
        seen = q["version"].as_u64().expect("a version") as u32;
    }
    println!(
        "version {} served after {:?}",
        served + 1,
        started.elapsed()
    );
    assert_eq!(seen, served + 1, "the newer version is served");
    let (s, list) = app.get(&app.key_a, "/api/v1/questionnaires").await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        list.as_array()
            .expect("a list")
            .iter()
            .any(|q| q["id"] == "phq9" && q["version"] == served + 1),
        "{list}"
    );
    app.patient(&app.key_a, "V1").await;
    let body = json!({"questionnaire": "phq9", "patient": "V1", "answers": phq9([0; 9])});
    let (s, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        app.count("SELECT count(*) FROM responses WHERE patient_id IN (SELECT id FROM patients WHERE ref = 'V1')"),
        1
    );
    let stored: i64 = app.count(&format!(
        "SELECT max(version) FROM responses WHERE questionnaire_id = 'phq9' AND version = {}",
        served + 1
    ));
    assert_eq!(
        stored,
        i64::from(served + 1),
        "stored against the newer version"
    );
}
