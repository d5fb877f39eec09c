//! Moving a deployment from SQLite to PostgreSQL (`prom migrate-db`):
//! every table's rows copied as they are, in an order that keeps every
//! reference whole, in one transaction on the target, which must be empty.
//! Sessions are left behind (people log in again). The audit chain is
//! copied row for row, so `audit verify` holds on the target with the same
//! key.

use super::db::{Backend, Connection, Value, ValueRef};
use super::{Result, StorageError};

/// The tables in the order their references allow (a response refers to
/// an earlier one it corrects: rows go in the order they were written).
pub const TABLES: &[&str] = &[
    "clinics",
    "questionnaire_versions",
    "patients",
    "persons",
    "person_links",
    "staff_users",
    "staff_identities",
    "recovery_codes",
    "api_keys",
    "plans",
    "invitations",
    "invitation_tokens",
    "drafts",
    "personal_links",
    "responses",
    "response_scores",
    "flags",
    "idempotency_keys",
    "review_items",
    "review_events",
    "snoozes",
    "outbox",
    "login_failures",
    "audit_log",
];

/// Tables whose ids the target numbers itself afterwards.
const NUMBERED: &[&str] = &["review_events", "login_failures"];

/// The most parameters in one statement (PostgreSQL allows 65,535) and
/// the most rows.
const MAX_PARAMS: usize = 60_000;
const MAX_ROWS: usize = 1_000;

/// How many rows of each table were copied.
pub type Copied = Vec<(&'static str, u64)>;

/// Copies every table of `from` (SQLite) into `to` (PostgreSQL, migrated
/// and empty), in one transaction on `to`.
pub fn copy_all(from: &Connection, to: &mut Connection) -> Result<Copied> {
    copy_all_with(from, to, MAX_ROWS)
}

/// `copy_all` with at most `max_rows` rows per INSERT (a test makes it
/// small, so that full and partial statements both run).
pub fn copy_all_with(from: &Connection, to: &mut Connection, max_rows: usize) -> Result<Copied> {
    if from.backend() != Backend::Sqlite || to.backend() != Backend::Postgres {
        return Err(StorageError::Invalid(
            "prom migrate-db copies an SQLite database into PostgreSQL".into(),
        ));
    }
    for t in TABLES.iter().chain(["sessions"].iter()) {
        let n: i64 = to.query_row(&format!("SELECT count(*) FROM {t}"), (), |r| r.get(0))?;
        if n > 0 {
            return Err(StorageError::Invalid(format!(
                "the target database is not empty ({t} has {n} rows); give a new, empty database"
            )));
        }
    }
    // Outside an async runtime the client can be this thread's own (see
    // `Connection::take_over`).
    if tokio::runtime::Handle::try_current().is_err() {
        to.take_over();
    }
    let tx = to.transaction()?;
    let mut copied = Vec::new();
    for &table in TABLES {
        let columns: Vec<String> = from
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))?
            .query_map((), |r| r.get(0))?
            .collect::<Result<_>>()?;
        let list = columns.join(", ");
        // Many rows per statement: a round trip per row made a deployment
        // of millions of responses a matter of hours.
        let per = (MAX_PARAMS / columns.len()).clamp(1, max_rows.max(1));
        let insert = |rows: usize| {
            let marks: Vec<String> = (0..rows)
                .map(|r| {
                    let row: Vec<String> = (1..=columns.len())
                        .map(|c| format!("?{}", r * columns.len() + c))
                        .collect();
                    format!("({})", row.join(", "))
                })
                .collect();
            format!("INSERT INTO {table} ({list}) VALUES {}", marks.join(", "))
        };
        // In the order written (rowid), or by key for tables without one.
        let order = if is_without_rowid(from, table)? {
            "1"
        } else {
            "rowid"
        };
        let mut stmt = from.prepare(&format!("SELECT {list} FROM {table} ORDER BY {order}"))?;
        let mut rows = stmt.query(())?;
        let mut n = 0u64;
        let mut values: Vec<Value<'static>> = Vec::with_capacity(per * columns.len());
        let flush = |values: &mut Vec<Value<'static>>| -> Result<()> {
            if values.is_empty() {
                return Ok(());
            }
            let params: Vec<&dyn super::db::ToSql> =
                values.iter().map(|v| v as &dyn super::db::ToSql).collect();
            tx.prepare_cached(&insert(values.len() / columns.len()))?
                .execute(&params[..])?;
            values.clear();
            Ok(())
        };
        while let Some(r) = rows.next()? {
            for i in 0..columns.len() {
                values.push(owned(r.value(i)?));
            }
            n += 1;
            if values.len() == per * columns.len() {
                flush(&mut values)?;
            }
        }
        flush(&mut values)?;
        if NUMBERED.contains(&table) {
            tx.execute_batch(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            ))?;
        }
        copied.push((table, n));
    }
    tx.commit()?;
    // Fresh statistics, or the planner knows nothing of millions of rows
    // and the checks that follow (and the first requests) scan tables.
    to.execute_batch("ANALYZE")?;
    Ok(copied)
}

fn is_without_rowid(conn: &Connection, table: &str) -> Result<bool> {
    let sql: String = conn.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
        [table],
        |r| r.get(0),
    )?;
    Ok(sql.contains("WITHOUT ROWID"))
}

fn owned(v: ValueRef<'_>) -> Value<'static> {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Int(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(std::borrow::Cow::Owned(t.into_owned())),
    }
}
