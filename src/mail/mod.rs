//! The mailer: a thread that sends what the outbox holds, over SMTP or, by
//! default, as `.eml` files in a folder. Delivery is at least once: a row is
//! marked sent only after the message left, so a crash in between sends it
//! again rather than losing it. Failures are retried with growing delays;
//! after `MAX_ATTEMPTS` a row is marked dead (and stays for staff to see).
//!
//! It must not use actix: the web layer only writes outbox rows, through
//! storage, in the same transaction as the response that caused them.

use anyhow::Context;
use chrono::Duration;
use lettre::message::Mailbox;
use lettre::{Message, SmtpTransport, Transport};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::Clock;
use crate::storage::{self, Options, outbox};

pub mod messages;

/// After this many failed attempts a message is marked dead.
pub const MAX_ATTEMPTS: i64 = 8;

/// Minutes to wait after the n-th failed attempt: a mail server down from
/// a red flag at 22:00 until the morning still gets it (the eight attempts
/// span about 15 hours).
pub const RETRY_MINUTES: [i64; 7] = [1, 5, 15, 60, 120, 240, 480];

/// The wait after `tries` failed attempts.
pub fn retry_after(tries: i64) -> Duration {
    let i = usize::try_from(tries.max(1) - 1)
        .unwrap_or(0)
        .min(RETRY_MINUTES.len() - 1);
    Duration::minutes(RETRY_MINUTES[i])
}

#[derive(Debug, Clone)]
pub struct MailConfig {
    pub db: storage::Database,
    pub storage: Options,
    pub smtp_url: Option<String>,
    /// PEM certificates trusted for the server's TLS, besides the usual
    /// roots.
    pub smtp_ca: Option<PathBuf>,
    pub from: String,
    pub dir: PathBuf,
}

enum Transport_ {
    Smtp(Box<SmtpTransport>),
    Files(PathBuf),
}

/// The running mailer thread; it stops when this is dropped.
pub struct Mailer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// When the mailer last began a turn (Unix seconds): `/readyz` reads it.
    pub beat: Arc<std::sync::atomic::AtomicI64>,
}

