//! The connection every storage function takes: SQLite (the embedded
//! default) or PostgreSQL, behind one shape modelled on rusqlite's
//! (`prepare_cached`, `query_row`, `query_map`, `query`, `execute`), so
//! that one set of queries serves both backends and nothing above storage
//! knows which one it talks to.
//!
//! Queries are written in the SQL both databases run, with `?N`
//! placeholders and SQLite's JSON functions; for PostgreSQL `translate`
//! rewrites those (`$N`, `json_agg`, `json_build_object`, `::json`), and
//! values are bound by the types PostgreSQL infers for each placeholder
//! and read back by the types of the columns.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use super::{Result, StorageError};

mod translate;
pub use translate::translate;

/// A value to bind, borrowed where it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
}

/// Something that can be bound to a placeholder.
pub trait ToSql {
    fn to_value(&self) -> Value<'_>;
}

impl ToSql for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(Cow::Borrowed(self))
    }
}
impl ToSql for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(Cow::Borrowed(self.as_str()))
    }
}
impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}
impl<T: ToSql> ToSql for Option<T> {
    fn to_value(&self) -> Value<'_> {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}
impl ToSql for bool {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}
impl ToSql for f64 {
    fn to_value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}
macro_rules! int_to_sql {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_value(&self) -> Value<'_> {
                Value::Int(*self as i64)
            }
        }
    )*};
}
int_to_sql!(i64, i32, u32, u16, u8, usize);
impl ToSql for u64 {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::try_from(*self).unwrap_or(i64::MAX))
    }
}

impl ToSql for Value<'_> {
    fn to_value(&self) -> Value<'_> {
        match self {
            Value::Null => Value::Null,
            Value::Int(i) => Value::Int(*i),
            Value::Real(f) => Value::Real(*f),
            Value::Text(t) => Value::Text(Cow::Borrowed(t)),
        }
    }
}

/// SQL's NULL, for a placeholder with no value.
pub struct Null;
impl ToSql for Null {
    fn to_value(&self) -> Value<'_> {
        Value::Null
    }
}

/// The values of a statement's placeholders, in order.
pub trait Params {
    fn values(&self) -> Vec<Value<'_>>;
}
impl Params for () {
    fn values(&self) -> Vec<Value<'_>> {
        Vec::new()
    }
}
impl<T: ToSql, const N: usize> Params for [T; N] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|v| v.to_value()).collect()
    }
}
impl Params for &[&dyn ToSql] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|v| v.to_value()).collect()
    }
}
impl<const N: usize> Params for &[&dyn ToSql; N] {
    fn values(&self) -> Vec<Value<'_>> {
        self.iter().map(|v| v.to_value()).collect()
    }
}

/// The values of a statement's placeholders: `params![a, b]`.
#[macro_export]
macro_rules! params {
    () => { () };
    ($($v:expr),+ $(,)?) => {
        &[$(&$v as &dyn $crate::storage::db::ToSql),+] as &[&dyn $crate::storage::db::ToSql]
    };
}
pub use crate::params;

/// A column's value as read.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(Cow<'a, str>),
}

