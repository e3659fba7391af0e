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
//! - **`busy_timeout` ([`DEFAULT_BUSY_TIMEOUT`]).** Two processes (the tray app and a CLI)
//!   may touch the file at once; a statement waits that long for the other one's lock
//!   and then fails with [`LedgerError::Locked`] instead of hanging or panicking.
//! - **One writer thread.** [`Ledger::record`] is called on the request path, from async
//!   code, so it only pushes onto an unbounded channel and returns. A plain `std` thread
//!   owns the write connection, gathers a burst for [`GATHER`], drains whatever is queued
//!   (up to [`MAX_BATCH`] rows) and inserts it in one transaction: one commit per burst
//!   instead of one per request, and
//!   the tokio runtime never waits for SQLite. A failed batch is logged (the SQLite error,
//!   never request content or secrets), counted in [`Ledger::failed_writes`] and dropped:
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
//! - **Schema versioned with `PRAGMA user_version`**: [`MIGRATIONS`] is an append-only
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
//! - A request is an error when it has an `error_kind` or answered with a status ≥ 400;
//!   without a kind it is counted as `http_<status>`.
//! - Latency percentiles use the **nearest-rank** method (the smallest value with at least
//!   p % of the samples at or below it; no interpolation, so every value was really
//!   observed) over the *successful* requests only: a quota error answered in 30 ms would
//!   otherwise make the proxy look fast. `null` when there is no sample.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// How long a statement waits for another connection's lock before failing. Long enough
/// to ride out another process's commit or migration, short enough that a stuck lock
/// surfaces as an error a user can act on.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Most rows the writer inserts in one transaction; a bigger backlog takes several.
pub const MAX_BATCH: usize = 512;

/// After the first row of a burst the writer sleeps this long before it commits, so the
/// rows of concurrent requests share one transaction: one wake-up of the thread, one set
/// of file locks and WAL writes (~10 system calls) per burst instead of per request —
/// senders do not wake a thread that sleeps rather than waits on the channel. A row
/// reaches the file at most this much later; a flush queued meanwhile waits for the same
/// commit.
pub const GATHER: Duration = Duration::from_millis(50);

/// Schema migrations, in order: entry *n* moves the file from version *n* to *n + 1*
/// (`PRAGMA user_version`). Append only; never edit a released entry.
pub const MIGRATIONS: &[&str] = &[
    // 1: the request table and the time index every report filters on.
    "CREATE TABLE requests (
        id                INTEGER PRIMARY KEY,
        started_at_ms     INTEGER NOT NULL,
        model             TEXT    NOT NULL,
        stream            INTEGER NOT NULL,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        tokens_exact      INTEGER NOT NULL,
        ttft_ms           INTEGER,
        total_ms          INTEGER NOT NULL,
        status            INTEGER NOT NULL,
        error_kind        TEXT,
        tool_calls        INTEGER NOT NULL,
        continued         INTEGER NOT NULL
    );
    CREATE INDEX requests_by_time ON requests (started_at_ms);",
    // 2: Cursor's exact turn usage (reference §9.4); NULL where it was not known.
    "ALTER TABLE requests ADD COLUMN cache_read_tokens INTEGER;
    ALTER TABLE requests ADD COLUMN cache_write_tokens INTEGER;
    ALTER TABLE requests ADD COLUMN reasoning_tokens INTEGER;",
    // 3: which way a fresh run's history travelled (`checkpoint`, `structured`,
    // `flattened`); NULL for a continued run and for rows written before.
    "ALTER TABLE requests ADD COLUMN history TEXT;",
];

/// SQL for "this row is an error" (see the module doc).
const IS_ERROR: &str = "(error_kind IS NOT NULL OR status >= 400)";
/// SQL for "this row's token counts are our estimate": a row without counts (a refused
/// request, a failure before any output) estimates nothing.
const ESTIMATED: &str = "(tokens_exact = 0 AND prompt_tokens IS NOT NULL)";
/// SQL for an error row's kind.
const ERROR_KIND: &str = "COALESCE(error_kind, 'http_' || status)";

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
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a SQLite database or failed its integrity check.
    #[error(
        "the usage database at {} is damaged: {detail}; move it aside to start a new one",
        path.display()
    )]
    Damaged { path: PathBuf, detail: String },
    /// Another connection held a lock for longer than the busy timeout.
    #[error(
        "the usage database at {} is locked by another program (is another Cursor Bridge \
         running?); close it and try again",
        path.display()
    )]
    Locked { path: PathBuf },
    /// The file was written by a newer Cursor Bridge.
    #[error(
        "the usage database at {} was written by a newer version of Cursor Bridge (schema \
         {found}, this version knows up to {known}); update Cursor Bridge, or move the file \
         aside to start a new one",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// Any other SQLite failure.
    #[error("the usage database at {} failed: {source}", path.display())]
    Sqlite {
        path: PathBuf,
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
// Public types
// ---------------------------------------------------------------------------------------

/// One proxy request, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerEntry {
    /// When the request arrived, Unix milliseconds.
    pub started_at_ms: i64,
    pub model: String,
    pub stream: bool,
    /// Includes the cache reads (OpenAI's convention).
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    /// Prompt tokens read from Cursor's cache (known only with Cursor's count).
    pub cache_read_tokens: Option<u64>,
    /// Prompt tokens written to Cursor's cache.
    pub cache_write_tokens: Option<u64>,
    /// Completion tokens spent on reasoning.
    pub reasoning_tokens: Option<u64>,
    /// True when the numbers are Cursor's count of the turn; false when the prompt
    /// tokens are our estimate.
    pub tokens_exact: bool,
    /// Time to first token.
    pub ttft_ms: Option<u64>,
    pub total_ms: u64,
    /// The HTTP status we answered.
    pub status: u16,
    /// e.g. `quota`, `context_length_exceeded`, `upstream`, `client_disconnected`.
    pub error_kind: Option<String>,
    pub tool_calls: u32,
    /// This request continued a parked Cursor stream (a tool result on the same run).
    pub continued: bool,
    /// How a fresh run carried the conversation: `checkpoint` (Cursor's own, kept from
    /// the previous turn), `structured` (rebuilt as message blobs) or `flattened` (one
    /// transcript text, the last resort); `None` for a continued run or a refused request.
    pub history: Option<String>,
}

