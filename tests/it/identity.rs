//! Hospital identity: staff single sign-on through a real OpenID Provider
//! (the npm package `oidc-provider`, started from `tests/oidc/` on a free
//! port; `.ci/run` installs it), driven by an HTTP client that follows
//! the redirects and fills in the provider's login form. The negative
//! cases alter the provider's ID tokens (its `/test/forge` route) or the
//! browser's side of the flow.
//!
//! Without `tests/oidc/node_modules` (run `npm ci --prefix tests/oidc`)
//! these tests print one line and pass, except under `CI=true`, where they
//! fail.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

use crate::helpers::{TestApp, config, spawn_in};

/// The OpenID Provider of `tests/oidc/provider.mjs`, stopped when dropped.
pub struct Op {
    child: Child,
    pub port: u16,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Op {
    /// Starts the provider; `None` (with a printed line) where it is not
    /// installed, except under `CI=true`.
    pub fn start() -> Option<Op> {
        let dir = crate::helpers::root().join("tests/oidc");
        if !dir.join("node_modules/oidc-provider").exists() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "the OpenID Provider is not installed: npm ci --prefix tests/oidc"
            );
            println!("skipped: the OpenID Provider is not installed (npm ci --prefix tests/oidc)");
            return None;
        }
        let mut child = Command::new("node")
            .arg(dir.join("provider.mjs"))
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts");
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("the provider's first line");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the provider did not start: {line}"));
        Some(Op { child, port })
    }

    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A test route of the provider (`/test/...`).
    pub async fn test(&self, path_and_query: &str) {
        let r = reqwest::Client::new()
            .post(format!("{}{path_and_query}", self.issuer()))
            .send()
            .await
            .expect("the provider's test route");
        assert!(r.status().is_success(), "{path_and_query}");
    }
}

/// prom with staff single sign-on through `op`, its clock at the real
/// time (the provider's tokens carry the real time).
async fn app_with(op: &Op, acr: &[&str]) -> TestApp {
    app_with_amr(op, acr, &[], 12).await
}

/// The groups mapped to roles in the tests, unless a test says otherwise.
const ROLES: &[&str] = &[
    "onko-sygepleje=a:clinician",
    "onko-laeger=a:clinician",
    "onko-admin=a:admin",
];

async fn app_with_amr(op: &Op, acr: &[&str], amr: &[&str], hours: i64) -> TestApp {
    app_with_roles(op, acr, amr, hours, ROLES).await
}

/// The same, with required `amr` values, a maximum session lifetime and
/// the groups' mapping.
async fn app_with_roles(
    op: &Op,
    acr: &[&str],
    amr: &[&str],
    hours: i64,
    roles: &[&str],
) -> TestApp {
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    cfg.patient_sso = Some(prom::usecase::person::PatientSso {
        provider: prom::oidc::ProviderConfig {
            issuer: op.issuer(),
            client_id: "prom-patient".into(),
            client_secret: "patient-secret-for-tests-only".into(),
            scopes: vec!["profile".into(), "cpr".into()],
            acr: vec!["https://data.gov.dk/concept/core/nsis/loa/Substantial".into()],
            amr: Vec::new(),
        },
        identifier: "dk_cpr".into(),
    });
    cfg.staff_sso = Some(prom::usecase::sso::StaffSso {
        provider: prom::oidc::ProviderConfig {
            issuer: op.issuer(),
            client_id: "prom-staff".into(),
            client_secret: "staff-secret-for-tests-only".into(),
            scopes: vec!["email".into(), "profile".into(), "groups".into()],
            acr: acr.iter().map(|a| a.to_string()).collect(),
            amr: amr.iter().map(|a| a.to_string()).collect(),
        },
        claim: "groups".into(),
        roles: roles
            .iter()
            .map(|m| m.parse().expect("a mapping"))
            .collect(),
        max_session: chrono::Duration::hours(hours),
    });
    let app = spawn_in(cfg, dir).await;
    let real = prom::clock::Clock::now(&prom::clock::SystemClock);
    app.clock
        .advance(real - prom::clock::Clock::now(app.clock.as_ref()));
    op.test(&format!(
        "/test/client?redirect={}/clinic/sso/callback&post_logout={}/clinic/login",
        app.base, app.base
    ))
    .await;
    op.test(&format!(
        "/test/client?redirect={}/me/login/callback&post_logout={}/",
        app.base, app.base
    ))
    .await;
    app
}

