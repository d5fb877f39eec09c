//! `prom migrate-db --from sqlite:FILE --to postgres://…`: a deployment
//! moved from its SQLite file to PostgreSQL, everything copied (sessions
//! left behind), the audit key taken along, and the chain checked on the
//! target before it says done.

use clap::Args;
use std::path::PathBuf;

use super::Fail;
use crate::storage::{self, Database, Options, audit};

#[derive(Args, Debug)]
pub struct MigrateDb {
    /// The SQLite database to copy: `sqlite:FILE` (or the file).
    #[arg(long)]
    from: String,
    /// The PostgreSQL database to fill: `postgres://…` or `host=… dbname=…`;
    /// it must be empty (prom makes its tables).
    #[arg(long)]
    to: String,
    /// Where the target's audit key and head files go (`NAME.audit-key`);
    /// by default `postgres` in the SQLite file's folder, where `prom serve
    /// --db FILE --database URL` looks for them.
    #[arg(long)]
    state: Option<PathBuf>,
}

pub fn migrate_db(m: &MigrateDb) -> Result<(), Fail> {
    let from_path = PathBuf::from(m.from.strip_prefix("sqlite:").unwrap_or(&m.from));
    if !from_path.is_file() {
        return Err(Fail(format!(
            "there is no SQLite database at {}",
            from_path.display()
        )));
    }
    let state = m.state.clone().unwrap_or_else(|| {
        from_path
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("postgres")
    });
    let target = Database::parse(&m.to, &state)?;
    if !matches!(target, Database::Postgres { .. }) {
        return Err(Fail("--to must be a PostgreSQL database".into()));
    }
    // The chain goes on with the same key: the source's, unless the
    // environment holds it for both.
    if std::env::var(audit::KEY_ENV).is_err() {
        let key = audit::key_path(&from_path);
        let to_key = audit::key_path(&state);
        match (std::fs::read(&key), std::fs::read(&to_key)) {
            (Ok(k), Ok(existing)) if k != existing => {
                return Err(Fail(format!(
                    "{} holds another audit key than {}; move it away or give another --state",
                    to_key.display(),
                    key.display()
                )));
            }
            (Ok(k), Err(_)) => storage::write_private(&to_key, &k)
                .map_err(|e| Fail(format!("cannot write {}: {e}", to_key.display())))?,
            (Ok(_), Ok(_)) => {}
            (Err(e), _) => {
                return Err(Fail(format!(
                    "cannot read the audit key {} ({e}); set {} instead",
                    key.display(),
                    audit::KEY_ENV
                )));
            }
        }
    }
    let source = storage::open(&from_path, &Options::default())?;
    // Only a chain that holds is worth moving: checked against its head.
    match audit::verify(&source, &from_path)? {
        audit::Verdict::Intact { .. } => {}
        other => {
            return Err(Fail(format!(
                "the source's audit log does not verify ({other:?}); nothing was copied"
            )));
        }
    }
    let mut dest = storage::open_database(&target, &Options::default())?;
    let copied = storage::copy::copy_all(&source, &mut dest)?;
    // The target's head checkpoint, of the chain as copied.
    if !audit::refresh_head(&dest) {
        return Err(Fail("cannot write the target's audit head".into()));
    }
    let total: u64 = copied.iter().map(|(_, n)| n).sum();
    for (table, n) in &copied {
        println!("{table:<24} {n:>10}");
    }
    match audit::verify(&dest, &state)? {
        audit::Verdict::Intact { rows, responses } => println!(
            "copied {total} rows into {}; the audit log is intact there: {rows} rows, {responses} responses as stored",
            target.describe()
        ),
        other => {
            return Err(Fail(format!(
                "the copy's audit log does not verify ({other:?}); do not switch to it"
            )));
        }
    }
    Ok(())
}