/// A report's time range: `24h`, `7d` or `30d` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Range {
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
}

impl Range {
    /// Every range, shortest first.
    pub const ALL: [Range; 3] = [Range::Day, Range::Week, Range::Month];

    /// `24h`, `7d` or `30d`.
    pub fn as_str(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
        }
    }

    /// The window's length in milliseconds.
    pub fn duration_ms(self) -> i64 {
        const DAY: i64 = 86_400_000;
        match self {
            Range::Day => DAY,
            Range::Week => 7 * DAY,
            Range::Month => 30 * DAY,
        }
    }

    /// Hourly buckets for a day, daily ones otherwise.
    pub fn bucket(self) -> Bucket {
        match self {
            Range::Day => Bucket::Hour,
            Range::Week | Range::Month => Bucket::Day,
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Range {
    type Err = UnknownRange;

    fn from_str(s: &str) -> Result<Range, UnknownRange> {
        Range::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRange(s.to_string()))
    }
}

/// The width of one series bucket (UTC-aligned).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    /// The bucket's length in milliseconds.
    pub fn ms(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
        }
    }
}

/// Usage over a range, shaped exactly as `UsageReport` in `docs/IPC.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub range: Range,
    pub bucket: Bucket,
    pub generated_at: i64,
    pub totals: UsageTotals,
    pub series: Vec<UsagePoint>,
    pub latency: Latency,
    pub errors_by_kind: Vec<ErrorCount>,
    /// False when some token counts in the range are estimates.
    pub tokens_exact: bool,
}

/// Sums over a whole range.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Sums over the rows that know them (Cursor's count); part of `prompt_tokens`.
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Part of `completion_tokens`.
    pub reasoning_tokens: u64,
    /// Requests whose token counts are our estimate rather than Cursor's count.
    pub estimated_requests: u64,
}

/// One bucket × model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePoint {
    /// Start of the bucket, Unix milliseconds (UTC-aligned).
    pub bucket_start: i64,
    pub model: String,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    /// Requests in this bucket whose token counts are estimates.
    pub estimated_requests: u64,
}

/// Nearest-rank percentiles of successful requests; `None` (`null`) without samples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    pub ttft_p50_ms: Option<u64>,
    pub ttft_p95_ms: Option<u64>,
    pub total_p50_ms: Option<u64>,
    pub total_p95_ms: Option<u64>,
}

/// How many errors of one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorCount {
    pub kind: String,
    pub count: u64,
}

/// One failed request, for the UI's error list (`RecentError` in `docs/IPC.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentError {
    /// When the request started, Unix milliseconds.
    pub at: i64,
    pub kind: String,
    /// A sentence for the user, built from the kind, model and status (the ledger stores
    /// no free text, so no prompt or secret can end up here).
    pub message: String,
}

/// One model's sums over a report's range (for "top models" lists; not part of IPC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    pub model: String,
    pub requests: u64,
    pub errors: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub estimated_requests: u64,
}

impl UsageReport {
    /// A report with no requests (for a ledger that does not exist yet).
    pub fn empty(range: Range, now_ms: i64) -> UsageReport {
        UsageReport {
            range,
            bucket: range.bucket(),
            generated_at: now_ms,
            totals: UsageTotals::default(),
            series: Vec::new(),
            latency: Latency::default(),
            errors_by_kind: Vec::new(),
            tokens_exact: true,
        }
    }

    /// The series summed per model, most requests first (ties by name).
    pub fn by_model(&self) -> Vec<ModelUsage> {
        let mut out: Vec<ModelUsage> = Vec::new();
        for p in &self.series {
            let m = match out.iter_mut().position(|m| m.model == p.model) {
                Some(i) => &mut out[i],
                None => {
                    out.push(ModelUsage {
                        model: p.model.clone(),
                        requests: 0,
                        errors: 0,
                        prompt_tokens: 0,
                        completion_tokens: 0,
                        cache_read_tokens: 0,
                        cache_write_tokens: 0,
                        reasoning_tokens: 0,
                        estimated_requests: 0,
                    });
                    let last = out.len() - 1;
                    &mut out[last]
                }
            };
            m.requests += p.requests;
            m.errors += p.errors;
            m.prompt_tokens += p.prompt_tokens;
            m.completion_tokens += p.completion_tokens;
            m.cache_read_tokens += p.cache_read_tokens;
            m.cache_write_tokens += p.cache_write_tokens;
            m.reasoning_tokens += p.reasoning_tokens;
            m.estimated_requests += p.estimated_requests;
        }
        out.sort_by(|a, b| b.requests.cmp(&a.requests).then(a.model.cmp(&b.model)));
        out
    }
}

/// The nearest-rank percentile `p` (1..=100) of ascending `sorted` values: the value at
/// rank ⌈p/100 · n⌉ (1-based). `None` for no samples.
pub fn nearest_rank(sorted: &[u64], p: u32) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = p.clamp(1, 100) as usize;
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

// ---------------------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------------------

