//! The usage ledger: one row per proxy request in an embedded SQLite file
//! (`<data_dir>/ledger.sqlite3`, [`crate::config::settings::Paths::ledger_file`]), read back
//! as the [`UsageReport`]s the UI charts and `cursor-bridge usage` prints.
//!
//! ## Why it is built this way
//! - **SQLite in WAL mode, `synchronous=NORMAL`.** The ledger must survive restarts and
//!   crashes. In WAL mode a committed transaction survives a crash of our process, and a
//!   power loss can at worst drop the last few commits — it never corrupts the file. WAL
//!   also lets readers (a report, `cursor-bridge usage` in another process) run while the
//!   proxy writes. `NORMAL` (not `FULL`) skips an fsync per commit: losing the last
//!   second of usage statistics on power loss is fine; slowing every request is not.
//! - **`busy_timeout` (`DEFAULT_BUSY_TIMEOUT`).** Two processes (the tray app and a CLI)
//!   may touch the file at once; a statement waits that long for the other one's lock
//!   and then fails with [`LedgerError::Locked`] instead of hanging or panicking.
//! - **One writer thread.** [`Ledger::record`] is called on the request path, from async
//!   code, so it only pushes onto an unbounded channel and returns. A plain `std` thread
//!   owns the write connection, gathers a burst for `GATHER`, drains whatever is queued
//!   (up to `MAX_BATCH` rows) and inserts it in one transaction: one commit per burst
//!   instead of one per request, and
//!   the tokio runtime never waits for SQLite. A failed batch is logged (the SQLite error,
//!   never request content or secrets), counted (the ledger's failed writes) and dropped:
//!   statistics must never take the proxy down. The thread ends when the last handle is
//!   dropped and the queue is drained; call [`Ledger::flush`] before exiting so nothing
//!   queued is cut off by the process exit.
//! - **Reads on `spawn_blocking`**, through a second, `query_only` connection.
//! - **Exact vs estimated tokens.** When Cursor counted the turn (`TurnEndedUpdate`) the
//!   row holds its numbers, cache reads/writes and reasoning tokens included, and
//!   `tokens_exact` is true. Otherwise completion tokens are still Cursor's, but the
//!   prompt count is our inference or estimate and the cache and reasoning columns are
//!   NULL (unknown, not zero). A report's `tokensExact` is false as soon as one row with
//!   tokens in its range was estimated (`totals.estimatedRequests` says how many), so the
//!   UI can label the numbers "estimated" instead of passing a guess off as a count.
//! - **Schema versioned with `PRAGMA user_version`**: `schema::MIGRATIONS` is an append-only
//!   list; migration *n* brings the file to version *n + 1*. A file from a newer version
//!   is refused ([`LedgerError::TooNew`]) rather than misread.
//! - **Damage is detected at open** (`PRAGMA quick_check`) and reported as
//!   [`LedgerError::Damaged`] with the path and what to do, never as a panic.
//!
//! ## Report semantics
//! - A range is the window `[now - range, now]`; rows outside it (including rows stamped
//!   in the future by a clock change) are ignored.
//! - Buckets are UTC hours (`24h`) or UTC days (`7d`, `30d`). The series is sparse: only
//!   bucket × model pairs with at least one request appear, sorted by bucket then model.
//!   The splits by dialect and by client (`seriesByDialect`, `seriesByClient`, and their
//!   sums over the range, `byDialect`, `byClient`) come from the same scan and follow the
//!   same rules; a request without a `User-Agent` counts under client `null` (unknown).
//! - A request is an error when it has an `error_kind` or answered with a status ≥ 400;
//!   without a kind it is counted as `http_<status>`.
//! - Latency percentiles use the **nearest-rank** method (the smallest value with at least
//!   p % of the samples at or below it; no interpolation, so every value was really
//!   observed) over the *successful* requests only: a quota error answered in 30 ms would
//!   otherwise make the proxy look fast. `null` when there is no sample.
//!
//! ## Layout
//! `schema` the migrations and the checks at open, `writer` the writer thread and
//! [`LedgerEntry`], `report` the queries ([`UsageReport`], [`RecentError`]); this file
//! the [`Ledger`] handle and its errors.

mod report;
mod schema;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::oneshot;

use crate::config::private;