/// A browser without JavaScript for both prom and the provider: cookies by
/// name (both run on 127.0.0.1), redirects followed by hand.
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

struct Answer {
    status: StatusCode,
    body: String,
    location: Option<String>,
    url: String,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
        }
    }

    async fn send(&mut self, r: reqwest::RequestBuilder, url: &str) -> Answer {
        let jar = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let r = r.header(COOKIE, jar).send().await.expect("request");
        for c in r.headers().get_all(SET_COOKIE) {
            let c = c.to_str().expect("cookie");
            if let Some((k, v)) = c.split(';').next().and_then(|kv| kv.split_once('=')) {
                if v.is_empty() || c.contains("Max-Age=0") || c.contains("expires=Thu, 01 Jan 1970")
                {
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
            .map(|l| absolute(url, l));
        Answer {
            status,
            body: r.text().await.unwrap_or_default(),
            location,
            url: url.to_string(),
        }
    }

    async fn get(&mut self, url: &str) -> Answer {
        let r = self.http.get(url);
        self.send(r, url).await
    }

    async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Answer {
        let r = self.http.post(url).form(form);
        self.send(r, url).await
    }

    /// Follows redirects from `url` until an answer that is not one, or
    /// until the next would go to prom's callback (returned unvisited as
    /// the answer's `location`).
    async fn follow(&mut self, url: &str, stop_at_callback: bool) -> Answer {
        let mut a = self.get(url).await;
        for _ in 0..10 {
            match &a.location {
                Some(next) if a.status.is_redirection() => {
                    if stop_at_callback
                        && (next.contains("/clinic/sso/callback")
                            || next.contains("/me/login/callback"))
                    {
                        return a;
                    }
                    let next = next.clone();
                    a = self.get(&next).await;
                }
                _ => return a,
            }
        }
        a
    }

    /// Through prom's "log in with the hospital" and the provider's form
    /// as `user`, up to the redirect back to prom's callback (returned).
    async fn through_provider(&mut self, app: &TestApp, user: &str) -> String {
        self.through_provider_from(&format!("{}/clinic/sso", app.base), user)
            .await
    }

    /// The same from `start` (a patient's `/me/login`).
    async fn through_provider_from(&mut self, start: &str, user: &str) -> String {
        let form = self.follow(start, true).await;
        assert_eq!(
            form.status,
            StatusCode::OK,
            "the provider's form: {}",
            form.body
        );
        let action = absolute(&form.url, &attr(&form.body, "action"));
        let a = self
            .post(
                &action,
                &[("prompt", "login"), ("login", user), ("password", "any")],
            )
            .await;
        let back = self
            .follow(a.location.as_deref().expect("on to the provider"), true)
            .await;
        back.location.expect("back to prom")
    }

    /// The whole login as `user`: prom's answer at the callback.
    async fn login(&mut self, app: &TestApp, user: &str) -> Answer {
        let callback = self.through_provider(app, user).await;
        self.get(&callback).await
    }
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http") {
        return location.to_string();
    }
    let origin: String = base.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    format!("{origin}{location}")
}

/// The first value of attribute `name` in `html`.
fn attr(html: &str, name: &str) -> String {
    let at = html.find(&format!("{name}=\"")).expect("the attribute") + name.len() + 2;
    html[at..].split('"').next().expect("value").to_string()
}

/// Whether prom's answer at the callback is the page of a login done.
fn signed_in(a: &Answer) -> bool {
    a.status == StatusCode::OK && a.body.contains(r#"http-equiv="refresh""#)
}

macro_rules! provider {
    () => {
        match Op::start() {
            Some(op) => op,
            None => return,
        }
    };
}

#[tokio::test]
async fn a_nurse_logs_in_through_the_provider_and_gets_an_account_with_the_mapped_role() {
    let op = provider!();
    let app = app_with(&op, &["mfa"]).await;
    let mut b = Browser::new();
    let login = b.get(&format!("{}/clinic/login", app.base)).await;
    assert!(
        login
            .body
            .contains("href=\"&#x2F;clinic&#x2F;sso?lang=da\""),
        "the way in: {}",
        login.body
    );
    let back = b.login(&app, "nurse").await;
    // A page that goes on by itself (the Strict session cookie is not sent
    // on a redirect chain that began at the provider).
    assert!(
        back.status == StatusCode::OK
            && back
                .body
                .contains(r#"<meta http-equiv="refresh" content="0;url=&#x2F;clinic">"#),
        "{}",
        back.body
    );
    let queue = b.get(&format!("{}/clinic", app.base)).await;
    assert_eq!(queue.status, StatusCode::OK);
    assert!(
        queue.body.contains("Nina Nurse"),
        "{}",
        &queue.body[..2000.min(queue.body.len())]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM staff_users WHERE email = 'nina@hospital.example' AND role = 'clinician' AND clinic_id = 'a'"),
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM audit_log WHERE action IN ('staff.sso_create', 'staff.sso_login')"
        ),
        2
    );
    // A second login uses the same account; a move to the admin group
    // changes the role, audited.
    op.test("/test/groups?user=nurse&groups=onko-admin").await;
    let mut b2 = Browser::new();
    b2.login(&app, "nurse").await;
    assert_eq!(
        app.count("SELECT count(*) FROM staff_users WHERE email = 'nina@hospital.example'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM staff_users WHERE email = 'nina@hospital.example' AND role = 'admin'"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'staff.role_change'"),
        1
    );
    // Taken out of every group: a clear "no access" page, the account and
    // its sessions gone, audited.
    op.test("/test/groups?user=nurse&groups=alle-ansatte").await;
    let mut b3 = Browser::new();
    let refused = b3.login(&app, "nurse").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body.contains("ingen adgang til prom"),
        "{}",
        refused.body
    );
    let gone = b2.get(&format!("{}/clinic", app.base)).await;
    assert_eq!(
        gone.status,
        StatusCode::SEE_OTHER,
        "the earlier session ended"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'staff.sso_no_access'"),
        1
    );
}

#[tokio::test]
async fn logging_out_ends_the_session_here_and_at_the_provider() {
    let op = provider!();
    let app = app_with(&op, &[]).await;
    let mut b = Browser::new();
    b.login(&app, "doctor").await;
    let page = b.get(&format!("{}/clinic", app.base)).await;
    let csrf = attr(
        &page.body[page.body.find("name=\"csrf\"").expect("a form")..],
        "value",
    );
    let out = b
        .post(&format!("{}/clinic/logout", app.base), &[("csrf", &csrf)])
        .await;
    let to = out.location.expect("a redirect");
    assert!(
        to.starts_with(&format!("{}/session/end?", op.issuer())),
        "{to}"
    );
    assert!(to.contains("id_token_hint=") && to.contains("post_logout_redirect_uri="));
    let after = b.get(&format!("{}/clinic", app.base)).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "prom's session ended");
    let provider = b.get(&to).await;
    assert_eq!(
        provider.status,
        StatusCode::OK,
        "the provider asks to sign out: {}",
        provider.body
    );
}

#[tokio::test]
async fn a_login_without_the_required_assurance_or_a_mapped_role_is_refused_with_a_clear_page() {
    let op = provider!();
    let app = app_with(&op, &["mfa"]).await;
    let weak = Browser::new().login(&app, "weak").await;
    assert_eq!(weak.status, StatusCode::FORBIDDEN);
    assert!(weak.body.contains("ikke stærkt nok"), "{}", weak.body);
    let nobody = Browser::new().login(&app, "nobody").await;
    assert_eq!(nobody.status, StatusCode::FORBIDDEN);
    assert!(nobody.body.contains("ingen adgang til prom"));
    assert_eq!(
        app.count("SELECT count(*) FROM staff_users WHERE email LIKE '%@hospital.example'"),
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action IN ('staff.sso_refused', 'staff.sso_no_access')"),
        2
    );
}

#[tokio::test]
async fn a_wrong_missing_or_replayed_state_and_a_replayed_code_are_refused() {
    let op = provider!();
    let app = app_with(&op, &[]).await;
    let mut b = Browser::new();
    let callback = b.through_provider(&app, "nurse").await;
    let saved = b.cookies.clone();
    // Another browser (without this one's state cookie) at the address.
    let other = Browser::new().get(&callback).await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
    assert!(other.body.contains("Start login forfra"), "{}", other.body);
    // No state; a wrong one.
    let code_only = callback.split("&state=").next().expect("url").to_string();
    assert_eq!(b.get(&code_only).await.status, StatusCode::BAD_REQUEST);
    let wrong = callback.replace("state=", "state=x");
    assert_eq!(b.get(&wrong).await.status, StatusCode::BAD_REQUEST);
    // The right one works once; the same answer again (a replayed code) is
    // refused.
    b.cookies = saved.clone();
    assert!(signed_in(&b.get(&callback).await));
    b.cookies = saved;
    let again = b.get(&callback).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    // The used code with a fresh, valid state of its own: the provider
    // refuses the code, and so does prom.
    let mut c = Browser::new();
    let begun = c.get(&format!("{}/clinic/sso", app.base)).await;
    let to_provider = begun.location.expect("to the provider");
    let fresh = to_provider
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("state="))
        .expect("a state")
        .to_string();
    let code = callback
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .expect("a code")
        .to_string();
    let replayed = c
        .get(&format!(
            "{}/clinic/sso/callback?code={code}&state={fresh}",
            app.base
        ))
        .await;
    assert_eq!(replayed.status, StatusCode::FORBIDDEN, "{}", replayed.body);
    assert!(replayed.body.contains("blev afvist"));
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'staff.sso_refused'"),
        5
    );
}