/// Something a column can be read as.
pub trait FromSql: Sized {
    fn from_value(v: ValueRef<'_>) -> Result<Self>;
}

fn wrong(what: &str, v: &ValueRef<'_>) -> StorageError {
    StorageError::Sqlite(format!("a column is not {what}: {v:?}"))
}

impl FromSql for String {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Text(s) => Ok(s.into_owned()),
            other => Err(wrong("text", &other)),
        }
    }
}
impl FromSql for i64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Int(i) => Ok(i),
            other => Err(wrong("a whole number", &other)),
        }
    }
}
macro_rules! int_from_sql {
    ($($t:ty),*) => {$(
        impl FromSql for $t {
            fn from_value(v: ValueRef<'_>) -> Result<Self> {
                let i = i64::from_value(v)?;
                <$t>::try_from(i).map_err(|_| StorageError::Sqlite(format!("{i} is out of range")))
            }
        }
    )*};
}
int_from_sql!(i32, u32, u64, usize, u8, u16);
impl FromSql for bool {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        Ok(i64::from_value(v)? != 0)
    }
}
impl FromSql for f64 {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Int(i) => Ok(i as f64),
            other => Err(wrong("a number", &other)),
        }
    }
}
impl<T: FromSql> FromSql for Option<T> {
    fn from_value(v: ValueRef<'_>) -> Result<Self> {
        match v {
            ValueRef::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// `Result<T>` → `Result<Option<T>>`: no row is `None`.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}
impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(StorageError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A connection to either backend. Not shared between threads (as
/// rusqlite's is not): each thread has its own.
pub struct Connection {
    inner: Inner,
    /// For PostgreSQL: the local name the audit key and head files are
    /// kept under (SQLite keeps them beside its file).
    name: Option<String>,
    /// The audit rows of the writer's batch, chained and written at its
    /// end (see `audit::begin_batch`); `None` outside a batch.
    pub(crate) chain: RefCell<Option<Vec<super::audit::OwnedEntry>>>,
}

enum Inner {
    Sqlite(rusqlite::Connection),
    Postgres(Box<Pg>),
}

pub struct Pg {
    client: PgThread,
    cache: RefCell<HashMap<String, postgres::Statement>>,
    /// The connection generation the cache's statements belong to.
    cache_generation: std::cell::Cell<u64>,
}

/// What a PostgreSQL connection's thread runs.
type PgJob = Box<dyn FnOnce(&mut postgres::Client) + Send>;

/// What a PostgreSQL connection's thread is asked.
enum PgMsg {
    Run(PgJob),
    /// Hand the client over to the asking thread and end.
    HandOver(std::sync::mpsc::SyncSender<postgres::Client>),
}

/// A PostgreSQL client on a thread of its own. The synchronous client
/// runs a runtime of its own and must not block inside another (the
/// server's, a test's); its thread is outside any, and every call waits
/// on a channel instead. A thread that is itself outside any runtime (the
/// writer's) may take the client over ([`Connection::take_over`]) and save
/// the two thread switches of every statement.
struct PgThread {
    jobs: std::sync::mpsc::Sender<PgMsg>,
    /// Raised at every new connection: statements prepared on an older
    /// one are gone.
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
    config: postgres::Config,
    /// The client, once this thread took it over.
    direct: RefCell<Option<postgres::Client>>,
}

impl PgThread {
    /// Connects on a new thread; the thread ends with the connection.
    fn connect(config: postgres::Config) -> std::result::Result<PgThread, String> {
        let (jobs, rx) = std::sync::mpsc::channel::<PgMsg>();
        let (ready, ready_rx) = std::sync::mpsc::sync_channel(1);
        let generation = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let gen2 = generation.clone();
        let config2 = config.clone();
        std::thread::Builder::new()
            .name("prom-postgres".into())
            .spawn(move || match config2.connect(postgres::NoTls) {
                Ok(mut client) => {
                    let _ = ready.send(Ok(()));
                    for msg in rx {
                        let job = match msg {
                            PgMsg::Run(job) => job,
                            PgMsg::HandOver(to) => {
                                let _ = to.send(client);
                                return;
                            }
                        };
                        // A connection lost (a restart, a failover) is made
                        // again before the next job; when that fails too,
                        // the job meets the closed one and says so.
                        reconnect_if_closed(&mut client, &config2, &gen2);
                        job(&mut client);
                    }
                }
                Err(e) => {
                    let _ = ready.send(Err(e.to_string()));
                }
            })
            .map_err(|e| format!("no thread for the connection: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(PgThread {
                jobs,
                generation,
                config,
                direct: RefCell::new(None),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the connection's thread stopped".into()),
        }
    }

    /// Runs `f` with the client, on its thread, and waits for the answer
    /// (or here, when this thread took the client over).
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> std::result::Result<T, postgres::Error>
        + Send
        + 'static,
    ) -> Result<T> {
        if let Some(client) = self.direct.borrow_mut().as_mut() {
            reconnect_if_closed(client, &self.config, &self.generation);
            return f(client).map_err(pg_error);
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.jobs
            .send(PgMsg::Run(Box::new(move |c| {
                let _ = tx.send(f(c));
            })))
            .map_err(|_| StorageError::Io("the connection to PostgreSQL was lost".into()))?;
        rx.recv()
            .map_err(|_| StorageError::Io("the connection to PostgreSQL was lost".into()))?
            .map_err(pg_error)
    }
}

/// A lost connection (a restart, a failover) is made again before the next
/// statement; when that fails too, the statement meets the closed one and
/// says so.
fn reconnect_if_closed(
    client: &mut postgres::Client,
    config: &postgres::Config,
    generation: &std::sync::atomic::AtomicU64,
) {
    if client.is_closed()
        && let Ok(fresh) = config.connect(postgres::NoTls)
    {
        *client = fresh;
        generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Connection {
    pub fn from_sqlite(conn: rusqlite::Connection) -> Connection {
        Connection {
            inner: Inner::Sqlite(conn),
            name: None,
            chain: RefCell::new(None),
        }
    }

    /// Connects to PostgreSQL at `url`; `name` is where this node keeps
    /// the audit key and head files (`NAME.audit-key`, `NAME.audit-head`).
    pub fn open_postgres(url: &str, name: Option<String>) -> Result<Connection> {
        let config: postgres::Config = url.parse().map_err(|e: postgres::Error| {
            StorageError::CannotOpen(format!(
                "the PostgreSQL connection string is not valid: {e}"
            ))
        })?;
        let client = PgThread::connect(config).map_err(|e| {
            StorageError::CannotOpen(format!(
                "cannot reach PostgreSQL at {}: {e}",
                super::pg::describe(url)
            ))
        })?;
        Ok(Connection {
            inner: Inner::Postgres(Box::new(Pg {
                client,
                cache: RefCell::new(HashMap::new()),
                cache_generation: std::cell::Cell::new(0),
            })),
            name,
            chain: RefCell::new(None),
        })
    }

    /// On PostgreSQL, moves the client onto the calling thread, which must
    /// run outside any async runtime (the synchronous client blocks on a
    /// runtime of its own) and keep the connection: every statement then
    /// runs without two thread switches. Nothing on SQLite.
    pub fn take_over(&self) {
        if let Inner::Postgres(pg) = &self.inner
            && pg.client.direct.borrow().is_none()
        {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            if pg.client.jobs.send(PgMsg::HandOver(tx)).is_ok()
                && let Ok(client) = rx.recv()
            {
                *pg.client.direct.borrow_mut() = Some(client);
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite(_) => Backend::Sqlite,
            Inner::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite connection, for what only SQLite has (pragmas, backup,
    /// the WAL); `None` on PostgreSQL.
    pub fn sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) => None,
        }
    }

    /// Where the audit key and head files are named from: SQLite's file,
    /// or the name a PostgreSQL connection was given; `None` for a database
    /// in memory.
    pub fn path(&self) -> Option<&str> {
        match &self.inner {
            Inner::Sqlite(c) => c.path().filter(|p| !p.is_empty()),
            Inner::Postgres(_) => self.name.as_deref(),
        }
    }

    /// Whether no transaction is open. SQLite may roll a transaction back
    /// by itself (a full disk); PostgreSQL keeps it open, failed, until it
    /// is rolled back, so there this is always `false`.
    pub fn is_autocommit(&self) -> bool {
        self.sqlite().is_some_and(|c| c.is_autocommit())
    }

    /// The SQLite connection, or an error that says what only SQLite does.
    pub fn lite(&self, what: &str) -> Result<&rusqlite::Connection> {
        self.sqlite()
            .ok_or_else(|| StorageError::Invalid(format!("{what} is for SQLite only")))
    }

    pub fn sqlite_mut(&mut self) -> Option<&mut rusqlite::Connection> {
        match &mut self.inner {
            Inner::Sqlite(c) => Some(c),
            Inner::Postgres(_) => None,
        }
    }

    /// A statement, kept prepared for the next call with the same text.
    pub fn prepare_cached(&self, sql: &str) -> Result<Statement<'_>> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(Statement::Sqlite(Lite::Cached(c.prepare_cached(sql)?))),
            Inner::Postgres(pg) => pg.statement(sql, true),
        }
    }

    /// A statement prepared for this use only.
    pub fn prepare(&self, sql: &str) -> Result<Statement<'_>> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(Statement::Sqlite(Lite::Once(c.prepare(sql)?))),
            Inner::Postgres(pg) => pg.statement(sql, false),
        }
    }

    pub fn execute(&self, sql: &str, params: impl Params) -> Result<usize> {
        self.prepare(sql)?.execute(params)
    }

    pub fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        self.prepare(sql)?.query_row(params, f)
    }

    /// Runs statements separated by `;`, without values.
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.inner {
            Inner::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Inner::Postgres(pg) => {
                let sql = translate(sql);
                pg.client.run(move |c| c.batch_execute(&sql))
            }
        }
    }

    /// Begins a transaction that takes the write lock at once (SQLite's
    /// `BEGIN IMMEDIATE`; PostgreSQL's plain `BEGIN`); it rolls back when
    /// dropped without `commit`.
    pub fn transaction(&mut self) -> Result<Transaction<'_>> {
        let begin = match self.inner {
            Inner::Sqlite(_) => "BEGIN IMMEDIATE",
            Inner::Postgres(_) => "BEGIN",
        };
        self.execute_batch(begin)?;
        Ok(Transaction {
            conn: self,
            done: false,
        })
    }

    /// A transaction that only reads: one snapshot for all its reads.
    pub fn read_transaction(&mut self) -> Result<Transaction<'_>> {
        let begin = match self.inner {
            Inner::Sqlite(_) => "BEGIN DEFERRED",
            Inner::Postgres(_) => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        self.execute_batch(begin)?;
        Ok(Transaction {
            conn: self,
            done: false,
        })
    }
}

/// A transaction on a connection; it derefs to the connection.
pub struct Transaction<'c> {
    conn: &'c mut Connection,
    done: bool,
}

impl Transaction<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.execute_batch("COMMIT")
    }
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

