//! Administration commands. Each opens the database, does its work in one
//! `BEGIN IMMEDIATE` transaction with an audit row, and commits: nothing is
//! half-written. Bad input gets one line on standard error and status 2.

use crate::storage::Connection;
use chrono::Duration;
use clap::{Args, Subcommand};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use super::DbArg;

mod export;
mod migrate_db;
mod simulate;

pub use migrate_db::MigrateDb;

use crate::clock::{Clock, SystemClock, local_date};
use crate::security;
use crate::storage::audit::{self, Entry};
use crate::storage::clinics::Clinic;
use crate::storage::ids::ts;
use crate::storage::patients::NewPatient;
use crate::storage::{self, Options, StorageError};
pub use export::Export;
pub use simulate::Simulate;

#[derive(Subcommand, Debug)]
pub enum ClinicCmd {
    /// Add a clinic.
    Add {
        /// The clinic's id, such as `gyn_aarhus`.
        id: String,
        #[arg(long)]
        name: String,
        /// Where red-flag alerts go (repeat for several).
        #[arg(long = "alert-email")]
        alert_email: Vec<String>,
        /// The clinic's time zone, for calendar dates.
        #[arg(long, default_value = "Europe/Copenhagen")]
        time_zone: String,
        #[command(flatten)]
        alerting: AlertingArgs,
        #[command(flatten)]
        db: DbArg,
    },
    /// Show, or set, the outcomes the clinic's staff choose from when
    /// resolving an item (the default: phone, visit_earlier, advice,
    /// referred, no_action, false_alarm).
    Outcomes {
        id: String,
        /// An outcome of the clinic's own list, as CODE:DANISH:ENGLISH
        /// (repeat, in the order shown); replaces the list.
        #[arg(long = "outcome")]
        outcome: Vec<String>,
        /// Back to the default list.
        #[arg(long, conflicts_with = "outcome")]
        default: bool,
        #[command(flatten)]
        db: DbArg,
    },
    /// Change how a clinic is alerted (only what is given changes).
    Alerting {
        id: String,
        #[command(flatten)]
        alerting: AlertingArgs,
        #[command(flatten)]
        db: DbArg,
    },
}

/// How a clinic is alerted.
#[derive(clap::Args, Debug, Default)]
pub struct AlertingArgs {
    /// Where a red item that nobody took in time goes (repeat for several).
    #[arg(long = "escalation-email")]
    escalation_email: Vec<String>,
    /// The language of the clinic's e-mails: da (default) or en.
    #[arg(long)]
    language: Option<String>,
    /// Reds after the first within this many minutes go in one message
    /// (default 5).
    #[arg(long)]
    storm_minutes: Option<u32>,
    /// The hour, in the clinic's time, of the daily yellow digest (default 7).
    #[arg(long)]
    digest_hour: Option<u32>,
    /// A red item not taken within this many hours is escalated (default 4).
    #[arg(long)]
    escalate_hours: Option<u32>,
    /// Working days after the day a red item opened before the queue marks
    /// it overdue (default 0: the same day).
    #[arg(long)]
    red_response_days: Option<u32>,
    /// Working days after the day a yellow item opened before the queue
    /// marks it overdue (default 1).
    #[arg(long)]
    yellow_response_days: Option<u32>,
}