pub use report::{
    Bucket, ErrorCount, Latency, ModelUsage, Range, RecentError, SplitPoint, SplitUsage,
    UsagePoint, UsageReport, UsageTotals, nearest_rank,
};
#[cfg(test)]
use schema::MIGRATIONS;
pub use writer::LedgerEntry;

use report::{build_report, query_recent_errors};
use schema::{migrate, quick_check};
use writer::{Counters, Msg, writer_loop};

/// How long a statement waits for another connection's lock before failing. Long enough
/// to ride out another process's commit or migration, short enough that a stuck lock
/// surfaces as an error a user can act on.
pub(crate) const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Most rows the writer inserts in one transaction; a bigger backlog takes several.
pub(crate) const MAX_BATCH: usize = 512;

/// After the first row of a burst the writer sleeps this long before it commits, so the
/// rows of concurrent requests share one transaction: one wake-up of the thread, one set
/// of file locks and WAL writes (~10 system calls) per burst instead of per request —
/// senders do not wake a thread that sleeps rather than waits on the channel. A row
/// reaches the file at most this much later; a flush queued meanwhile waits for the same
/// commit.
pub(crate) const GATHER: Duration = Duration::from_millis(50);

/// The current time as Unix milliseconds (what [`LedgerEntry::started_at_ms`] holds).
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

/// Why the ledger could not be opened or read. Messages are sentences for the user.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The folder or file could not be created or opened.
    #[error("cannot create the usage database at {}: {source}", path.display())]
    Io {
        /// The ledger file being opened.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a SQLite database or failed its integrity check.
    #[error(
        "the usage database at {} is damaged: {detail}; move it aside to start a new one",
        path.display()
    )]
    Damaged {
        /// The damaged file, to move aside.
        path: PathBuf,
        /// What SQLite or `PRAGMA quick_check` found wrong.
        detail: String,
    },
    /// Another connection held a lock for longer than the busy timeout.
    #[error(
        "the usage database at {} is locked by another program (is another Cursor Bridge \
         running?); close it and try again",
        path.display()
    )]
    Locked {
        /// The file that stayed locked.
        path: PathBuf,
    },
    /// The file was written by a newer Cursor Bridge.
    #[error(
        "the usage database at {} was written by a newer version of Cursor Bridge (schema \
         {found}, this version knows up to {known}); update Cursor Bridge, or move the file \
         aside to start a new one",
        path.display()
    )]
    TooNew {
        /// The file that is too new.
        path: PathBuf,
        /// The file's schema version (`PRAGMA user_version`).
        found: i64,
        /// The newest schema version this build can migrate to (how many migrations it has).
        known: i64,
    },
    /// Any other SQLite failure.
    #[error("the usage database at {} failed: {source}", path.display())]
    Sqlite {
        /// The ledger file the statement ran on.
        path: PathBuf,
        /// The SQLite error as rusqlite reports it.
        #[source]
        source: rusqlite::Error,
    },
    /// The background query did not finish (a panic, or the runtime shutting down).
    #[error("reading the usage database was interrupted")]
    Interrupted,
}

impl LedgerError {
    /// Sorts a SQLite error into the variants a user can act on.
    fn sqlite(path: &Path, e: rusqlite::Error) -> LedgerError {
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => LedgerError::Damaged {
                path,
                detail: e.to_string(),
            },
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                LedgerError::Locked { path }
            }
            _ => LedgerError::Sqlite { path, source: e },
        }
    }
}

/// A string that is not one of `24h`, `7d`, `30d`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown range {0:?}: use 24h, 7d or 30d")]
pub struct UnknownRange(pub String);

// ---------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------

struct Inner {
    path: PathBuf,
    /// To the writer thread. `mpsc::Sender` is `Sync`, so no lock is needed to send.
    tx: mpsc::Sender<Msg>,
    /// The read connection. A `std` mutex, not tokio's: it is only ever locked inside
    /// `spawn_blocking` closures and never held across an `.await`. Reports are rare (a
    /// UI refresh, a CLI run), so serialising them on one connection costs nothing.
    read: Mutex<Connection>,
    counters: Arc<Counters>,
}

/// The usage ledger. A cheap-clone handle (an `Arc`): clone it into every request task.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