/// A prepared statement.
pub enum Statement<'c> {
    Sqlite(Lite<'c>),
    /// Prepared at its first run, when the values tell the placeholders'
    /// types (PostgreSQL cannot infer `?1 IS NULL OR x = ?1`).
    Postgres(&'c Pg, String, bool),
}

pub enum Lite<'c> {
    Cached(rusqlite::CachedStatement<'c>),
    Once(rusqlite::Statement<'c>),
}

impl<'c> Lite<'c> {
    fn raw(&mut self) -> &mut rusqlite::Statement<'c> {
        match self {
            Lite::Cached(s) => s,
            Lite::Once(s) => s,
        }
    }
}

/// A value bound to SQLite as it is, text borrowed (no copy).
impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef as R};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => R::Null,
            Value::Int(i) => R::Integer(*i),
            Value::Real(f) => R::Real(*f),
            Value::Text(t) => R::Text(t.as_bytes()),
        }))
    }
}

impl Statement<'_> {
    pub fn execute(&mut self, params: impl Params) -> Result<usize> {
        let values = params.values();
        match self {
            Statement::Sqlite(s) => {
                Ok(s.raw().execute(rusqlite::params_from_iter(values.iter()))?)
            }
            Statement::Postgres(pg, sql, cache) => {
                let st = pg.prepared(sql, *cache, &values)?;
                let bound = bind(&st, &values)?;
                let n = pg.client.run(move |c| {
                    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                        bound.iter().map(|b| b as _).collect();
                    c.execute(&st, &refs)
                })?;
                Ok(n as usize)
            }
        }
    }

    /// The first row through `f`; no row is `StorageError::NotFound`.
    pub fn query_row<T>(
        &mut self,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(r) => f(&r),
            None => Err(StorageError::NotFound),
        }
    }

    /// Every row through `f`.
    pub fn query_map<T>(
        &mut self,
        params: impl Params,
        mut f: impl FnMut(&Row<'_>) -> Result<T>,
    ) -> Result<std::vec::IntoIter<Result<T>>> {
        let mut rows = self.query(params)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(f(&r));
        }
        Ok(out.into_iter())
    }

    /// The rows, one at a time (SQLite streams them; PostgreSQL's arrive
    /// together).
    pub fn query(&mut self, params: impl Params) -> Result<Rows<'_>> {
        let values = params.values();
        match self {
            Statement::Sqlite(s) => {
                let rows = s.raw().query(rusqlite::params_from_iter(values.iter()))?;
                Ok(Rows::Sqlite(rows))
            }
            Statement::Postgres(pg, sql, cache) => {
                let st = pg.prepared(sql, *cache, &values)?;
                let bound = bind(&st, &values)?;
                let rows = pg.client.run(move |c| {
                    let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
                        bound.iter().map(|b| b as _).collect();
                    c.query(&st, &refs)
                })?;
                Ok(Rows::Postgres(rows.into_iter(), None))
            }
        }
    }
}

