//! The single writer: one thread owns the writing connection and commits
//! whatever has arrived as one transaction (group commit). Each job runs in
//! its own savepoint, so one failing job does not undo the others; every
//! job's caller is answered only after the COMMIT returned, so an answer
//! means the data is on disk.

use super::Connection;
use std::thread::JoinHandle;
use tokio::sync::{mpsc, oneshot};

use super::{Result, StorageError};

type Reply = Box<dyn FnOnce(Result<()>) + Send>;
/// A job runs on the connection (`Some`), or is only answered (`None`) when
/// its transaction could not start.
type Job = Box<dyn FnOnce(Option<&Connection>) -> (Option<StorageError>, Reply) + Send>;

/// The most jobs committed together.
const MAX_BATCH: usize = 512;
/// How often, under continuous load, the writer leaves the lock free, and
/// for how long (see `wait_for_writer`).
const PAUSE_EVERY: std::time::Duration = std::time::Duration::from_millis(20);
const PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

/// How the writer behaves; the unsafe switch exists only so that the crash
/// test can show that it catches a server answering before its commit.
#[derive(Debug, Clone, Copy)]
pub struct WriterOptions {
    pub ack_before_commit: bool,
    /// When the WAL grows past this many bytes, the writer checkpoints it
    /// completely and truncates it between two batches, so that sustained
    /// load cannot grow it without end (checkpoints that run beside the
    /// writer cannot finish while it keeps appending).
    pub wal_limit: u64,
}

/// The WAL bound by default: 64 MiB.
pub const WAL_LIMIT: u64 = 64 * 1024 * 1024;

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        WriterOptions {
            ack_before_commit: false,
            wal_limit: WAL_LIMIT,
        }
    }
}

impl Writer {
    /// Starts the writer thread on `conn`. The thread ends when every
    /// `Writer` handle is dropped.
    pub fn start(conn: Connection, opts: WriterOptions) -> (Writer, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<Job>(8192);
        // Checkpoints (copying the WAL into the database file) run on their
        // own thread, so the writer's commits do not wait for them.
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checkpointer = conn
            .sqlite()
            .and_then(|c| c.path())
            .map(std::path::PathBuf::from)
            .and_then(|path| {
                let conn2 = Connection::from_sqlite(rusqlite::Connection::open(&path).ok()?);
                conn.sqlite()?
                    .pragma_update(None, "wal_autocheckpoint", 0)
                    .ok()?;
                let done = done.clone();
                std::thread::Builder::new()
                    .name("prom-checkpoint".into())
                    .spawn(move || checkpoints(conn2, &done))
                    .ok()
            });
        let handle = std::thread::Builder::new()
            .name("prom-writer".into())
            .spawn(move || {
                run(conn, rx, opts);
                done.store(true, std::sync::atomic::Ordering::Relaxed);
                if let Some(c) = checkpointer {
                    let _ = c.join();
                }
            })
            .unwrap_or_else(|e| panic!("cannot start the writer thread: {e}"));
        (Writer { tx }, handle)
    }

    /// Runs `f` inside the next group transaction and answers after commit.
    pub async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = oneshot::channel::<Result<R>>();
        let job: Job = Box::new(move |conn| {
            let r = match conn {
                Some(c) => f(c),
                None => Err(StorageError::Busy),
            };
            let failed = r.as_ref().err().cloned();
            let reply: Reply = Box::new(move |commit: Result<()>| {
                let _ = tx.send(commit.and(r));
            });
            (failed, reply)
        });
        self.tx
            .send(job)
            .await
            .map_err(|_| StorageError::WriterGone)?;
        rx.await.map_err(|_| StorageError::WriterGone)?
    }
}

/// How often, at most, the audit head checkpoint is written after commits.
const HEAD_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

