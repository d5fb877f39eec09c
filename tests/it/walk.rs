//! Defects found walking through the workspace as a nurse: no outcome is
//! chosen for her, patients' requests show on the card in the workspace's
//! language, every workspace page speaks one language, the answers that
//! made a rule fire are marked, overdue items stand out, and the second
//! factor's set-up has its own first button and keeps the recovery codes.

use chrono::Duration;
use reqwest::StatusCode;
use std::collections::BTreeMap;

use crate::clinic::{item_of, logged_in};
use crate::helpers::{TestApp, spawn};

/// A PHQ-9 response of clinic `a`'s patient `reference` (made on first
/// use): item 9 above 0 is red, a total from 10 yellow.
async fn phq9(app: &TestApp, reference: &str, each: u64, item9: u64) -> String {
    let _ = app
        .post(
            &app.key_a,
            "/api/v1/patients",
            &serde_json::json!({"ref": reference}),
        )
        .await;
    crate::clinic::phq9(app, reference, each, item9).await
}

/// The clinic `a` patient id of `reference`.
fn patient_id(app: &TestApp, reference: &str) -> String {
    prom::storage::patients::patient_id(&app.conn(), "a", reference).expect("patient")
}

fn now(app: &TestApp) -> chrono::DateTime<chrono::Utc> {
    prom::clock::Clock::now(app.clock.as_ref())
}