/// Rows of a query.
pub enum Rows<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres(std::vec::IntoIter<postgres::Row>, Option<postgres::Row>),
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match self {
            Rows::Sqlite(r) => Ok(r.next()?.map(Row::Sqlite)),
            Rows::Postgres(it, current) => {
                *current = it.next();
                Ok(current.as_ref().map(Row::Postgres))
            }
        }
    }
}

/// One row.
pub enum Row<'a> {
    Sqlite(&'a rusqlite::Row<'a>),
    Postgres(&'a postgres::Row),
}

impl ValueRef<'_> {
    /// The text, without copying it; an error for another kind of value.
    pub fn as_str(&self) -> Result<&str> {
        match self {
            ValueRef::Text(s) => Ok(s),
            other => Err(wrong("text", other)),
        }
    }
}

impl Row<'_> {
    /// Column `idx` as read (text borrowed from the row where it can be).
    pub fn get_ref(&self, idx: usize) -> Result<ValueRef<'_>> {
        self.value(idx)
    }

    /// Column `idx` (from 0) as `T`.
    pub fn get<T: FromSql>(&self, idx: usize) -> Result<T> {
        T::from_value(self.value(idx)?)
    }

    /// Column `idx` as read.
    pub fn value(&self, idx: usize) -> Result<ValueRef<'_>> {
        match self {
            Row::Sqlite(r) => Ok(match r.get_ref(idx)? {
                rusqlite::types::ValueRef::Null => ValueRef::Null,
                rusqlite::types::ValueRef::Integer(i) => ValueRef::Int(i),
                rusqlite::types::ValueRef::Real(f) => ValueRef::Real(f),
                rusqlite::types::ValueRef::Text(t) => ValueRef::Text(Cow::Borrowed(
                    std::str::from_utf8(t)
                        .map_err(|_| StorageError::Sqlite("text that is not UTF-8".into()))?,
                )),
                rusqlite::types::ValueRef::Blob(_) => {
                    return Err(StorageError::Sqlite("a blob where none is expected".into()));
                }
            }),
            Row::Postgres(r) => {
                let v: PgAny = r.try_get(idx).map_err(pg_error)?;
                Ok(v.0)
            }
        }
    }
}

