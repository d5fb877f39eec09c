//! Storage: all SQL. Connection set-up (WAL, `synchronous=FULL`, foreign
//! keys, busy timeout), the numbered migrations, one function per query,
//! the audit chain and the single writer thread that commits submissions in
//! groups.
//!
//! It must not use actix, tera or lettre: the web layer calls it, and the
//! mailer reads the outbox through it.

pub mod audit;
pub mod clinics;
pub mod copy;
pub mod db;
pub mod export;
pub mod idempotency;
pub mod ids;
pub mod invitations;
pub mod keys;
pub mod outbox;
pub mod patients;
pub mod persons;
pub mod pg;
pub mod responses;
pub mod review;
pub mod sessions;
pub mod staff;
pub mod versions;
pub mod writer;

pub use db::Connection;
use rusqlite::{ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// The migrations, applied in order; `PRAGMA user_version` records how many
/// have run. Never edit one that has shipped: add another.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_clinical_record.sql"),
    include_str!("migrations/0002_second_pass.sql"),
    include_str!("migrations/0003_patient_sessions.sql"),
    include_str!("migrations/0004_clinic_workspace.sql"),
    include_str!("migrations/0005_alerting.sql"),
    include_str!("migrations/0006_plans.sql"),
    include_str!("migrations/0007_missed_questionnaires.sql"),
    include_str!("migrations/0008_walk_fixes.sql"),
    include_str!("migrations/0009_operations.sql"),
    include_str!("migrations/0010_identity.sql"),
    include_str!("migrations/0011_queue_cards.sql"),
];

/// A page of at most `limit` rows from a query that asked for one more,
/// and whether more remain.
pub(crate) fn page<T>(mut rows: Vec<T>, limit: u32) -> (Vec<T>, bool) {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    (rows, more)
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum StorageError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("the disk is full; nothing was stored")]
    Full,
    #[error("the database cannot be written (read-only file or folder); nothing was stored")]
    ReadOnly,
    #[error("the database is busy; try again")]
    Busy,
    #[error("the database's disk could not be written ({0}); nothing was stored")]
    Io(String),
    #[error("{0}")]
    Invalid(String),
    #[error("the database file is damaged ({0})")]
    Damaged(String),
    #[error("the database cannot be opened ({0})")]
    CannotOpen(String),
    #[error("database error: {0}")]
    Sqlite(String),
    #[error("the storage writer has stopped")]
    WriterGone,
}

impl From<rusqlite::Error> for StorageError {
    fn from(e: rusqlite::Error) -> StorageError {
        match &e {
            rusqlite::Error::QueryReturnedNoRows => StorageError::NotFound,
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StorageError::Conflict(e.to_string())
            }
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                ErrorCode::DiskFull => StorageError::Full,
                ErrorCode::ReadOnly | ErrorCode::PermissionDenied => StorageError::ReadOnly,
                // Not "read-only": opening fails for other reasons too, such
                // as a process out of file handles.
                ErrorCode::CannotOpen => StorageError::CannotOpen(e.to_string()),
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                    StorageError::Damaged(e.to_string())
                }
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StorageError::Busy,
                ErrorCode::SystemIoFailure => StorageError::Io(e.to_string()),
                _ => StorageError::Sqlite(e.to_string()),
            },
            _ => StorageError::Sqlite(e.to_string()),
        }
    }
}

pub type Result<T> = std::result::Result<T, StorageError>;

/// Which database: an SQLite file (the embedded default) or PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    /// A connection string (`postgres://…` or `host=… dbname=…`), and the
    /// local name under which this node keeps the audit key and head files.
    Postgres {
        url: String,
        state: PathBuf,
    },
}

impl Database {
    /// `sqlite:PATH`, `postgres://…`, `postgresql://…` or a key=value
    /// connection string; `state` names the audit key and head files for
    /// PostgreSQL.
    pub fn parse(url: &str, state: &Path) -> Result<Database> {
        let url = url.trim();
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.trim_start_matches("//");
            if path.is_empty() {
                return Err(StorageError::Invalid(
                    "a sqlite: URL needs a file, such as sqlite:data/prom.db".into(),
                ));
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") || url.contains('=') {
            url.parse::<postgres::Config>().map_err(|e| {
                StorageError::Invalid(format!(
                    "the PostgreSQL connection string is not valid: {e}"
                ))
            })?;
            return Ok(Database::Postgres {
                url: url.to_string(),
                state: state.to_path_buf(),
            });
        }
        Err(StorageError::Invalid(format!(
            "`{}` is not a database URL: use sqlite:FILE or postgres://…",
            url.split('@').next_back().unwrap_or("")
        )))
    }