impl fmt::Debug for Ledger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ledger")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Ledger {
    /// Opens (creating the folder and file if needed) and migrates the ledger at `path`,
    /// with `DEFAULT_BUSY_TIMEOUT`. Blocking: call it at startup or on `spawn_blocking`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        Ledger::open_with_busy_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`Ledger::open`] with another busy timeout (tests use a short one).
    pub(crate) fn open_with_busy_timeout(
        path: &Path,
        busy: Duration,
    ) -> Result<Ledger, LedgerError> {
        let io = |source| LedgerError::Io {
            path: path.to_path_buf(),
            source,
        };
        let sql = |e| LedgerError::sqlite(path, e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private::ensure_dir(dir).map_err(io)?;
        }
        // Every prompt's model, client and cost: 0600 before SQLite first opens it, so the
        // -wal and -shm files SQLite creates take the same mode.
        private::open_append(path).map_err(io)?;
        for suffix in ["-wal", "-shm"] {
            let mut side = path.as_os_str().to_owned();
            side.push(suffix);
            private::tighten_file(Path::new(&side)).map_err(io)?;
        }

        let mut conn = Connection::open(path).map_err(sql)?;
        conn.busy_timeout(busy).map_err(sql)?;
        // The first statement that reads the file: a non-database fails here.
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            // e.g. a file system without shared memory; still correct, just less concurrent.
            tracing::warn!(journal_mode = %mode, "the usage database could not use WAL mode");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        quick_check(&conn, path)?;
        migrate(&mut conn, path)?;

        let read = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)?;
        read.busy_timeout(busy).map_err(sql)?;
        read.pragma_update(None, "query_only", true).map_err(sql)?;

        let (tx, rx) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let writer_counters = Arc::clone(&counters);
        let writer_path = path.to_path_buf();
        std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer_loop(conn, rx, &writer_counters, &writer_path))
            .map_err(io)?;

        Ok(Ledger {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                tx,
                read: Mutex::new(read),
                counters,
            }),
        })
    }

    /// Queues `e` for the writer thread and returns at once; never blocks, never fails
    /// (a row that cannot be written is logged and counted).
    pub fn record(&self, e: LedgerEntry) {
        if self.inner.tx.send(Msg::Record(Box::new(e))).is_err() {
            // The writer thread is gone. It only stops once every handle is dropped, so
            // this means it panicked; the proxy carries on without statistics.
            self.inner.counters.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!("the usage ledger's writer has stopped; a request was not recorded");
        }
    }

    /// Resolves once everything recorded before this call has been committed (or has
    /// failed and been counted). For tests and shutdown.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.inner.tx.send(Msg::Flush(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Rows committed so far by this handle's writer.
    pub fn written(&self) -> u64 {
        self.inner.counters.written.load(Ordering::Relaxed)
    }

    /// Rows that could not be written (logged and dropped).
    #[cfg(test)]
    pub(crate) fn failed_writes(&self) -> u64 {
        self.inner.counters.failed.load(Ordering::Relaxed)
    }

    /// Usage over `range` ending at `now_ms` (see the module doc for the semantics).
    pub async fn report(&self, range: Range, now_ms: i64) -> Result<UsageReport, LedgerError> {
        self.read(move |conn| build_report(conn, range, now_ms))
            .await
    }

    /// The `limit` most recent errors, newest first.
    pub(crate) async fn recent_errors(
        &self,
        limit: usize,
    ) -> Result<Vec<RecentError>, LedgerError> {
        self.read(move |conn| query_recent_errors(conn, limit))
            .await
    }

    /// Requests since `since_ms` and their tokens (prompt + completion, where known): what
    /// the guard's daily budgets start from after a restart.
    pub async fn counts_since(&self, since_ms: i64) -> Result<(u64, u64), LedgerError> {
        self.read(move |conn| {
            conn.query_row(
                "SELECT COUNT(*), COALESCE(SUM(COALESCE(prompt_tokens, 0) + \
                 COALESCE(completion_tokens, 0)), 0) FROM requests WHERE started_at_ms >= ?1",
                [since_ms],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?.max(0) as u64,
                        r.get::<_, i64>(1)?.max(0) as u64,
                    ))
                },
            )
        })
        .await
    }

    /// Runs `f` on the read connection on tokio's blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T, LedgerError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave the connection half-changed
            // (it is read-only), so a poisoned lock is still fine to use.
            let conn = inner.read.lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(|e| LedgerError::sqlite(&inner.path, e))
        })
        .await
        .map_err(|_| LedgerError::Interrupted)?
    }
}

#[cfg(test)]
mod tests;
