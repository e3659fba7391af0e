//! Writing: [`LedgerEntry`], the row one proxy request leaves, and the writer thread that
//! gathers bursts of them into one transaction (the module doc of `ledger` says why).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::{GATHER, LedgerError, MAX_BATCH};

/// One proxy request, as recorded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerEntry {
    /// When the request arrived, Unix milliseconds.
    pub started_at_ms: i64,
    /// The model the request named (setting `default_model` when it named none); `-` when
    /// the body could not be parsed.
    pub model: String,
    /// True when the client asked for a streamed (SSE) answer.
    pub stream: bool,
    /// Includes the cache reads (OpenAI's convention).
    pub prompt_tokens: Option<u64>,
    /// Includes the reasoning tokens; `None` when the request ended before any usage was
    /// known (a refused request, a failure or disconnect before the answer).
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
    /// From arrival to the end of the answer (or of the failure), milliseconds.
    pub total_ms: u64,
    /// The HTTP status we answered.
    pub status: u16,
    /// e.g. `quota`, `context_length_exceeded`, `upstream`, `client_disconnected`.
    pub error_kind: Option<String>,
    /// How many tool calls the answer handed back to the client.
    pub tool_calls: u32,
    /// This request continued a parked Cursor stream (a tool result on the same run).
    pub continued: bool,
    /// How a fresh run carried the conversation: `checkpoint` (Cursor's own, kept from
    /// the previous turn), `structured` (rebuilt as message blobs) or `flattened` (one
    /// transcript text, the last resort); `None` for a continued run or a refused request.
    pub history: Option<String>,
    /// The API the request spoke: `chat` (Chat Completions), `messages` (Anthropic
    /// Messages) or `responses` (OpenAI Responses).
    pub dialect: String,
    /// The client that sent it: the first product of its `User-Agent` (`opencode`,
    /// `claude-cli`, …), already reduced to a plain name; `None` without one.
    pub client: Option<String>,
}

/// What the handles send the writer thread.
pub(super) enum Msg {
    /// Boxed: a row is some 250 bytes, and the channel's slots are as big as its largest
    /// message, flushes included.
    Record(Box<LedgerEntry>),
    Flush(oneshot::Sender<()>),
}

/// The writer's tallies, shared with every handle.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) written: AtomicU64,
    pub(super) failed: AtomicU64,
}

pub(super) fn writer_loop(
    mut conn: Connection,
    rx: mpsc::Receiver<Msg>,
    counters: &Counters,
    path: &Path,
) {
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
                Msg::Record(e) => entries.push(*e),
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
pub(super) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn insert(conn: &mut Connection, entries: &[LedgerEntry]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO requests (started_at_ms, model, stream, prompt_tokens,
                completion_tokens, tokens_exact, ttft_ms, total_ms, status, error_kind,
                tool_calls, continued, cache_read_tokens, cache_write_tokens,
                reasoning_tokens, history, dialect, client)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                ?17, ?18)",
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
                e.dialect,
                e.client,
            ])?;
        }
    }
    tx.commit()
}