    /// Where it is, for messages (never a password).
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(p) => p.display().to_string(),
            Database::Postgres { url, .. } => format!("PostgreSQL at {}", pg::describe(url)),
        }
    }
}

/// A connection to `db` with what every connection needs (SQLite's
/// pragmas; nothing more on PostgreSQL), without migrating.
pub fn connect_to(db: &Database, opts: &Options) -> Result<Connection> {
    match db {
        Database::Sqlite(path) => connect(path, opts),
        Database::Postgres { url, state } => {
            Connection::open_postgres(url, Some(state.to_string_lossy().into_owned()))
        }
    }
}

/// Opens `db` for serving: created and migrated (PostgreSQL's migrations
/// under a lock, for nodes that start together), with its audit key.
pub fn open_database(db: &Database, opts: &Options) -> Result<Connection> {
    match db {
        Database::Sqlite(path) => open(path, opts),
        Database::Postgres { url, state } => {
            let name = Some(state.to_string_lossy().into_owned());
            let mut conn = Connection::open_postgres(url, name)?;
            pg::migrate(&mut conn)?;
            if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
                use std::os::unix::fs::DirBuilderExt;
                let _ = std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir);
            }
            audit::ensure_key(&conn, state)?;
            Ok(conn)
        }
    }
}

/// Whether this transaction may do the scheduled work (plans' invitations,
/// reminders, digests, escalations) now: on PostgreSQL one node at a time
/// takes it (a lock held to the end of the transaction; the others skip
/// this turn); SQLite has one writer anyway.
pub fn scheduler_turn(conn: &Connection) -> Result<bool> {
    if conn.backend() == db::Backend::Sqlite {
        return Ok(true);
    }
    conn.prepare_cached("SELECT pg_try_advisory_xact_lock(?1)")?
        .query_row(db::params![SCHEDULER_LOCK], |r| r.get(0))
}

/// The database's schema version and the one this binary migrates to:
/// equal when every migration is applied.
pub fn schema_versions(conn: &Connection) -> Result<(u32, u32)> {
    match conn.backend() {
        db::Backend::Sqlite => {
            let v: i64 = conn.query_row("PRAGMA user_version", (), |r| r.get(0))?;
            Ok((
                u32::try_from(v).unwrap_or(u32::MAX),
                MIGRATIONS.len() as u32,
            ))
        }
        db::Backend::Postgres => Ok((pg::schema_version(conn)?, pg::MIGRATIONS.len() as u32)),
    }
}

/// The advisory lock key of the scheduled work ("tick").
const SCHEDULER_LOCK: i64 = 0x7469_636b;

/// How connections are opened.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A page limit, to exercise the "disk full" path in tests.
    pub max_pages: Option<u64>,
}

/// Opens a connection with the pragmas every connection needs, and checks
/// that durability settings took effect.
pub fn connect(path: &Path, opts: &Options) -> Result<Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", (), |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::Invalid(format!(
            "the database would not switch to WAL (journal_mode is {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -32_000)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Plans fixed at prepare time: this SQLite build (STAT4) would otherwise
    // prepare a statement again whenever a bound value changes, which cost
    // the writer a fifth of its time on the history look-up.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    let sync: i64 = conn.query_row("PRAGMA synchronous", (), |r| r.get(0))?;
    let fk: i64 = conn.query_row("PRAGMA foreign_keys", (), |r| r.get(0))?;
    if sync != 2 || fk != 1 {
        return Err(StorageError::Invalid(format!(
            "durability settings did not take effect (synchronous={sync}, foreign_keys={fk})"
        )));
    }
    if let Some(p) = opts.max_pages {
        conn.pragma_update(None, "max_page_count", p as i64)?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(Connection::from_sqlite(conn))
}

/// For a connection in another process than the server (CLI commands, the
/// mailer): wait for the write lock by polling every half millisecond for up
/// to 30 s, so that the short pauses the server's writer leaves under load
/// are found. SQLite's default busy handler sleeps up to 100 ms between
/// tries and would miss them.
pub fn wait_for_writer(conn: &mut Connection) -> Result<()> {
    fn poll(tries: i32) -> bool {
        std::thread::sleep(Duration::from_micros(500));
        tries < 60_000
    }
    if let Some(c) = conn.sqlite_mut() {
        c.busy_handler(Some(poll))?;
    }
    Ok(())
}