/// Applies what `a` gives to the clinic's alerting.
fn set_alerting(tx: &crate::storage::Connection, id: &str, a: &AlertingArgs) -> Result<(), Fail> {
    for e in &a.escalation_email {
        check_email(e)?;
    }
    let mut p = crate::storage::clinics::alerting(tx, id)?;
    if !a.escalation_email.is_empty() {
        p.escalation_emails = a.escalation_email.clone();
    }
    if let Some(l) = &a.language {
        if crate::vocab::Language::parse(l).is_err() {
            return Err(Fail(format!("--language must be da or en, not `{l}`")));
        }
        p.language = l.clone();
    }
    if let Some(m) = a.storm_minutes {
        if !(1..=1440).contains(&m) {
            return Err(Fail("--storm-minutes must be from 1 to 1440".into()));
        }
        p.storm_minutes = m;
    }
    if let Some(h) = a.digest_hour {
        if h > 23 {
            return Err(Fail("--digest-hour must be from 0 to 23".into()));
        }
        p.digest_hour = h;
    }
    if let Some(h) = a.escalate_hours {
        if !(1..=168).contains(&h) {
            return Err(Fail("--escalate-hours must be from 1 to 168".into()));
        }
        p.escalate_hours = h;
    }
    crate::storage::clinics::set_alerting(tx, id, &p)?;
    let mut times = crate::storage::clinics::response_times(tx, id)?;
    for (given, field, flag) in [
        (
            a.red_response_days,
            &mut times.red_days,
            "--red-response-days",
        ),
        (
            a.yellow_response_days,
            &mut times.yellow_days,
            "--yellow-response-days",
        ),
    ] {
        if let Some(d) = given {
            if d > 30 {
                return Err(Fail(format!("{flag} must be from 0 to 30")));
            }
            *field = d;
        }
    }
    crate::storage::clinics::set_response_times(tx, id, &times)?;
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum UserCmd {
    /// Add a staff account; the password is read from standard input, or
    /// generated and printed once.
    Add {
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["clinician", "admin"])]
        role: String,
        #[arg(long)]
        clinic: String,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum PatientCmd {
    /// Add a patient.
    Add {
        #[arg(long)]
        clinic: String,
        /// The clinic's own reference for the patient.
        #[arg(long = "ref")]
        reference: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long, default_value = "da", value_parser = ["da", "en"])]
        language: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Print a personal "my data" link for a patient (used once; only its
    /// hash is stored).
    Link {
        /// The patient's reference.
        reference: String,
        #[arg(long)]
        clinic: Option<String>,
        /// How many days the link works.
        #[arg(long, default_value_t = 14)]
        days: u32,
        /// The public address the link starts with (as `serve`'s).
        #[arg(long, env = "PROM_BASE_URL")]
        base_url: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
    /// Revoke every personal link of a patient.
    Unlink {
        reference: String,
        #[arg(long)]
        clinic: Option<String>,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Args, Debug)]
pub struct Invite {
    /// The patient's reference.
    reference: String,
    #[arg(long)]
    questionnaire: String,
    /// The clinic, when the reference exists in several.
    #[arg(long)]
    clinic: Option<String>,
    /// How many days the link works.
    #[arg(long, default_value_t = 14)]
    days: u32,
    /// The public address the link starts with (as `serve`'s).
    #[arg(long, env = "PROM_BASE_URL")]
    base_url: Option<String>,
    #[arg(long, env = "PROM_QUESTIONNAIRES", default_value = "questionnaires")]
    questionnaires: PathBuf,
    #[command(flatten)]
    db: DbArg,
}

#[derive(Subcommand, Debug)]
pub enum PlanCmd {
    /// Invite a patient to a questionnaire every DAYS days, with reminders.
    Add {
        /// The patient's reference.
        reference: String,
        #[arg(long)]
        questionnaire: String,
        #[arg(long)]
        every: u32,
        #[arg(long)]
        clinic: Option<String>,
        /// How many days each invitation works.
        #[arg(long, default_value_t = 14)]
        deadline_days: u32,
        /// A reminder after this many days unanswered (0: none).
        #[arg(long, default_value_t = 3)]
        reminder_days: u32,
        /// After a red or yellow response, the next invitation within this
        /// many days (0: keep the rhythm).
        #[arg(long, default_value_t = 0)]
        early_days: u32,
        #[arg(long, env = "PROM_QUESTIONNAIRES", default_value = "questionnaires")]
        questionnaires: PathBuf,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApikeyCmd {
    /// Print a new API key once (only its hash is stored).
    Add {
        #[arg(long)]
        clinic: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// List a clinic's keys: prefix, created, last used, revoked.
    List {
        #[arg(long)]
        clinic: String,
        #[command(flatten)]
        db: DbArg,
    },
    /// Revoke a key, named by its prefix as `list` shows it; a running
    /// server refuses it within a second.
    Revoke {
        prefix: String,
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// Check that no row of the audit log was changed or removed.
    Verify {
        #[command(flatten)]
        db: DbArg,
    },
}

#[derive(Args, Debug)]
pub struct Backup {
    /// The file to write; it must not exist yet.
    file: PathBuf,
    #[command(flatten)]
    db: DbArg,
}

pub enum Cmd {
    MigrateDb(MigrateDb),
    Simulate(Simulate),
    Backup(Backup),
    Clinic(ClinicCmd),
    User(UserCmd),
    Patient(PatientCmd),
    Invite(Invite),
    Plan(PlanCmd),
    Apikey(ApikeyCmd),
    Export(Export),
    Audit(AuditCmd),
}

/// A failure to report: one line, status 2.
struct Fail(String);

impl From<StorageError> for Fail {
    fn from(e: StorageError) -> Fail {
        Fail(e.to_string())
    }
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Fail {
        Fail(StorageError::from(e).to_string())
    }
}

pub fn run(cmd: Cmd) -> ExitCode {
    if let Cmd::Audit(AuditCmd::Verify { db }) = &cmd {
        return verify(db);
    }
    match dispatch(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Opens an existing database for a command that only reads: a missing
/// database is an error, never created.
fn open_existing(db: &DbArg) -> Result<Connection, Fail> {
    if !db.exists() {
        return Err(Fail(format!(
            "there is no database at {}; give the right one with --db",
            db.db.display()
        )));
    }
    open(db)
}

fn open(db: &DbArg) -> Result<Connection, Fail> {
    let database = db.database()?;
    let mut conn = storage::open_database(&database, &Options::default()).map_err(|e| {
        Fail(format!(
            "cannot open the database {}: {e}",
            database.describe()
        ))
    })?;
    storage::wait_for_writer(&mut conn)?;
    Ok(conn)
}

/// Runs `f` in one immediate transaction with an audit row, then commits.
fn in_tx<T>(
    conn: &mut Connection,
    f: impl FnOnce(&Connection) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let tx = conn.transaction()?;
    let out = f(&tx)?;
    tx.commit()?;
    let _ = audit::refresh_head(conn);
    Ok(out)
}

fn audit_cli(
    conn: &Connection,
    action: &str,
    clinic: Option<&str>,
    patient: Option<&str>,
    subject: Option<&str>,
) -> Result<(), Fail> {
    let at = ts(SystemClock.now());
    audit::append(
        conn,
        &Entry {
            at: &at,
            actor: "cli",
            action,
            clinic_id: clinic,
            patient_id: patient,
            subject,
            content_hash: None,
        },
    )?;
    Ok(())
}

fn check_id(id: &str, what: &str) -> Result<(), Fail> {
    let ok = id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && id.len() <= 64;
    if ok {
        Ok(())
    } else {
        Err(Fail(format!(
            "`{id}` is not a valid {what}: use lowercase letters, digits, `_` and `-`, starting with a letter"
        )))
    }
}

fn check_email(e: &str) -> Result<(), Fail> {
    crate::vocab::Email::parse(e).map(|_| ()).map_err(Fail)
}

/// The patient with this reference: in `clinic`, or the only one anywhere.
fn find_patient(
    conn: &Connection,
    reference: &str,
    clinic: Option<&str>,
) -> Result<(String, String), Fail> {
    let reference = crate::vocab::PatientRef::parse(reference)
        .map_err(|e| Fail(format!("the reference: {e}")))?;
    let reference = reference.as_str();
    if let Some(c) = clinic {
        let id = crate::storage::patients::patient_id(conn, c, reference).map_err(|_| {
            Fail(format!(
                "there is no patient `{reference}` in the clinic `{c}`"
            ))
        })?;
        return Ok((id, c.to_string()));
    }
    let mut found = crate::storage::patients::patients_with_ref(conn, reference)?;
    match found.len() {
        0 => Err(Fail(format!("there is no patient `{reference}`"))),
        1 => Ok(found.remove(0)),
        _ => Err(Fail(format!(
            "the reference `{reference}` exists in several clinics; say which with --clinic"
        ))),
    }
}

/// The questionnaires at `dir`, refused whole when any has errors.
fn load_catalog(dir: &std::path::Path) -> Result<crate::catalog::Catalog, Fail> {
    crate::catalog::Catalog::load_or_shipped(dir)
        .map(|(c, _)| c)
        .map_err(|_| {
            Fail(format!(
                "the questionnaires in {} have errors; run `prom check`",
                dir.display()
            ))
        })
}

fn questionnaire_exists(dir: &std::path::Path, id: &str) -> Result<(), Fail> {
    let catalog = load_catalog(dir)?;
    if catalog.get(id).is_some() {
        Ok(())
    } else {
        Err(Fail(format!(
            "there is no questionnaire `{id}` in {}",
            dir.display()
        )))
    }
}

fn dispatch(cmd: Cmd) -> Result<(), Fail> {
    let now = SystemClock.now();
    match cmd {
        Cmd::Clinic(ClinicCmd::Outcomes {
            id,
            outcome,
            default,
            db,
        }) => {
            let mut list = Vec::new();
            for o in &outcome {
                let mut parts = o.splitn(3, ':');
                let (Some(code), Some(da), Some(en)) = (parts.next(), parts.next(), parts.next())
                else {
                    return Err(Fail(format!(
                        "--outcome `{o}` is not CODE:DANISH:ENGLISH (for example phone:Kontaktet telefonisk:Contacted by phone)"
                    )));
                };
                check_id(code, "outcome code")?;
                if da.trim().is_empty() || en.trim().is_empty() {
                    return Err(Fail(format!(
                        "--outcome `{o}` needs a Danish and an English text"
                    )));
                }
                if list
                    .iter()
                    .any(|c: &crate::storage::clinics::OutcomeChoice| c.code == code)
                {
                    return Err(Fail(format!("the outcome `{code}` is given twice")));
                }
                list.push(crate::storage::clinics::OutcomeChoice {
                    code: code.into(),
                    da: da.trim().into(),
                    en: en.trim().into(),
                });
            }
            let mut conn = open_existing(&db)?;
            let shown = in_tx(&mut conn, |tx| {
                crate::storage::clinics::get_clinic(tx, &id)?;
                if default || !list.is_empty() {
                    crate::storage::clinics::set_outcomes(
                        tx,
                        &id,
                        (!default).then_some(list.as_slice()),
                    )?;
                    audit_cli(tx, "clinic.outcomes", Some(&id), None, None)?;
                }
                Ok(crate::storage::clinics::outcomes(tx, &id)?)
            })?;
            match shown {
                Some(own) => {
                    for o in own {
                        println!("{}\t{}\t{}", o.code, o.da, o.en);
                    }
                }
                None => {
                    for o in crate::storage::review::OUTCOMES {
                        println!("{o}\t(default)");
                    }
                }
            }
        }
        Cmd::Clinic(ClinicCmd::Alerting { id, alerting, db }) => {
            let mut conn = open_existing(&db)?;
            in_tx(&mut conn, |tx| {
                crate::storage::clinics::get_clinic(tx, &id)?;
                set_alerting(tx, &id, &alerting)?;
                audit_cli(tx, "clinic.alerting", Some(&id), None, None)
            })?;
            println!("changed how clinic {id} is alerted");
        }
        Cmd::Clinic(ClinicCmd::Add {
            id,
            name,
            alert_email,
            time_zone,
            alerting,
            db,
        }) => {
            check_id(&id, "clinic id")?;
            if name.trim().is_empty() {
                return Err(Fail("--name must not be empty".into()));
            }
            for e in &alert_email {
                check_email(e)?;
            }
            if time_zone.parse::<chrono_tz::Tz>().is_err() {
                return Err(Fail(format!(
                    "`{time_zone}` is not a time zone (such as Europe/Copenhagen)"
                )));
            }
            let mut conn = open(&db)?;
            in_tx(&mut conn, |tx| {
                crate::storage::clinics::insert_clinic(
                    tx,
                    &Clinic {
                        id: id.clone(),
                        name,
                        alert_emails: alert_email,
                        time_zone,
                    },
                    now,
                )?;
                set_alerting(tx, &id, &alerting)?;
                audit_cli(tx, "clinic.create", Some(&id), None, None)
            })?;
            println!("added clinic {id}");
        }
        Cmd::User(UserCmd::Add {
            email,
            name,
            role,
            clinic,
            db,
        }) => {
            check_email(&email)?;
            let stdin = std::io::stdin();
            let mut given = String::new();
            if !stdin.is_terminal() {
                let _ = stdin.lock().take(10_000).read_to_string(&mut given);
            }
            let given = given.lines().next().unwrap_or("").to_string();
            let (password, generated) = if given.is_empty() {
                (security::new_password(), true)
            } else if given.chars().count() < 12 {
                return Err(Fail("the password must be at least 12 characters".into()));
            } else {
                (given, false)
            };
            let hash = security::hash_password(&password).map_err(|e| Fail(e.to_string()))?;
            let mut conn = open(&db)?;
            let id = in_tx(&mut conn, |tx| {
                let id = crate::storage::clinics::insert_user(
                    tx, &clinic, &email, &name, &role, &hash, now,
                )
                .map_err(|e| match e {
                    StorageError::NotFound => Fail(format!("there is no clinic `{clinic}`")),
                    other => other.into(),
                })?;
                audit_cli(tx, "user.create", Some(&clinic), None, Some(&id))?;
                Ok(id)
            })?;
            println!("added {role} {email} ({id})");
            if generated {
                println!("password (shown once): {password}");
            }
        }
        Cmd::Patient(PatientCmd::Link {
            reference,
            clinic,
            days,
            base_url,
            db,
        }) => {
            if days == 0 || days > 3650 {
                return Err(Fail("--days must be from 1 to 3650".into()));
            }
            let mut conn = open_existing(&db)?;
            let token = in_tx(&mut conn, |tx| {
                let (pid, clinic) = find_patient(tx, &reference, clinic.as_deref())?;
                Ok(crate::usecase::invitation::new_personal_link(
                    tx,
                    "cli",
                    &pid,
                    &clinic,
                    i64::from(days),
                    now,
                )?)
            })?;
            println!("{}/me/{token}", public_base(base_url.as_deref()));
        }
        Cmd::Patient(PatientCmd::Unlink {
            reference,
            clinic,
            db,
        }) => {
            let mut conn = open_existing(&db)?;
            let n = in_tx(&mut conn, |tx| {
                let (pid, clinic) = find_patient(tx, &reference, clinic.as_deref())?;
                let n = crate::storage::sessions::revoke_personal_links(tx, &pid, now)?;
                audit_cli(tx, "personal_link.revoke", Some(&clinic), Some(&pid), None)?;
                Ok(n)
            })?;
            println!("revoked {n} personal link(s) of {reference}");
        }
        Cmd::Patient(PatientCmd::Add {
            clinic,
            reference,
            name,
            email,
            language,
            db,
        }) => {
            let reference = crate::vocab::PatientRef::parse(&reference)
                .map_err(|e| Fail(format!("--ref: {e}")))?
                .into_string();
            let email = email
                .as_deref()
                .map(crate::vocab::Email::parse)
                .transpose()
                .map_err(Fail)?
                .map(crate::vocab::Email::into_string);
            let mut conn = open(&db)?;
            let id = in_tx(&mut conn, |tx| {
                crate::storage::clinics::get_clinic(tx, &clinic)
                    .map_err(|_| Fail(format!("there is no clinic `{clinic}`")))?;
                let id = crate::storage::patients::insert_patient(
                    tx,
                    &NewPatient {
                        clinic_id: clinic.clone(),
                        reference: reference.clone(),
                        name,
                        email,
                        language,
                    },
                    now,
                )?;
                audit_cli(tx, "patient.create", Some(&clinic), Some(&id), None)?;
                Ok(id)
            })?;
            println!("added patient {reference} ({id})");
        }
        Cmd::Invite(i) => {
            if i.days == 0 || i.days > 365 {
                return Err(Fail("--days must be from 1 to 365".into()));
            }
            questionnaire_exists(&i.questionnaires, &i.questionnaire)?;
            let mut conn = open(&i.db)?;
            let token = security::new_token("prom_inv_");
            let hash = security::token_hash(&token);
            in_tx(&mut conn, |tx| {
                let (pid, clinic) = find_patient(tx, &i.reference, i.clinic.as_deref())?;
                let id = crate::storage::invitations::insert_invitation(
                    tx,
                    &pid,
                    &i.questionnaire,
                    &hash,
                    now + Duration::days(i64::from(i.days)),
                    now,
                )?;
                audit_cli(
                    tx,
                    "invitation.create",
                    Some(&clinic),
                    Some(&pid),
                    Some(&id),
                )
            })?;
            println!("{}/a/{token}", public_base(i.base_url.as_deref()));
        }
        Cmd::Plan(PlanCmd::Add {
            reference,
            questionnaire,
            every,
            clinic,
            deadline_days,
            reminder_days,
            early_days,
            questionnaires,
            db,
        }) => {
            if every == 0 || every > 3650 {
                return Err(Fail(
                    "--every must be a number of days from 1 to 3650".into(),
                ));
            }
            if deadline_days == 0 || deadline_days > 365 || reminder_days > 365 || early_days > 3650
            {
                return Err(Fail(
                    "--deadline-days must be 1-365, --reminder-days 0-365, --early-days 0-3650"
                        .into(),
                ));
            }
            questionnaire_exists(&questionnaires, &questionnaire)?;
            let mut conn = open(&db)?;
            let id = in_tx(&mut conn, |tx| {
                let (pid, clinic) = find_patient(tx, &reference, clinic.as_deref())?;
                let tz = crate::storage::clinics::get_clinic(tx, &clinic)?.time_zone;
                let first = local_date(now, &tz);
                let id = crate::storage::invitations::insert_plan(
                    tx,
                    &pid,
                    &questionnaire,
                    every,
                    first,
                    now,
                )?;
                crate::storage::invitations::set_plan_timing(
                    tx,
                    &id,
                    deadline_days,
                    reminder_days,
                    early_days,
                )?;
                audit_cli(tx, "plan.create", Some(&clinic), Some(&pid), Some(&id))?;
                Ok(id)
            })?;
            println!(
                "added plan {id}: {questionnaire} every {every} days for {reference}, first due today"
            );
        }
        Cmd::Apikey(ApikeyCmd::Add { clinic, db }) => {
            let key = security::new_token("prom_key_");
            let hash = security::token_hash(&key);
            let prefix = crate::storage::keys::prefix_of(&key);
            let mut conn = open(&db)?;
            in_tx(&mut conn, |tx| {
                let id =
                    crate::storage::keys::insert_api_key(tx, &clinic, &hash, Some(&prefix), now)
                        .map_err(|e| match e {
                            StorageError::NotFound => {
                                Fail(format!("there is no clinic `{clinic}`"))
                            }
                            other => other.into(),
                        })?;
                audit_cli(tx, "apikey.create", Some(&clinic), None, Some(&id))
            })?;
            println!("{key}");
        }
        Cmd::Apikey(ApikeyCmd::List { clinic, db }) => {
            let mut conn = open_existing(&db)?;
            let keys = in_tx(&mut conn, |tx| {
                crate::storage::keys::list(tx, &clinic).map_err(|e| match e {
                    StorageError::NotFound => Fail(format!("there is no clinic `{clinic}`")),
                    other => other.into(),
                })
            })?;
            println!(
                "{:<20} {:<26} {:<26} revoked",
                "key", "created", "last used"
            );
            for k in keys {
                println!(
                    "{:<20} {:<26} {:<26} {}",
                    k.name,
                    k.created_at,
                    k.last_used_at.as_deref().unwrap_or("never"),
                    k.revoked_at.as_deref().unwrap_or("no")
                );
            }
        }
        Cmd::Apikey(ApikeyCmd::Revoke { prefix, db }) => {
            let mut conn = open_existing(&db)?;
            in_tx(&mut conn, |tx| {
                let clinic =
                    crate::storage::keys::revoke(tx, &prefix, now).map_err(|e| match e {
                        StorageError::NotFound => Fail(format!(
                            "there is no key `{prefix}`; `prom apikey list --clinic ID` shows them"
                        )),
                        other => other.into(),
                    })?;
                audit_cli(tx, "apikey.revoke", Some(&clinic), None, Some(&prefix))
            })?;
            println!("revoked {prefix}; a running server refuses it within a second");
        }
        Cmd::Export(e) => export::export(e)?,
        Cmd::Simulate(s) => simulate::simulate(&s)?,
        Cmd::MigrateDb(m) => migrate_db::migrate_db(&m)?,
        Cmd::Backup(b) => {
            if let storage::Database::Postgres { .. } = b.db.database()? {
                return Err(Fail(
                    "prom backup copies an SQLite file; on PostgreSQL use pg_dump or base backups (docs/DEPLOYMENT.md)".into(),
                ));
            }
            if !b.db.db.is_file() {
                return Err(Fail(format!(
                    "there is no database at {}; give the right one with --db",
                    b.db.db.display()
                )));
            }
            let conn = storage::connect(&b.db.db, &Options::default())?;
            let copied = storage::backup(&conn, &b.file)?;
            println!(
                "backed up {} ({copied} bytes), with its audit head {}",
                b.file.display(),
                audit::head_path(&b.file).display()
            );
            println!(
                "the audit key is not in the backup: keep {} (or {}) safe on its own",
                audit::key_path(&b.db.db).display(),
                audit::KEY_ENV
            );
        }
        Cmd::Audit(AuditCmd::Verify { db }) => {
            unreachable!("verify is run by `verify` ({})", db.db.display())
        }
    }
    Ok(())
}

/// `prom audit verify`: 0 intact, 1 tampered, 2 cannot check. It writes
/// nothing: no migration, no key, no database where there was none.
fn verify(db: &DbArg) -> ExitCode {
    let cannot = |msg: String| {
        eprintln!("error: cannot check the audit log: {msg}");
        ExitCode::from(2)
    };
    if !db.exists() {
        return cannot(format!(
            "there is no database at {}; give the right one with --db",
            db.db.display()
        ));
    }
    let database = match db.database() {
        Ok(d) => d,
        Err(e) => return cannot(e.to_string()),
    };
    let conn = match storage::connect_to(&database, &Options::default()) {
        Ok(c) => c,
        Err(e) => return cannot(e.to_string()),
    };
    match audit::verify(&conn, &db.files()) {
        Ok(audit::Verdict::Intact { rows, responses }) => {
            println!(
                "the audit log is intact: {rows} rows, every link checked, {responses} responses as stored"
            );
            ExitCode::SUCCESS
        }
        Ok(audit::Verdict::Broken { seq, reason }) => {
            eprintln!("error: the audit log was tampered with at row {seq}: {reason}");
            ExitCode::from(1)
        }
        Ok(audit::Verdict::CannotCheck(msg)) => cannot(msg),
        Err(e) => cannot(e.to_string()),
    }
}

/// The public base URL links start with; without one configured, the
/// address `serve` listens on by default, and a line saying so.
fn public_base(configured: Option<&str>) -> String {
    match configured {
        Some(b) => b.trim_end_matches('/').to_string(),
        None => {
            eprintln!(
                "note: no public base URL is configured (base_url in the configuration file, --base-url or PROM_BASE_URL): the link starts with http://127.0.0.1:8080, which only this machine reaches"
            );
            "http://127.0.0.1:8080".into()
        }
    }
}
