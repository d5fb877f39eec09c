//! Alert e-mails through a real SMTP server running in this process.

use crate::helpers::{config, phq9, spawn_in};
use mailin_embedded::{Handler, Response, Server, SslConfig, response};
use serde_json::json;
use std::net::{IpAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the SMTP server received: recipients and the message.
pub type Inbox = Arc<Mutex<Vec<(Vec<String>, String)>>>;

#[derive(Clone)]
struct Catcher {
    inbox: Inbox,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Catcher {
    fn helo(&mut self, _ip: IpAddr, _domain: &str) -> Response {
        response::OK
    }
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> Response {
        let msg = String::from_utf8_lossy(&self.data).into_owned();
        self.inbox
            .lock()
            .expect("lock")
            .push((self.to.clone(), msg));
        response::OK
    }
}

pub fn smtp_server() -> (u16, Inbox) {
    smtp_server_with(SslConfig::None)
}

/// An SMTP server that speaks STARTTLS with a certificate for `localhost`
/// from a test authority; returns the port, the inbox and the authority's
/// PEM file (which the test trusts).
fn starttls_server(dir: &std::path::Path) -> (u16, Inbox, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    // The test's server and prom share one TLS provider (the build links
    // two).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "prom test authority");
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&key, &issuer)
        .expect("cert");
    let (ca_path, cert_path, key_path) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_path, ca_cert.pem()).expect("write");
    std::fs::write(&cert_path, cert.pem()).expect("write");
    std::fs::write(&key_path, key.serialize_pem()).expect("write");
    let (port, inbox) = smtp_server_with(SslConfig::SelfSigned {
        cert_path: cert_path.to_string_lossy().into_owned(),
        key_path: key_path.to_string_lossy().into_owned(),
    });
    (port, inbox, ca_path)
}

fn smtp_server_with(ssl: SslConfig) -> (u16, Inbox) {
    let inbox: Inbox = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut server = Server::new(Catcher {
        inbox: inbox.clone(),
        to: Vec::new(),
        data: Vec::new(),
    });
    server
        .with_name("localhost")
        .with_ssl(ssl)
        .expect("tls settings")
        .with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, inbox)
}

#[tokio::test]
async fn a_red_flag_is_mailed_over_smtp_without_health_data() {
    let (port, inbox) = smtp_server();
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    cfg.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    cfg.base_url = Some("https://prom.example.org".into());
    let app = spawn_in(cfg, dir).await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([3, 3, 3, 3, 3, 3, 3, 3, 3])});
    let (_, r) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    let id = r["id"].as_str().expect("id").to_string();
    let mut got = None;
    for _ in 0..100 {
        if let Some(m) = inbox.lock().expect("lock").first().cloned() {
            got = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (to, msg) = got.expect("the alert arrived over SMTP");
    // The body is quoted-printable: undo its soft line breaks.
    let msg = msg.replace("=\r\n", "").replace("=\n", "");
    assert_eq!(to, ["alerts@a.example"]);
    assert!(
        msg.contains(&format!("https://prom.example.org/clinic/responses/{id}")),
        "{msg}"
    );
    // Random parts (multipart boundaries, the Message-ID) could hold any
    // two letters: only the words are checked.
    let words: String = msg
        .lines()
        .filter(|l| {
            !l.starts_with("--") && !l.contains("boundary=") && !l.starts_with("Message-ID:")
        })
        .collect::<Vec<_>>()
        .join("\n");
    for secret in ["P1", "PHQ", "total", "severe", "self", "harm"] {
        assert!(
            !words.contains(secret),
            "the alert mentions {secret}:\n{msg}"
        );
    }
    for _ in 0..50 {
        if app.count("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL") == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox row was not marked sent");
}

#[tokio::test]
async fn a_dead_smtp_server_loses_no_alert_and_no_answer() {
    // A port nobody listens on.
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    cfg.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    let app = spawn_in(cfg, dir).await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([0, 0, 0, 0, 0, 0, 0, 0, 1])});
    let (s, _) = app.post(&app.key_a, "/api/v1/responses", &body).await;
    assert_eq!(
        s,
        reqwest::StatusCode::CREATED,
        "the answer is stored whatever the mail server does"
    );
    for _ in 0..100 {
        if app.count("SELECT count(*) FROM outbox WHERE attempts >= 1 AND last_error IS NOT NULL")
            == 1
        {
            assert_eq!(
                app.count("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL"),
                1,
                "kept for a retry"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the failed attempt was not recorded");
}

#[tokio::test]
async fn alerts_travel_over_starttls_to_a_server_the_clinic_trusts_and_never_in_clear_text() {
    let certs = tempfile::tempdir().expect("dir");
    let (port, inbox, ca) = starttls_server(certs.path());
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    cfg.smtp_url = Some(format!("smtp://localhost:{port}?tls=required"));
    cfg.smtp_ca = Some(ca);
    let app = spawn_in(cfg, dir).await;
    app.patient(&app.key_a, "P1").await;
    let body = json!({"questionnaire": "phq9", "patient": "P1", "answers": phq9([0, 0, 0, 0, 0, 0, 0, 0, 2])});
    app.post(&app.key_a, "/api/v1/responses", &body).await;
    // Up to 30 s: the whole suite runs at once on two cores.
    for _ in 0..300 {
        if !inbox.lock().expect("lock").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        inbox.lock().expect("lock").len(),
        1,
        "delivered over STARTTLS"
    );
    // The server holds the message before prom hears its answer and marks
    // the row sent: wait for that too.
    for _ in 0..300 {
        if app.count("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL"),
        1
    );
    drop(app);

    // The same server without trusting its authority: refused, kept for a
    // retry, nothing sent in clear text.
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    cfg.smtp_url = Some(format!("smtp://localhost:{port}?tls=required"));
    let app = spawn_in(cfg, dir).await;
    app.patient(&app.key_a, "P1").await;
    app.post(&app.key_a, "/api/v1/responses", &body).await;
    for _ in 0..100 {
        if app.count("SELECT count(*) FROM outbox WHERE last_error IS NOT NULL") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.count("SELECT count(*) FROM outbox WHERE last_error IS NOT NULL AND sent_at IS NULL"),
        1
    );
    assert_eq!(inbox.lock().expect("lock").len(), 1, "nothing more arrived");
    // And prom refuses, at start, to send to another machine in clear text.
    let dir = tempfile::tempdir().expect("dir");
    let mut cfg = config(dir.path());
    cfg.smtp_url = Some("smtp://mail.example.org:25".into());
    crate::helpers::seed_clinics(&cfg.database().expect("database"));
    let clock = Arc::new(prom::clock::ManualClock::new(
        crate::helpers::NOW.parse().expect("time"),
    ));
    let err = prom::startup::start(&cfg, clock).err().expect("refused");
    assert!(format!("{err:#}").contains("tls=required"), "{err:#}");
}