#[tokio::test]
async fn id_tokens_with_a_wrong_audience_expired_another_nonce_alg_none_or_an_unknown_key_are_refused()
 {
    let op = provider!();
    let app = app_with(&op, &[]).await;
    for mode in ["wrong_aud", "expired", "nonce", "alg_none", "foreign_key"] {
        op.test(&format!("/test/forge?mode={mode}")).await;
        let a = Browser::new().login(&app, "nurse").await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{mode}: {}", a.body);
        assert!(a.body.contains("blev afvist"), "{mode}: {}", a.body);
    }
    op.test("/test/forge?mode=off").await;
    assert_eq!(
        app.count("SELECT count(*) FROM staff_users WHERE email = 'nina@hospital.example'"),
        0
    );
    let a = Browser::new().login(&app, "nurse").await;
    assert!(signed_in(&a), "and the real one works");
}

#[tokio::test]
async fn a_provider_that_rotated_its_keys_is_asked_for_them_again_once() {
    let op = provider!();
    let app = app_with(&op, &[]).await;
    assert!(signed_in(&Browser::new().login(&app, "nurse").await));
    op.test("/test/rotate").await;
    let a = Browser::new().login(&app, "doctor").await;
    assert!(signed_in(&a), "signed with the new key: {}", a.body);
}

