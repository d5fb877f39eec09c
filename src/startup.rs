//! Wiring for `prom serve`: load and check the questionnaires, open and
//! migrate the database, record questionnaire versions, start the writer,
//! the mailer and the HTTP server.

use anyhow::{Context, bail};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::mail::{MailConfig, Mailer};
use crate::storage::writer::{Writer, WriterOptions};
use crate::storage::{self, Options, Readers};
use crate::web::{self, AppState};

/// Everything `prom serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    pub db: PathBuf,
    /// A database URL (`sqlite:FILE` or `postgres://…`); `db` when absent.
    pub database: Option<String>,
    pub questionnaires: PathBuf,
    pub base_url: Option<String>,
    pub smtp_url: Option<String>,
    /// PEM certificates trusted for the SMTP server's TLS, besides the
    /// usual roots (a clinic's own certificate authority).
    pub smtp_ca: Option<PathBuf>,
    pub mail_from: String,
    pub mail_dir: PathBuf,
    pub demo: bool,
    pub workers: usize,
    pub storage: Options,
    pub writer: WriterOptions,
    /// Deadlines and the connection limit (fitted to the file limit).
    pub limits: web::Limits,
    /// How many rendered form pages to keep (0: render every time).
    pub page_cache: usize,
    /// How often the scheduler looks for digests and escalations due.
    pub scheduler_tick: std::time::Duration,
    /// Where `/metrics` is served, apart from the public listener.
    pub metrics_listen: Option<String>,
    /// A bearer token that also opens `/metrics` on the public listener.
    pub metrics_token: Option<String>,
    /// Certificate and key files (PEM): prom terminates TLS itself.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// How long a stop waits for requests in flight.
    pub shutdown: std::time::Duration,
    /// Staff single sign-on through an OpenID provider, when configured.
    pub staff_sso: Option<crate::usecase::sso::StaffSso>,
    /// Patients' login through an OpenID provider, when configured.
    pub patient_sso: Option<crate::usecase::person::PatientSso>,
}

impl Config {
    /// The database to serve from: `database` when given, else the SQLite
    /// file `db`. On PostgreSQL the audit key and head files are kept as
    /// `postgres.audit-key` and `postgres.audit-head` in `db`'s folder.
    pub fn database(&self) -> Result<storage::Database, storage::StorageError> {
        match &self.database {
            Some(url) => {
                let state = self
                    .db
                    .parent()
                    .unwrap_or(std::path::Path::new("."))
                    .join("postgres");
                storage::Database::parse(url, &state)
            }
            None => Ok(storage::Database::Sqlite(self.db.clone())),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".into(),
            db: "data/prom.db".into(),
            database: None,
            questionnaires: crate::catalog::DEFAULT_FOLDER.into(),
            base_url: None,
            smtp_url: None,
            smtp_ca: None,
            mail_from: "prom <prom@localhost>".into(),
            mail_dir: "data/mail".into(),
            demo: false,
            workers: 2,
            storage: Options::default(),
            writer: WriterOptions::default(),
            limits: web::Limits::default(),
            page_cache: web::pages::CACHED_PAGES,
            scheduler_tick: std::time::Duration::from_secs(30),
            metrics_listen: None,
            metrics_token: None,
            tls: None,
            trusted_proxies: Vec::new(),
            shutdown: std::time::Duration::from_secs(20),
            staff_sso: None,
            patient_sso: None,
        }
    }
}

/// Every `tick`, one look for what time made due (plans' invitations and
/// reminders, the yellow digest, escalations), through the writer, at the clock's time. Stops when the
/// server's state is gone.
fn scheduler(state: std::sync::Weak<AppState>, tick: std::time::Duration) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no runtime for the scheduler: digests and escalations are off");
        return;
    };
    handle.spawn(async move {
        loop {
            tokio::time::sleep(tick).await;
            let Some(s) = state.upgrade() else {
                return;
            };
            let (now, base) = (s.clock.now(), s.base_url.clone());
            let writer = s.writer.clone();
            s.stats.scheduler_ran(crate::clock::uptime_secs(), tick);
            drop(s);
            match writer
                .write(move |c| {
                    // One node at a time does the scheduled work.
                    if !storage::scheduler_turn(c)? {
                        return Ok(Default::default());
                    }
                    let plans = crate::usecase::plans::tick(c, &base, now)?;
                    let alerts = crate::usecase::alerts::tick(c, &base, now)?;
                    Ok((plans, alerts))
                })
                .await
            {
                Ok((p, t)) => {
                    if p != Default::default() {
                        tracing::info!(
                            invitations = p.invitations,
                            emails = p.emails,
                            reminders = p.reminders,
                            missed = p.missed,
                            "plans scheduled"
                        )
                    }
                    if t != Default::default() {
                        tracing::info!(
                            digests = t.digests,
                            escalations = t.escalations,
                            "alerts scheduled"
                        )
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the scheduler could not look; it tries again")
                }
            }
        }
    });
}

