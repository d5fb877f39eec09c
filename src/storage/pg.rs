//! PostgreSQL, the backend a deployment moves to (SQLite stays the
//! embedded default): where a connection string points, for messages that
//! name the host and never the password (`db::Connection::open_postgres`
//! connects), and the numbered migrations of `migrations/
//! postgres/`, applied under a transaction-scoped advisory lock so that
//! nodes starting together apply each migration once, and refused when
//! the database's schema is newer than this binary.
//!
//! The schema mirrors SQLite's table for table and column for column (a
//! test compares them), so that one set of queries can serve both and
//! `prom migrate-db` can copy rows as they are.

use super::db::{Connection, params};
use super::{Result, StorageError};

/// PostgreSQL's migrations, applied in order; the `prom_schema` table
/// records how many have run. Never edit one that has shipped: add another.
pub const MIGRATIONS: &[&str] = &[
    include_str!("migrations/postgres/0001_schema.sql"),
    include_str!("migrations/postgres/0002_operations.sql"),
    include_str!("migrations/postgres/0003_identity.sql"),
    include_str!("migrations/postgres/0004_queue_cards.sql"),
];

/// The advisory lock key under which migrations run ("prom" in ASCII).
const MIGRATION_LOCK: i64 = 0x7072_6f6d;

/// Where a connection string points, for messages: its hosts and ports and
/// the database, never the user's password.
pub fn describe(url: &str) -> String {
    match url.parse::<postgres::Config>() {
        Ok(c) => {
            let hosts: Vec<String> = c
                .get_hosts()
                .iter()
                .zip(c.get_ports().iter().chain(std::iter::repeat(&5432)))
                .map(|(h, p)| match h {
                    postgres::config::Host::Tcp(name) => format!("{name}:{p}"),
                    postgres::config::Host::Unix(path) => format!("{}:{p}", path.display()),
                })
                .collect();
            format!(
                "{} (database {})",
                hosts.join(","),
                c.get_dbname().unwrap_or("(default)")
            )
        }
        Err(_) => "a connection string that does not parse".into(),
    }
}

/// The schema version the database records (0 for a new database).
pub fn schema_version(conn: &Connection) -> Result<u32> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM information_schema.tables
           WHERE table_schema = current_schema() AND table_name = 'prom_schema')",
        (),
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    let v: i64 = conn.query_row(
        "SELECT coalesce(max(version), 0) FROM prom_schema",
        (),
        |r| r.get(0),
    )?;
    Ok(u32::try_from(v).unwrap_or(u32::MAX))
}

/// Applies the migrations the database lacks, each once however many
/// nodes start together, and returns the schema version. A database whose
/// schema is newer than this binary is refused: an older prom must not
/// write to it.
pub fn migrate(conn: &mut Connection) -> Result<u32> {
    let tx = conn.transaction()?;
    tx.query_row(
        "SELECT 1 FROM (SELECT pg_advisory_xact_lock(?1)) AS locked",
        params![MIGRATION_LOCK],
        |_| Ok(()),
    )?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS prom_schema (version BIGINT NOT NULL)")?;
    let current: i64 = tx.query_row(
        "SELECT coalesce(max(version), 0) FROM prom_schema",
        (),
        |r| r.get(0),
    )?;
    let known = MIGRATIONS.len() as i64;
    if current > known {
        return Err(StorageError::Invalid(format!(
            "the database's schema is version {current}, newer than this prom's {known}: \
             run the newer prom, or restore a backup made for this one"
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM prom_schema", ())?;
        tx.execute(
            "INSERT INTO prom_schema (version) VALUES (?1)",
            params![i as i64 + 1],
        )?;
    }
    tx.commit()?;
    Ok(known as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_description_names_hosts_and_database_but_never_the_password() {
        let d = describe("postgres://prom:s3cret@db1.example:5433/prom");
        assert_eq!(d, "db1.example:5433 (database prom)");
        let d = describe("host=a,b port=5432,5433 user=prom password=s3cret dbname=p");
        assert_eq!(d, "a:5432,b:5433 (database p)");
        assert!(!describe("postgres://x:s3cret@h/db").contains("s3cret"));
    }
}
