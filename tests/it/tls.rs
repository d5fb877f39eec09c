//! HTTPS as a hospital deploys it, and as a small clinic without a proxy
//! does: behind a real nginx (Debian's, installed by `.ci/run`) that
//! terminates TLS with a certificate from a throwaway test authority, and
//! with `prom serve` terminating TLS itself (certificate files read again
//! on SIGHUP). Over HTTPS the staff and patient cookies are `Secure` with
//! the `__Host-` prefix, HSTS is sent, links in e-mails use the public base
//! URL, and `X-Forwarded-For` is believed only from the configured proxy.
//! Without nginx the proxy test fails under `CI=true` and is skipped
//! elsewhere.

use reqwest::header::{LOCATION, SET_COOKIE};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Kills the child when dropped.
struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A test certificate authority and a certificate it signed for
/// `localhost` and 127.0.0.1: (CA PEM, certificate PEM, key PEM).
fn authority(name: &str) -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("key");
    let mut ca = CertificateParams::new(Vec::new()).expect("params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, format!("prom test CA {name}"));
    let ca_cert = ca.self_signed(&ca_key).expect("ca");
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("leaf")
        .signed_by(&key, &issuer)
        .expect("signed");
    (ca_cert.pem(), leaf.pem(), key.serialize_pem())
}

fn https_client(ca_pem: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("ca")])
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

async fn wait_for(client: &reqwest::Client, url: &str, log: &Path) {
    for _ in 0..200 {
        if client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{url} never answered: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn prom_cli(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_prom"))
        .args(args)
        .args(["--db", "prom.db"])
        .current_dir(dir)
        .env_remove("PROM_CONFIG")
        .output()
        .expect("prom");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A clinic with an alert address, a key, a patient and an invitation
/// link printed for `base`: (API key, link path).
fn seed(dir: &Path, base: &str) -> (String, String) {
    prom_cli(
        dir,
        &[
            "clinic",
            "add",
            "c1",
            "--name",
            "C1",
            "--alert-email",
            "alerts@c1.example",
        ],
    );
    let key = prom_cli(dir, &["apikey", "add", "--clinic", "c1"]);
    prom_cli(dir, &["patient", "add", "--ref", "TLS1", "--clinic", "c1"]);
    let link = prom_cli(
        dir,
        &[
            "invite",
            "TLS1",
            "--questionnaire",
            "pain_nrs",
            "--base-url",
            base,
        ],
    );
    let path = link
        .strip_prefix(base)
        .unwrap_or_else(|| panic!("{link} starts with {base}"))
        .to_string();
    (key, path)
}

/// The `Set-Cookie` values of an answer.
fn cookies(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect()
}

/// Checks what HTTPS must give at `base`: HSTS, `__Host-` Secure cookies
/// for staff (the login form's) and for patients (the link's session).
async fn secure_cookies_and_hsts(client: &reqwest::Client, base: &str, link: &str) {
    let r = client
        .get(format!("{base}/clinic/login"))
        .send()
        .await
        .expect("login page");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let c = cookies(&r);
    assert!(
        c.iter()
            .any(|c| c.starts_with("__Host-prom_login=") && c.contains("; Secure")),
        "{c:?}"
    );
    let r = client
        .get(format!("{base}{link}"))
        .send()
        .await
        .expect("link");
    assert_eq!(r.status(), 303);
    // A redirect stays on the public address (a relative path or it).
    let to = r.headers()[LOCATION]
        .to_str()
        .expect("location")
        .to_string();
    assert!(to.starts_with('/') || to.starts_with(base), "{to}");
    let c = cookies(&r);
    assert!(
        c.iter().any(|c| c.starts_with("__Host-prom_session=")
            && c.contains("; Secure")
            && c.contains("Path=/")
            && !c.contains("Domain=")),
        "{c:?}"
    );
    // Every answer over HTTPS carries HSTS, errors included.
    let r = client
        .get(format!("{base}/no-such-page"))
        .send()
        .await
        .expect("404");
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("strict-transport-security"));
}

/// A failed login from this client: `xff` sent as its own
/// `X-Forwarded-For` when given.
async fn fail_login(
    client: &reqwest::Client,
    base: &str,
    xff: Option<&str>,
) -> reqwest::StatusCode {
    let r = client
        .get(format!("{base}/clinic/login"))
        .send()
        .await
        .expect("form");
    let cookie = cookies(&r)
        .into_iter()
        .find(|c| c.contains("prom_login="))
        .and_then(|c| c.split(';').next().map(String::from))
        .expect("login cookie");
    let body = r.text().await.expect("body");
    let csrf = crate::clinic::value_of(&body, "csrf").expect("csrf");
    let mut post = client
        .post(format!("{base}/clinic/login"))
        .header("Cookie", cookie)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "nobody@c1.example"),
            ("password", "wrong"),
        ]);
    if let Some(x) = xff {
        post = post.header("X-Forwarded-For", x);
    }
    post.send().await.expect("post").status()
}