/// How often a node looks for newer questionnaire versions.
const VERSIONS_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// A newer version of a served questionnaire, recorded by another node
/// started with newer files, is served here too within a second: every
/// `VERSIONS_EVERY` the newest recorded version of each questionnaire is
/// read, and a newer one than served takes the older one's place (its
/// compiled form as stored). Versions only go forward: withdrawing one
/// means publishing a newer one. Stops when the server's state is gone.
fn versions(state: std::sync::Weak<AppState>) {
    let Ok(handle) = tokio::runtime::Handle::try_current() else {
        return;
    };
    handle.spawn(async move {
        loop {
            tokio::time::sleep(VERSIONS_EVERY).await;
            let Some(s) = state.upgrade() else {
                return;
            };
            let served: std::collections::HashMap<String, u32> =
                s.catalog.versions().into_iter().collect();
            let readers = s.readers.clone();
            drop(s);
            let newer = tokio::task::spawn_blocking(move || {
                readers.with(|c| storage::versions::newer_than(c, &served))
            })
            .await;
            let Some(s) = state.upgrade() else {
                return;
            };
            match newer {
                Ok(Ok(list)) => {
                    for q in list {
                        let (id, version) = (q.id.clone(), q.version);
                        if s.catalog.offer(q) {
                            tracing::info!(
                                questionnaire = %id,
                                version,
                                "a newer questionnaire version, recorded by another node, is served from now on"
                            );
                        }
                    }
                }
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "could not look for newer questionnaire versions; trying again")
                }
                Err(_) => return,
            }
        }
    });
}

/// Logs, once a minute at info, how many responses were stored (a line per
/// response would be 140 bytes each under load; those are at debug). Stops
/// when the server's state is gone.
fn summaries(state: std::sync::Weak<AppState>) {
    let _ = std::thread::Builder::new()
        .name("prom-summary".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_secs(60));
                let Some(state) = state.upgrade() else { return };
                let (stored, replayed) = state.stats.take();
                if stored + replayed > 0 {
                    tracing::info!(stored, replayed, "responses in the last minute");
                }
            }
        });
}

/// How long start-up checks the database's structure at most.
const CHECK_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// How many files this process may hold open (the soft limit), read from
/// `/proc/self/limits`; a conservative 1024 where that cannot be read.
pub fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(1024)
}

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    pub base_url: String,
    pub server: actix_web::dev::Server,
    /// What `--demo` seeded, to print.
    pub demo: Option<crate::demo::Seeded>,
    pub mailer: Mailer,
    /// The certificate served, when prom terminates TLS (SIGHUP reloads it).
    pub tls: Option<Arc<web::tls::Reloadable>>,
    /// The metrics listener's address and server, when configured.
    pub metrics: Option<(SocketAddr, actix_web::dev::Server)>,
    /// Where the questionnaires came from, to print.
    pub questionnaires: String,
}

/// How many connections may wait to be accepted. The standard library's
/// listener keeps 128: a burst of connections (a crowd of slow clients
/// reconnecting at once) overflows that, and the kernel drops the SYN of
/// whoever comes next, who then waits a second for the retry.
const BACKLOG: i32 = 1024;