impl Drop for Mailer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Mailer {
    pub fn start(config: MailConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Mailer> {
        let from: Mailbox = config.from.parse().with_context(|| {
            format!(
                "`{}` is not a valid sender address (--mail-from)",
                config.from
            )
        })?;
        if let Some(url) = &config.smtp_url {
            tls_for_remote(url)?;
            // One TLS crypto provider for the process, whatever else the
            // build links (a test's SMTP server brings another).
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let transport = match &config.smtp_url {
            Some(url) => {
                Transport_::Smtp(Box::new(smtp_transport(url, config.smtp_ca.as_deref())?))
            }
            None => {
                // The folder and its messages are the owner's only.
                std::os::unix::fs::DirBuilderExt::mode(
                    std::fs::DirBuilder::new().recursive(true),
                    0o700,
                )
                .create(&config.dir)
                .with_context(|| {
                    format!("cannot create the mail folder {}", config.dir.display())
                })?;
                Transport_::Files(config.dir.clone())
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let beat = Arc::new(std::sync::atomic::AtomicI64::new(
            crate::clock::uptime_secs(),
        ));
        let beating = beat.clone();
        let thread = std::thread::Builder::new()
            .name("prom-mailer".into())
            .spawn(move || {
                // One connection, kept open: opening one every half second
                // costs a file handle each time, and fails exactly when the
                // process runs short of them.
                let mut conn: Option<storage::Connection> = None;
                while !flag.load(Ordering::Relaxed) {
                    beating.store(crate::clock::uptime_secs(), Ordering::Relaxed);
                    if let Err(e) = poll(&mut conn, &config, &from, &transport, clock.as_ref(), &flag) {
                        conn = None;
                        tracing::warn!(error = %format!("{e:#}"), "the mailer could not read the outbox; it tries again");
                    }
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
            })?;
        Ok(Mailer {
            stop,
            thread: Some(thread),
            beat,
        })
    }
}

/// How long a claimed message is left to its sender before another may
/// send it (a sender that died mid-send).
const CLAIM: chrono::Duration = chrono::Duration::minutes(10);

/// Sends every due message once.
fn poll(
    slot: &mut Option<storage::Connection>,
    config: &MailConfig,
    from: &Mailbox,
    transport: &Transport_,
    clock: &dyn Clock,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    if slot.is_none() {
        let mut c =
            storage::connect_to(&config.db, &config.storage).context("cannot open the database")?;
        storage::wait_for_writer(&mut c)?;
        *slot = Some(c);
    }
    let Some(conn) = slot.as_mut() else {
        return Ok(());
    };
    let now = clock.now();
    let due = outbox::due(conn, now, 50)?;
    for m in due {
        // A stop waits for the message being sent, not for the rest.
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // Other nodes' mailers look at the same outbox: each message is
        // claimed first, and sent by the one that got it.
        if !storage::immediate(conn, |tx| outbox::claim(tx, &m, now + CLAIM))? {
            continue;
        }
        let result = send(from, transport, &m);
        let now = clock.now();
        match result {
            Ok(()) => {
                storage::immediate(conn, |tx| outbox::mark_sent(tx, &m.id, now))?;
                metrics::counter!("prom_outbox_sent_total").increment(1);
                tracing::info!(message = %m.id, "e-mail sent");
            }
            Err(e) => {
                let tries = m.attempts + 1;
                let wait = retry_after(tries);
                let dead = tries >= MAX_ATTEMPTS;
                let error = e.to_string();
                storage::immediate(conn, |tx| {
                    outbox::mark_failed(tx, &m.id, tries, &error, now, wait, dead)
                })?;
                metrics::counter!("prom_smtp_failures_total").increment(1);
                if dead {
                    metrics::counter!("prom_outbox_dead_total").increment(1);
                } else {
                    metrics::counter!("prom_outbox_retried_total").increment(1);
                }
                tracing::warn!(message = %m.id, attempt = tries, error = %e, "e-mail not sent; will retry");
            }
        }
    }
    Ok(())
}

/// The SMTP transport of `url`; with `ca`, TLS (required, as the URL must
/// say for any host but localhost) also trusts that authority.
fn smtp_transport(url: &str, ca: Option<&std::path::Path>) -> anyhow::Result<SmtpTransport> {
    let mut builder =
        SmtpTransport::from_url(url).context("the SMTP URL is not valid (--smtp-url)")?;
    if let Some(ca) = ca {
        use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
        let pem = std::fs::read(ca)
            .with_context(|| format!("cannot read the SMTP CA certificate {}", ca.display()))?;
        let cert = Certificate::from_pem(&pem)
            .with_context(|| format!("{} is not a PEM certificate", ca.display()))?;
        let host = url
            .split_once("://")
            .map(|(_, rest)| rest)
            .unwrap_or_default()
            .split(['/', '?'])
            .next()
            .unwrap_or_default()
            .rsplit('@')
            .next()
            .unwrap_or_default()
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string();
        let params = TlsParameters::builder(host)
            .add_root_certificate(cert)
            .build()
            .context("the SMTP TLS settings are not valid")?;
        let tls = if url.starts_with("smtps://") || url.contains("tls=wrapper") {
            Tls::Wrapper(params)
        } else {
            Tls::Required(params)
        };
        builder = builder.tls(tls);
    }
    Ok(builder.build())
}

/// Connects to the SMTP server of `url` and says hello (`prom doctor`).
pub fn test_connection(url: &str, ca: Option<&std::path::Path>) -> anyhow::Result<()> {
    tls_for_remote(url)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let transport = smtp_transport(url, ca)?;
    match transport.test_connection() {
        Ok(true) => Ok(()),
        Ok(false) => anyhow::bail!("the SMTP server did not answer"),
        Err(e) => Err(anyhow::Error::new(e).context("cannot reach the SMTP server")),
    }
}

/// Refuses an SMTP URL that would send to another machine in clear text:
/// anything but localhost needs STARTTLS (`?tls=required`) or TLS
/// (`smtps://`).
pub fn tls_for_remote(url: &str) -> anyhow::Result<()> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| anyhow::anyhow!("the SMTP URL is not valid (--smtp-url): no scheme"))?;
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hostport = authority.rsplit('@').next().unwrap_or_default();
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default()
    } else {
        hostport.split(':').next().unwrap_or_default()
    };
    let local = matches!(host, "localhost" | "127.0.0.1" | "::1");
    let tls = scheme == "smtps" || url.contains("tls=required") || url.contains("tls=wrapper");
    anyhow::ensure!(
        local || tls,
        "SMTP to {host} would travel in clear text: add ?tls=required (STARTTLS) to --smtp-url, or use smtps://"
    );
    Ok(())
}

/// The `Message-ID` of an outbox row: the same at every attempt, so that a
/// resend after an unclear failure is recognisable as the same message.
pub fn message_id(row_id: &str, from: &Mailbox) -> String {
    format!("<{row_id}@{}>", from.email.domain())
}

fn send(from: &Mailbox, transport: &Transport_, m: &outbox::Due) -> anyhow::Result<()> {
    let to: Mailbox = m
        .recipient
        .parse()
        .with_context(|| format!("`{}` is not a valid address", m.recipient))?;
    let builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(m.subject.clone())
        .message_id(Some(message_id(&m.id, from)));
    let message = match &m.html {
        Some(html) => builder.multipart(lettre::message::MultiPart::alternative_plain_html(
            m.body.clone(),
            html.clone(),
        ))?,
        None => builder.body(m.body.clone())?,
    };
    match transport {
        Transport_::Smtp(smtp) => {
            smtp.send(&message)?;
        }
        Transport_::Files(dir) => {
            storage::write_private(&dir.join(format!("{}.eml", m.id)), &message.formatted())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_to_another_machine_needs_tls() {
        assert!(tls_for_remote("smtp://127.0.0.1:2525").is_ok());
        assert!(tls_for_remote("smtp://user:pw@localhost:25").is_ok());
        assert!(tls_for_remote("smtp://mail.example.org:587?tls=required").is_ok());
        assert!(tls_for_remote("smtps://mail.example.org").is_ok());
        let e = tls_for_remote("smtp://user:pw@mail.example.org:587").expect_err("clear text");
        assert!(e.to_string().contains("tls=required"), "{e}");
        assert!(tls_for_remote("smtp://localhost.evil.example:25").is_err());
    }

    #[test]
    fn retries_last_through_a_night() {
        let total: i64 = (1..MAX_ATTEMPTS)
            .map(|t| retry_after(t).num_minutes())
            .sum();
        assert_eq!(retry_after(1), Duration::minutes(1));
        assert!(
            total >= 9 * 60,
            "{total} minutes from first to last attempt"
        );
    }

    #[test]
    fn a_message_id_is_the_rows_own() {
        let from: Mailbox = "prom <prom@clinic.example>".parse().expect("mailbox");
        assert_eq!(message_id("abc", &from), "<abc@clinic.example>");
    }
}
