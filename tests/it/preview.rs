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
    let server = prom::web::preview::server(dir.path().to_path_buf(), listener).expect("starts");
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
