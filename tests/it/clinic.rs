//! The clinic's workspace over HTTP, as a browser without JavaScript uses
//! it: logins with a second factor, throttling, idle expiry and logout,
//! CSRF, the queue and two people acting on one item, snoozes, paper entry
//! and corrections, administration, the audit log, and the authorisation
//! matrix over every route of the workspace.

use chrono::Duration;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use std::collections::BTreeMap;

use crate::helpers::{NOW, TestApp, spawn};

/// A browser without JavaScript that keeps its cookies by name and follows
/// no redirect by itself.
pub struct Staff<'a> {
    app: &'a TestApp,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// The CSRF token of the last page that carried one.
    pub csrf: String,
    /// Sent as `X-Forwarded-For` (believed when the test's server trusts
    /// the loopback address as its proxy).
    pub forwarded_for: Option<String>,
}

pub struct Page {
    pub status: StatusCode,
    pub body: String,
    pub location: Option<String>,
}

impl<'a> Staff<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Staff {
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
            csrf: String::new(),
            forwarded_for: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path}", self.app.base))
            .header(COOKIE, self.cookie_header());
        self.answer(r).await
    }

    /// Posts `form` with the last CSRF token seen.
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.csrf.clone();
        let mut all: Vec<(&str, &str)> = vec![("csrf", &csrf)];
        all.extend_from_slice(form);
        self.post_raw(path, &all).await
    }

    pub async fn post_raw(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.app.base))
            .header(COOKIE, self.cookie_header())
            .form(form);
        self.answer(r).await
    }

    async fn answer(&mut self, r: reqwest::RequestBuilder) -> Page {
        let r = match &self.forwarded_for {
            Some(a) => r.header("X-Forwarded-For", a),
            None => r,
        };
        let r = r.send().await.expect("request");
        for c in r.headers().get_all(SET_COOKIE) {
            let c = c.to_str().expect("cookie");
            // The single sign-on's state cookie is Lax: the provider's
            // redirect back is a navigation from another site.
            let same_site = if c.starts_with("prom_sso_state=") {
                "SameSite=Lax"
            } else {
                "SameSite=Strict"
            };
            assert!(c.contains("HttpOnly") && c.contains(same_site), "{c}");
            if let Some((k, v)) = c.split(';').next().and_then(|kv| kv.split_once('=')) {
                if c.contains("Max-Age=0") || v.is_empty() {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
        let status = r.status();
        let location = r
            .headers()
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(String::from);
        let body = r.text().await.unwrap_or_default();
        if let Some(t) = value_of(&body, "csrf") {
            self.csrf = t;
        }
        Page {
            status,
            body,
            location,
        }
    }
}

/// The value of the first input named `name` in a page.
pub fn value_of(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

/// A staff account in `clinic` with a password; returns the password.
pub fn add_staff(app: &TestApp, clinic: &str, email: &str, role: &str) -> String {
    let conn = app.conn();
    let password = format!("pw-{email}-long enough");
    let hash = prom::security::hash_password(&password).expect("hash");
    prom::storage::clinics::insert_user(
        &conn,
        clinic,
        email,
        &format!("Name of {email}"),
        role,
        &hash,
        NOW.parse().expect("time"),
    )
    .expect("user");
    password
}

/// The TOTP code of `secret` at the app's clock.
fn code_for(app: &TestApp, secret: &str, email: &str) -> String {
    let totp = prom::usecase::staff::totp(secret, email).expect("totp");
    let now = prom::clock::Clock::now(app.clock.as_ref());
    totp.generate(now.timestamp() as u64).to_string()
}

/// A logged-in staff member: password, then enrolment of the second
/// factor (first login). Returns the browser and the TOTP secret.
pub async fn enrol<'a>(app: &'a TestApp, email: &str, password: &str) -> (Staff<'a>, String) {
    let mut b = Staff::new(app);
    let p = b.get("/clinic/login").await;
    assert_eq!(p.status, StatusCode::OK);
    let p = b
        .post("/clinic/login", &[("email", email), ("password", password)])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/clinic/login/enrol"));
    let p = b.get("/clinic/login/enrol").await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("<svg"), "a QR code drawn by the server");
    let secret: String = {
        let at = p
            .body
            .find("class=\"secret\"><code>")
            .expect("the secret as text");
        let rest = &p.body[at + 21..];
        rest[..rest.find('<').expect("end")].replace(' ', "")
    };
    let code = code_for(app, &secret, email);
    let p = b.post("/clinic/login/enrol", &[("code", &code)]).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(
        p.body.contains("class=\"codes\""),
        "recovery codes shown once"
    );
    // To download (and print), and a confirmation that they are kept.
    assert!(
        p.body.contains("download=\"prom-recovery-codes.txt\"")
            && p.body.contains("href=\"data:text/plain;charset=utf-8,prom")
            && p.body.contains("name=\"saved\" value=\"1\" required"),
        "{}",
        p.body
    );
    // The page already belongs to the new session: its logout works.
    let csrf = b.csrf.clone();
    let home = b.get("/clinic").await;
    assert_eq!(home.status, StatusCode::OK);
    assert_eq!(
        b.csrf, csrf,
        "the recovery page carries the new session's token"
    );
    (b, secret)
}

/// A staff member of clinic `a` (or `b`), logged in.
pub async fn logged_in<'a>(app: &'a TestApp, clinic: &str, email: &str, role: &str) -> Staff<'a> {
    let pw = add_staff(app, clinic, email, role);
    let mut b = enrol(app, email, &pw).await.0;
    assert_eq!(b.get("/clinic").await.status, StatusCode::OK);
    b
}

