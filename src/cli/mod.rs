//! The command line: `prom check`, `prom test` and the rest. It wires the
//! catalog and the core together and owns exit codes: 0 success, 1 a
//! problem found in the questionnaires, 2 bad input.

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::catalog;
use crate::core::testing;

mod admin;
pub mod config;
mod doctor;
mod import;

#[derive(Parser)]
#[command(
    name = "prom",
    version,
    about = "An engine for electronic patient-reported outcome measures"
)]
struct Cli {
    /// A TOML file holding any of the settings below (keys are the flags'
    /// names with `_` for `-`); a flag or an environment variable wins
    /// over it.
    #[arg(long, env = "PROM_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile questionnaires and report every problem.
    Check {
        /// A questionnaire file or a folder searched for *.yaml.
        #[arg(default_value = "questionnaires")]
        path: PathBuf,
        /// Accepted like every command's, so scripts can pass it to all;
        /// checking reads no database.
        #[command(flatten)]
        _db: DbArg,
    },
    /// Run the tests that questionnaires carry.
    Test {
        /// A questionnaire file or a folder searched for *.yaml.
        #[arg(default_value = "questionnaires")]
        path: PathBuf,
        /// Accepted like every command's; testing reads no database.
        #[command(flatten)]
        _db: DbArg,
    },
    /// Run the web application and API.
    Serve(Serve),
    /// The configuration: `prom config check` prints the effective
    /// settings of `serve` and where each came from.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Check what `prom serve` needs: the database, files and permissions,
    /// free disk, the SMTP server, the clock, the configuration. One line
    /// each with a fix; exit 0 when all pass, 1 otherwise.
    Doctor(Serve),
    /// Clinics (departments).
    #[command(subcommand)]
    Clinic(admin::ClinicCmd),
    /// Staff accounts.
    #[command(subcommand)]
    User(admin::UserCmd),
    /// Patients.
    #[command(subcommand)]
    Patient(admin::PatientCmd),
    /// Print a one-use link for a patient to answer a questionnaire.
    Invite(admin::Invite),
    /// Follow-up plans.
    #[command(subcommand)]
    Plan(admin::PlanCmd),
    /// API keys.
    #[command(subcommand)]
    Apikey(admin::ApikeyCmd),
    /// Export responses for research or another system.
    Export(admin::Export),
    /// Make a questionnaire file from another format.
    #[command(subcommand)]
    Import(import::ImportCmd),
    /// The audit log.
    #[command(subcommand)]
    Audit(admin::AuditCmd),
    /// A consistent copy of the database, also while `serve` runs.
    Backup(admin::Backup),
    /// Move a deployment from its SQLite file to PostgreSQL: everything
    /// copied into an empty database (sessions left behind), the audit key
    /// taken along, the audit chain checked on the target.
    MigrateDb(admin::MigrateDb),
    /// Replay the stored responses of a questionnaire through its rules
    /// (and a draft's, with --with) and print how often each rule would
    /// flag a week: the alert load of a rule change before it goes live.
    Simulate(admin::Simulate),
    /// Serve questionnaires as patients see them, recompiled at every
    /// reload, with what the answers would give beside the form.
    Preview {
        /// A questionnaire file or a folder searched for *.yaml.
        #[arg(default_value = "questionnaires")]
        path: PathBuf,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
        /// A database whose stored responses are replayed through the
        /// draft's rules: the alert load beside the form (read only).
        #[arg(long)]
        db: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print the settings `prom serve` would run with (secrets masked) and
    /// where each came from: flag, environment, file or default. Exit 1 on
    /// an unknown key or a wrong value in the file.
    Check(Serve),
}

/// The database every command but check and test works on.
#[derive(Args, Debug, Clone)]
pub struct DbArg {
    /// The SQLite database (created with its folder).
    #[arg(long, env = "PROM_DB", default_value = "data/prom.db")]
    pub db: PathBuf,
    /// The database as a URL: `sqlite:FILE` (as --db) or `postgres://…`
    /// (also `host=… dbname=…`); with PostgreSQL the audit key and head
    /// files (and the export's pseudonym key) are kept in --db's folder as
    /// `postgres.audit-key` and so on.
    #[arg(long, env = "PROM_DATABASE_URL")]
    pub database: Option<String>,
}

impl DbArg {
    /// The database these arguments name.
    pub fn database(&self) -> Result<crate::storage::Database, crate::storage::StorageError> {
        crate::startup::Config {
            db: self.db.clone(),
            database: self.database.clone(),
            ..Default::default()
        }
        .database()
    }

