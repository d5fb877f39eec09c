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
    assert!(
        html.contains("<strong>Level:</strong> none yet: nothing is answered."),
        "no level before any answer"
    );
    assert!(!html.contains("<strong>Level:</strong> green"));
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

#[tokio::test]
async fn the_preview_keeps_one_address_per_file_asks_for_visibility_and_marks_exclusive_options() {
    let dir = tempfile::tempdir().expect("dir");
    // The file's name is not its id: the form's address is the id.
    let src = "id: sleep
version: 1
title: Sleep
items:
  - id: trouble
    type: boolean
    text: Trouble sleeping?
  - id: why
    type: multi
    show_if: \"trouble\"
    text: Why?
    options:
      - {value: pain, text: Pain}
      - {value: worry, text: Worry}
      - {value: none, text: None of these, exclusive: true}
";
    let file = dir.path().join("sleep-draft.yaml");
    std::fs::write(&file, src).expect("write");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let server =
        prom::web::preview::server(dir.path().to_path_buf(), None, listener).expect("starts");
    tokio::spawn(server);
    let http = reqwest::Client::new();
    let html = http
        .get(format!("{base}/q/sleep"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        html.contains("data-visible=\"&#x2F;q&#x2F;sleep/visible\""),
        "{html}"
    );
    assert!(html.contains("value=\"none\" data-exclusive"), "{html}");
    // The page's script asks the preview which questions show.
    let r = http
        .post(format!("{base}/q/sleep/visible"))
        .form(&[("page", "1"), ("trouble", "true")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.expect("json");
    assert!(
        v["visible"]
            .as_array()
            .expect("ids")
            .iter()
            .any(|x| x == "why"),
        "{v}"
    );
    // Broken, the same address shows the file's errors; fixed, the form.
    std::fs::write(
        &file,
        src.replace("show_if: \"trouble\"", "show_if: \"truble\""),
    )
    .expect("edit");
    let r = http
        .get(format!("{base}/q/sleep"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("text");
    assert!(
        html.contains("has problems") && html.contains("truble"),
        "{html}"
    );
    // An address the preview does not have is a page, not a bare 404.
    let r = http
        .get(format!("{base}/q/nothing"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let html = r.text().await.expect("text");
    assert!(
        html.contains("<main") && html.contains("href=\"/\""),
        "{html}"
    );
}