#[tokio::test]
async fn a_provider_that_is_down_gives_a_clear_page_within_five_seconds_and_local_login_still_works()
 {
    let op = provider!();
    let app = app_with(&op, &[]).await;
    drop(op);
    let started = std::time::Instant::now();
    let a = Browser::new()
        .get(&format!("{}/clinic/sso", app.base))
        .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(a.body.contains("svarer ikke lige nu"), "{}", a.body);
    assert!(
        a.body.contains("name=\"password\""),
        "the local login is on the same page"
    );
}

/// A patient of `clinic` with an unanswered invitation to pain_nrs: the
/// link's path.
fn invited(app: &TestApp, clinic: &str, reference: &str) -> String {
    let conn = app.conn();
    let now = prom::clock::Clock::now(app.clock.as_ref());
    let pid = match prom::storage::patients::patient_id(&conn, clinic, reference) {
        Ok(p) => p,
        Err(_) => prom::storage::patients::insert_patient(
            &conn,
            &prom::storage::patients::NewPatient {
                clinic_id: clinic.into(),
                reference: reference.into(),
                language: "da".into(),
                ..Default::default()
            },
            now,
        )
        .expect("patient"),
    };
    let token = prom::security::new_token("prom_inv_");
    prom::storage::invitations::insert_invitation(
        &conn,
        &pid,
        "pain_nrs",
        &prom::security::token_hash(&token),
        now + chrono::Duration::days(14),
        now,
    )
    .expect("invitation");
    format!("/a/{token}")
}

