//! `prom doctor`: what an operator checks before (or instead of) reading
//! logs: the database, files and permissions, free disk, the SMTP server,
//! the clock against the database's, and the configuration. One line per
//! check with a fix hint; exit 0 when all pass, 1 otherwise.

use std::path::Path;
use std::process::ExitCode;

use crate::storage::{self, Database};

/// One check's outcome.
struct Line {
    ok: bool,
    what: &'static str,
    detail: String,
    fix: Option<String>,
}

fn ok(what: &'static str, detail: impl Into<String>) -> Line {
    Line {
        ok: true,
        what,
        detail: detail.into(),
        fix: None,
    }
}

fn fail(what: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Line {
    Line {
        ok: false,
        what,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

/// Below this much free space where the data lives, the disk check fails.
const MIN_FREE: u64 = 1024 * 1024 * 1024;
/// A clock this far from the database's fails the clock check.
const MAX_SKEW: i64 = 5;

pub struct Settings<'a> {
    pub database: Result<Database, storage::StorageError>,
    pub state: &'a Path,
    pub mail_dir: &'a Path,
    pub smtp_url: Option<&'a str>,
    pub smtp_ca: Option<&'a Path>,
    pub base_url: Option<&'a str>,
    pub questionnaires: &'a Path,
}

pub fn run(s: Settings) -> ExitCode {
    let mut lines = Vec::new();
    lines.push(configuration(&s));
    let database = match &s.database {
        Ok(d) => d.clone(),
        Err(e) => {
            lines.push(fail(
                "database",
                e.to_string(),
                "give --database sqlite:FILE or postgres://USER@HOST/DB",
            ));
            return print(lines);
        }
    };
    lines.extend(database_checks(&database));
    lines.push(files(&database, s.state, s.mail_dir, s.smtp_url.is_some()));
    lines.push(disk(&database, s.state));
    lines.push(smtp(s.smtp_url, s.smtp_ca));
    print(lines)
}

fn print(lines: Vec<Line>) -> ExitCode {
    let mut all = true;
    for l in &lines {
        all &= l.ok;
        println!(
            "{} {:14} {}",
            if l.ok { "ok  " } else { "FAIL" },
            l.what,
            l.detail
        );
        if let Some(f) = &l.fix {
            println!("     {:14} fix: {f}", "");
        }
    }
    if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn configuration(s: &Settings) -> Line {
    let questionnaires =
        crate::catalog::Catalog::load_or_shipped(s.questionnaires).map(|(c, _)| c.all().count());
    match (questionnaires, s.base_url) {
        (Err(e), _) => fail(
            "configuration",
            format!(
                "the questionnaires in {} do not compile: {}",
                s.questionnaires.display(),
                e.lines().next().unwrap_or_default()
            ),
            format!("run `prom check {}`", s.questionnaires.display()),
        ),
        (Ok(_), None) => fail(
            "configuration",
            "no public base URL: links in e-mails would name the listening address",
            "set base_url in the configuration file (or --base-url, PROM_BASE_URL)",
        ),
        (Ok(_), Some(url)) if !url.starts_with("https://") => fail(
            "configuration",
            format!(
                "the public base URL {url} is not https: cookies and links travel in clear text"
            ),
            "serve behind a TLS proxy and set base_url = \"https://…\"",
        ),
        (Ok(n), Some(url)) => ok(
            "configuration",
            format!("{n} questionnaires compile; public base URL {url}"),
        ),
    }
}

fn database_checks(database: &Database) -> Vec<Line> {
    let conn = match storage::connect_to(database, &Default::default()) {
        Ok(c) => c,
        Err(e) => {
            return vec![fail(
                "database",
                format!("{}: {e}", database.describe()),
                "start the database, or correct --database",
            )];
        }
    };
    let mut out = Vec::new();
    match storage::schema_versions(&conn) {
        Ok((have, want)) if have == want => out.push(ok(
            "database",
            format!("{} answers; schema version {have}", database.describe()),
        )),
        Ok((have, want)) if have < want => out.push(fail(
            "database",
            format!(
                "{}: schema version {have}, this prom migrates to {want}",
                database.describe()
            ),
            "`prom serve` applies the missing migrations at start",
        )),
        Ok((have, want)) => out.push(fail(
            "database",
            format!(
                "{}: schema version {have} is newer than this prom's {want}",
                database.describe()
            ),
            "run the prom release that wrote it",
        )),
        Err(e) => out.push(fail(
            "database",
            format!("{}: {e}", database.describe()),
            "check the database's log",
        )),
    }
    // The clock: due dates, expiry and the audit trail use this machine's
    // time; on PostgreSQL the nodes must agree with the database.
    if matches!(database, Database::Postgres { .. }) {
        let theirs = conn.query_row(
            "SELECT CAST(extract(epoch FROM now()) AS BIGINT)",
            (),
            |r| r.get::<i64>(0),
        );
        match theirs {
            Ok(t) => {
                let skew = crate::clock::Clock::now(&crate::clock::SystemClock).timestamp() - t;
                out.push(if skew.abs() <= MAX_SKEW {
                    ok(
                        "clock",
                        format!("within {} s of the database's", skew.abs()),
                    )
                } else {
                    fail(
                        "clock",
                        format!("{skew} s from the database's"),
                        "run time synchronisation (chrony, systemd-timesyncd) on every machine",
                    )
                })
            }
            Err(e) => out.push(fail("clock", e.to_string(), "check the database's log")),
        }
    } else {
        out.push(ok(
            "clock",
            "the database is a file on this machine: one clock",
        ));
    }
    out
}

/// The database file (or, on PostgreSQL, the audit key files' folder)
/// and the mail folder must be writable by this user and by no one else.
fn files(database: &Database, state: &Path, mail_dir: &Path, smtp: bool) -> Line {
    use std::os::unix::fs::PermissionsExt;
    let data = match database {
        Database::Sqlite(p) => p.clone(),
        Database::Postgres { .. } => state.to_path_buf(),
    };
    let folder = data
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut folders = vec![folder];
    if !smtp {
        folders.push(mail_dir.to_path_buf());
    }
    for f in &folders {
        match std::fs::metadata(f) {
            Ok(m) if m.permissions().readonly() => {
                return fail(
                    "files",
                    format!("{} is read-only", f.display()),
                    format!("give the service's user write access to {}", f.display()),
                );
            }
            Ok(m) if m.permissions().mode() & 0o007 != 0 => {
                return fail(
                    "files",
                    format!("{} can be read by every user of the machine", f.display()),
                    format!("chmod o-rwx {}", f.display()),
                );
            }
            Ok(_) => {}
            Err(_) if f == mail_dir => {} // made at start
            Err(e) => {
                return fail(
                    "files",
                    format!("{}: {e}", f.display()),
                    format!("create {} for the service's user", f.display()),
                );
            }
        }
        let probe = f.join(".prom-doctor");
        if f.exists() {
            if let Err(e) = std::fs::write(&probe, b"") {
                return fail(
                    "files",
                    format!("cannot write in {}: {e}", f.display()),
                    format!("give the service's user write access to {}", f.display()),
                );
            }
            let _ = std::fs::remove_file(&probe);
        }
    }
    let key = storage::audit::key_path(&data);
    if let Ok(m) = std::fs::metadata(&key)
        && m.permissions().mode() & 0o077 != 0
    {
        return fail(
            "files",
            format!("the audit key {} can be read by others", key.display()),
            format!("chmod 600 {}", key.display()),
        );
    }
    ok(
        "files",
        format!(
            "{} writable, private",
            folders
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    )
}

fn disk(database: &Database, state: &Path) -> Line {
    let data = match database {
        Database::Sqlite(p) => p.as_path(),
        Database::Postgres { .. } => state,
    };
    let folder = data
        .parent()
        .filter(|p| !p.as_os_str().is_empty() && p.exists())
        .unwrap_or(Path::new("."));
    match nix::sys::statvfs::statvfs(folder) {
        Ok(v) => {
            let free = v.blocks_available() * v.fragment_size();
            let gib = free as f64 / (1024.0 * 1024.0 * 1024.0);
            if free >= MIN_FREE {
                ok(
                    "disk",
                    format!("{gib:.1} GiB free where {} is", folder.display()),
                )
            } else {
                fail(
                    "disk",
                    format!("only {gib:.2} GiB free where {} is", folder.display()),
                    "free space or grow the volume: prom stops storing answers when the disk is full",
                )
            }
        }
        Err(e) => fail("disk", e.to_string(), "check the volume"),
    }
}

fn smtp(url: Option<&str>, ca: Option<&Path>) -> Line {
    let Some(url) = url else {
        return ok("smtp", "no SMTP server: e-mails are written as files");
    };
    match crate::mail::test_connection(url, ca) {
        Ok(()) => ok("smtp", "the SMTP server answers"),
        Err(e) => fail(
            "smtp",
            format!("{e:#}"),
            "check smtp_url, the server and the firewall; alerts wait in the outbox meanwhile",
        ),
    }
}