    /// Whether there is a database to open: the SQLite file exists, or a
    /// PostgreSQL URL is given.
    pub fn exists(&self) -> bool {
        match self.database() {
            Ok(crate::storage::Database::Sqlite(p)) => p.is_file(),
            Ok(crate::storage::Database::Postgres { .. }) => true,
            Err(_) => true,
        }
    }

    /// Where the audit key and head files (and the pseudonym key) of the
    /// database are named from.
    pub fn files(&self) -> PathBuf {
        match self.database() {
            Ok(crate::storage::Database::Postgres { state, .. }) => state,
            _ => self.db.clone(),
        }
    }
}

/// An address or a network, for --trusted-proxy.
fn parse_network(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is not an address or a network such as 10.0.0.0/24"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct Serve {
    #[command(flatten)]
    db: DbArg,
    /// Where to listen (port 0 picks a free port).
    #[arg(long, env = "PROM_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// The questionnaires to serve.
    #[arg(long, env = "PROM_QUESTIONNAIRES", default_value = "questionnaires")]
    questionnaires: PathBuf,
    /// The public address, for links in e-mails (default: where it listens).
    #[arg(long, env = "PROM_BASE_URL")]
    base_url: Option<String>,
    /// Send e-mail through this SMTP server, e.g. smtp://user:pass@host:587
    /// (without it, e-mails are written as .eml files under --mail-dir).
    #[arg(long, env = "PROM_SMTP_URL")]
    smtp_url: Option<String>,
    /// PEM certificate(s) of an authority trusted for the SMTP server's
    /// TLS, besides the usual roots.
    #[arg(long, env = "PROM_SMTP_CA")]
    smtp_ca: Option<PathBuf>,
    /// The sender of e-mails.
    #[arg(long, env = "PROM_MAIL_FROM", default_value = "prom <prom@localhost>")]
    mail_from: String,
    /// Where e-mails are written without --smtp-url.
    #[arg(long, env = "PROM_MAIL_DIR", default_value = "data/mail")]
    mail_dir: PathBuf,
    /// Seed a demo clinic, staff login, patients with history, and print the links to try.
    #[arg(long, env = "PROM_DEMO")]
    demo: bool,
    /// HTTP worker threads.
    #[arg(long, env = "PROM_WORKERS", default_value_t = 2)]
    workers: usize,
    /// Seconds a client has to send a request's head.
    #[arg(long, env = "PROM_HEADER_TIMEOUT", default_value_t = 5)]
    header_timeout: u64,
    /// Seconds a client has to send a request's whole body.
    #[arg(long, env = "PROM_BODY_TIMEOUT", default_value_t = 30)]
    body_timeout: u64,
    /// Open connections per worker (lowered to fit the open-file limit).
    #[arg(long, env = "PROM_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Request bodies one API key may be sending at once (more are answered
    /// 429 at once): a client that trickles bodies cannot fill the
    /// connections.
    #[arg(long, env = "PROM_MAX_UPLOADS_PER_KEY", default_value_t = 16)]
    max_uploads_per_key: usize,
    /// Request bodies one client address may be sending at once.
    #[arg(long, env = "PROM_MAX_UPLOADS_PER_ADDRESS", default_value_t = 64)]
    max_uploads_per_address: usize,
    /// The WAL is checkpointed and truncated when it grows past this many MiB.
    #[arg(long, env = "PROM_WAL_LIMIT_MIB", default_value_t = 64)]
    wal_limit_mib: u64,
    /// Rendered form pages kept in memory for the next patient on the same
    /// page (about 25 KB each; 0 renders every page afresh).
    #[arg(long, env = "PROM_PAGE_CACHE", default_value_t = crate::web::pages::CACHED_PAGES)]
    page_cache: usize,
    /// Seconds between the scheduler's looks for plans, reminders, missed
    /// questionnaires, digests and escalations that fell due.
    #[arg(long, env = "PROM_SCHEDULER_SECONDS", default_value_t = 30)]
    scheduler_seconds: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics (a listener of its
    /// own, for the monitoring network).
    #[arg(long, env = "PROM_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Also serve /metrics on the public listener to a client that sends
    /// this as `Authorization: Bearer TOKEN`.
    #[arg(long, env = "PROM_METRICS_TOKEN")]
    metrics_token: Option<String>,
    /// Log lines as text or as JSON (one object per line, with the
    /// request id of the request they belong to).
    #[arg(long, env = "PROM_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// What to log: a level (error, warn, info, debug) or a filter such as
    /// `info,prom::access=debug` (an access line per request).
    #[arg(long, env = "PROM_LOG", default_value = "info")]
    log_level: String,
    /// A PEM certificate (chain) to serve HTTPS with, without a proxy; read
    /// again on SIGHUP. Needs --tls-key.
    #[arg(long, env = "PROM_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "PROM_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// A reverse proxy (address or network, such as 10.0.0.5 or
    /// 10.0.0.0/24) whose X-Forwarded-For is believed; repeat for several
    /// (comma-separated in the environment). Others' is ignored.
    #[arg(long = "trusted-proxy", env = "PROM_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Staff single sign-on: the OpenID provider's issuer (its discovery
    /// document is at ISSUER/.well-known/openid-configuration).
    #[arg(long, env = "PROM_STAFF_OIDC_ISSUER", requires_all = ["staff_oidc_client_id", "staff_oidc_client_secret"])]
    staff_oidc_issuer: Option<String>,
    /// The client id prom is registered under at the provider.
    #[arg(long, env = "PROM_STAFF_OIDC_CLIENT_ID")]
    staff_oidc_client_id: Option<String>,
    /// The client secret (from the environment or the configuration file,
    /// never the command line of a shared machine).
    #[arg(long, env = "PROM_STAFF_OIDC_CLIENT_SECRET")]
    staff_oidc_client_secret: Option<String>,
    /// Scopes asked for besides `openid` (comma-separated in the
    /// environment).
    #[arg(
        long,
        env = "PROM_STAFF_OIDC_SCOPES",
        value_delimiter = ',',
        default_value = "email,profile"
    )]
    staff_oidc_scopes: Vec<String>,
    /// The ID token's claim with the groups or roles.
    #[arg(long, env = "PROM_STAFF_OIDC_CLAIM", default_value = "groups")]
    staff_oidc_claim: String,
    /// A claim value mapped to a role in a clinic: VALUE=CLINIC:ROLE (for
    /// example onko-sygepleje=onko:clinician); repeat for several.
    #[arg(
        long = "staff-oidc-role",
        env = "PROM_STAFF_OIDC_ROLES",
        value_delimiter = ','
    )]
    staff_oidc_roles: Vec<crate::usecase::sso::RoleMap>,
    /// The `acr` values a staff login must assert (multi-factor at the
    /// provider); none: not checked.
    #[arg(long, env = "PROM_STAFF_OIDC_ACR", value_delimiter = ',')]
    staff_oidc_acr: Vec<String>,
    /// The `amr` values (authentication methods, such as `otp`, `mfa`,
    /// `hwk`) a staff login must assert at least one of; none: not checked.
    #[arg(long, env = "PROM_STAFF_OIDC_AMR", value_delimiter = ',')]
    staff_oidc_amr: Vec<String>,
    /// Hours a single sign-on session lasts at most, however active.
    #[arg(long, env = "PROM_STAFF_SESSION_HOURS", default_value_t = 12)]
    staff_session_hours: u32,
    /// Patients' login: the OpenID provider's issuer (a MitID broker).
    #[arg(long, env = "PROM_PATIENT_OIDC_ISSUER", requires_all = ["patient_oidc_client_id", "patient_oidc_client_secret"])]
    patient_oidc_issuer: Option<String>,
    /// The client id prom is registered under at the patients' provider.
    #[arg(long, env = "PROM_PATIENT_OIDC_CLIENT_ID")]
    patient_oidc_client_id: Option<String>,
    /// Its client secret.
    #[arg(long, env = "PROM_PATIENT_OIDC_CLIENT_SECRET")]
    patient_oidc_client_secret: Option<String>,
    /// Scopes asked for besides `openid` (comma-separated in the
    /// environment).
    #[arg(
        long,
        env = "PROM_PATIENT_OIDC_SCOPES",
        value_delimiter = ',',
        default_value = "profile"
    )]
    patient_oidc_scopes: Vec<String>,
    /// The claim with the person's identifier: `sub`, or a national
    /// identifier claim the broker sends (stored only as a keyed hash).
    #[arg(long, env = "PROM_PATIENT_OIDC_IDENTIFIER", default_value = "sub")]
    patient_oidc_identifier: String,
    /// The `acr` values a patient's login must assert (for MitID through
    /// NemLog-in: https://data.gov.dk/concept/core/nsis/loa/Substantial).
    #[arg(long, env = "PROM_PATIENT_OIDC_ACR", value_delimiter = ',')]
    patient_oidc_acr: Vec<String>,
    /// Seconds a stop (SIGTERM, SIGINT) waits for requests in flight.
    #[arg(long, env = "PROM_SHUTDOWN_SECONDS", default_value_t = 20)]
    shutdown_seconds: u64,
    /// Testing only: limit the database to this many pages (simulates a full disk).
    #[arg(long, env = "PROM_TEST_MAX_DB_PAGES", hide = true)]
    test_max_db_pages: Option<u64>,
    /// Testing only, UNSAFE: answer before the commit (the crash test's negative control).
    #[arg(long, env = "PROM_TEST_ACK_BEFORE_COMMIT", hide = true)]
    test_ack_before_commit: bool,
}