// ---- PostgreSQL ----

impl Pg {
    fn statement(&self, sql: &str, cache: bool) -> Result<Statement<'_>> {
        Ok(Statement::Postgres(self, sql.to_string(), cache))
    }

    /// `sql` prepared (from the cache when `cache`), its placeholders typed
    /// by `values`.
    fn prepared(
        &self,
        sql: &str,
        cache: bool,
        values: &[Value<'_>],
    ) -> Result<postgres::Statement> {
        let generation = self
            .client
            .generation
            .load(std::sync::atomic::Ordering::SeqCst);
        if self.cache_generation.get() != generation {
            // Reconnected: what was prepared on the old connection is gone.
            self.cache.borrow_mut().clear();
            self.cache_generation.set(generation);
        }
        if cache && let Some(st) = self.cache.borrow().get(sql) {
            return Ok(st.clone());
        }
        // Typed from the values: PostgreSQL cannot infer a placeholder that
        // is only tested for NULL, and a failed prepare would abort the
        // transaction it runs in. A NULL is text; a value bound later into
        // another type is converted (`PgValue`).
        use postgres::types::Type;
        let types: Vec<Type> = values
            .iter()
            .map(|v| match v {
                Value::Int(_) => Type::INT8,
                Value::Real(_) => Type::FLOAT8,
                Value::Null | Value::Text(_) => Type::TEXT,
            })
            .collect();
        let text = translate(sql);
        let st = self.client.run(move |c| c.prepare_typed(&text, &types))?;
        if cache {
            self.cache.borrow_mut().insert(sql.to_string(), st.clone());
        }
        Ok(st)
    }
}

/// PostgreSQL's errors as storage's: a unique key is a conflict, a lost
/// connection is I/O (the caller may retry), the rest as said.
pub fn pg_error(e: postgres::Error) -> StorageError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return match code {
            "23505" => StorageError::Conflict(db.message().to_string()),
            "53100" => StorageError::Full,
            "25006" => StorageError::ReadOnly,
            "40001" | "40P01" | "55P03" => StorageError::Busy,
            // A statement or transaction of a connection that was lost and
            // made again: the caller may try again.
            "26000" | "25P01" => {
                StorageError::Io("the connection to PostgreSQL was made again; try again".into())
            }
            // The server is shutting down, or refuses connections now.
            "57P01" | "57P02" | "57P03" | "55000" => {
                StorageError::Io(format!("PostgreSQL is not available: {}", db.message()))
            }
            _ => StorageError::Sqlite(format!("{code}: {}", db.message())),
        };
    }
    if e.is_closed() {
        return StorageError::Io("the connection to PostgreSQL was lost".into());
    }
    StorageError::Io(e.to_string())
}