fn run(conn: Connection, mut rx: mpsc::Receiver<Job>, opts: WriterOptions) {
    // This thread is outside any runtime: on PostgreSQL it talks to the
    // database itself, a thread switch fewer each way per statement.
    conn.take_over();
    let wal = conn
        .sqlite()
        .and_then(|c| c.path())
        .map(|p| std::path::PathBuf::from(format!("{p}-wal")));
    // After a checkpoint, SQLite truncates a WAL it resets to this size.
    if let Some(c) = conn.sqlite() {
        let _ = c.pragma_update(None, "journal_size_limit", opts.wal_limit as i64);
    }
    let mut jobs: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut last_pause = std::time::Instant::now();
    let _ = super::audit::refresh_head(&conn);
    // The first commit writes the head at once.
    let mut last_head = std::time::Instant::now()
        .checked_sub(HEAD_EVERY)
        .unwrap_or_else(std::time::Instant::now);
    let mut head_due = false;
    let keep_savepoints = conn.backend() == super::db::Backend::Postgres;
    while let Some(first) = rx.blocking_recv() {
        jobs.push(first);
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let (batch_started, batch_len) = (std::time::Instant::now(), jobs.len());
        let begun = exec(&conn, "BEGIN IMMEDIATE");
        super::audit::begin_batch(&conn);
        if let Err(e) = begun {
            let _ = conn.execute_batch("ROLLBACK");
            super::audit::end_batch(&conn);
            let err = e;
            for job in jobs.drain(..) {
                // The job never ran; answer its caller with the error.
                let (_, reply) = job(None);
                reply(Err(err.clone()));
            }
            continue;
        }
        let mut replies: Vec<Reply> = Vec::with_capacity(jobs.len());
        // Set when SQLite rolled the whole transaction back under us (a full
        // disk does that): every job of the batch then fails with it, and no
        // further job may run, since it would run outside any transaction.
        let mut lost: Option<StorageError> = None;
        for job in jobs.drain(..) {
            if lost.is_some() {
                let (_, reply) = job(None);
                replies.push(reply);
                continue;
            }
            if let Err(e) = exec(&conn, "SAVEPOINT job") {
                let err = e;
                let (_, reply) = job(None);
                replies.push(Box::new(move |_| reply(Err(err))));
                continue;
            }
            let audit_mark = super::audit::mark(&conn);
            let (failed, reply) = job(Some(&conn));
            if conn.is_autocommit() {
                lost = Some(failed.unwrap_or(StorageError::Sqlite(
                    "the transaction was rolled back".into(),
                )));
                replies.push(reply);
                continue;
            }
            // A job that succeeded keeps its savepoint on PostgreSQL: the
            // next `SAVEPOINT job` nests inside it and `ROLLBACK TO job`
            // names the newest, so a RELEASE would only cost a round trip
            // (its work joins the transaction either way). SQLite releases
            // it, which is free there and keeps its savepoint stack short.
            let end = if failed.is_none() {
                if keep_savepoints {
                    Ok(())
                } else {
                    exec(&conn, "RELEASE job")
                }
            } else {
                super::audit::drop_since(&conn, audit_mark);
                exec(&conn, "ROLLBACK TO job").and_then(|_| exec(&conn, "RELEASE job"))
            };
            if let Err(e) = end {
                let err = e;
                replies.push(Box::new(move |_| reply(Err(err))));
            } else {
                replies.push(reply);
            }
        }
        // The batch's audit rows, chained and written last (see
        // `audit::begin_batch`); when that fails, nothing of the batch is
        // committed.
        if lost.is_none()
            && let Err(e) = super::audit::flush_batch(&conn)
        {
            lost = Some(e);
        }
        if let Some(err) = lost {
            let _ = conn.execute_batch("ROLLBACK");
            super::audit::end_batch(&conn);
            for reply in replies {
                reply(Err(err.clone()));
            }
            continue;
        }
        if opts.ack_before_commit {
            // UNSAFE, for the crash test's negative control only.
            for reply in replies.drain(..) {
                reply(Ok(()));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let commit = exec(&conn, "COMMIT");
        super::audit::end_batch(&conn);
        metrics::histogram!("prom_storage_write_seconds")
            .record(batch_started.elapsed().as_secs_f64());
        metrics::histogram!("prom_storage_batch_size").record(batch_len as f64);
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        // The head checkpoint names the last committed audit row; written
        // at most every HEAD_EVERY (before the callers hear of the commit,
        // so a check right after an answer finds it), and once more when
        // the writer stops.
        head_due |= commit.is_ok();
        if head_due && last_head.elapsed() >= HEAD_EVERY && super::audit::refresh_head(&conn) {
            last_head = std::time::Instant::now();
            head_due = false;
        }
        for reply in replies {
            reply(commit.clone());
        }
        if let Some(w) = &wal
            && std::fs::metadata(w).is_ok_and(|m| m.len() > opts.wal_limit)
        {
            truncate_wal(&conn);
        }
        // Under continuous load the next batch would take the write lock
        // again at once, and another process (a CLI command) would wait in
        // vain. Leave the lock free for a moment now and then.
        if last_pause.elapsed() >= PAUSE_EVERY {
            std::thread::sleep(PAUSE);
            last_pause = std::time::Instant::now();
        }
    }
    if head_due {
        let _ = super::audit::refresh_head(&conn);
    }
}

/// Copies the whole WAL into the database and truncates it. It waits for
/// readers of old frames (the busy timeout), which are short.
fn truncate_wal(conn: &Connection) {
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", (), |r| {
        Ok((r.get::<i64>(0)?, r.get::<i64>(1)?, r.get::<i64>(2)?))
    }) {
        Ok((0, log, done)) => {
            tracing::debug!(
                frames = log,
                copied = done,
                "WAL checkpointed and truncated"
            )
        }
        Ok((_, log, done)) => {
            tracing::info!(
                frames = log,
                copied = done,
                "the WAL could not be truncated yet (a reader held it); trying again after the next batch"
            )
        }
        Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; it will be tried again"),
    }
}

/// Checkpoints the WAL every few hundred milliseconds until `done`, and once
/// more at the end.
fn checkpoints(conn: Connection, done: &std::sync::atomic::AtomicBool) {
    let mut head_seq: Option<i64> = None;
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(250));
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", (), |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; it will be tried again");
        }
        // The audit head checkpoint, at each checkpoint interval, when the
        // log has grown (the writer also writes it right after commits).
        let last: Option<i64> = conn
            .query_row("SELECT max(seq) FROM audit_log", (), |r| r.get(0))
            .unwrap_or(None);
        if last.is_some() && last != head_seq && super::audit::refresh_head(&conn) {
            head_seq = last;
        }
    }
    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", (), |_| Ok(()));
}

/// Runs a statement without parameters through the statement cache, so the
/// writer's per-job savepoints are not parsed again each time.
fn exec(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute(())?;
    Ok(())
}