/// Runs `f` in one `BEGIN IMMEDIATE` transaction and commits; for writers
/// outside the writer thread (the mailer, command-line tools).
pub fn immediate<T>(conn: &mut Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    let tx = conn.transaction()?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// Applies the migrations that have not run yet, each in its own
/// transaction. Returns how many ran.
pub fn migrate(conn: &mut Connection) -> Result<usize> {
    let Some(conn) = conn.sqlite_mut() else {
        return Err(StorageError::Invalid(
            "SQLite's migrations run on SQLite only".into(),
        ));
    };
    use rusqlite::OptionalExtension;
    let current: i64 = conn.query_row("PRAGMA user_version", (), |r| r.get(0))?;
    if current as usize > MIGRATIONS.len() {
        return Err(StorageError::Invalid(format!(
            "the database is at schema version {current}, newer than this prom ({})",
            MIGRATIONS.len()
        )));
    }
    let mut ran = 0;
    // A migration may rebuild a table that others refer to: keys are not
    // enforced while it runs, and every key is checked before its commit.
    let enforced: bool = conn.query_row("PRAGMA foreign_keys", (), |r| r.get(0))?;
    conn.pragma_update(None, "foreign_keys", false)?;
    let result = (|| {
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            let broken: Option<String> = tx
                .query_row("PRAGMA foreign_key_check", (), |r| r.get(0))
                .optional()?;
            if let Some(table) = broken {
                return Err(StorageError::Invalid(format!(
                    "migration {} would leave a broken reference in `{table}`; nothing was changed",
                    i + 1
                )));
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
            ran += 1;
        }
        Ok(ran)
    })();
    conn.pragma_update(None, "foreign_keys", enforced)?;
    result
}

/// Creates the database's folder (owner only) and the database file
/// (readable by its owner only; SQLite gives its WAL the same mode), opens
/// it, migrates it, and makes sure its audit key exists.
pub fn open(path: &Path, opts: &Options) -> Result<Connection> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|_| StorageError::ReadOnly)?;
    }
    if !path.exists() {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|_| StorageError::ReadOnly)?;
    }
    let mut conn = connect(path, opts)?;
    migrate(&mut conn)?;
    audit::ensure_key(&conn, path)?;
    Ok(conn)
}

/// The queries that serve one request of the API (and, later, the pages),
/// by name: a test checks that none reads more than one patient's rows or
/// one page, whatever the size of the database.
pub fn request_queries() -> Vec<(&'static str, String)> {
    vec![
        ("patient by reference", patients::ID_SQL.into()),
        ("api key", keys::CLINIC_SQL.into()),
        ("idempotency key", idempotency::LOOKUP_SQL.into()),
        ("history page", responses::history_sql(Some(9))),
        (
            "patient's responses, first page",
            responses::page_sql(false),
        ),
        ("patient's responses, next page", responses::page_sql(true)),
        ("response by id", responses::by_id_sql()),
        ("response owner", responses::OWNER_SQL.into()),
        ("scores of a response", responses::SCORES_SQL.into()),
        ("flags of a response", responses::FLAGS_SQL.into()),
        ("review queue, first page", review::queue_sql(false)),
        ("review queue, next page", review::queue_sql(true)),
        ("audit tail", audit::LAST_SQL.into()),
    ]
}

/// Writes a file readable by its owner only, atomically (beside, then
/// renamed, so a reader never sees half of it). For the audit key and head,
/// and e-mails written as files.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    // A hidden name of this process's own, so two processes writing the
    // head at once cannot interleave their bytes, and a folder's reader
    // sees no half-written file.
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        rand::random::<u32>()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Copies the whole WAL into the database and truncates it to nothing; a
/// clean shutdown ends with it.
pub fn close_wal(path: &Path, opts: &Options) -> Result<()> {
    let conn = connect(path, opts)?;
    conn.lite("the WAL")?
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", (), |_| Ok(()))?;
    Ok(())
}

/// What a bounded check of the database found.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    Ok,
    /// The check ran out of time before it finished; nothing was found in
    /// what it read.
    Unfinished,
    Damaged(Vec<String>),
}

/// Checks the database's structure (`PRAGMA quick_check`) for at most
/// `budget`: a damaged file must not start as if healthy and then answer
/// 500 to every call.
pub fn check(conn: &Connection, budget: Duration) -> Result<Health> {
    let Some(conn) = conn.sqlite() else {
        // PostgreSQL checks its own pages.
        return Ok(Health::Ok);
    };
    // A watchdog interrupts the check when its time is up.
    let handle = conn.get_interrupt_handle();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if wait.recv_timeout(budget).is_err() {
            handle.interrupt();
        }
    });
    let result: rusqlite::Result<Vec<String>> = conn
        .prepare("PRAGMA quick_check(10)")
        .and_then(|mut s| s.query_map((), |r| r.get(0))?.collect());
    let _ = done.send(());
    let _ = watchdog.join();
    match result {
        Ok(rows) if rows.len() == 1 && rows[0] == "ok" => Ok(Health::Ok),
        Ok(rows) => Ok(Health::Damaged(rows)),
        Err(rusqlite::Error::SqliteFailure(f, _)) if f.code == ErrorCode::OperationInterrupted => {
            Ok(Health::Unfinished)
        }
        Err(e) => match StorageError::from(e) {
            StorageError::Damaged(d) => Ok(Health::Damaged(vec![d])),
            other => Err(other),
        },
    }
}