/// Posts a PHQ-9 response over the API for `reference` of clinic `a`: item
/// 9 (self-harm) above 0 fires red, a total from 10 yellow.
pub(crate) async fn phq9(app: &TestApp, reference: &str, each: u64, item9: u64) -> String {
    let mut answers = serde_json::Map::new();
    for i in 1..=8 {
        answers.insert(format!("q{i}"), json!(each));
    }
    answers.insert("q9".into(), json!(item9));
    let (s, body) = app
        .post(
            &app.key_a,
            "/api/v1/responses",
            &json!({"questionnaire": "phq9", "patient": reference, "answers": answers}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_string()
}

async fn patient(app: &TestApp, key: &str, reference: &str) -> String {
    let (s, body) = app
        .post(key, "/api/v1/patients", &json!({"ref": reference}))
        .await;
    assert!(
        s == StatusCode::CREATED || s == StatusCode::CONFLICT,
        "{body}"
    );
    let conn = app.conn();
    let clinic = if key == app.key_a { "a" } else { "b" };
    prom::storage::patients::patient_id(&conn, clinic, reference).expect("patient")
}

pub(crate) fn item_of(app: &TestApp, response: &str) -> (String, i64) {
    let conn = app.conn();
    conn.query_row(
        "SELECT id, rev FROM review_items WHERE response_id = ?1",
        [response],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .expect("an item")
}

fn audit_actions(app: &TestApp) -> Vec<String> {
    let conn = app.conn();
    let mut s = conn
        .prepare("SELECT action FROM audit_log ORDER BY seq")
        .expect("sql");
    s.query_map((), |r| r.get(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("actions")
}

#[tokio::test]
async fn staff_log_in_with_a_password_and_a_second_factor_and_log_out_on_the_server() {
    let app = spawn().await;
    let pw = add_staff(&app, "a", "nurse@a.example", "clinician");
    // A wrong password, and an unknown account, get the same answer.
    let mut b = Staff::new(&app);
    b.get("/clinic/login").await;
    let wrong = b
        .post(
            "/clinic/login",
            &[("email", "nurse@a.example"), ("password", "nope")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let unknown = b
        .post(
            "/clinic/login",
            &[("email", "who@a.example"), ("password", "nope")],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("E-mail eller adgangskode er forkert"));
    // Without the login form's token, nothing is tried.
    let forged = b
        .post_raw(
            "/clinic/login",
            &[("email", "nurse@a.example"), ("password", &pw)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // A half login reaches nothing but the second factor.
    let (mut b, secret) = enrol(&app, "nurse@a.example", &pw).await;
    let home = b.get("/clinic").await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    assert!(home.body.contains("Gennemsyn"));
    // Recovery codes were shown once: never again.
    assert!(!b.get("/clinic").await.body.contains("class=\"codes\""));
    let session = b
        .cookies
        .get("prom_staff")
        .cloned()
        .expect("a staff cookie");
    // Logout is a POST that ends the session on the server: the old
    // cookie is refused afterwards.
    let out = b.post("/clinic/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let mut replay = Staff::new(&app);
    replay.cookies.insert("prom_staff".into(), session);
    let p = replay.get("/clinic").await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert!(p.location.expect("to login").starts_with("/clinic/login"));
    // The second login asks for a code; the same code twice is refused
    // (each time step once), the next step's works.
    app.clock.advance(Duration::seconds(30));
    let mut b = Staff::new(&app);
    b.get("/clinic/login").await;
    let p = b
        .post(
            "/clinic/login",
            &[("email", "NURSE@a.example"), ("password", &pw)],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/clinic/login/code"));
    let half = b.cookies.get("prom_staff").cloned().expect("half session");
    assert_eq!(
        b.get("/clinic").await.status,
        StatusCode::SEE_OTHER,
        "half a login is no login"
    );
    b.get("/clinic/login/code").await;
    let code = code_for(&app, &secret, "nurse@a.example");
    let p = b.post("/clinic/login/code", &[("code", "000000")]).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    let p = b.post("/clinic/login/code", &[("code", &code)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let full = b.cookies.get("prom_staff").cloned().expect("session");
    assert_ne!(full, half, "the session is renewed at login");
    let mut again = Staff::new(&app);
    again.get("/clinic/login").await;
    let p = again
        .post(
            "/clinic/login",
            &[("email", "nurse@a.example"), ("password", &pw)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    again.get("/clinic/login/code").await;
    let p = again.post("/clinic/login/code", &[("code", &code)]).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED, "a code works once");
    let actions = audit_actions(&app);
    for a in [
        "staff.login_failed",
        "staff.enrol",
        "staff.login",
        "staff.logout",
        "staff.code_failed",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn a_recovery_code_works_once_in_place_of_the_app() {
    let app = spawn().await;
    let pw = add_staff(&app, "a", "doc@a.example", "clinician");
    let mut b = Staff::new(&app);
    b.get("/clinic/login").await;
    b.post(
        "/clinic/login",
        &[("email", "doc@a.example"), ("password", &pw)],
    )
    .await;
    b.get("/clinic/login/enrol").await;
    let p = b.get("/clinic/login/enrol").await;
    let at = p.body.find("class=\"secret\"><code>").expect("secret");
    let secret = p.body[at + 21..]
        .split('<')
        .next()
        .expect("s")
        .replace(' ', "");
    let code = code_for(&app, &secret, "doc@a.example");
    let p = b.post("/clinic/login/enrol", &[("code", &code)]).await;
    let first = p.body.split("<li><code>").nth(1).expect("a code");
    let recovery = first[..first.find('<').expect("end")].to_string();
    for expected in [StatusCode::SEE_OTHER, StatusCode::UNAUTHORIZED] {
        let mut b = Staff::new(&app);
        b.get("/clinic/login").await;
        b.post(
            "/clinic/login",
            &[("email", "doc@a.example"), ("password", &pw)],
        )
        .await;
        b.get("/clinic/login/code").await;
        let typed = recovery.to_uppercase().replace('-', " ");
        let p = b.post("/clinic/login/code", &[("code", &typed)]).await;
        assert_eq!(p.status, expected);
    }
}

#[tokio::test]
async fn failed_logins_are_throttled_per_account_and_per_address() {
    let app = spawn().await;
    let pw = add_staff(&app, "a", "slow@a.example", "clinician");
    let mut b = Staff::new(&app);
    b.get("/clinic/login").await;
    for _ in 0..5 {
        let p = b
            .post(
                "/clinic/login",
                &[("email", "slow@a.example"), ("password", "guess")],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
    // The right password must wait too.
    let p = b
        .post(
            "/clinic/login",
            &[("email", "slow@a.example"), ("password", &pw)],
        )
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(p.body.contains("højst 15 minutter"));
    app.clock.advance(Duration::minutes(16));
    let p = b
        .post(
            "/clinic/login",
            &[("email", "slow@a.example"), ("password", &pw)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "after the window");
    // Twenty failures from one address, over many accounts, stop that
    // address for every account.
    for i in 0..20 {
        let e = format!("nobody{i}@a.example");
        b.post("/clinic/login", &[("email", &e), ("password", "x")])
            .await;
    }
    let p = b
        .post(
            "/clinic/login",
            &[("email", "slow@a.example"), ("password", &pw)],
        )
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn forty_parallel_wrong_passwords_are_five_checked_and_the_rest_refused() {
    let app = spawn().await;
    add_staff(&app, "a", "par@a.example", "clinician");
    let mut b = Staff::new(&app);
    b.get("/clinic/login").await;
    let (cookie, csrf) = (b.cookie_header(), b.csrf.clone());
    let http = reqwest::Client::new();
    let tries = (0..40).map(|_| {
        let (http, cookie, csrf) = (http.clone(), cookie.clone(), csrf.clone());
        let url = format!("{}/clinic/login", app.base);
        async move {
            http.post(url)
                .header(COOKIE, cookie)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", "par@a.example"),
                    ("password", "guess"),
                ])
                .send()
                .await
                .expect("request")
                .status()
        }
    });
    let statuses = futures_util::future::join_all(tries).await;
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
}

#[tokio::test]
async fn a_stranger_who_knows_an_e_mail_cannot_lock_its_owner_out_and_waits_longer_each_time() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = crate::helpers::config(dir.path());
    cfg.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    let app = crate::helpers::spawn_in(cfg, dir).await;
    let pw = add_staff(&app, "a", "owner@a.example", "clinician");
    let mut stranger = Staff::new(&app);
    stranger.forwarded_for = Some("203.0.113.9".into());
    stranger.get("/clinic/login").await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let p = stranger
            .post(
                "/clinic/login",
                &[("email", "owner@a.example"), ("password", "guess")],
            )
            .await;
        statuses.push(p.status);
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        5,
        "{statuses:?}"
    );
    // The owner, from their own address, logs in at once.
    let mut owner = Staff::new(&app);
    owner.forwarded_for = Some("198.51.100.7".into());
    owner.get("/clinic/login").await;
    let p = owner
        .post(
            "/clinic/login",
            &[("email", "owner@a.example"), ("password", &pw)],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::SEE_OTHER,
        "not locked out: {}",
        p.body
    );
    // The stranger waits 1 s after the fifth failure, then 2 s, then 4 s:
    // each wait lets one more guess through.
    for wait in [1, 2, 4] {
        app.clock.advance(Duration::seconds(wait - 1));
        let p = stranger
            .post(
                "/clinic/login",
                &[("email", "owner@a.example"), ("password", "guess")],
            )
            .await;
        assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS, "before {wait} s");
        app.clock.advance(Duration::seconds(1));
        let p = stranger
            .post(
                "/clinic/login",
                &[("email", "owner@a.example"), ("password", "guess")],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED, "after {wait} s");
    }
    // Every failure is recorded with the address the proxy saw.
    assert_eq!(
        app.count("SELECT count(*) FROM login_failures WHERE address = '203.0.113.9'"),
        8
    );
}

#[tokio::test]
async fn the_login_form_takes_only_a_token_the_server_signed_and_prints_it_escaped() {
    let app = spawn().await;
    let pw = add_staff(&app, "a", "victim@a.example", "clinician");
    // A planted cookie of 40+ characters with markup in it.
    let planted = "x\"><meta http-equiv=\"refresh\" content=\"0;url=https://evil.example\">aaaaaaaaaaaaaaaaaaaa";
    let mut b = Staff::new(&app);
    b.cookies.insert("prom_login".into(), planted.into());
    let p = b.get("/clinic/login").await;
    assert!(!p.body.contains("http-equiv"), "{}", p.body);
    assert!(!p.body.contains(planted));
    assert_ne!(
        b.cookies.get("prom_login").map(String::as_str),
        Some(planted),
        "replaced"
    );
    // An attacker's own 40 characters, as cookie and field alike: refused.
    let own = "a".repeat(48);
    let mut b = Staff::new(&app);
    b.cookies.insert("prom_login".into(), own.clone());
    let p = b
        .post_raw(
            "/clinic/login",
            &[
                ("csrf", &own),
                ("email", "victim@a.example"),
                ("password", &pw),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // The token the server gave works.
    let mut b = Staff::new(&app);
    b.get("/clinic/login").await;
    let p = b
        .post(
            "/clinic/login",
            &[("email", "victim@a.example"), ("password", &pw)],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_next_address_with_control_characters_is_dropped_not_kept_until_a_500() {
    let app = spawn().await;
    let pw = add_staff(&app, "a", "cc@a.example", "clinician");
    let (mut b, secret) = enrol(&app, "cc@a.example", &pw).await;
    b.post("/clinic/logout", &[]).await;
    let p = b
        .get("/clinic/login?next=/clinic%0d%0aSet-Cookie:x%01")
        .await;
    assert!(!p.body.contains("name=\"next\""), "{}", p.body);
    let p = b
        .post(
            "/clinic/login",
            &[
                ("email", "cc@a.example"),
                ("password", &pw),
                ("next", "/clinic/patients\r\nX: y"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    b.get("/clinic/login/code").await;
    app.clock.advance(Duration::seconds(31));
    let code = code_for(&app, &secret, "cc@a.example");
    let p = b.post("/clinic/login/code", &[("code", &code)]).await;
    assert_eq!(
        (p.status, p.location.as_deref()),
        (StatusCode::SEE_OTHER, Some("/clinic"))
    );
}

#[tokio::test]
async fn a_session_ends_after_thirty_idle_minutes_and_a_link_survives_the_login() {
    let app = spawn().await;
    patient(&app, &app.key_a, "P1").await;
    let red = phq9(&app, "P1", 1, 2).await;
    let pw = add_staff(&app, "a", "n@a.example", "clinician");
    let (mut b, secret) = enrol(&app, "n@a.example", &pw).await;
    app.clock.advance(Duration::minutes(25));
    assert_eq!(
        b.get("/clinic").await.status,
        StatusCode::OK,
        "activity renews"
    );
    app.clock.advance(Duration::minutes(25));
    assert_eq!(
        b.get("/clinic").await.status,
        StatusCode::OK,
        "25 idle minutes"
    );
    app.clock.advance(Duration::minutes(31));
    let p = b.get(&format!("/clinic/responses/{red}")).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "31 idle minutes");
    // The alert e-mail's link: after the login it lands where it pointed.
    let to = p.location.expect("login");
    assert_eq!(to, format!("/clinic/login?next=/clinic/responses/{red}"));
    let p = b.get(&to).await;
    assert!(
        p.body.contains(&format!(
            "name=\"next\" value=\"&#x2F;clinic&#x2F;responses&#x2F;{red}\""
        )),
        "{}",
        p.body
    );
    let p = b
        .post(
            "/clinic/login",
            &[
                ("email", "n@a.example"),
                ("password", &pw),
                ("next", &format!("/clinic/responses/{red}")),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    b.get("/clinic/login/code").await;
    let code = code_for(&app, &secret, "n@a.example");
    let p = b.post("/clinic/login/code", &[("code", &code)]).await;
    assert_eq!(
        p.location.as_deref(),
        Some(format!("/clinic/responses/{red}").as_str())
    );
    // Only paths of the workspace are followed.
    let p = b.get("/clinic/login?next=https://evil.example/").await;
    assert!(!p.body.contains("evil.example"));
}

#[tokio::test]
async fn the_queue_shows_red_before_yellow_oldest_first_with_counts_and_filters() {
    let app = spawn().await;
    for r in ["Q1", "Q2", "Q3"] {
        patient(&app, &app.key_a, r).await;
    }
    let yellow = phq9(&app, "Q1", 2, 0).await;
    app.clock.advance(Duration::minutes(5));
    let red_old = phq9(&app, "Q2", 0, 1).await;
    app.clock.advance(Duration::minutes(5));
    let red_new = phq9(&app, "Q3", 0, 2).await;
    let mut b = logged_in(&app, "a", "q@a.example", "clinician").await;
    let p = b.get("/clinic").await;
    assert_eq!(p.status, StatusCode::OK);
    let at = |id: &str| {
        p.body
            .find(id)
            .unwrap_or_else(|| panic!("{id} in the queue"))
    };
    assert!(
        at(&red_old) < at(&red_new) && at(&red_new) < at(&yellow),
        "red before yellow, oldest first"
    );
    assert!(
        p.body.contains("Rød: 2") && p.body.contains("Gul: 1"),
        "counts per level"
    );
    let only_yellow = b.get("/clinic?level=yellow").await;
    assert!(only_yellow.body.contains(&yellow) && !only_yellow.body.contains(&red_old));
    let resolved = b.get("/clinic?status=resolved").await;
    assert!(!resolved.body.contains(&yellow));
    let other = b.get("/clinic?questionnaire=gad7").await;
    assert!(!other.body.contains(&yellow));
    // The other clinic's staff see none of it.
    let mut bb = logged_in(&app, "b", "q@b.example", "clinician").await;
    let p = bb.get("/clinic").await;
    assert!(!p.body.contains(&yellow) && !p.body.contains("Q1"));
}

#[tokio::test]
async fn two_people_acting_on_one_item_the_second_is_told_never_overwrites() {
    let app = spawn().await;
    patient(&app, &app.key_a, "R1").await;
    let red = phq9(&app, "R1", 0, 2).await;
    let (item, rev) = item_of(&app, &red);
    let mut anna = logged_in(&app, "a", "anna@a.example", "clinician").await;
    let mut bo = logged_in(&app, "a", "bo@a.example", "clinician").await;
    anna.get("/clinic").await;
    bo.get("/clinic").await;
    let rev = rev.to_string();
    let path = format!("/clinic/items/{item}");
    let p = anna.post(&path, &[("action", "take"), ("rev", &rev)]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let p = bo.post(&path, &[("action", "take"), ("rev", &rev)]).await;
    assert_eq!(p.status, StatusCode::CONFLICT);
    assert!(
        p.body.contains("Name of anna@a.example"),
        "says who took it: {}",
        p.body
    );
    let p = bo
        .post(
            &path,
            &[
                ("action", "resolve"),
                ("rev", &rev),
                ("outcome", "no_action"),
            ],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::CONFLICT,
        "a resolve from the old page"
    );
    // The queue shows who took it.
    let q = bo.get("/clinic").await;
    assert!(q.body.contains("taget af Name of anna@a.example"));
    let p = anna
        .post(
            &path,
            &[
                ("action", "resolve"),
                ("rev", "1"),
                ("outcome", "phone"),
                ("note", "Ringede, har det bedre"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let page = anna.get(&format!("/clinic/responses/{red}")).await;
    assert!(
        page.body.contains("Kontaktet telefonisk") && page.body.contains("Ringede, har det bedre")
    );
    // Without the session's token nothing changes.
    let p = bo
        .post_raw(&path, &[("action", "take"), ("rev", "2")])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // The patient's access log names the reader by role and clinic.
    let conn = app.conn();
    let pid = prom::storage::patients::patient_id(&conn, "a", "R1").expect("patient");
    let reads = prom::storage::audit::reads_of_patient(&conn, &pid, 10).expect("reads");
    assert!(
        reads.iter().any(|r| r.action == "response.read"
            && r.role.as_deref() == Some("clinician")
            && r.clinic.as_deref() == Some("Clinic a")),
        "{reads:?}"
    );
    let actions = audit_actions(&app);
    assert!(actions.contains(&"review.take".into()) && actions.contains(&"review.resolve".into()));
    assert!(actions.contains(&"response.read".into()) && actions.contains(&"queue.read".into()));
}

#[tokio::test]
async fn a_snoozed_rule_opens_no_item_at_its_level_but_a_worse_level_still_does() {
    let app = spawn().await;
    patient(&app, &app.key_a, "S1").await;
    let yellow = phq9(&app, "S1", 2, 0).await;
    let (item, rev) = item_of(&app, &yellow);
    let mut b = logged_in(&app, "a", "s@a.example", "clinician").await;
    let page = b.get(&format!("/clinic/responses/{yellow}")).await;
    let rule = {
        let at = page
            .body
            .find("<select id=\"rule\" name=\"rule\"")
            .expect("rules");
        let v = &page.body[at..];
        let v = &v[v.find("value=\"").expect("option") + 7..];
        v[..v.find('"').expect("end")].to_string()
    };
    let p = b
        .post(
            &format!("/clinic/items/{item}"),
            &[
                ("action", "snooze"),
                ("rev", &rev.to_string()),
                ("rule", &rule),
                ("days", "30"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    app.clock.advance(Duration::days(1));
    let again = phq9(&app, "S1", 2, 0).await;
    let conn = app.conn();
    let items: i64 = conn
        .query_row(
            "SELECT count(*) FROM review_items WHERE response_id = ?1",
            [&again],
            |r| r.get(0),
        )
        .expect("count");
    assert_eq!(items, 0, "snoozed at yellow");
    let worse = phq9(&app, "S1", 2, 2).await;
    let (_, _) = item_of(&app, &worse);
    app.clock.advance(Duration::days(30));
    let after = phq9(&app, "S1", 2, 0).await;
    item_of(&app, &after);
}

#[tokio::test]
async fn paper_entry_records_who_entered_it_once_and_a_correction_keeps_the_original() {
    let app = spawn().await;
    let pid = patient(&app, &app.key_a, "PAPER1").await;
    let mut b = logged_in(&app, "a", "p@a.example", "clinician").await;
    let form = b.get(&format!("/clinic/patients/{pid}/paper/phq9")).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let entry = value_of(&form.body, "entry").expect("an entry token");
    let mut fields: Vec<(String, String)> = (1..=9)
        .map(|i| (format!("q{i}"), "1".to_string()))
        .collect();
    fields.push(("entry".into(), entry));
    fields.push(("answered_on".into(), "2026-03-02".into()));
    let refs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let path = format!("/clinic/patients/{pid}/paper/phq9");
    let p = b.post(&path, &refs).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let first = p.location.expect("to the response");
    let p = b.post(&path, &refs).await;
    assert_eq!(
        p.location.as_deref(),
        Some(first.as_str()),
        "a double submit is one response"
    );
    let rid = first
        .rsplit('/')
        .next()
        .and_then(|s| s.split('?').next())
        .expect("id")
        .to_string();
    let conn = app.conn();
    let (mode, actor): (String, String) = conn
        .query_row(
            "SELECT mode, actor FROM responses WHERE id = ?1",
            [&rid],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!(mode, "paper");
    assert!(actor.starts_with("staff:"));
    // A refusal keeps the answers and says why.
    let mut bad = refs.clone();
    bad.retain(|(k, _)| *k != "q3" && *k != "entry");
    bad.push(("q3", "7"));
    let p = b.post(&path, &bad).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.body.contains("error-summary"));
    // A correction: a reason is required; the original stays, marked.
    let cpath = format!("/clinic/responses/{rid}/correct");
    let form = b.get(&cpath).await;
    assert_eq!(form.status, StatusCode::OK);
    let mut fix: Vec<(&str, &str)> = refs
        .iter()
        .filter(|(k, _)| *k != "entry")
        .copied()
        .collect();
    fix.retain(|(k, _)| *k != "q1");
    fix.push(("q1", "3"));
    let p = b.post(&cpath, &fix).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY, "no reason");
    fix.push(("reason", "Tastefejl fra papir"));
    let p = b.post(&cpath, &fix).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let newer = p.location.expect("the new version");
    assert!(newer.ends_with("?done=corrected"), "confirmed: {newer}");
    let newer = newer.trim_end_matches("?done=corrected").to_string();
    let original = b.get(&format!("/clinic/responses/{rid}")).await;
    assert!(original.body.contains("Rettet") && original.body.contains(&newer));
    let new_page = b.get(&newer).await;
    assert!(new_page.body.contains("Tastefejl fra papir"));
    let timeline = b.get(&format!("/clinic/patients/{pid}")).await;
    assert!(timeline.body.contains("Rettet") && timeline.body.contains("svg"));
    let actions = audit_actions(&app);
    assert!(
        actions.contains(&"response.submit".into()) && actions.contains(&"response.correct".into())
    );
    assert!(actions.contains(&"patient.read".into()));
}

#[tokio::test]
async fn admins_manage_staff_and_keys_and_a_revoked_key_stops_at_once() {
    let app = spawn().await;
    let mut nurse = logged_in(&app, "a", "c@a.example", "clinician").await;
    assert_eq!(
        nurse.get("/clinic/admin/staff").await.status,
        StatusCode::FORBIDDEN
    );
    let mut admin = logged_in(&app, "a", "boss@a.example", "admin").await;
    let p = admin.get("/clinic/admin/staff").await;
    assert_eq!(p.status, StatusCode::OK);
    let p = admin
        .post(
            "/clinic/admin/staff",
            &[
                ("name", "Ny"),
                ("email", "ny@a.example"),
                ("role", "clinician"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("ny@a.example"));
    // Deactivation ends the account's sessions at once.
    let conn = app.conn();
    let nurse_id: String = conn
        .query_row(
            "SELECT id FROM staff_users WHERE email = 'c@a.example'",
            (),
            |r| r.get(0),
        )
        .expect("id");
    let p = admin
        .post(&format!("/clinic/admin/staff/{nurse_id}/deactivate"), &[])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    assert_eq!(nurse.get("/clinic").await.status, StatusCode::SEE_OTHER);
    // A key: issued, shown once, revoked, refused by the API at once.
    let p = admin.post("/clinic/admin/keys", &[]).await;
    let at = p.body.find("<code>prom_key_").expect("the new key");
    let key = p.body[at + 6..].split('<').next().expect("key").to_string();
    let (s, _) = app.get(&key, "/api/v1/questionnaires").await;
    assert_eq!(s, StatusCode::OK);
    let name = prom::storage::keys::prefix_of(&key);
    let p = admin
        .post(&format!("/clinic/admin/keys/{name}/revoke"), &[])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let (s, _) = app.get(&key, "/api/v1/questionnaires").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked at once");
    // The audit log shows each action in words, filterable by its code.
    let log = admin.get("/clinic/admin/audit").await;
    for a in [
        "Medarbejder oprettet",
        "Medarbejder deaktiveret",
        "API-nøgle oprettet",
        "API-nøgle tilbagekaldt",
        "Logget ind",
    ] {
        assert!(log.body.contains(a), "{a} in the audit page");
    }
    let only = admin.get("/clinic/admin/audit?action=apikey.").await;
    assert!(
        only.body.contains("API-nøgle tilbagekaldt") && !only.body.contains("Medarbejder oprettet")
    );
    // Another clinic's admin cannot touch this clinic's staff.
    let mut other = logged_in(&app, "b", "boss@b.example", "admin").await;
    let p = other
        .post(&format!("/clinic/admin/staff/{nurse_id}/reset"), &[])
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_workspace_page_carries_the_security_headers() {
    let app = spawn().await;
    let mut b = logged_in(&app, "a", "h@a.example", "admin").await;
    for path in [
        "/clinic",
        "/clinic/patients",
        "/clinic/questionnaires",
        "/clinic/admin/staff",
        "/clinic/admin/keys",
        "/clinic/admin/audit",
        "/clinic/login",
    ] {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", app.base))
            .header(COOKIE, b.cookie_header())
            .send()
            .await
            .expect("page");
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(
            h.get("referrer-policy").and_then(|v| v.to_str().ok()),
            Some("no-referrer"),
            "{path}"
        );
        assert_eq!(
            h.get("x-content-type-options")
                .and_then(|v| v.to_str().ok()),
            Some("nosniff"),
            "{path}"
        );
    }
    assert_eq!(b.get("/clinic").await.status, StatusCode::OK);
}

/// Who tries a route in the authorisation matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Nobody,
    Patient,
    ClinicianB,
    ClinicianA,
    AdminA,
}

#[tokio::test]
async fn the_authorisation_matrix_over_every_route_of_the_workspace() {
    use prom::web::clinic::{Access, route_table};
    let app = spawn().await;
    // Clinic A's data: a patient with a flagged response, a plan, a
    // throwaway staff member and key.
    // A reference no random token (CSRF, ids) can contain by chance.
    let pid = patient(&app, &app.key_a, "matrix_patient_of_a").await;
    let response = phq9(&app, "matrix_patient_of_a", 0, 2).await;
    let (item, _) = item_of(&app, &response);
    let conn = app.conn();
    let plan = prom::storage::invitations::insert_plan(
        &conn,
        &pid,
        "phq9",
        30,
        NOW.parse::<chrono::DateTime<chrono::Utc>>()
            .expect("t")
            .date_naive(),
        NOW.parse().expect("t"),
    )
    .expect("plan");
    add_staff(&app, "a", "spare@a.example", "clinician");
    let spare: String = conn
        .query_row(
            "SELECT id FROM staff_users WHERE email = 'spare@a.example'",
            (),
            |r| r.get(0),
        )
        .expect("id");
    let spare_key = prom::security::new_token("prom_key_");
    prom::storage::keys::insert_api_key(
        &conn,
        "a",
        &prom::security::token_hash(&spare_key),
        Some(&prom::storage::keys::prefix_of(&spare_key)),
        NOW.parse().expect("t"),
    )
    .expect("key");
    // An invitation, for its letter.
    let letter = prom::storage::invitations::insert_invitation(
        &conn,
        &pid,
        "phq9",
        &prom::security::token_hash(&prom::security::new_token("prom_inv_")),
        NOW.parse::<chrono::DateTime<chrono::Utc>>().expect("t") + Duration::days(3),
        NOW.parse().expect("t"),
    )
    .expect("invitation");
    // A message the mail server refused for good.
    prom::storage::outbox::enqueue(
        &conn,
        &prom::storage::outbox::NewMessage {
            kind: "red_flag",
            recipient: "alerts@a.example",
            subject: "s",
            body: "b",
            clinic_id: Some("a"),
            once_key: Some("matrix-dead"),
            ..Default::default()
        },
        NOW,
    )
    .expect("message");
    let message: String = conn
        .query_row(
            "SELECT id FROM outbox WHERE once_key = 'matrix-dead'",
            (),
            |r| r.get(0),
        )
        .expect("id");
    prom::storage::outbox::mark_failed(
        &conn,
        &message,
        8,
        "refused",
        NOW.parse().expect("t"),
        Duration::days(365),
        true,
    )
    .expect("dead");
    let values: BTreeMap<&str, String> = [
        ("{patient}", pid.clone()),
        ("{item}", item.clone()),
        ("{response}", response.clone()),
        ("{plan}", plan),
        ("{staff}", spare),
        ("{key}", prom::storage::keys::prefix_of(&spare_key)),
        ("{questionnaire}", "phq9".to_string()),
        ("{message}", message),
        ("{invitation}", letter),
    ]
    .into_iter()
    .collect();
    // A patient's session: an invitation link opened.
    let token = prom::security::new_token("prom_inv_");
    prom::storage::invitations::insert_invitation(
        &conn,
        &pid,
        "phq9",
        &prom::security::token_hash(&token),
        NOW.parse::<chrono::DateTime<chrono::Utc>>().expect("t") + Duration::days(3),
        NOW.parse().expect("t"),
    )
    .expect("invitation");
    drop(conn);
    let mut patient_b = Staff::new(&app);
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("c")
        .get(format!("{}/a/{token}", app.base))
        .send()
        .await
        .expect("link");
    let pc = r
        .headers()
        .get(SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .expect("cookie");
    let (k, v) = pc
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .expect("kv");
    patient_b.cookies.insert(k.into(), v.into());
    let mut nobody = Staff::new(&app);
    let mut clin_b = logged_in(&app, "b", "mb@b.example", "clinician").await;
    let mut clin_a = logged_in(&app, "a", "ma@a.example", "clinician").await;
    let mut admin_a = logged_in(&app, "a", "aa@a.example", "admin").await;
    let mut routes = route_table();
    // Logging out ends the session the rest of the matrix uses: last.
    routes.sort_by_key(|r| r.path == "/clinic/logout");
    let mut checked = 0;
    for who in [
        Who::Nobody,
        Who::Patient,
        Who::ClinicianB,
        Who::ClinicianA,
        Who::AdminA,
    ] {
        for route in &routes {
            let mut path = route.path.to_string();
            for (k, v) in &values {
                path = path.replace(k, v);
            }
            assert!(
                !path.contains('{'),
                "a new kind of path parameter in {}: give the matrix a value for it",
                route.path
            );
            let touches_a = [
                "{patient}",
                "{item}",
                "{response}",
                "{plan}",
                "{staff}",
                "{key}",
                "{message}",
                "{invitation}",
            ]
            .iter()
            .any(|x| route.path.contains(x));
            let logout = route.path == "/clinic/logout";
            let b = match who {
                Who::Nobody => &mut nobody,
                Who::Patient => &mut patient_b,
                Who::ClinicianB => &mut clin_b,
                Who::ClinicianA => &mut clin_a,
                Who::AdminA => &mut admin_a,
            };
            let p = if route.method == "GET" {
                b.get(&path).await
            } else {
                b.post(&path, &[]).await
            };
            let s = p.status;
            let to_login = s == StatusCode::SEE_OTHER
                && p.location
                    .as_deref()
                    .is_some_and(|l| l.starts_with("/clinic/login"));
            let allowed = s == StatusCode::OK
                || s == StatusCode::UNPROCESSABLE_ENTITY
                || (s == StatusCode::SEE_OTHER && !to_login)
                || s == StatusCode::CONFLICT;
            let ok = match (route.access, who) {
                _ if logout => to_login,
                // Single sign-on is not configured here: its routes say so.
                (Access::Public, _) if route.path.starts_with("/clinic/sso") => {
                    s == StatusCode::NOT_FOUND
                }
                (Access::Public, _) => {
                    s.is_success() || s == StatusCode::FORBIDDEN || s == StatusCode::UNAUTHORIZED
                }
                (Access::HalfLogin, Who::Nobody | Who::Patient) => to_login,
                (Access::HalfLogin, _) => s == StatusCode::SEE_OTHER,
                (_, Who::Nobody | Who::Patient) => to_login,
                (Access::Admin, Who::ClinicianA | Who::ClinicianB) => s == StatusCode::FORBIDDEN,
                (_, Who::ClinicianB) if touches_a => s == StatusCode::NOT_FOUND,
                (_, Who::ClinicianB) => allowed && !p.body.contains("matrix_patient_of_a"),
                (_, Who::ClinicianA | Who::AdminA) => allowed,
            };
            assert!(
                ok,
                "{who:?} {} {} gave {s} ({:?})",
                route.method, route.path, p.location
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 5 * routes.len());
}

#[tokio::test]
async fn staff_add_a_plan_with_its_timing_stop_it_and_admins_retry_a_dead_message() {
    let app = spawn().await;
    let pid = patient(&app, &app.key_a, "PL1").await;
    let mut b = logged_in(&app, "a", "plan@a.example", "admin").await;
    b.get(&format!("/clinic/patients/{pid}")).await;
    let p = b
        .post(
            &format!("/clinic/patients/{pid}/plans"),
            &[
                ("questionnaire", "phq9"),
                ("every", "28"),
                ("deadline", "10"),
                ("reminder", "2"),
                ("early", "7"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    let conn = app.conn();
    let (plan, timing): (String, (u32, u32, u32, u32)) = conn
        .query_row(
            "SELECT id, every_days, deadline_days, reminder_days, early_days FROM plans WHERE patient_id = ?1",
            [&pid],
            |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))),
        )
        .expect("plan");
    assert_eq!(timing, (28, 10, 2, 7));
    let p = b
        .post(
            &format!("/clinic/patients/{pid}/plans"),
            &[("questionnaire", "phq9"), ("every", "0")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    b.get(&format!("/clinic/patients/{pid}")).await;
    let p = b
        .post(&format!("/clinic/patients/{pid}/plans/{plan}/stop"), &[])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let stopped: Option<String> = conn
        .query_row("SELECT stopped_at FROM plans WHERE id = ?1", [&plan], |r| {
            r.get(0)
        })
        .expect("plan");
    assert!(stopped.is_some());
    // A message the mail server refused for good: listed, and retried.
    prom::storage::outbox::enqueue(
        &conn,
        &prom::storage::outbox::NewMessage {
            kind: "red_flag",
            recipient: "alerts@a.example",
            subject: "prom: et rødt svar venter",
            body: "b",
            clinic_id: Some("a"),
            once_key: Some("dead-one"),
            ..Default::default()
        },
        NOW,
    )
    .expect("message");
    let id: String = conn
        .query_row(
            "SELECT id FROM outbox WHERE once_key = 'dead-one'",
            (),
            |r| r.get(0),
        )
        .expect("id");
    prom::storage::outbox::mark_failed(
        &conn,
        &id,
        8,
        "550 refused",
        NOW.parse().expect("t"),
        Duration::days(1),
        true,
    )
    .expect("dead");
    let page = b.get("/clinic/admin/mail").await;
    assert!(
        page.body.contains("550 refused") && page.body.contains("alerts@a.example"),
        "{}",
        page.body
    );
    let p = b.post(&format!("/clinic/admin/mail/{id}/retry"), &[]).await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let (dead, attempts): (Option<String>, i64) = conn
        .query_row(
            "SELECT dead_at, attempts FROM outbox WHERE id = ?1",
            [&id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    assert_eq!((dead, attempts), (None, 0), "a new start");
    assert!(
        !b.get("/clinic/admin/mail")
            .await
            .body
            .contains("550 refused")
    );
}

#[tokio::test]
async fn resolving_names_a_coded_outcome_from_the_clinics_list_in_danish_and_english() {
    let app = spawn().await;
    patient(&app, &app.key_a, "O1").await;
    let first = phq9(&app, "O1", 0, 2).await;
    let second = phq9(&app, "O1", 0, 3).await;
    let mut b = logged_in(&app, "a", "o@a.example", "clinician").await;
    // The default list, in Danish and in English.
    let page = b.get(&format!("/clinic/responses/{first}")).await;
    for (code, text) in [
        ("phone", "Kontaktet telefonisk"),
        ("visit_earlier", "Besøg rykket frem"),
        ("advice", "Rådgivning givet"),
        ("referred", "Henvist videre"),
        ("no_action", "Ingen handling nødvendig"),
        ("false_alarm", "Falsk alarm"),
    ] {
        assert!(
            page.body
                .contains(&format!("value=\"{code}\" required> {text}")),
            "{code}: {}",
            page.body
        );
    }
    let en = b.get(&format!("/clinic/responses/{first}?lang=en")).await;
    assert!(en.body.contains("Visit brought forward") && en.body.contains("False alarm"));
    b.get(&format!("/clinic/responses/{first}?lang=da")).await;
    let (item, rev) = item_of(&app, &first);
    let path = format!("/clinic/items/{item}");
    // An outcome of an earlier version is no longer chosen.
    let p = b
        .post(
            &path,
            &[
                ("action", "resolve"),
                ("rev", &rev.to_string()),
                ("outcome", "called"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let p = b
        .post(
            &path,
            &[
                ("action", "resolve"),
                ("rev", &rev.to_string()),
                ("outcome", "false_alarm"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        app.count("SELECT count(*) FROM review_items WHERE outcome = 'false_alarm'"),
        1
    );
    // The clinic's own list replaces it, in both languages.
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_prom"))
            .args(["clinic", "outcomes", "a"])
            .args(args)
            .args(app.db_args())
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, out) = run(&[
        "--outcome",
        "phone:Ringet op:Phoned",
        "--outcome",
        "seen:Set i ambulatoriet:Seen in clinic",
    ]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("seen\tSet i ambulatoriet\tSeen in clinic"),
        "{out}"
    );
    assert_eq!(run(&["--outcome", "bad"]).0, Some(2), "CODE:DANISH:ENGLISH");
    let page = b.get(&format!("/clinic/responses/{second}")).await;
    assert!(page.body.contains("Set i ambulatoriet") && !page.body.contains("Rådgivning givet"));
    let en = b.get(&format!("/clinic/responses/{second}?lang=en")).await;
    assert!(en.body.contains("Seen in clinic"));
    b.get(&format!("/clinic/responses/{second}?lang=da")).await;
    let (item, rev) = item_of(&app, &second);
    let path = format!("/clinic/items/{item}");
    let p = b
        .post(
            &path,
            &[
                ("action", "resolve"),
                ("rev", &rev.to_string()),
                ("outcome", "no_action"),
            ],
        )
        .await;
    assert_eq!(
        p.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not in the clinic's list"
    );
    let p = b
        .post(
            &path,
            &[
                ("action", "resolve"),
                ("rev", &rev.to_string()),
                ("outcome", "seen"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    let q = b.get("/clinic?status=resolved").await;
    assert!(q.body.contains("Set i ambulatoriet"), "{}", q.body);
    // The earlier resolution keeps its text.
    assert!(q.body.contains("Falsk alarm"));
    assert_eq!(run(&["--default"]).0, Some(0));
    let third = phq9(&app, "O1", 0, 1).await;
    let page = b.get(&format!("/clinic/responses/{third}")).await;
    assert!(
        page.body.contains("Rådgivning givet"),
        "back to the default list"
    );
}

#[tokio::test]
async fn each_fired_rule_shows_its_condition_with_the_patients_values_on_the_item_and_the_timeline()
{
    let app = spawn().await;
    patient(&app, &app.key_a, "W1").await;
    phq9(&app, "W1", 0, 0).await;
    // Total 8 + 2 = 10 after 0: item 9 red, the total's band and its rise.
    let red = phq9(&app, "W1", 1, 2).await;
    let mut b = logged_in(&app, "a", "w@a.example", "clinician").await;
    let page = b.get(&format!("/clinic/responses/{red}")).await;
    for why in [
        "q9 2 ≥ 1",
        "total 10 ≥ 10",
        "total 10 − previous(total) 0 = 10 ≥ 5",
    ] {
        assert!(
            page.body.contains(why),
            "«{why}» on the item: {}",
            page.body
        );
    }
    let pid = prom::storage::patients::patient_id(&app.conn(), "a", "W1").expect("patient");
    let timeline = b.get(&format!("/clinic/patients/{pid}")).await;
    assert!(timeline.body.contains("(q9 2 ≥ 1)"), "{}", timeline.body);
    // The patient's own page shows the rule's text, not the condition.
    let token = {
        let conn = app.conn();
        prom::usecase::invitation::new_personal_link(
            &conn,
            "cli",
            &pid,
            "a",
            14,
            NOW.parse().expect("time"),
        )
        .expect("link")
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let opened = http
        .get(format!("{}/me/{token}", app.base))
        .send()
        .await
        .expect("request");
    let cookie = opened
        .headers()
        .get(SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .expect("a session")
        .to_string();
    let mine = http
        .get(format!("{}/me", app.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("page");
    assert!(mine.contains("Mine data") && !mine.contains("q9 2 ≥ 1"));
}

/// The cards and counts the triggers keep agree with the items they are
/// made of (a wrong trigger shows a wrong queue).
fn cards_agree(app: &TestApp) {
    let cards =
        "SELECT clinic_id, patient_id, min(level), min(created_at), count(*) FROM review_items
        WHERE status IN ('open', 'acknowledged') GROUP BY clinic_id, patient_id";
    let kept = "SELECT clinic_id, patient_id, level, oldest, items FROM queue_cards";
    let counts = "SELECT clinic_id, level, status, count(*) FROM review_items
        WHERE status IN ('open', 'acknowledged') GROUP BY clinic_id, level, status";
    let counted = "SELECT clinic_id, level, status, items FROM queue_counts WHERE items > 0";
    for (a, b) in [(cards, kept), (counts, counted)] {
        let sql = format!(
            "SELECT (SELECT count(*) FROM ({a} EXCEPT {b}) x) + (SELECT count(*) FROM ({b} EXCEPT {a}) y)"
        );
        assert_eq!(app.count(&sql), 0, "{b} disagrees with the items");
    }
    assert_eq!(
        app.count("SELECT count(*) FROM queue_counts WHERE items < 0"),
        0
    );
}

#[tokio::test]
async fn the_queue_has_one_card_per_patient_and_resolving_from_it_resolves_them_all() {
    let app = spawn().await;
    patient(&app, &app.key_a, "G1").await;
    patient(&app, &app.key_a, "G2").await;
    // G1 answers four times (yellow, red, yellow, red); G2 once (yellow),
    // before G1's first.
    let g2 = phq9(&app, "G2", 2, 0).await;
    app.clock.advance(Duration::minutes(1));
    let mut g1 = Vec::new();
    for (each, item9) in [(2, 0), (0, 1), (2, 0), (0, 2)] {
        g1.push(phq9(&app, "G1", each, item9).await);
        app.clock.advance(Duration::minutes(1));
    }
    cards_agree(&app);
    let mut b = logged_in(&app, "a", "g@a.example", "clinician").await;
    let q = b.get("/clinic").await;
    let cards = q.body.matches("<li class=\"card level-").count() - q.body.matches("<h3>").count();
    assert_eq!(cards, 2, "one card per patient: {}", q.body);
    // Red before yellow: G1's card (red, four items) before G2's.
    let g1_at = q
        .body
        .find(">G1</a> · 4 åbne punkter")
        .expect("G1's card with its count");
    let g2_at = q.body.find(">G2</a> · 1 åbent punkt").expect("G2's card");
    assert!(g1_at < g2_at);
    // The card's flags are the newest answers'; opening it shows all four.
    for r in &g1 {
        assert!(q.body.contains(&format!("/clinic/responses/{r}")));
    }
    // Sorted by waiting, G2 (older) comes first.
    let w = b.get("/clinic?sort=waiting").await;
    assert!(w.body.find(">G2</a>").expect("G2") < w.body.find(">G1</a>").expect("G1"));
    // Resolving from the card: one outcome for all four, each its own event.
    let pid = prom::storage::patients::patient_id(&app.conn(), "a", "G1").expect("patient");
    let p = b
        .post(
            &format!("/clinic/patients/{pid}/resolve"),
            &[("outcome", "phone"), ("note", "Talt med patienten")],
        )
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER, "{}", p.body);
    assert_eq!(
        app.count(
            "SELECT count(*) FROM review_items WHERE status = 'resolved' AND outcome = 'phone'"
        ),
        4
    );
    assert_eq!(
        app.count("SELECT count(*) FROM review_events WHERE note LIKE 'phone: Talt med patienten'"),
        4,
        "each item keeps its own history"
    );
    cards_agree(&app);
    let q = b.get("/clinic").await;
    assert!(!q.body.contains(">G1</a>") && q.body.contains(">G2</a>"));
    // A filter groups the items it shows: G2's yellow card under yellow,
    // none under red.
    let y = b.get("/clinic?level=yellow").await;
    assert!(y.body.contains(">G2</a> · 1 åbent punkt"), "{}", y.body);
    let r = b.get("/clinic?level=red").await;
    assert!(!r.body.contains(">G2</a>"));
    assert!(!q.body.contains(&g1[0]) && q.body.contains(&g2));
    // Without an outcome nothing is resolved; another clinic's patient is
    // not found.
    let g2id = prom::storage::patients::patient_id(&app.conn(), "a", "G2").expect("patient");
    let p = b
        .post(&format!("/clinic/patients/{g2id}/resolve"), &[])
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut other = logged_in(&app, "b", "g@b.example", "clinician").await;
    other.get("/clinic").await;
    let p = other
        .post(
            &format!("/clinic/patients/{g2id}/resolve"),
            &[("outcome", "phone")],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.count("SELECT count(*) FROM review_items WHERE status = 'resolved'"),
        4
    );
    // Taking an item and correcting an answer move the cards too.
    let item = app.count("SELECT count(*) FROM review_items WHERE status = 'open'");
    assert_eq!(item, 1);
    let id: String = app
        .conn()
        .query_row(
            "SELECT id FROM review_items WHERE status = 'open'",
            (),
            |r| r.get(0),
        )
        .expect("G2's item");
    let t = b
        .post(
            &format!("/clinic/items/{id}"),
            &[("action", "take"), ("rev", "0")],
        )
        .await;
    assert_eq!(t.status, StatusCode::SEE_OTHER, "{}", t.body);
    cards_agree(&app);
    let (s, body) = app
        .post(
            &app.key_a,
            &format!("/api/v1/responses/{g2}/corrections"),
            &serde_json::json!({"answers": crate::helpers::phq9([0; 9]), "reason": "typed wrong"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    cards_agree(&app);
}