/// A listening socket on `addr` (`host:port`; port 0 picks one) with
/// [`BACKLOG`].
fn listen(addr: &str) -> anyhow::Result<TcpListener> {
    use std::net::ToSocketAddrs;
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(a),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        match socket.bind(&a.into()).and_then(|_| socket.listen(BACKLOG)) {
            Ok(()) => return Ok(socket.into()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map_or_else(
        || anyhow::anyhow!("{addr} names no address"),
        anyhow::Error::new,
    ))
}

/// Starts everything; the returned server still has to be awaited.
pub fn start(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    // Run from anywhere: without a questionnaires folder, the shipped
    // ones built into the binary.
    let (catalog, questionnaires) =
        Catalog::load_or_shipped(&config.questionnaires).map_err(|rendered| {
            anyhow::anyhow!("the questionnaires in {} have errors; prom will not start until they are fixed:\n{rendered}", config.questionnaires.display())
        })?;
    if config.base_url.is_none() && !config.demo {
        tracing::warn!(
            "no public base URL is configured (--base-url, PROM_BASE_URL or base_url in the configuration file): links in e-mails and invitations will use the listening address, which patients may not reach"
        );
    }
    let listener =
        listen(&config.listen).with_context(|| format!("cannot listen on {}", config.listen))?;
    let metrics_listener = match &config.metrics_listen {
        Some(a) => Some(
            TcpListener::bind(a).with_context(|| format!("cannot listen for metrics on {a}"))?,
        ),
        None => None,
    };
    let addr = listener.local_addr()?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(web::tls::Reloadable::new(cert, key)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base_url = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{addr}"))
        .trim_end_matches('/')
        .to_string();
    // The database's set-up runs on a thread of its own: PostgreSQL's
    // client blocks, which an async context (the server's runtime, a test's)
    // must not do.
    let (conn, demo, database, web_key) = std::thread::scope(|scope| {
        scope
            .spawn(|| -> anyhow::Result<_> {
            let database = config.database()?;
            let damaged = |detail: String| {
                anyhow::anyhow!(
                    "the database {} is damaged ({detail}); prom will not start on it. Stop here and restore the newest backup (README: \"Backups and restore\"); keep the damaged file for investigation",
                    database.describe()
                )
            };
            let mut conn = match storage::open_database(&database, &config.storage) {
                Ok(c) => c,
                Err(storage::StorageError::Damaged(d)) => return Err(damaged(d)),
                // PostgreSQL's message names where it is already.
                Err(e @ storage::StorageError::CannotOpen(_))
                    if matches!(database, storage::Database::Postgres { .. }) =>
                {
                    return Err(anyhow::Error::new(e));
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!(
                        "while opening the database {}",
                        database.describe()
                    )));
                }
            };
            match storage::check(&conn, CHECK_BUDGET)? {
                storage::Health::Ok => {}
                storage::Health::Unfinished => tracing::info!(
                    seconds = CHECK_BUDGET.as_secs(),
                    "the start-up check of the database stopped at its time limit; nothing was wrong in what it read"
                ),
                storage::Health::Damaged(problems) => return Err(damaged(problems.join("; "))),
            }
            {
                let now = clock.now();
                let tx = conn
                    .transaction()
                    .context("while recording questionnaire versions")?;
                let mut problems = Vec::new();
                for q in catalog.all() {
                    if let Err(e) = crate::storage::versions::record_version(&tx, &q, now) {
                        problems.push(e.to_string());
                    }
                }
                if !problems.is_empty() {
                    bail!("{}", problems.join("\n"));
                }
                tx.commit()
                    .context("while recording questionnaire versions")?;
            }
            let demo = if config.demo {
                Some(
                    crate::demo::seed(&mut conn, &catalog, clock.as_ref(), &base_url)
                        .context("while seeding the demo")?,
                )
            } else {
                None
            };
                let web_key = crate::storage::audit::derived_key(&conn, "web tokens")
                    .context("while deriving the key that signs the login form's token")?;
                Ok((conn, demo, database, web_key))
            })
            .join()
            .map_err(|_| anyhow::anyhow!("the database's set-up stopped"))?
    })?;
    let (writer, _thread) = Writer::start(conn, config.writer);
    let readers = Arc::new(Readers::of(&database, &config.storage));
    let mailer = Mailer::start(
        MailConfig {
            db: database.clone(),
            storage: config.storage.clone(),
            smtp_url: config.smtp_url.clone(),
            smtp_ca: config.smtp_ca.clone(),
            from: config.mail_from.clone(),
            dir: config.mail_dir.clone(),
        },
        clock.clone(),
    )?;
    let state = Arc::new(AppState {
        catalog,
        writer,
        readers,
        clock,
        base_url: base_url.clone(),
        keys: Default::default(),
        limits: config
            .limits
            .fit_to_files(open_file_limit(), config.workers.max(1)),
        stats: Default::default(),
        pages: web::pages::Pages::load()?.with_cache(config.page_cache),
        readiness: web::health::Readiness::new(
            database.clone(),
            config.storage.clone(),
            mailer.beat.clone(),
        ),
        metrics_token: config.metrics_token.clone().filter(|t| !t.is_empty()),
        trusted_proxies: config.trusted_proxies.clone(),
        uploads: web::uploads::Uploads::new(config.limits.uploads),
        web_key,
        staff_sso: config.staff_sso.clone().map(|sso| {
            let provider = crate::oidc::Provider::new(sso.provider.clone());
            Arc::new((sso, provider))
        }),
        patient_sso: config.patient_sso.clone().map(|sso| {
            let provider = crate::oidc::Provider::new(sso.provider.clone());
            Arc::new((sso, provider))
        }),
    });
    if state.metrics_token.is_some() || metrics_listener.is_some() {
        web::observe::recorder();
    }
    let metrics = match metrics_listener {
        Some(l) => {
            let addr = l.local_addr()?;
            Some((
                addr,
                web::observe::server(actix_web::web::Data::from(state.clone()), l)?,
            ))
        }
        None => None,
    };
    summaries(Arc::downgrade(&state));
    scheduler(Arc::downgrade(&state), config.scheduler_tick);
    versions(Arc::downgrade(&state));
    let tls_config = tls.as_ref().map(|t| t.server_config()).transpose()?;
    let server = web::server(
        state,
        listener,
        config.workers.max(1),
        tls_config,
        config.shutdown,
    )?;
    Ok(Running {
        addr,
        base_url,
        server,
        demo,
        mailer,
        tls,
        metrics,
        questionnaires,
    })
}