/// Writes a consistent copy of the database to `target` (which must not
/// exist), also while a server writes to it: `VACUUM INTO` reads one
/// snapshot. The copy is readable by its owner only, and gets a head
/// checkpoint of its own (`target.audit-head`) so that `prom audit verify`
/// holds on a restored copy. Returns the copy's size in bytes.
pub fn backup(conn: &Connection, target: &Path) -> Result<u64> {
    use std::os::unix::fs::OpenOptionsExt;
    let lite = conn.lite("prom backup (on PostgreSQL use pg_dump or base backups)")?;
    if target.exists() {
        return Err(StorageError::Invalid(format!(
            "{} exists already; choose a new file",
            target.display()
        )));
    }
    // An empty file of the owner's only, which VACUUM INTO fills.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)
        .map_err(|e| StorageError::Invalid(format!("cannot create {}: {e}", target.display())))?;
    let name = target.to_string_lossy().to_string();
    if let Err(e) = lite.execute("VACUUM INTO ?1", [&name]) {
        let _ = std::fs::remove_file(target);
        return Err(e.into());
    }
    let copy = Connection::from_sqlite(rusqlite::Connection::open(target)?);
    if let Some(db) = lite.path() {
        // The copy is checked with the original's key.
        if let Some(key) = audit::load_key(Path::new(db))? {
            audit::register(&copy, key);
        }
    }
    audit::write_head(&copy, target)?;
    drop(copy);
    Ok(std::fs::metadata(target).map(|m| m.len()).unwrap_or(0))
}

/// A small pool of reading connections; reads run on blocking threads.
pub struct Readers {
    db: Database,
    opts: Options,
    idle: Mutex<Vec<Connection>>,
    /// Connections in use now (a metric: the pool's use).
    busy: std::sync::atomic::AtomicUsize,
}

impl Readers {
    pub fn of(db: &Database, opts: &Options) -> Readers {
        Readers {
            db: db.clone(),
            opts: opts.clone(),
            idle: Mutex::new(Vec::new()),
            busy: Default::default(),
        }
    }

    /// Reading connections in use now (a metric).
    pub fn busy(&self) -> usize {
        self.busy.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Idle connections in the pool (a metric).
    pub fn idle(&self) -> usize {
        self.idle.lock().map(|v| v.len()).unwrap_or(0)
    }

    /// SQLite's write-ahead log file, for its size (a metric).
    pub fn wal_path(&self) -> Option<PathBuf> {
        match &self.db {
            Database::Sqlite(p) => Some(PathBuf::from(format!("{}-wal", p.display()))),
            Database::Postgres { .. } => None,
        }
    }

    /// Runs `f` with a reading connection (blocking: call it off the async
    /// workers).
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = self.idle.lock().ok().and_then(|mut v| v.pop());
        let conn = match conn {
            Some(c) => c,
            None => connect_to(&self.db, &self.opts)?,
        };
        self.busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = f(&conn);
        self.busy.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < 8
        {
            idle.push(conn);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_durability_is_checked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub/prom.db");
        let mut conn = open(&path, &Options::default()).expect("opens");
        assert_eq!(migrate(&mut conn).expect("again"), 0);
        let v: i64 = conn
            .query_row("PRAGMA user_version", (), |r| r.get(0))
            .expect("version");
        assert_eq!(v as usize, MIGRATIONS.len());
        let mode: String = conn
            .query_row("PRAGMA journal_mode", (), |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
    }

    #[test]
    fn the_audit_log_refuses_update_and_delete() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conn = open(&dir.path().join("p.db"), &Options::default()).expect("opens");
        conn.execute(
            "INSERT INTO audit_log (at, actor, action, prev_hash, hash) VALUES ('t', 'a', 'x', '', 'h')",
            (),
        )
        .expect("insert");
        let e = conn
            .execute("UPDATE audit_log SET actor = 'b'", ())
            .expect_err("update refused");
        assert!(e.to_string().contains("append-only"));
        let e = conn
            .execute("DELETE FROM audit_log", ())
            .expect_err("delete refused");
        assert!(e.to_string().contains("append-only"));
    }
}