/// A value bound by the type PostgreSQL inferred for its placeholder.
#[derive(Debug)]
struct PgValue(Value<'static>);

fn bind(st: &postgres::Statement, values: &[Value<'_>]) -> Result<Vec<PgValue>> {
    if values.len() != st.params().len() {
        return Err(StorageError::Sqlite(format!(
            "{} values for {} placeholders",
            values.len(),
            st.params().len()
        )));
    }
    Ok(values
        .iter()
        .map(|v| {
            PgValue(match v {
                Value::Null => Value::Null,
                Value::Int(i) => Value::Int(*i),
                Value::Real(f) => Value::Real(*f),
                Value::Text(s) => Value::Text(Cow::Owned(s.to_string())),
            })
        })
        .collect())
}

impl postgres::types::ToSql for PgValue {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>>
    {
        use postgres::types::{IsNull, Type};
        let text = |s: &str, out: &mut bytes::BytesMut| {
            out.extend_from_slice(s.as_bytes());
            Ok(IsNull::No)
        };
        match (&self.0, ty) {
            (Value::Null, _) => Ok(IsNull::Yes),
            (Value::Int(i), t) if *t == Type::INT8 => i.to_sql(ty, out),
            (Value::Int(i), t) if *t == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            (Value::Int(i), t) if *t == Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
            (Value::Int(i), t) if *t == Type::BOOL => (*i != 0).to_sql(ty, out),
            (Value::Int(i), t) if *t == Type::FLOAT8 => (*i as f64).to_sql(ty, out),
            (Value::Int(i), _) => text(&i.to_string(), out),
            (Value::Real(f), t) if *t == Type::FLOAT8 => f.to_sql(ty, out),
            (Value::Real(f), t) if *t == Type::FLOAT4 => (*f as f32).to_sql(ty, out),
            (Value::Real(f), _) => text(&f.to_string(), out),
            (Value::Text(s), t) if *t == Type::INT8 => s.parse::<i64>()?.to_sql(ty, out),
            (Value::Text(s), t) if *t == Type::JSONB => {
                out.extend_from_slice(&[1]);
                text(s, out)
            }
            (Value::Text(s), _) => text(s, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A column read whatever its type.
struct PgAny(ValueRef<'static>);

impl<'a> postgres::types::FromSql<'a> for PgAny {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        let text = |b: &[u8]| -> std::result::Result<
            ValueRef<'static>,
            Box<dyn std::error::Error + Sync + Send>,
        > {
            Ok(ValueRef::Text(Cow::Owned(
                std::str::from_utf8(b)?.to_string(),
            )))
        };
        Ok(PgAny(match *ty {
            Type::INT8 => ValueRef::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => ValueRef::Int(i64::from(i32::from_sql(ty, raw)?)),
            Type::INT2 => ValueRef::Int(i64::from(i16::from_sql(ty, raw)?)),
            Type::BOOL => ValueRef::Int(i64::from(bool::from_sql(ty, raw)?)),
            Type::FLOAT8 => ValueRef::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => ValueRef::Real(f64::from(f32::from_sql(ty, raw)?)),
            Type::JSONB => text(raw.get(1..).unwrap_or_default())?,
            _ => text(raw)?,
        }))
    }

    fn from_sql_null(
        _: &postgres::types::Type,
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(PgAny(ValueRef::Null))
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_side_binds_reads_and_rolls_back_what_is_not_committed() {
        let mut c = Connection::from_sqlite(rusqlite::Connection::open_in_memory().expect("db"));
        c.execute_batch("CREATE TABLE t (a INTEGER, b TEXT)")
            .expect("table");
        c.execute("INSERT INTO t VALUES (?1, ?2)", params![1, "x"])
            .expect("insert");
        c.execute("INSERT INTO t VALUES (?1, ?2)", params![2, None::<String>])
            .expect("null");
        let (a, b): (i64, Option<String>) = c
            .query_row("SELECT a, b FROM t WHERE a = ?1", [2], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("row");
        assert_eq!((a, b), (2, None));
        let none = c
            .query_row("SELECT a FROM t WHERE a = 9", (), |r| r.get::<i64>(0))
            .optional()
            .expect("no row");
        assert_eq!(none, None);
        {
            let tx = c.transaction().expect("begin");
            tx.execute("DELETE FROM t", ()).expect("delete");
        }
        let n: i64 = c
            .query_row("SELECT count(*) FROM t", (), |r| r.get(0))
            .expect("count");
        assert_eq!(n, 2, "dropped without commit: rolled back");
        let all: Vec<String> = c
            .prepare_cached("SELECT coalesce(b, '-') FROM t ORDER BY a")
            .expect("prepare")
            .query_map((), |r| r.get(0))
            .expect("rows")
            .collect::<Result<_>>()
            .expect("all");
        assert_eq!(all, ["x", "-"]);
    }
}