pub fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cmd = Cli::command();
    let first = cmd
        .clone()
        .try_get_matches_from(&args)
        .unwrap_or_else(|e| e.exit());
    let checking = first.subcommand_name() == Some("config");
    let file = match first.get_one::<PathBuf>("config") {
        Some(path) => match config::read(path, &cmd) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(if checking { 1 } else { 2 });
            }
        },
        None => None,
    };
    let (args, sources) = config::layer(&cmd, args, file.as_ref()).unwrap_or_else(|e| e.exit());
    let matches = cmd
        .clone()
        .try_get_matches_from(&args)
        .unwrap_or_else(|e| e.exit());
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Config(ConfigCmd::Check(s)) => config_check(&cmd, &matches, &sources, s),
        Command::Check { path, .. } => check(&path),
        Command::Test { path, .. } => test(&path),
        Command::Serve(s) => serve(s),
        Command::Doctor(s) => doctor::run(doctor::Settings {
            database: s.db.database(),
            state: &s.db.files(),
            mail_dir: &s.mail_dir,
            smtp_url: s.smtp_url.as_deref(),
            smtp_ca: s.smtp_ca.as_deref(),
            base_url: s.base_url.as_deref(),
            questionnaires: &s.questionnaires,
        }),
        Command::Clinic(c) => admin::run(admin::Cmd::Clinic(c)),
        Command::User(c) => admin::run(admin::Cmd::User(c)),
        Command::Patient(c) => admin::run(admin::Cmd::Patient(c)),
        Command::Invite(c) => admin::run(admin::Cmd::Invite(c)),
        Command::Plan(c) => admin::run(admin::Cmd::Plan(c)),
        Command::Apikey(c) => admin::run(admin::Cmd::Apikey(c)),
        Command::Export(c) => admin::run(admin::Cmd::Export(c)),
        Command::Import(c) => import::run(c),
        Command::Audit(c) => admin::run(admin::Cmd::Audit(c)),
        Command::Backup(c) => admin::run(admin::Cmd::Backup(c)),
        Command::MigrateDb(c) => admin::run(admin::Cmd::MigrateDb(c)),
        Command::Simulate(c) => admin::run(admin::Cmd::Simulate(c)),
        Command::Preview { path, listen, db } => preview(path, db, &listen),
    }
}

