//! The author's preview: the form as a patient sees it, what the answers
//! give beside it, diagnostics in the page when the file has errors, and a
//! saved edit shown at the next reload.

use reqwest::StatusCode;

const GOOD: &str = "id: mood
version: 1
title: {da: Humør, en: Mood}
languages: [da, en]
items:
  - id: low
    type: choice
    text: {da: Har du været nedtrykt?, en: Have you felt low?}
    options:
      - {value: 0, text: {da: Nej, en: No}}
      - {value: 3, text: {da: Meget, en: Very}}
scores:
  - id: total
    items: [low]
    bands:
      - {from: 0, id: fine}
      - {from: 2, id: low}
rules:
  - id: very_low
    when: \"low >= 3\"
    level: red
    text: {da: Meget nedtrykt, en: Very low}
    patient_text: {da: Ring til os, en: Call us}
";

#[tokio::test]
async fn the_preview_shows_the_form_what_answers_give_and_errors_after_an_edit() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("mood.yaml");
    std::fs::write(&file, GOOD).expect("write");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server =
        prom::web::preview::server(dir.path().to_path_buf(), None, listener).expect("starts");
    tokio::spawn(server);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let get = |path: &str| {
        let (http, url) = (http.clone(), format!("{base}{path}"));
        async move {
            let r = http.get(url).send().await.expect("get");
            (r.status(), r.text().await.expect("text"))
        }
    };
    let (s, html) = get("/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("/q/mood"));
    let (_, html) = get("/q/mood").await;
    assert!(
        html.contains("Har du været nedtrykt?"),
        "the form in Danish first"
    );
    assert!(html.contains("<strong>Level:</strong> green"));
    // Answer: the panel shows the score, band, rule and what the patient sees.
    let r = http
        .post(format!("{base}/q/mood"))
        .form(&[("page", "1"), ("low", "3"), ("go", "submit")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (_, html) = get("/q/mood").await;
    assert!(
        html.contains("<td>total</td><td>3</td><td>low</td>"),
        "{html}"
    );
    assert!(html.contains("very_low") && html.contains("Ring til os"));
    assert!(html.contains("<strong>Level:</strong> red"));
    // An edit with an error shows the diagnostics instead of the form.
    std::fs::write(
        &file,
        GOOD.replace("when: \"low >= 3\"", "when: \"lwo >= 3\""),
    )
    .expect("edit");
    let (_, html) = get("/q/mood").await;
    assert!(html.contains("has problems"));
    assert!(html.contains("unknown name `lwo`"), "{html}");
    assert!(!html.contains("id=\"answers\""));
    // Fixed again, the form is back.
    std::fs::write(&file, GOOD).expect("fix");
    let (_, html) = get("/q/mood").await;
    assert!(html.contains("id=\"answers\""));
}

#[tokio::test]
async fn with_a_database_the_preview_shows_the_alert_load_of_a_draft_beside_the_stored_version() {
    let app = crate::helpers::spawn().await;
    app.patient(&app.key_a, "P1").await;
    for values in [[1, 1, 1, 1, 1, 1, 1, 0, 0], [2, 2, 2, 2, 1, 1, 1, 0, 0]] {
        let body = serde_json::json!({"questionnaire": "phq9", "patient": "P1", "answers": crate::helpers::phq9(values)});
        let (s, b) = app.post(&app.key_a, "/api/v1/responses", &body).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    // A draft that flags from a total of 5 instead of 10.
    let dir = tempfile::tempdir().expect("dir");
    let src = std::fs::read_to_string(crate::helpers::root().join("questionnaires/phq9.yaml"))
        .expect("phq9");
    std::fs::write(
        dir.path().join("phq9.yaml"),
        src.replace("when: \"total >= 10\"", "when: \"total >= 5\""),
    )
    .expect("draft");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server =
        prom::web::preview::server(dir.path().to_path_buf(), Some(app.db.clone()), listener)
            .expect("starts");
    tokio::spawn(server);
    let html = reqwest::get(format!("{base}/q/phq9"))
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(html.contains("Alert load on stored responses"), "{html}");
    assert!(html.contains("2 stored responses"), "{html}");
    let row = html
        .split("<tr>")
        .find(|r| r.contains("<td>depression_likely</td>"))
        .expect("the rule's row");
    let cells: Vec<&str> = row
        .split("<td>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap_or_default())
        .collect();
    let (draft, stored): (f64, f64) = (
        cells[2].parse().expect("draft"),
        cells[3].parse().expect("stored"),
    );
    assert!(draft > stored, "the draft flags more: {cells:?}");
}