/// Opens `link` in `b`, logs in at the provider as `user` from "my data",
/// and answers the question whether to link with yes; prom's last answer.
async fn link_by_login(b: &mut Browser, app: &TestApp, link: &str, user: &str) -> Answer {
    b.get(&format!("{}{link}", app.base)).await;
    let locked = b.get(&format!("{}/me", app.base)).await;
    assert!(
        locked.body.contains("href=\"/me/login\""),
        "{}",
        locked.body
    );
    let callback = b
        .through_provider_from(&format!("{}/me/login", app.base), user)
        .await;
    let back = b.get(&callback).await;
    assert_eq!(
        back.location.as_deref(),
        Some(format!("{}/me/connect", app.base).as_str()),
        "{}",
        back.body
    );
    let ask = b.get(&format!("{}/me/connect", app.base)).await;
    assert!(
        ask.body.contains("Skal dit login knyttes til dine svar?"),
        "{}",
        ask.body
    );
    let csrf = attr(
        &ask.body[ask.body.find("name=\"csrf\"").expect("a form")..],
        "value",
    );
    b.post(
        &format!("{}/me/connect", app.base),
        &[("csrf", &csrf), ("answer", "yes")],
    )
    .await
}

#[tokio::test]
async fn a_patient_links_their_login_from_each_clinic_and_then_sees_every_part_and_what_to_answer()
{
    let op = provider!();
    let app = app_with(&op, &[]).await;
    // Answers at clinic a and at clinic b, from the clinics' systems.
    app.patient(&app.key_a, "PA").await;
    app.patient(&app.key_b, "PB").await;
    for (key, patient) in [(&app.key_a, "PA"), (&app.key_b, "PB")] {
        let body = serde_json::json!({"questionnaire": "pain_nrs", "patient": patient, "answers": {"pain_now": 8, "pain_worst": 9, "sleep": true}});
        let (s, _) = app.post(key, "/api/v1/responses", &body).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let a = link_by_login(
        &mut Browser::new(),
        &app,
        &invited(&app, "a", "PA"),
        "patient1",
    )
    .await;
    assert_eq!(
        a.location.as_deref(),
        Some(format!("{}/me", app.base).as_str())
    );
    let b = link_by_login(
        &mut Browser::new(),
        &app,
        &invited(&app, "b", "PB"),
        "patient1",
    )
    .await;
    assert_eq!(
        b.location.as_deref(),
        Some(format!("{}/me", app.base).as_str())
    );
    assert_eq!(app.count("SELECT count(*) FROM person_links"), 2);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'person.link'"),
        2
    );
    // Later: straight to the login, nothing else in hand.
    let mut later = Browser::new();
    let callback = later
        .through_provider_from(&format!("{}/me/login", app.base), "patient1")
        .await;
    let back = later.get(&callback).await;
    assert_eq!(
        back.location.as_deref(),
        Some(format!("{}/me", app.base).as_str())
    );
    let me = later.get(&format!("{}/me", app.base)).await;
    assert_eq!(me.status, StatusCode::OK);
    let (name_a, name_b): (String, String) = {
        let c = app.conn();
        (
            c.query_row("SELECT name FROM clinics WHERE id = 'a'", (), |r| r.get(0))
                .expect("a"),
            c.query_row("SELECT name FROM clinics WHERE id = 'b'", (), |r| r.get(0))
                .expect("b"),
        )
    };
    assert!(
        me.body.contains(&format!("<h2>{name_a}</h2>")),
        "{}",
        me.body
    );
    assert!(
        me.body.contains(&format!("<h2>{name_b}</h2>")),
        "each clinic's part labelled"
    );
    assert!(me.body.matches("<svg").count() >= 2, "a chart from each");
    assert!(me.body.contains("Spørgeskemaer, du skal svare på"));
    // The two invitations are still open: one is answered from here.
    let at = me
        .body
        .find("action=\"/me/answer/")
        .expect("an open questionnaire");
    let action = attr(&me.body[at..], "action");
    let csrf = attr(
        &me.body[me.body.find("name=\"csrf\"").expect("a form")..],
        "value",
    );
    let opened = later
        .post(&format!("{}{action}", app.base), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        opened.location.as_deref(),
        Some(format!("{}/a", app.base).as_str())
    );
    let form = later.get(&format!("{}/a", app.base)).await;
    assert!(form.body.contains("Hvor stærke er dine smerter lige nu?"));
    // The person's identifier is kept only as a keyed hash.
    for (table, column) in [
        ("persons", "identifier_hash"),
        ("audit_log", "subject"),
        ("sessions", "next"),
    ] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) FROM {table} WHERE {column} LIKE '%0101701234%'"
            )),
            0,
            "{table}"
        );
    }
    let hash: String = app
        .conn()
        .query_row("SELECT identifier_hash FROM persons", (), |r| r.get(0))
        .expect("one person");
    assert_eq!(hash.len(), 64);
    assert!(!hash.contains("0101701234"));
}