#[tokio::test]
async fn resolving_has_no_outcome_chosen_and_without_one_is_refused_keeping_the_note() {
    let app = spawn().await;
    let rid = phq9(&app, "W1", 2, 1).await;
    let (item, rev) = item_of(&app, &rid);
    let mut nurse = logged_in(&app, "a", "nurse@a.example", "clinician").await;
    let page = nurse.get(&format!("/clinic/responses/{rid}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"outcome\""), "{}", page.body);
    let radios: Vec<&str> = page
        .body
        .split("name=\"outcome\"")
        .skip(1)
        .map(|s| s.split('>').next().unwrap_or_default())
        .collect();
    assert!(
        radios.iter().all(|r| !r.contains("checked")),
        "no outcome is chosen beforehand: {radios:?}"
    );
    let rev = rev.to_string();
    let p = nurse
        .post(
            &format!("/clinic/items/{item}"),
            &[
                ("action", "resolve"),
                ("rev", &rev),
                ("note", "Talte med datteren"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", p.body);
    assert!(
        p.body
            .contains("Vælg, hvad der blev gjort, før punktet afsluttes"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains(">Talte med datteren</textarea>"),
        "the note is kept"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM review_items WHERE status = 'resolved'"),
        0
    );
    // With an outcome it is resolved, and says so in words.
    let p = nurse
        .post(
            &format!("/clinic/items/{item}"),
            &[
                ("action", "resolve"),
                ("rev", &rev),
                ("outcome", "no_action"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let page = nurse.get(&format!("/clinic/responses/{rid}")).await;
    assert!(
        page.body.contains("Ingen handling nødvendig"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn contact_and_correction_requests_show_on_the_card_and_the_item_in_the_workspaces_language()
{
    let app = spawn().await;
    let rid = phq9(&app, "W2", 2, 1).await;
    let pid = patient_id(&app, "W2");
    let (item, rev) = item_of(&app, &rid);
    let mut nurse = logged_in(&app, "a", "nurse@a.example", "clinician").await;
    // The clinic resolves the red item; then the patient asks to be
    // contacted and for a correction: the item is back in the queue, red.
    let p = nurse
        .post(
            &format!("/clinic/items/{item}"),
            &[
                ("action", "resolve"),
                ("rev", &rev.to_string()),
                ("outcome", "phone"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    {
        let conn = app.conn();
        prom::usecase::contact::request_contact(&conn, "a", &pid, &rid, now(&app))
            .expect("contact");
        prom::usecase::contact::request_correction(
            &conn,
            "a",
            &pid,
            &rid,
            "spørgsmål 3 var forkert",
            now(&app),
        )
        .expect("correction");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM review_items WHERE status = 'open' AND level = 'red'"),
        1,
        "the request reopened the item at its level"
    );
    let queue = nurse.get("/clinic").await;
    for words in [
        "Patienten beder om at blive kontaktet",
        "Patienten beder om en rettelse: spørgsmål 3 var forkert",
    ] {
        assert!(queue.body.contains(words), "the card shows «{words}»");
    }
    let page = nurse.get(&format!("/clinic/responses/{rid}")).await;
    for words in [
        "Patienten beder om at blive kontaktet",
        "Patienten beder om en rettelse",
        "Kontaktet telefonisk",
    ] {
        assert!(page.body.contains(words), "the item shows «{words}»");
    }
    for code in [
        "patient asks to be contacted",
        "patient asks for a correction",
        ">phone<",
        ">patient<",
    ] {
        assert!(!page.body.contains(code), "no code «{code}»: {}", page.body);
    }
    let en = nurse.get(&format!("/clinic/responses/{rid}?lang=en")).await;
    assert!(
        en.body.contains("The patient asks to be contacted"),
        "{}",
        en.body
    );
    assert!(en.body.contains("Contacted by phone"));
}

/// Text of the catalogue of `lang` that the other catalogue does not hold:
/// phrases (with a space, 12 characters or more) with no placeholder.
fn own_phrases(lang: &str, other: &str) -> Vec<String> {
    let read = |l: &str| -> BTreeMap<String, String> {
        let path = crate::helpers::root().join(format!("templates/i18n/{l}.json"));
        serde_json::from_str(&std::fs::read_to_string(path).expect("catalogue")).expect("json")
    };
    let (mine, theirs) = (read(lang), read(other));
    let theirs: Vec<&String> = theirs.values().collect();
    mine.values()
        .filter(|v| v.contains(' ') && v.chars().count() >= 12 && !v.contains('{'))
        .filter(|v| !theirs.iter().any(|t| t.contains(v.as_str())))
        .map(|v| tera_escaped(v))
        .collect()
}

/// A text as a page prints it (HTML-escaped).
fn tera_escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2F;")
}

#[tokio::test]
async fn every_workspace_page_speaks_one_language() {
    let app = spawn().await;
    let rid = phq9(&app, "W3", 2, 1).await;
    let pid = patient_id(&app, "W3");
    {
        let conn = app.conn();
        prom::usecase::contact::request_contact(&conn, "a", &pid, &rid, now(&app))
            .expect("contact");
    }
    let (item, rev) = item_of(&app, &rid);
    let mut admin = logged_in(&app, "a", "admin@a.example", "admin").await;
    admin
        .post(
            &format!("/clinic/items/{item}"),
            &[
                ("action", "snooze"),
                ("rev", &rev.to_string()),
                ("rule", "self_harm"),
                ("days", "7"),
            ],
        )
        .await;
    let pages = [
        "/clinic".to_string(),
        format!("/clinic/responses/{rid}"),
        format!("/clinic/patients/{pid}"),
        "/clinic/patients".into(),
        "/clinic/admin/audit".into(),
        "/clinic/admin/staff".into(),
        "/clinic/admin/keys".into(),
        "/clinic/admin/mail".into(),
        "/clinic/letters".into(),
        "/clinic/questionnaires".into(),
        "/clinic/no-such-page".into(),
    ];
    for (lang, other) in [("da", "en"), ("en", "da")] {
        let foreign = own_phrases(other, lang);
        assert!(foreign.len() > 50, "{other}: {}", foreign.len());
        admin.get(&format!("/clinic?lang={lang}")).await;
        for path in &pages {
            let page = admin.get(path).await;
            assert!(
                page.body.contains(&format!("<html lang=\"{lang}\"")),
                "{path} in {lang}"
            );
            for f in &foreign {
                assert!(
                    !page.body.contains(f.as_str()),
                    "{path} in {lang} shows «{f}» of the {other} catalogue"
                );
            }
            for code in [
                ">patient asks to be contacted",
                "snoozed self_harm",
                "response.read",
                "staff.login",
                "queue.read",
            ] {
                assert!(!page.body.contains(code), "{path} in {lang} shows «{code}»");
            }
        }
    }
}

#[tokio::test]
async fn the_answers_that_made_a_rule_fire_are_marked_with_the_earlier_value_beside_the_new() {
    let app = spawn().await;
    phq9(&app, "W4", 0, 0).await;
    let rid = phq9(&app, "W4", 1, 1).await;
    let mut nurse = logged_in(&app, "a", "nurse@a.example", "clinician").await;
    let page = nurse.get(&format!("/clinic/responses/{rid}")).await;
    assert_eq!(page.status, StatusCode::OK);
    // Item 9 made the self-harm rule fire: its answer is marked, and says
    // which rule it set off.
    let marked = page.body.matches("<div class=\"fired\">").count();
    assert!(marked >= 1, "{}", page.body);
    assert!(page.body.contains("udløste:"), "{}", page.body);
    // The worsening rule compared the total with the one before: 0 → 9.
    assert!(page.body.contains("før 0 → nu 9"), "{}", page.body);
    // A response without flags marks nothing.
    let green = phq9(&app, "W5", 0, 0).await;
    let page = nurse.get(&format!("/clinic/responses/{green}")).await;
    assert!(!page.body.contains("class=\"fired\""));
}

#[tokio::test]
async fn items_waiting_past_the_clinics_response_time_are_marked_and_counted() {
    let app = spawn().await;
    // Monday 2 March, 11:00 in Copenhagen: a yellow item, then a red one.
    let yellow = phq9(&app, "W6", 2, 0).await;
    app.clock.advance(Duration::minutes(5));
    let red = phq9(&app, "W7", 0, 1).await;
    let mut nurse = logged_in(&app, "a", "nurse@a.example", "clinician").await;
    let q = nurse.get("/clinic").await;
    assert!(!q.body.contains("Over svartiden"), "nothing late yet");
    // Tuesday: the red (same day) is late, the yellow (one working day) not.
    app.clock.advance(Duration::days(1));
    // (A new login: the last one's session expired overnight.)
    let mut nurse = logged_in(&app, "a", "tuesday@a.example", "clinician").await;
    let q = nurse.get("/clinic").await;
    assert!(
        q.body.contains("Over svartiden: 1 (rød 1, gul 0)"),
        "{}",
        q.body
    );
    assert_eq!(
        q.body
            .matches("class=\"overdue\">Over svartiden</strong> ·")
            .count(),
        1
    );
    // Wednesday: both.
    app.clock.advance(Duration::days(1));
    let mut nurse = logged_in(&app, "a", "wednesday@a.example", "clinician").await;
    let q = nurse.get("/clinic").await;
    assert!(
        q.body.contains("Over svartiden: 2 (rød 1, gul 1)"),
        "{}",
        q.body
    );
    // A clinic that answers reds within a working day.
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
        .args(["clinic", "alerting", "a", "--red-response-days", "5"])
        .args(app.db_args())
        .status()
        .expect("prom");
    assert!(status.success());
    let q = nurse.get("/clinic").await;
    assert!(
        q.body.contains("Over svartiden: 1 (rød 0, gul 1)"),
        "{}",
        q.body
    );
    // Sorted by waiting time the older yellow comes first; red first
    // otherwise.
    let pos = |body: &str, id: &str| body.find(&format!("/clinic/responses/{id}")).expect(id);
    let q = nurse.get("/clinic").await;
    assert!(pos(&q.body, &red) < pos(&q.body, &yellow));
    let q = nurse.get("/clinic?sort=waiting").await;
    assert!(pos(&q.body, &yellow) < pos(&q.body, &red));
    // Only what I took.
    let (item, rev) = item_of(&app, &yellow);
    nurse
        .post(
            &format!("/clinic/items/{item}"),
            &[("action", "take"), ("rev", &rev.to_string())],
        )
        .await;
    let q = nurse.get("/clinic?mine=1").await;
    assert!(q.body.contains(&format!("/clinic/responses/{yellow}")));
    assert!(!q.body.contains(&format!("/clinic/responses/{red}")));
}

#[tokio::test]
async fn the_second_factor_set_up_submits_its_own_form_first_and_the_codes_can_be_kept() {
    let app = spawn().await;
    let pw = crate::clinic::add_staff(&app, "a", "new@a.example", "clinician");
    let mut b = crate::clinic::Staff::new(&app);
    b.get("/clinic/login").await;
    b.post(
        "/clinic/login",
        &[("email", "new@a.example"), ("password", &pw)],
    )
    .await;
    let p = b.get("/clinic/login/enrol").await;
    assert_eq!(p.status, StatusCode::OK);
    // The first submit button of the page is the enrolment's.
    let first_button = p.body.find("type=\"submit\"").expect("a button");
    let enrol_form = p
        .body
        .find("action=\"/clinic/login/enrol\"")
        .expect("the form");
    let logout_form = p.body.find("action=\"/clinic/logout\"").expect("log-out");
    assert!(enrol_form < first_button && first_button < logout_form);
    // The recovery codes (`enrol` checks the file to download and the
    // confirmation): on only when they are said to be kept.
    let pw = crate::clinic::add_staff(&app, "a", "other@a.example", "clinician");
    let (mut b, _) = crate::clinic::enrol(&app, "other@a.example", &pw).await;
    let saved = b.get("/clinic/login/saved?next=/clinic/patients").await;
    assert_eq!(saved.status, StatusCode::OK);
    assert!(
        saved.body.contains("nulstille din anden faktor"),
        "{}",
        saved.body
    );
    let saved = b
        .get("/clinic/login/saved?saved=1&next=/clinic/patients")
        .await;
    assert_eq!(saved.location.as_deref(), Some("/clinic/patients"));
    let saved = b
        .get("/clinic/login/saved?saved=1&next=https://evil.example/")
        .await;
    assert_eq!(saved.location.as_deref(), Some("/clinic"));
}

#[tokio::test]
async fn a_mistyped_address_gets_a_page_in_the_users_language_and_the_api_keeps_json() {
    let app = spawn().await;
    let http = reqwest::Client::new();
    let get = |path: &str, lang: &str| {
        http.get(format!("{}{path}", app.base))
            .header("Accept-Language", lang)
            .send()
    };
    let r = get("/no-such-page", "da").await.expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/html")
    );
    let body = r.text().await.expect("body");
    for part in [
        "<html lang=\"da\"",
        "<title>",
        "<main",
        "<h1>Siden findes ikke</h1>",
        "href=\"/\"",
    ] {
        assert!(body.contains(part), "«{part}» in {body}");
    }
    let body = get("/clinic/no-such-page", "en-GB,en;q=0.8")
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    assert!(
        body.contains("<html lang=\"en\"") && body.contains("href=\"/clinic\""),
        "{body}"
    );
    let r = get("/api/v1/no-such-thing", "da").await.expect("get");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: serde_json::Value = r.json().await.expect("json");
    assert_eq!(v["error"], "not_found");
}

/// Posts a paper PHQ-9 for clinic `a`'s patient `pid` with `answers` (item
/// id, value) and the extra fields.
async fn paper(
    b: &mut crate::clinic::Staff<'_>,
    pid: &str,
    answers: &[(String, String)],
    extra: &[(&str, &str)],
) -> crate::clinic::Page {
    let path = format!("/clinic/patients/{pid}/paper/phq9");
    let form = b.get(&path).await;
    let entry = crate::clinic::value_of(&form.body, "entry").expect("entry token");
    let mut fields: Vec<(&str, &str)> = answers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    fields.push(("entry", &entry));
    fields.extend_from_slice(extra);
    b.post(&path, &fields).await
}

fn all_phq9(each: u8) -> Vec<(String, String)> {
    (1..=9)
        .map(|i| {
            (
                format!("q{i}"),
                if i == 9 { "0".into() } else { each.to_string() },
            )
        })
        .collect()
}

#[tokio::test]
async fn paper_entry_asks_the_day_answered_warns_when_mostly_blank_and_rules_use_that_day() {
    let app = spawn().await;
    // Monday 2 March: a web answer of 0 today.
    phq9(&app, "W8", 0, 0).await;
    let pid = patient_id(&app, "W8");
    let mut b = logged_in(&app, "a", "paper@a.example", "clinician").await;
    let form = b.get(&format!("/clinic/patients/{pid}/paper/phq9")).await;
    assert!(
        form.body.contains("id=\"answered_on\""),
        "the day answered is asked"
    );
    assert!(
        form.body.contains("<span class=\"qno\">9.</span>"),
        "numbered as on paper"
    );
    // No date, a date in the future: refused, with the answers kept.
    let p = paper(&mut b, &pid, &all_phq9(2), &[]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body
            .contains("Skriv den dato, patienten udfyldte skemaet")
    );
    let p = paper(&mut b, &pid, &all_phq9(2), &[("answered_on", "2026-03-03")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("Datoen ligger i fremtiden"));
    // A form sent today cannot have been answered last week.
    let invitation = prom::storage::invitations::insert_invitation(
        &app.conn(),
        &pid,
        "phq9",
        "not-a-real-token-hash",
        now(&app) + Duration::days(14),
        now(&app),
    )
    .expect("invitation");
    let code = prom::web::patient::paper_code(&invitation);
    let p = paper(
        &mut b,
        &pid,
        &all_phq9(2),
        &[("answered_on", "2026-02-23"), ("paper_code", &code)],
    )
    .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body.contains("Datoen ligger før skemaet blev sendt"),
        "{}",
        p.body
    );
    // Mostly blank: a warning first; stored when confirmed.
    let two: Vec<(String, String)> = all_phq9(0).into_iter().take(2).collect();
    let p = paper(&mut b, &pid, &two, &[("answered_on", "2026-02-23")]).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p.body.contains("Kun 2 af 10 spørgsmål er besvaret"),
        "{}",
        p.body
    );
    assert_eq!(
        app.count("SELECT count(*) FROM responses WHERE mode = 'paper'"),
        0
    );
    // A form filled in a week ago (total 16), typed in today: stored as
    // answered then; its rules look only at what came before that day, so
    // today's 0 is no "previous" for it.
    let p = paper(&mut b, &pid, &all_phq9(2), &[("answered_on", "2026-02-23")]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let paper_id = p
        .location
        .expect("to the response")
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("id")
        .to_string();
    let (date, submitted, fired): (String, String, String) = app
        .conn()
        .query_row(
            "SELECT response_date, submitted_at, fired FROM responses WHERE id = ?1",
            [&paper_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .expect("row");
    assert_eq!(date, "2026-02-23");
    assert!(
        submitted.starts_with("2026-03-02"),
        "entered today: {submitted}"
    );
    assert!(!fired.contains("worsening"), "{fired}");
    // Today's next answer (16) compares with today's earlier 0, not with
    // the late paper form.
    let next = phq9(&app, "W8", 2, 0).await;
    let fired: String = app
        .conn()
        .query_row("SELECT fired FROM responses WHERE id = ?1", [&next], |r| {
            r.get(0)
        })
        .expect("row");
    assert!(fired.contains("worsening"), "{fired}");
}

#[tokio::test]
async fn a_correction_closes_the_item_of_the_response_it_replaces() {
    let app = spawn().await;
    let rid = phq9(&app, "W9", 2, 0).await;
    let (s, body) = app
        .post(
            &app.key_a,
            &format!("/api/v1/responses/{rid}/corrections"),
            &serde_json::json!({
                "answers": {"q1": 2, "q2": 2, "q3": 2, "q4": 2, "q5": 2, "q6": 2, "q7": 2, "q8": 1, "q9": 0},
                "reason": "item 8 was typed wrong"
            }),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let new = body["id"].as_str().expect("id").to_string();
    // One problem, one item: the original's is closed as superseded.
    assert_eq!(
        app.count("SELECT count(*) FROM review_items WHERE status != 'resolved'"),
        1
    );
    let (status, outcome): (String, String) = app
        .conn()
        .query_row(
            "SELECT status, outcome FROM review_items WHERE response_id = ?1",
            [&rid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the original's item");
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("resolved", "superseded")
    );
    let mut nurse = logged_in(&app, "a", "nurse@a.example", "clinician").await;
    let page = nurse.get(&format!("/clinic/responses/{rid}")).await;
    assert!(
        page.body.contains("Erstattet af en rettelse"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!("/clinic/responses/{new}")),
        "a link to it"
    );
    let queue = nurse.get("/clinic").await;
    assert!(!queue.body.contains(&format!("/clinic/responses/{rid}\"")));
    assert!(queue.body.contains(&format!("/clinic/responses/{new}\"")));
}

#[tokio::test]
async fn each_action_is_confirmed_and_quieting_a_rule_says_the_item_stays_open() {
    let app = spawn().await;
    let rid = phq9(&app, "W10", 2, 1).await;
    let (item, rev) = item_of(&app, &rid);
    let mut nurse = logged_in(&app, "a", "nurse@a.example", "clinician").await;
    let back = format!("/clinic/responses/{rid}");
    let page = nurse.get(&back).await;
    assert!(
        page.body.contains("Dæmp en regel for patienten"),
        "named for what it does"
    );
    assert!(page.body.contains("Dette punkt forbliver åbent"));
    let p = nurse
        .post(
            &format!("/clinic/items/{item}"),
            &[
                ("action", "snooze"),
                ("rev", &rev.to_string()),
                ("rule", "self_harm"),
                ("days", "7"),
                ("back", &back),
            ],
        )
        .await;
    let to = p.location.expect("back");
    assert_eq!(to, format!("{back}?done=quieted"));
    let page = nurse.get(&to).await;
    assert!(
        page.body
            .contains("role=\"status\">Reglen er dæmpet for patienten. Punktet er stadig åbent"),
        "{}",
        page.body
    );
    let (_, rev) = item_of(&app, &rid);
    let p = nurse
        .post(
            &format!("/clinic/items/{item}"),
            &[
                ("action", "resolve"),
                ("rev", &rev.to_string()),
                ("outcome", "phone"),
            ],
        )
        .await;
    let to = p.location.expect("to the queue");
    assert_eq!(to, "/clinic?done=resolved");
    let q = nurse.get(&to).await;
    assert!(
        q.body.contains("role=\"status\">Punktet er afsluttet"),
        "{}",
        q.body
    );
    // Paper entry.
    let pid = patient_id(&app, "W10");
    let p = paper(
        &mut nurse,
        &pid,
        &all_phq9(0),
        &[("answered_on", "2026-03-02")],
    )
    .await;
    let to = p.location.expect("to the response");
    assert!(to.ends_with("?done=paper"), "{to}");
    let page = nurse.get(&to).await;
    assert!(page.body.contains("role=\"status\">Papirsvaret er gemt"));
    // Something unknown is not confirmed.
    let page = nurse.get("/clinic?done=%3Cscript%3E").await;
    assert!(!page.body.contains("role=\"status\">c_done"));
}

#[tokio::test]
async fn the_frameworks_own_error_answers_carry_the_security_headers_too() {
    let app = spawn().await;
    let http = reqwest::Client::new();
    let answers = [
        // A body that is not JSON, for the JSON API (the framework's 4xx).
        http.post(format!("{}/api/v1/responses", app.base))
            .bearer_auth(&app.key_a)
            .header("Content-Type", "text/plain")
            .body("not json")
            .send()
            .await
            .expect("post"),
        // An address nothing answers, of the API and of the pages.
        http.get(format!("{}/api/v1/nothing", app.base))
            .send()
            .await
            .expect("get"),
        http.get(format!("{}/nothing", app.base))
            .send()
            .await
            .expect("get"),
    ];
    for r in answers {
        let status = r.status();
        assert!(status.is_client_error(), "{status}");
        for (name, want) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            ("referrer-policy", "no-referrer"),
        ] {
            assert_eq!(
                r.headers().get(name).and_then(|v| v.to_str().ok()),
                Some(want),
                "{status}: {name}"
            );
        }
        assert!(
            r.headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("frame-ancestors 'none'")),
            "{status}: CSP"
        );
    }
}

#[tokio::test]
async fn a_form_the_framework_cannot_read_gets_prom_s_page_and_https_gets_hsts() {
    let app = spawn().await;
    let r = reqwest::Client::new()
        .post(format!("{}/clinic/login", app.base))
        .header("Content-Type", "application/json")
        .header("Accept-Language", "da")
        .body("{}")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        r.headers().get("strict-transport-security").is_none(),
        "http"
    );
    let body = r.text().await.expect("body");
    assert!(
        body.contains("<html lang=\"da\"") && body.contains("Formularen kunne ikke læses"),
        "{body}"
    );
    // With an https public address, every answer says to keep to https.
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = crate::helpers::config(dir.path());
    cfg.base_url = Some("https://prom.example.org".into());
    let secure = crate::helpers::spawn_in(cfg, dir).await;
    for path in ["/healthz", "/", "/nothing"] {
        let r = reqwest::get(format!("{}{path}", secure.base))
            .await
            .expect("get");
        assert_eq!(
            r.headers()
                .get("strict-transport-security")
                .and_then(|v| v.to_str().ok()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
}