enum Msg {
    Record(LedgerEntry),
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    failed: AtomicU64,
}

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
    /// with [`DEFAULT_BUSY_TIMEOUT`]. Blocking: call it at startup or on `spawn_blocking`.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        Ledger::open_with_busy_timeout(path, DEFAULT_BUSY_TIMEOUT)
    }

    /// [`Ledger::open`] with another busy timeout (tests use a short one).
    pub fn open_with_busy_timeout(path: &Path, busy: Duration) -> Result<Ledger, LedgerError> {
        let io = |source| LedgerError::Io {
            path: path.to_path_buf(),
            source,
        };
        let sql = |e| LedgerError::sqlite(path, e);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
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

    /// The file this ledger writes.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Queues `e` for the writer thread and returns at once; never blocks, never fails
    /// (a row that cannot be written is logged and counted in [`Ledger::failed_writes`]).
    pub fn record(&self, e: LedgerEntry) {
        if self.inner.tx.send(Msg::Record(e)).is_err() {
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
    pub fn failed_writes(&self) -> u64 {
        self.inner.counters.failed.load(Ordering::Relaxed)
    }

    /// Usage over `range` ending at `now_ms` (see the module doc for the semantics).
    pub async fn report(&self, range: Range, now_ms: i64) -> Result<UsageReport, LedgerError> {
        self.read(move |conn| build_report(conn, range, now_ms))
            .await
    }

    /// The `limit` most recent errors, newest first.
    pub async fn recent_errors(&self, limit: usize) -> Result<Vec<RecentError>, LedgerError> {
        self.read(move |conn| query_recent_errors(conn, limit))
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

// ---------------------------------------------------------------------------------------
// Opening
// ---------------------------------------------------------------------------------------

fn quick_check(conn: &Connection, path: &Path) -> Result<(), LedgerError> {
    let sql = |e| LedgerError::sqlite(path, e);
    let mut stmt = conn.prepare("PRAGMA quick_check(5)").map_err(sql)?;
    let problems = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sql)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql)?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(LedgerError::Damaged {
        path: path.to_path_buf(),
        detail: problems.join("; "),
    })
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), LedgerError> {
    let sql = |e| LedgerError::sqlite(path, e);
    let known = MIGRATIONS.len() as i64;
    let version =
        |c: &Connection| c.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0));
    if version(conn).map_err(sql)? == known {
        return Ok(());
    }
    // IMMEDIATE takes the write lock up front, so two processes opening a new file at
    // once migrate it one after the other; the second re-reads the version and skips.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let found = version(&tx).map_err(sql)?;
    if found > known {
        return Err(LedgerError::TooNew {
            path: path.to_path_buf(),
            found,
            known,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(step).map_err(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)
            .map_err(sql)?;
    }
    tx.commit().map_err(sql)
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<Msg>, counters: &Counters, path: &Path) {
    // Ends when every `Ledger` is dropped and the queue is empty.
    while let Ok(first) = rx.recv() {
        if matches!(first, Msg::Record(_)) {
            std::thread::sleep(GATHER);
        }
        let mut entries = Vec::new();
        let mut flushes = Vec::new();
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Record(e) => entries.push(e),
                Msg::Flush(done) => flushes.push(done),
            }
            if entries.len() >= MAX_BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !entries.is_empty() {
            let n = entries.len() as u64;
            match insert(&mut conn, &entries) {
                Ok(()) => {
                    counters.written.fetch_add(n, Ordering::Relaxed);
                }
                Err(e) => {
                    counters.failed.fetch_add(n, Ordering::Relaxed);
                    // The SQLite error and the path only: rows carry nothing secret, but
                    // there is no reason to log them either.
                    tracing::warn!(rows = n, "{}", LedgerError::sqlite(path, e));
                }
            }
        }
        // Only after the commit: a flush that was queued behind these rows now holds.
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// SQLite integers are signed 64-bit; a count beyond that is clamped, not wrapped.
fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn insert(conn: &mut Connection, entries: &[LedgerEntry]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO requests (started_at_ms, model, stream, prompt_tokens,
                completion_tokens, tokens_exact, ttft_ms, total_ms, status, error_kind,
                tool_calls, continued, cache_read_tokens, cache_write_tokens,
                reasoning_tokens, history)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )?;
        for e in entries {
            stmt.execute(params![
                e.started_at_ms,
                e.model,
                e.stream,
                e.prompt_tokens.map(int),
                e.completion_tokens.map(int),
                e.tokens_exact,
                e.ttft_ms.map(int),
                int(e.total_ms),
                e.status,
                e.error_kind,
                e.tool_calls,
                e.continued,
                e.cache_read_tokens.map(int),
                e.cache_write_tokens.map(int),
                e.reasoning_tokens.map(int),
                e.history,
            ])?;
        }
    }
    tx.commit()
}

// ---------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------

/// Non-negative SQLite integer as `u64` (sums of non-negative columns).
fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn build_report(conn: &Connection, range: Range, now_ms: i64) -> rusqlite::Result<UsageReport> {
    let bucket = range.bucket();
    let from = now_ms.saturating_sub(range.duration_ms());
    let window = "started_at_ms >= ?1 AND started_at_ms <= ?2";

    let mut stmt = conn.prepare_cached(&format!(
        "SELECT (started_at_ms / ?3) * ?3 AS b, model, COUNT(*),
                SUM({IS_ERROR}), COALESCE(SUM(prompt_tokens), 0),
                COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cache_read_tokens), 0),
                COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
                SUM({ESTIMATED})
         FROM requests WHERE {window}
         GROUP BY b, model ORDER BY b, model"
    ))?;
    let series = stmt
        .query_map(params![from, now_ms, bucket.ms()], |r| {
            Ok(UsagePoint {
                bucket_start: r.get(0)?,
                model: r.get(1)?,
                requests: count(r.get(2)?),
                errors: count(r.get(3)?),
                prompt_tokens: count(r.get(4)?),
                completion_tokens: count(r.get(5)?),
                cache_read_tokens: count(r.get(6)?),
                cache_write_tokens: count(r.get(7)?),
                reasoning_tokens: count(r.get(8)?),
                estimated_requests: count(r.get(9)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let mut totals = UsageTotals::default();
    for p in &series {
        totals.requests += p.requests;
        totals.errors += p.errors;
        totals.prompt_tokens += p.prompt_tokens;
        totals.completion_tokens += p.completion_tokens;
        totals.cache_read_tokens += p.cache_read_tokens;
        totals.cache_write_tokens += p.cache_write_tokens;
        totals.reasoning_tokens += p.reasoning_tokens;
        totals.estimated_requests += p.estimated_requests;
    }

    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ERROR_KIND} AS k, COUNT(*) AS n FROM requests
         WHERE {window} AND {IS_ERROR}
         GROUP BY k ORDER BY n DESC, k"
    ))?;
    let errors_by_kind = stmt
        .query_map(params![from, now_ms], |r| {
            Ok(ErrorCount {
                kind: r.get(0)?,
                count: count(r.get(1)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let samples = |column: &str| -> rusqlite::Result<Vec<u64>> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {column} FROM requests
             WHERE {window} AND NOT {IS_ERROR} AND {column} IS NOT NULL
             ORDER BY {column}"
        ))?;
        stmt.query_map(params![from, now_ms], |r| r.get::<_, i64>(0).map(count))?
            .collect()
    };
    let ttft = samples("ttft_ms")?;
    let total = samples("total_ms")?;

    Ok(UsageReport {
        range,
        bucket,
        generated_at: now_ms,
        series,
        latency: Latency {
            ttft_p50_ms: nearest_rank(&ttft, 50),
            ttft_p95_ms: nearest_rank(&ttft, 95),
            total_p50_ms: nearest_rank(&total, 50),
            total_p95_ms: nearest_rank(&total, 95),
        },
        errors_by_kind,
        tokens_exact: totals.estimated_requests == 0,
        totals,
    })
}

fn query_recent_errors(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<RecentError>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT started_at_ms, {ERROR_KIND}, model, status FROM requests
         WHERE {IS_ERROR} ORDER BY started_at_ms DESC, id DESC LIMIT ?1"
    ))?;
    stmt.query_map(params![int(limit as u64)], |r| {
        let kind: String = r.get(1)?;
        let model: String = r.get(2)?;
        let status: u16 = r.get(3)?;
        Ok(RecentError {
            at: r.get(0)?,
            message: error_message(&kind, &model, status),
            kind,
        })
    })?
    .collect()
}

/// The user-facing sentence for an error row.
fn error_message(kind: &str, model: &str, status: u16) -> String {
    let what = match kind {
        "quota" => "Cursor's usage limit was reached".to_string(),
        "context_length_exceeded" => {
            "the conversation is longer than the model's context window".to_string()
        }
        "upstream" => "Cursor failed to answer".to_string(),
        "client_disconnected" => "the client disconnected before the answer was complete".into(),
        "not_signed_in" | "session_expired" | "unauthenticated" => {
            "Cursor Bridge is not signed in to Cursor (run `cursor-bridge login`)".into()
        }
        other => format!("the request failed ({other})"),
    };
    format!("{model}: {what} (HTTP {status})")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Instant;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 86_400_000;
    /// 2026-01-14 14:02:14 UTC: not on a bucket boundary, so bucketing is visible.
    const NOW: i64 = 1_768_399_334_000;

    fn hour_of(t: i64) -> i64 {
        t - t.rem_euclid(HOUR)
    }

    fn day_of(t: i64) -> i64 {
        t - t.rem_euclid(DAY)
    }

    /// A successful, exactly counted request.
    fn ok(at: i64, model: &str, prompt: u64, completion: u64) -> LedgerEntry {
        LedgerEntry {
            started_at_ms: at,
            model: model.into(),
            stream: true,
            prompt_tokens: Some(prompt),
            completion_tokens: Some(completion),
            cache_read_tokens: None,
            cache_write_tokens: None,
            reasoning_tokens: None,
            tokens_exact: true,
            ttft_ms: Some(300),
            total_ms: 1_000,
            status: 200,
            error_kind: None,
            tool_calls: 0,
            continued: false,
            history: None,
        }
    }

    fn failed(at: i64, model: &str, status: u16, kind: Option<&str>) -> LedgerEntry {
        LedgerEntry {
            prompt_tokens: None,
            completion_tokens: None,
            ttft_ms: None,
            total_ms: 40,
            status,
            error_kind: kind.map(str::to_string),
            ..ok(at, model, 0, 0)
        }
    }

    fn fresh() -> (tempfile::TempDir, PathBuf, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        // A folder that does not exist yet: open creates it.
        let path = dir.path().join("data").join("ledger.sqlite3");
        let ledger = Ledger::open(&path).unwrap();
        (dir, path, ledger)
    }

    async fn record_all(ledger: &Ledger, entries: impl IntoIterator<Item = LedgerEntry>) {
        for e in entries {
            ledger.record(e);
        }
        ledger.flush().await;
    }

    fn point(
        bucket_start: i64,
        model: &str,
        requests: u64,
        errors: u64,
        p: u64,
        c: u64,
    ) -> UsagePoint {
        UsagePoint {
            bucket_start,
            model: model.into(),
            requests,
            errors,
            prompt_tokens: p,
            completion_tokens: c,
            cache_read_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            estimated_requests: 0,
        }
    }

    #[tokio::test]
    async fn record_flush_report_round_trip_with_buckets_and_per_model_series() {
        let (_dir, path, ledger) = fresh();
        let this_hour = hour_of(NOW);
        let mut estimated = ok(this_hour + 120_000, "gpt-5.1", 50, 5);
        estimated.tokens_exact = false;
        record_all(
            &ledger,
            [
                ok(this_hour + 60_000, "gpt-5.1", 100, 10),
                estimated,
                ok(this_hour + 1_000, "claude-4.5-sonnet", 7, 3),
                ok(this_hour - HOUR + 5_000, "claude-4.5-sonnet", 1_000, 200),
                failed(
                    this_hour - HOUR + 6_000,
                    "claude-4.5-sonnet",
                    429,
                    Some("quota"),
                ),
                failed(this_hour - 3 * HOUR, "gpt-5.1", 502, None),
            ],
        )
        .await;
        assert_eq!(ledger.written(), 6);
        assert_eq!(ledger.failed_writes(), 0);
        assert!(path.is_file());

        let day = ledger.report(Range::Day, NOW).await.unwrap();
        assert_eq!(day.range, Range::Day);
        assert_eq!(day.bucket, Bucket::Hour);
        assert_eq!(day.generated_at, NOW);
        assert_eq!(
            day.series,
            [
                point(this_hour - 3 * HOUR, "gpt-5.1", 1, 1, 0, 0),
                point(this_hour - HOUR, "claude-4.5-sonnet", 2, 1, 1_000, 200),
                point(this_hour, "claude-4.5-sonnet", 1, 0, 7, 3),
                UsagePoint {
                    estimated_requests: 1,
                    ..point(this_hour, "gpt-5.1", 2, 0, 150, 15)
                },
            ]
        );
        assert_eq!(
            day.totals,
            UsageTotals {
                requests: 6,
                errors: 2,
                prompt_tokens: 1_157,
                completion_tokens: 218,
                estimated_requests: 1,
                ..UsageTotals::default()
            }
        );
        assert_eq!(
            day.errors_by_kind,
            [
                ErrorCount {
                    kind: "http_502".into(),
                    count: 1
                },
                ErrorCount {
                    kind: "quota".into(),
                    count: 1
                },
            ]
        );
        assert!(!day.tokens_exact, "one prompt count was an estimate");
        let models = day.by_model();
        assert_eq!(models[0].model, "claude-4.5-sonnet");
        assert_eq!((models[0].requests, models[0].errors), (3, 1));
        assert_eq!(
            (models[1].model.as_str(), models[1].requests),
            ("gpt-5.1", 3)
        );

        // The same rows in daily buckets: 11:02 and 14:00 are both "today" in UTC.
        let week = ledger.report(Range::Week, NOW).await.unwrap();
        assert_eq!(week.bucket, Bucket::Day);
        assert_eq!(
            week.series,
            [
                point(day_of(NOW), "claude-4.5-sonnet", 3, 1, 1_007, 203),
                UsagePoint {
                    estimated_requests: 1,
                    ..point(day_of(NOW), "gpt-5.1", 3, 1, 150, 15)
                },
            ]
        );
        assert_eq!(week.totals, day.totals);
    }

    #[tokio::test]
    async fn tokens_are_exact_when_every_row_in_range_is() {
        let (_dir, _path, ledger) = fresh();
        let mut old_estimate = ok(NOW - 3 * DAY, "m", 1, 1);
        old_estimate.tokens_exact = false;
        record_all(&ledger, [ok(NOW - HOUR, "m", 1, 1), old_estimate]).await;
        assert!(ledger.report(Range::Day, NOW).await.unwrap().tokens_exact);
        assert!(!ledger.report(Range::Week, NOW).await.unwrap().tokens_exact);
        assert!(
            ledger
                .report(Range::Day, NOW + 10 * DAY)
                .await
                .unwrap()
                .tokens_exact
        );
    }

    /// Cursor's exact turn usage (cache reads/writes, reasoning) is stored per row and
    /// summed per bucket, model and range; an estimated row leaves those columns NULL
    /// (unknown, not 0) and counts as estimated, a row without tokens does not.
    #[tokio::test]
    async fn exact_rows_keep_cache_and_reasoning_tokens_and_estimates_are_counted() {
        let (_dir, path, ledger) = fresh();
        let exact = LedgerEntry {
            cache_read_tokens: Some(900),
            cache_write_tokens: Some(50),
            reasoning_tokens: Some(7),
            ..ok(NOW - HOUR, "m", 1_000, 20)
        };
        let mut estimate = ok(NOW - 2 * HOUR, "m", 300, 5);
        estimate.tokens_exact = false;
        let mut refused = failed(NOW - 3 * HOUR, "m", 400, Some("invalid_request"));
        refused.tokens_exact = false;
        record_all(&ledger, [exact, estimate, refused]).await;

        let r = ledger.report(Range::Day, NOW).await.unwrap();
        assert_eq!(
            r.totals,
            UsageTotals {
                requests: 3,
                errors: 1,
                prompt_tokens: 1_300,
                completion_tokens: 25,
                cache_read_tokens: 900,
                cache_write_tokens: 50,
                reasoning_tokens: 7,
                estimated_requests: 1,
            }
        );
        assert!(!r.tokens_exact, "one count was estimated");
        let m = &r.by_model()[0];
        assert_eq!(
            (
                m.cache_read_tokens,
                m.reasoning_tokens,
                m.estimated_requests
            ),
            (900, 7, 1)
        );

        let raw = Connection::open(&path).unwrap();
        type Columns = (bool, Option<i64>, Option<i64>, Option<i64>);
        let rows: Vec<Columns> = raw
            .prepare(
                "SELECT tokens_exact, cache_read_tokens, cache_write_tokens, reasoning_tokens
                 FROM requests ORDER BY started_at_ms DESC",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [
                (true, Some(900), Some(50), Some(7)),
                (false, None, None, None),
                (false, None, None, None),
            ]
        );
    }

    /// A ledger written before exact usage existed (schema 1) gains the new columns on
    /// open; its rows keep their numbers, with the new columns NULL.
    #[tokio::test]
    async fn a_schema_1_file_is_migrated_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        {
            let raw = Connection::open(&path).unwrap();
            raw.execute_batch(MIGRATIONS[0]).unwrap();
            raw.pragma_update(None, "user_version", 1).unwrap();
            raw.execute(
                "INSERT INTO requests (started_at_ms, model, stream, prompt_tokens,
                    completion_tokens, tokens_exact, total_ms, status, tool_calls, continued)
                 VALUES (?1, 'old', 1, 40, 4, 0, 100, 200, 0, 0)",
                params![NOW - HOUR],
            )
            .unwrap();
        }
        let ledger = Ledger::open(&path).unwrap();
        record_all(
            &ledger,
            [LedgerEntry {
                cache_read_tokens: Some(10),
                ..ok(NOW - 60_000, "new", 20, 2)
            }],
        )
        .await;
        let r = ledger.report(Range::Day, NOW).await.unwrap();
        assert_eq!(r.totals.requests, 2);
        assert_eq!(r.totals.prompt_tokens, 60);
        assert_eq!(r.totals.cache_read_tokens, 10);
        assert_eq!(r.totals.estimated_requests, 1);
        let raw = Connection::open(&path).unwrap();
        let version: i64 = raw
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn nearest_rank_on_known_data() {
        let twenty: Vec<u64> = (1..=20).collect();
        assert_eq!(nearest_rank(&twenty, 50), Some(10));
        assert_eq!(nearest_rank(&twenty, 95), Some(19));
        assert_eq!(nearest_rank(&twenty, 100), Some(20));
        let four = [10, 20, 30, 40];
        assert_eq!(nearest_rank(&four, 50), Some(20));
        assert_eq!(nearest_rank(&four, 95), Some(40));
        assert_eq!(nearest_rank(&[7], 50), Some(7));
        assert_eq!(nearest_rank(&[7], 95), Some(7));
        assert_eq!(nearest_rank(&[], 50), None);
    }

    #[tokio::test]
    async fn latency_percentiles_over_successful_requests() {
        let (_dir, _path, ledger) = fresh();
        // 20 successes: ttft 100, 200, …, 2000 ms; total 10× that. Inserted shuffled.
        let mut entries: Vec<LedgerEntry> = (1..=20u64)
            .rev()
            .map(|i| LedgerEntry {
                ttft_ms: Some(i * 100),
                total_ms: i * 1_000,
                ..ok(NOW - i as i64 * 1_000, "m", 1, 1)
            })
            .collect();
        entries.swap(3, 17);
        // A fast failure must not drag the percentiles down; a non-stream success has a
        // total but no ttft.
        entries.push(LedgerEntry {
            ttft_ms: Some(1),
            ..failed(NOW - 500, "m", 429, Some("quota"))
        });
        entries.push(LedgerEntry {
            stream: false,
            ttft_ms: None,
            total_ms: 21_000,
            ..ok(NOW - 600, "m", 1, 1)
        });
        record_all(&ledger, entries).await;

        let r = ledger.report(Range::Day, NOW).await.unwrap();
        assert_eq!(
            r.latency,
            Latency {
                ttft_p50_ms: Some(1_000),
                ttft_p95_ms: Some(1_900),
                // 21 totals: ranks ⌈10.5⌉ = 11 and ⌈19.95⌉ = 20.
                total_p50_ms: Some(11_000),
                total_p95_ms: Some(20_000),
            }
        );

        // No data: nulls, not zeros.
        let empty = ledger.report(Range::Day, NOW + 40 * DAY).await.unwrap();
        assert_eq!(empty.latency, Latency::default());
        assert_eq!(
            serde_json::to_value(&empty.latency).unwrap(),
            json!({"ttftP50Ms": null, "ttftP95Ms": null, "totalP50Ms": null, "totalP95Ms": null})
        );
    }

    #[tokio::test]
    async fn ranges_filter_by_time() {
        let (_dir, _path, ledger) = fresh();
        record_all(
            &ledger,
            [
                ok(NOW - HOUR, "a", 1, 1),
                ok(NOW - DAY - 1, "b", 1, 1), // just outside 24 h
                ok(NOW - 2 * DAY, "c", 1, 1),
                ok(NOW - 10 * DAY, "d", 1, 1),
                ok(NOW - 40 * DAY, "e", 1, 1),
                ok(NOW + HOUR, "future", 1, 1), // a clock that went backwards
            ],
        )
        .await;
        let models = |r: &UsageReport| -> Vec<String> {
            let mut m: Vec<String> = r.by_model().into_iter().map(|m| m.model).collect();
            m.sort();
            m
        };
        let day = ledger.report(Range::Day, NOW).await.unwrap();
        assert_eq!(models(&day), ["a"]);
        let week = ledger.report(Range::Week, NOW).await.unwrap();
        assert_eq!(models(&week), ["a", "b", "c"]);
        let month = ledger.report(Range::Month, NOW).await.unwrap();
        assert_eq!(models(&month), ["a", "b", "c", "d"]);
        assert_eq!(month.totals.requests, 4);
    }

    #[tokio::test]
    async fn reopening_after_drop_keeps_the_rows() {
        let (_dir, path, ledger) = fresh();
        record_all(
            &ledger,
            [ok(NOW - HOUR, "a", 10, 1), ok(NOW - 2 * HOUR, "b", 20, 2)],
        )
        .await;
        drop(ledger);

        let again = Ledger::open(&path).unwrap();
        let r = again.report(Range::Day, NOW).await.unwrap();
        assert_eq!(r.totals.requests, 2);
        assert_eq!(r.totals.prompt_tokens, 30);
        // And it keeps appending.
        record_all(&again, [ok(NOW - 60_000, "a", 1, 1)]).await;
        assert_eq!(
            again.report(Range::Day, NOW).await.unwrap().totals.requests,
            3
        );
    }

    #[test]
    fn a_new_file_is_migrated_to_the_latest_schema_in_wal_mode() {
        let (_dir, path, ledger) = fresh();
        let raw = Connection::open(&path).unwrap();
        let version: i64 = raw
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = raw
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(ledger);
    }

    #[test]
    fn a_file_from_a_newer_version_is_refused() {
        let (_dir, path, ledger) = fresh();
        drop(ledger);
        let raw = Connection::open(&path).unwrap();
        raw.pragma_update(None, "user_version", 99).unwrap();
        drop(raw);
        let err = Ledger::open(&path).unwrap_err();
        assert!(
            matches!(err, LedgerError::TooNew { found: 99, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("newer version"), "{err}");
    }

    #[test]
    fn garbage_bytes_are_reported_as_a_damaged_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        let garbage: Vec<u8> = (0..16_384u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        std::fs::write(&path, &garbage).unwrap();

        let err = Ledger::open(&path).unwrap_err();
        assert!(matches!(err, LedgerError::Damaged { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.starts_with(&format!(
                "the usage database at {} is damaged: ",
                path.display()
            )),
            "{msg}"
        );
        assert!(msg.ends_with("move it aside to start a new one"), "{msg}");
        // The file is left as it was, for the user to move aside or inspect.
        assert_eq!(std::fs::read(&path).unwrap(), garbage);
    }

    #[tokio::test]
    async fn a_version_1_ledger_gains_the_history_column_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        {
            let raw = Connection::open(&path).unwrap();
            raw.execute_batch(MIGRATIONS[0]).unwrap();
            raw.execute_batch(
                "INSERT INTO requests (started_at_ms, model, stream, tokens_exact, total_ms,
                    status, tool_calls, continued) VALUES (1, 'old', 1, 0, 5, 200, 0, 0);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let ledger = Ledger::open(&path).unwrap();
        ledger.record(LedgerEntry {
            history: Some("checkpoint".into()),
            ..ok(NOW, "new", 1, 1)
        });
        ledger.flush().await;
        let raw = Connection::open(&path).unwrap();
        let rows: Vec<(String, Option<String>)> = raw
            .prepare("SELECT model, history FROM requests ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            rows,
            [
                ("old".to_string(), None),
                ("new".to_string(), Some("checkpoint".to_string()))
            ]
        );
    }

    #[test]
    fn damaged_pages_behind_a_valid_header_are_caught_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        {
            // A real database, many pages long, in rollback mode so it is all in one file.
            let raw = Connection::open(&path).unwrap();
            raw.execute_batch(
                "PRAGMA page_size = 1024;
                 CREATE TABLE filler (x TEXT);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
                 INSERT INTO filler SELECT printf('%.200c', 'x') FROM n;
                 CREATE INDEX filler_x ON filler (x);",
            )
            .unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        assert!(bytes.len() > 20 * 1024, "the table spans many pages");
        // Keep page 1 (header and schema), scribble over the b-tree pages after it.
        for (i, b) in bytes[1024..].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        std::fs::write(&path, &bytes).unwrap();

        let err = Ledger::open(&path).unwrap_err();
        assert!(matches!(err, LedgerError::Damaged { .. }), "{err:?}");
        assert!(err.to_string().contains("move it aside"), "{err}");
    }

    /// Documented behaviour: opening a file another connection holds an exclusive
    /// (rollback-journal) lock on waits `busy_timeout`, then fails with `Locked`.
    #[test]
    fn opening_a_database_locked_by_another_connection_fails_clearly_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("BEGIN EXCLUSIVE; CREATE TABLE theirs (x);")
            .unwrap();

        let started = Instant::now();
        let err = Ledger::open_with_busy_timeout(&path, Duration::from_millis(200)).unwrap_err();
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "it waited first"
        );
        assert!(matches!(err, LedgerError::Locked { .. }), "{err:?}");
        assert!(
            err.to_string().contains("is locked by another program"),
            "{err}"
        );

        other.execute_batch("COMMIT").unwrap();
        Ledger::open_with_busy_timeout(&path, Duration::from_millis(200))
            .expect("opens once the lock is released");
    }

    /// Documented behaviour: while another connection holds the write lock, reports still
    /// work (WAL), a write waits `busy_timeout` and is then dropped and counted — `record`
    /// and `flush` never hang or panic — and writing resumes once the lock is gone.
    #[tokio::test]
    async fn writes_blocked_past_the_busy_timeout_are_counted_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.sqlite3");
        let ledger = Ledger::open_with_busy_timeout(&path, Duration::from_millis(150)).unwrap();
        record_all(&ledger, [ok(NOW - HOUR, "before", 1, 1)]).await;

        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        record_all(&ledger, [ok(NOW - HOUR, "blocked", 1, 1)]).await;
        assert_eq!(ledger.failed_writes(), 1);
        assert_eq!(ledger.written(), 1);
        let r = ledger
            .report(Range::Day, NOW)
            .await
            .expect("WAL readers are not blocked");
        assert_eq!(r.totals.requests, 1);

        other.execute_batch("COMMIT").unwrap();
        record_all(&ledger, [ok(NOW - HOUR, "after", 1, 1)]).await;
        assert_eq!(ledger.written(), 2);
        assert_eq!(
            ledger
                .report(Range::Day, NOW)
                .await
                .unwrap()
                .totals
                .requests,
            2
        );
    }

    /// A lock released within the busy timeout only delays the write.
    #[tokio::test]
    async fn a_write_waits_for_a_lock_released_within_the_busy_timeout() {
        let (_dir, path, ledger) = fresh();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            other.execute_batch("COMMIT").unwrap();
        });
        record_all(&ledger, [ok(NOW - HOUR, "waited", 1, 1)]).await;
        releaser.join().unwrap();
        assert_eq!((ledger.written(), ledger.failed_writes()), (1, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_records_from_many_tasks_lose_nothing() {
        let (_dir, _path, ledger) = fresh();
        let tasks: Vec<_> = (0..50)
            .map(|t| {
                let ledger = ledger.clone();
                tokio::spawn(async move {
                    for i in 0..40 {
                        ledger.record(ok(NOW - i * 1_000, &format!("model-{}", t % 5), 2, 1));
                        if i % 10 == 0 {
                            tokio::task::yield_now().await;
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        ledger.flush().await;
        assert_eq!((ledger.written(), ledger.failed_writes()), (2_000, 0));
        let r = ledger.report(Range::Day, NOW).await.unwrap();
        assert_eq!(r.totals.requests, 2_000);
        assert_eq!(r.totals.prompt_tokens, 4_000);
        let per_model: Vec<u64> = r.by_model().iter().map(|m| m.requests).collect();
        assert_eq!(per_model, [400; 5]);
    }

    #[tokio::test]
    async fn recent_errors_newest_first_with_a_sentence_each() {
        let (_dir, _path, ledger) = fresh();
        record_all(
            &ledger,
            [
                failed(NOW - 3_000, "gpt-5.1", 429, Some("quota")),
                ok(NOW - 2_000, "gpt-5.1", 1, 1),
                failed(
                    NOW - 1_000,
                    "claude-4.5-sonnet",
                    400,
                    Some("context_length_exceeded"),
                ),
                failed(NOW - 500, "gpt-5.1", 503, None),
            ],
        )
        .await;
        let errors = ledger.recent_errors(2).await.unwrap();
        assert_eq!(
            errors,
            [
                RecentError {
                    at: NOW - 500,
                    kind: "http_503".into(),
                    message: "gpt-5.1: the request failed (http_503) (HTTP 503)".into(),
                },
                RecentError {
                    at: NOW - 1_000,
                    kind: "context_length_exceeded".into(),
                    message: "claude-4.5-sonnet: the conversation is longer than the model's \
                              context window (HTTP 400)"
                        .into(),
                },
            ]
        );
        assert_eq!(ledger.recent_errors(10).await.unwrap().len(), 3);
        assert_eq!(
            serde_json::to_value(&errors[0]).unwrap(),
            json!({"at": NOW - 500, "kind": "http_503", "message": "gpt-5.1: the request failed (http_503) (HTTP 503)"})
        );
    }

    #[test]
    fn ranges_parse_and_print_as_on_the_wire() {
        for (r, s) in [
            (Range::Day, "24h"),
            (Range::Week, "7d"),
            (Range::Month, "30d"),
        ] {
            assert_eq!(r.to_string(), s);
            assert_eq!(s.parse::<Range>().unwrap(), r);
            assert_eq!(serde_json::to_value(r).unwrap(), json!(s));
            assert_eq!(serde_json::from_value::<Range>(json!(s)).unwrap(), r);
        }
        let err = "1d".parse::<Range>().unwrap_err();
        assert_eq!(err.to_string(), r#"unknown range "1d": use 24h, 7d or 30d"#);
    }

    /// The exact field names and shapes of `UsageReport` in docs/IPC.md.
    #[test]
    fn usage_report_serializes_exactly_as_ipc_md() {
        let report = UsageReport {
            range: Range::Week,
            bucket: Bucket::Day,
            generated_at: NOW,
            totals: UsageTotals {
                requests: 3,
                errors: 1,
                prompt_tokens: 30,
                completion_tokens: 4,
                cache_read_tokens: 20,
                cache_write_tokens: 2,
                reasoning_tokens: 1,
                estimated_requests: 1,
            },
            series: vec![UsagePoint {
                cache_read_tokens: 20,
                cache_write_tokens: 2,
                reasoning_tokens: 1,
                estimated_requests: 1,
                ..point(day_of(NOW), "m", 3, 1, 30, 4)
            }],
            latency: Latency {
                ttft_p50_ms: Some(12),
                ttft_p95_ms: Some(34),
                total_p50_ms: None,
                total_p95_ms: Some(56),
            },
            errors_by_kind: vec![ErrorCount {
                kind: "quota".into(),
                count: 1,
            }],
            tokens_exact: false,
        };
        let expected = json!({
            "range": "7d",
            "bucket": "day",
            "generatedAt": NOW,
            "totals": {
                "requests": 3, "errors": 1, "promptTokens": 30, "completionTokens": 4,
                "cacheReadTokens": 20, "cacheWriteTokens": 2, "reasoningTokens": 1,
                "estimatedRequests": 1
            },
            "series": [{
                "bucketStart": day_of(NOW), "model": "m", "requests": 3, "errors": 1,
                "promptTokens": 30, "completionTokens": 4, "cacheReadTokens": 20,
                "cacheWriteTokens": 2, "reasoningTokens": 1, "estimatedRequests": 1
            }],
            "latency": {"ttftP50Ms": 12, "ttftP95Ms": 34, "totalP50Ms": null, "totalP95Ms": 56},
            "errorsByKind": [{"kind": "quota", "count": 1}],
            "tokensExact": false
        });
        assert_eq!(serde_json::to_value(&report).unwrap(), expected);
        assert_eq!(
            serde_json::to_value(UsageReport::empty(Range::Day, NOW)).unwrap()["bucket"],
            "hour"
        );
    }
}