#[tokio::test]
async fn a_patient_below_the_required_assurance_is_refused_and_the_invitation_still_works() {
    let op = provider!();
    let app = app_with(&op, &[]).await;
    let link = invited(&app, "a", "PL");
    let mut b = Browser::new();
    b.get(&format!("{}{link}", app.base)).await;
    let callback = b
        .through_provider_from(&format!("{}/me/login", app.base), "lowpatient")
        .await;
    let refused = b.get(&callback).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("ikke stærkt nok"), "{}", refused.body);
    assert_eq!(app.count("SELECT count(*) FROM persons"), 0);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'person.login_refused'"),
        1
    );
    let form = b.get(&format!("{}/a", app.base)).await;
    assert_eq!(
        form.status,
        StatusCode::OK,
        "the invitation's session is kept"
    );
}

#[tokio::test]
async fn an_identity_linked_to_one_patient_of_a_clinic_is_not_linked_to_another_there() {
    let op = provider!();
    let app = app_with(&op, &[]).await;
    link_by_login(
        &mut Browser::new(),
        &app,
        &invited(&app, "a", "P1"),
        "patient1",
    )
    .await;
    let second = link_by_login(
        &mut Browser::new(),
        &app,
        &invited(&app, "a", "P2"),
        "patient1",
    )
    .await;
    assert_eq!(
        second.location.as_deref(),
        Some(format!("{}/me?link=refused", app.base).as_str())
    );
    assert_eq!(app.count("SELECT count(*) FROM person_links"), 1);
    assert_eq!(
        app.count("SELECT count(*) FROM audit_log WHERE action = 'person.link_refused'"),
        1
    );
    // Nor is a patient already linked to one person linked to another.
    let third = link_by_login(
        &mut Browser::new(),
        &app,
        &invited(&app, "a", "P1"),
        "patient2",
    )
    .await;
    assert_eq!(
        third.location.as_deref(),
        Some(format!("{}/me?link=refused", app.base).as_str())
    );
}