/// `prom config check`: each setting of `serve`, its value (secrets
/// masked) and where it came from; then whether the database URL parses.
fn config_check(
    cmd: &clap::Command,
    matches: &clap::ArgMatches,
    sources: &std::collections::BTreeMap<String, config::Source>,
    s: Serve,
) -> ExitCode {
    let Some(("config", m)) = matches.subcommand() else {
        return ExitCode::from(2);
    };
    let Some(("check", m)) = m.subcommand() else {
        return ExitCode::from(2);
    };
    let Some(check) = cmd
        .find_subcommand("config")
        .and_then(|c| c.find_subcommand("check"))
    else {
        return ExitCode::from(2);
    };
    let mut rows = Vec::new();
    for a in check.get_arguments() {
        let id = a.get_id().as_str();
        let Some(source) = sources.get(id) else {
            continue;
        };
        let value = m
            .get_raw(id)
            .map(|vs| {
                vs.map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_else(|| "(not set)".into());
        let value = match a.get_action() {
            clap::ArgAction::SetTrue => m.get_flag(id).to_string(),
            _ => value,
        };
        rows.push((
            id.to_string(),
            config::masked(id, &value),
            source.to_string(),
        ));
    }
    let width = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (id, value, source) in &rows {
        println!("{id:width$} = {value}  # {source}");
    }
    if let Err(e) = s.db.database() {
        eprintln!("error: {e}");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn serve(s: Serve) -> ExitCode {
    let filter = match tracing_subscriber::EnvFilter::try_new(&s.log_level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: `{}` is not a log level or filter: {e}", s.log_level);
            return ExitCode::from(2);
        }
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match s.log_format {
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
        LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
    }
    let config = crate::startup::Config {
        listen: s.listen,
        db: s.db.db,
        database: s.db.database,
        questionnaires: s.questionnaires,
        base_url: s.base_url,
        smtp_url: s.smtp_url,
        smtp_ca: s.smtp_ca,
        mail_from: s.mail_from,
        mail_dir: s.mail_dir,
        demo: s.demo,
        workers: s.workers,
        storage: crate::storage::Options {
            max_pages: s.test_max_db_pages,
        },
        writer: crate::storage::writer::WriterOptions {
            ack_before_commit: s.test_ack_before_commit,
            wal_limit: s.wal_limit_mib.max(1) * 1024 * 1024,
        },
        limits: crate::web::Limits {
            headers: std::time::Duration::from_secs(s.header_timeout.max(1)),
            body: std::time::Duration::from_secs(s.body_timeout.max(1)),
            connections_per_worker: s.max_connections.max(1),
            uploads: crate::web::uploads::Caps {
                per_key: s.max_uploads_per_key.max(1),
                per_address: s.max_uploads_per_address.max(1),
            },
        },
        page_cache: s.page_cache,
        scheduler_tick: std::time::Duration::from_secs(s.scheduler_seconds.max(1)),
        metrics_listen: s.metrics_listen,
        metrics_token: s.metrics_token,
        tls: s.tls_cert.zip(s.tls_key),
        trusted_proxies: s.trusted_proxies,
        shutdown: std::time::Duration::from_secs(s.shutdown_seconds),
        staff_sso: s
            .staff_oidc_issuer
            .map(|issuer| crate::usecase::sso::StaffSso {
                provider: crate::oidc::ProviderConfig {
                    issuer,
                    client_id: s.staff_oidc_client_id.unwrap_or_default(),
                    client_secret: s.staff_oidc_client_secret.unwrap_or_default(),
                    scopes: s.staff_oidc_scopes,
                    acr: s.staff_oidc_acr,
                    amr: s.staff_oidc_amr,
                },
                claim: s.staff_oidc_claim,
                roles: s.staff_oidc_roles,
                max_session: chrono::Duration::hours(i64::from(s.staff_session_hours.max(1))),
            }),
        patient_sso: s
            .patient_oidc_issuer
            .map(|issuer| crate::usecase::person::PatientSso {
                provider: crate::oidc::ProviderConfig {
                    issuer,
                    client_id: s.patient_oidc_client_id.unwrap_or_default(),
                    client_secret: s.patient_oidc_client_secret.unwrap_or_default(),
                    scopes: s.patient_oidc_scopes,
                    acr: s.patient_oidc_acr,
                    amr: Vec::new(),
                },
                identifier: s.patient_oidc_identifier,
            }),
    };
    let system = actix_web::rt::System::new();
    let result: anyhow::Result<()> = system.block_on(async move {
        let running =
            crate::startup::start(&config, std::sync::Arc::new(crate::clock::SystemClock))?;
        print_start(&running, &config);
        if let Some(tls) = running.tls.clone() {
            reload_on_hangup(tls);
        }
        let metrics = running.metrics.as_ref().map(|(_, m)| m.handle());
        if let Some((_, m)) = running.metrics {
            actix_web::rt::spawn(m);
        }
        running.server.await?;
        if let Some(m) = metrics {
            m.stop(true).await;
        }
        drop(running.mailer);
        // A clean shutdown leaves the WAL empty: the writer and reader
        // threads may not close their connections before the process ends,
        // and only the last connection to close would checkpoint it.
        crate::storage::close_wal(&config.db, &config.storage)?;
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Reads the TLS certificate again at every SIGHUP.
fn reload_on_hangup(tls: std::sync::Arc<crate::web::tls::Reloadable>) {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::hangup()) {
        Ok(mut hup) => {
            actix_web::rt::spawn(async move {
                while hup.recv().await.is_some() {
                    tls.reload();
                }
            });
        }
        Err(e) => {
            tracing::warn!(error = %e, "SIGHUP cannot be caught: the certificate is read at start only")
        }
    }
}

/// `prom preview`: the questionnaires as patients see them, recompiled at
/// every reload.
fn preview(path: PathBuf, db: Option<PathBuf>, listen: &str) -> ExitCode {
    if !path.exists() {
        eprintln!("error: {} does not exist", path.display());
        return ExitCode::from(2);
    }
    let listener = match std::net::TcpListener::bind(listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let system = actix_web::rt::System::new();
    let result: anyhow::Result<()> = system.block_on(async move {
        if let Some(d) = db.as_ref().filter(|d| !d.is_file()) {
            anyhow::bail!("there is no database at {}", d.display());
        }
        let server = crate::web::preview::server(path.clone(), db, listener)?;
        println!(
            "previewing {} at http://{addr}/ (edit, save, reload)",
            path.display()
        );
        server.await?;
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Prints where the server listens and, with `--demo`, what to try. A
/// closed standard output (a supervisor that read only the first line) must
/// not stop the server, so write errors are ignored, never a panic.
fn print_start(r: &crate::startup::Running, config: &crate::startup::Config) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let scheme = if r.tls.is_some() { "https" } else { "http" };
    let _ = writeln!(out, "prom is listening on {scheme}://{}", r.addr);
    let database = config
        .database()
        .map(|d| d.describe())
        .unwrap_or_else(|_| config.db.display().to_string());
    let _ = writeln!(out, "  database:       {database}");
    let _ = writeln!(out, "  questionnaires: {}", r.questionnaires);
    if let Some((addr, _)) = &r.metrics {
        let _ = writeln!(out, "  metrics:        http://{addr}/metrics");
    }
    let _ = match &config.smtp_url {
        Some(_) => writeln!(out, "  e-mail:         sent over SMTP"),
        None => writeln!(
            out,
            "  e-mail:         written as files in {}",
            config.mail_dir.display()
        ),
    };
    if let Some(d) = &r.demo {
        let b = &r.base_url;
        let k = &d.api_key;
        let _ = writeln!(out);
        let _ = writeln!(out, "Demo clinic `{}` is ready.", d.clinic);
        let _ = writeln!(
            out,
            "  workspace:    {b}/clinic  (the review queue, patients, admin pages)"
        );
        let _ = writeln!(
            out,
            "  staff login:  {} / {}  (an admin; printed once; renewed at every --demo start;",
            d.staff_email, d.staff_password
        );
        let _ = writeln!(
            out,
            "                the first login sets up the second factor with any authenticator app)"
        );
        let _ = writeln!(out, "  API key:      {k}");
        let _ = writeln!(out, "  patients:     {}", d.patients.join(", "));
        let _ = writeln!(
            out,
            "  patient link: {}  (open it in a browser: the pain questionnaire as D003 sees it)",
            d.patient_link
        );
        let _ = writeln!(out);
        let _ = writeln!(out, "Try:");
        let _ = writeln!(out, "  curl {b}/healthz");
        let _ = writeln!(
            out,
            "  curl -H 'Authorization: Bearer {k}' {b}/api/v1/questionnaires"
        );
        let _ = writeln!(
            out,
            "  curl -H 'Authorization: Bearer {k}' '{b}/api/v1/flags?status=open'"
        );
        let _ = writeln!(
            out,
            "  curl -H 'Authorization: Bearer {k}' {b}/api/v1/patients/D002/responses"
        );
        let _ = writeln!(
            out,
            "  curl -H 'Authorization: Bearer {k}' -H 'Content-Type: application/json' -d '{{\"questionnaire\": \"pain_nrs\", \"patient\": \"D003\", \"answers\": {{\"pain_now\": 9, \"pain_worst\": 9}}}}' {b}/api/v1/responses"
        );
    }
    let _ = out.flush();
}

fn load(path: &std::path::Path) -> Result<Vec<catalog::Entry>, ExitCode> {
    catalog::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    let entries = match load(path) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let (mut errors, mut warnings) = (0, 0);
    for e in &entries {
        print!("{}", e.render());
        errors += e.errors();
        warnings += e.warnings();
    }
    println!(
        "checked {}: {}, {}",
        plural(entries.len(), "questionnaire"),
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    if errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn test(path: &std::path::Path) -> ExitCode {
    let entries = match load(path) {
        Ok(e) => e,
        Err(code) => return code,
    };
    let (mut passed, mut failed) = (0, 0);
    for e in &entries {
        let Some(q) = e.questionnaire() else {
            print!("{}", e.render());
            println!(
                "FAIL {}: does not compile, so its tests cannot run",
                e.display
            );
            failed += 1;
            continue;
        };
        for t in &e.compiled.tests {
            let fails = testing::run(q, t);
            if fails.is_empty() {
                passed += 1;
                println!("ok   {} › {}", q.id, t.name);
            } else {
                failed += 1;
                println!("FAIL {} › {} ({}:{})", q.id, t.name, e.display, t.line);
                for f in fails {
                    println!("       {f}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