/// The addresses the login throttle recorded, oldest first.
fn failure_addresses(db: &Path) -> Vec<String> {
    let conn = prom::storage::connect(db, &Default::default()).expect("db");
    let mut stmt = conn
        .prepare_cached("SELECT address FROM login_failures ORDER BY at, rowid")
        .expect("stmt");
    stmt.query_map((), |r| r.get::<String>(0))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("addresses")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_with_tls_cookies_are_host_secure_links_are_public_and_only_the_proxy_is_believed()
 {
    let Some(nginx) = crate::nodes::nginx() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (ca, cert, key) = authority("nginx");
    std::fs::write(d.join("cert.pem"), &cert).expect("cert");
    std::fs::write(d.join("key.pem"), &key).expect("key");
    let (front, back) = (free_port(), free_port());
    let base = format!("https://localhost:{front}");
    let (api_key, link) = seed(d, &base);
    let _prom = Proc(
        Command::new(env!("CARGO_BIN_EXE_prom"))
            .args(["serve", "--db", "prom.db", "--mail-dir", "mail"])
            .args(["--listen", &format!("127.0.0.1:{back}")])
            .args(["--base-url", &base])
            // nginx connects from 127.0.0.2 (proxy_bind); 127.0.0.1 is a
            // client like any other.
            .args(["--trusted-proxy", "127.0.0.2"])
            .env_remove("PROM_CONFIG")
            .env("PROM_LOG", "warn")
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("prom.log")).expect("log"))
            .spawn()
            .expect("serve"),
    );
    let dd = d.display();
    std::fs::write(
        d.join("nginx.conf"),
        format!(
            "daemon off; worker_processes 1; pid {dd}/nginx.pid; error_log {dd}/nginx-error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {dd}/body; proxy_temp_path {dd}/proxy;
  fastcgi_temp_path {dd}/fcgi; uwsgi_temp_path {dd}/uwsgi; scgi_temp_path {dd}/scgi;
  server {{
    listen 127.0.0.1:{front} ssl;
    server_name localhost;
    ssl_certificate {dd}/cert.pem;
    ssl_certificate_key {dd}/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{
      proxy_pass http://127.0.0.1:{back};
      proxy_bind 127.0.0.2;
      proxy_set_header Host $host:$server_port;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto https;
    }}
  }}
}}
"
        ),
    )
    .expect("nginx.conf");
    let _nginx = Proc(
        Command::new(nginx)
            .args(["-c", &d.join("nginx.conf").display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx"),
    );
    let client = https_client(&ca);
    wait_for(&client, &format!("{base}/healthz"), &d.join("prom.log")).await;

    secure_cookies_and_hsts(&client, &base, &link).await;

    // A red answer through the proxy: its alert links to the public
    // address, never to where prom listens.
    let r = client
        .post(format!("{base}/api/v1/responses"))
        .bearer_auth(&api_key)
        .json(
            &serde_json::json!({"questionnaire": "pain_nrs", "patient": "TLS1",
                                   "answers": {"pain_now": 9, "pain_worst": 9}}),
        )
        .send()
        .await
        .expect("submit");
    assert_eq!(r.status(), 201);
    let mut mail = String::new();
    for _ in 0..100 {
        if let Some(f) = std::fs::read_dir(d.join("mail"))
            .ok()
            .and_then(|mut r| r.next())
            .and_then(Result::ok)
        {
            mail = std::fs::read_to_string(f.path()).expect("mail");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(mail.contains(&format!("{base}/clinic")), "{mail}");
    assert!(!mail.contains(&format!("127.0.0.1:{back}")), "{mail}");

    // Who tried to log in: through the proxy, the client (not nginx);
    // a forged X-Forwarded-For, through the proxy or straight to prom,
    // changes nothing.
    assert_eq!(fail_login(&client, &base, None).await, 401);
    assert_eq!(fail_login(&client, &base, Some("10.9.9.9")).await, 401);
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let direct = format!("http://127.0.0.1:{back}");
    assert_eq!(fail_login(&plain, &direct, Some("10.9.9.9")).await, 401);
    assert_eq!(
        failure_addresses(&d.join("prom.db")),
        ["127.0.0.1", "127.0.0.1", "127.0.0.1"]
    );
    // And so the throttle holds whatever a client claims to be.
    for i in 3..20 {
        fail_login(&client, &base, Some(&format!("10.0.0.{i}"))).await;
    }
    assert_eq!(
        fail_login(&plain, &direct, Some("10.1.1.1")).await,
        429,
        "twenty failures from one address stop it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_terminates_tls_itself_and_reads_a_renewed_certificate_on_sighup() {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (ca, cert, key) = authority("one");
    std::fs::write(d.join("cert.pem"), &cert).expect("cert");
    std::fs::write(d.join("key.pem"), &key).expect("key");
    let port = free_port();
    let base = format!("https://localhost:{port}");
    let (_, link) = seed(d, &base);
    let prom = Proc(
        Command::new(env!("CARGO_BIN_EXE_prom"))
            .args(["serve", "--db", "prom.db", "--mail-dir", "mail"])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--base-url", &base])
            .args(["--tls-cert", "cert.pem", "--tls-key", "key.pem"])
            .env_remove("PROM_CONFIG")
            .env("PROM_LOG", "info")
            .current_dir(d)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("prom.log")).expect("log"))
            .spawn()
            .expect("serve"),
    );
    let client = https_client(&ca);
    wait_for(&client, &format!("{base}/healthz"), &d.join("prom.log")).await;
    secure_cookies_and_hsts(&client, &base, &link).await;
    // Plain HTTP is not served on the TLS port.
    let plain = reqwest::Client::new();
    assert!(
        plain
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
            .eq(&false)
    );

    // A renewed certificate from another authority: served after SIGHUP,
    // without a restart.
    let (ca2, cert2, key2) = authority("two");
    let renewed = https_client(&ca2);
    assert!(
        renewed.get(format!("{base}/healthz")).send().await.is_err(),
        "not yet"
    );
    // A broken file first: the served certificate stays.
    std::fs::write(d.join("cert.pem"), "not a certificate").expect("broken");
    let pid = nix::unistd::Pid::from_raw(prom.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("hup");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success()),
        "the old certificate is still served"
    );
    std::fs::write(d.join("cert.pem"), &cert2).expect("cert2");
    std::fs::write(d.join("key.pem"), &key2).expect("key2");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("hup");
    let mut served = false;
    for _ in 0..50 {
        if renewed
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        served,
        "the renewed certificate is served: {}",
        std::fs::read_to_string(d.join("prom.log")).unwrap_or_default()
    );
    let log = std::fs::read_to_string(d.join("prom.log")).unwrap_or_default();
    assert!(
        log.contains("the TLS certificate was not replaced"),
        "{log}"
    );
    assert!(log.contains("the TLS certificate was read again"), "{log}");
}

#[test]
fn the_shipped_nginx_configuration_is_valid_for_debians_nginx() {
    let Some(nginx) = crate::nodes::nginx() else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    let (_, cert, key) = authority("example");
    std::fs::write(d.join("cert.pem"), &cert).expect("cert");
    std::fs::write(d.join("key.pem"), &key).expect("key");
    let shipped =
        std::fs::read_to_string(crate::helpers::root().join("examples/deploy/nginx.conf"))
            .expect("examples/deploy/nginx.conf")
            .replace(
                "/etc/ssl/prom/fullchain.pem",
                &d.join("cert.pem").display().to_string(),
            )
            .replace(
                "/etc/ssl/prom/privkey.pem",
                &d.join("key.pem").display().to_string(),
            );
    std::fs::write(d.join("prom-site.conf"), shipped).expect("site");
    let dd = d.display();
    std::fs::write(
        d.join("nginx.conf"),
        format!(
            "pid {dd}/nginx.pid; error_log {dd}/error.log;
events {{}}
http {{
  access_log off;
  client_body_temp_path {dd}/body; proxy_temp_path {dd}/proxy;
  fastcgi_temp_path {dd}/fcgi; uwsgi_temp_path {dd}/uwsgi; scgi_temp_path {dd}/scgi;
  include {dd}/prom-site.conf;
}}
"
        ),
    )
    .expect("wrapper");
    let out = Command::new(nginx)
        .args(["-t", "-c", &d.join("nginx.conf").display().to_string()])
        .output()
        .expect("nginx -t");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