#[tokio::test]
async fn with_local_login_off_only_named_break_glass_accounts_use_a_password_and_each_use_is_shown()
{
    use crate::clinic::{Staff, add_staff, enrol, logged_in};
    let op = provider!();
    let app = app_with(&op, &[]).await;
    let mut admin = logged_in(&app, "a", "boss@a.example", "admin").await;
    let nurse_pw = add_staff(&app, "a", "local@a.example", "clinician");
    let glass_pw = add_staff(&app, "a", "glass@a.example", "clinician");
    let glass: String = app
        .conn()
        .query_row(
            "SELECT id FROM staff_users WHERE email = 'glass@a.example'",
            (),
            |r| r.get(0),
        )
        .expect("the account");
    admin.get("/clinic/admin/staff").await;
    let p = admin
        .post(&format!("/clinic/admin/staff/{glass}/break-glass"), &[])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    admin.get("/clinic/admin/staff").await;
    let p = admin
        .post("/clinic/admin/local-login", &[("local", "off")])
        .await;
    assert_eq!(p.status, StatusCode::SEE_OTHER);
    // A local account: refused with a clear page, pointing to the
    // hospital's login.
    let mut local = Staff::new(&app);
    local.get("/clinic/login").await;
    let p = local
        .post(
            "/clinic/login",
            &[("email", "local@a.example"), ("password", &nurse_pw)],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.body.contains("Kun navngivne nødadgange"), "{}", p.body);
    // The break-glass account gets in; the admin sees the use.
    let (mut b, _) = enrol(&app, "glass@a.example", &glass_pw).await;
    assert_eq!(b.get("/clinic").await.status, StatusCode::OK);
    let page = admin.get("/clinic/admin/staff").await;
    assert!(
        page.body.contains("Nødadgange brugt de sidste 30 dage")
            && page.body.contains("Name of glass@a.example"),
        "{}",
        page.body
    );
    for action in [
        "clinic.local_login_off",
        "staff.local_login_refused",
        "staff.break_glass_login",
        "staff.break_glass_toggle",
    ] {
        assert_eq!(
            app.count(&format!(
                "SELECT count(*) FROM audit_log WHERE action = '{action}'"
            )),
            1,
            "{action}"
        );
    }
    // The hospital's login still works for the clinic.
    assert!(signed_in(&Browser::new().login(&app, "nurse").await));
}

#[tokio::test]
async fn a_required_authentication_method_is_checked_and_a_session_ends_at_its_maximum_lifetime() {
    let op = provider!();
    let app = app_with_amr(&op, &[], &["otp"], 1).await;
    let weak = Browser::new().login(&app, "weak").await;
    assert_eq!(weak.status, StatusCode::FORBIDDEN, "a password alone");
    assert!(weak.body.contains("ikke stærkt nok"));
    let mut b = Browser::new();
    let a = b.login(&app, "nurse").await;
    assert!(
        signed_in(&a),
        "a password and a code: {} {}",
        a.status,
        a.body
    );
    // Active every 25 minutes: the idle timeout never ends it, the hour
    // does.
    for minutes in [25, 25] {
        app.clock.advance(chrono::Duration::minutes(minutes));
        let q = b.get(&format!("{}/clinic", app.base)).await;
        assert_eq!(q.status, StatusCode::OK, "after {minutes} more minutes");
    }
    app.clock.advance(chrono::Duration::minutes(11));
    let q = b.get(&format!("{}/clinic", app.base)).await;
    assert_eq!(q.status, StatusCode::SEE_OTHER, "past the hour");
}

#[tokio::test]
async fn a_person_whose_groups_give_roles_in_two_clinics_chooses_one() {
    let op = provider!();
    let app = app_with_roles(
        &op,
        &[],
        &[],
        12,
        &["onko-laeger=a:clinician", "alle-ansatte=b:admin"],
    )
    .await;
    let mut b = Browser::new();
    let page = b.login(&app, "doctor").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Vælg afdeling"), "{}", page.body);
    let state = attr(
        &page.body[page.body.find("name=\"state\"").expect("a form")..],
        "value",
    );
    // A clinic that is not one of the person's: asked again.
    let again = b
        .post(
            &format!("{}/clinic/sso/choose", app.base),
            &[("state", &state), ("clinic", "elsewhere")],
        )
        .await;
    assert!(
        again.body.contains("Vælg afdeling"),
        "{} {}",
        again.status,
        again.body
    );
    // Without this browser's state: refused.
    let stranger = Browser::new()
        .post(
            &format!("{}/clinic/sso/choose", app.base),
            &[("state", &state), ("clinic", "b")],
        )
        .await;
    assert_eq!(stranger.status, StatusCode::BAD_REQUEST);
    let chosen = b
        .post(
            &format!("{}/clinic/sso/choose", app.base),
            &[("state", &state), ("clinic", "b")],
        )
        .await;
    assert!(signed_in(&chosen), "{}", chosen.body);
    assert_eq!(
        app.count("SELECT count(*) FROM staff_users WHERE email = 'dan@hospital.example' AND clinic_id = 'b' AND role = 'admin'"),
        1
    );
    // The parked identity is used once.
    let twice = b
        .post(
            &format!("{}/clinic/sso/choose", app.base),
            &[("state", &state), ("clinic", "a")],
        )
        .await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
}
