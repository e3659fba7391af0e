//! What the ledger and the log keep of a request, written when it ends however it ends:
//! answered, refused, failed, or dropped by a client that went away (status 499).

use std::time::{Duration, Instant};

use super::request::Dialect;
use super::usage::Usage;
use crate::engine::error::ApiError;
use crate::store::ledger::{self, Ledger, LedgerEntry};

/// What is logged about a request when it ends (however it ends).
pub(crate) struct Outcome {
    dialect: Dialect,
    client: Option<String>,
    ledger: Option<Ledger>,
    started_at_ms: i64,
    started: Instant,
    pub(crate) model: String,
    pub(crate) stream: bool,
    pub(crate) continued: bool,
    ttft: Option<Duration>,
    status: u16,
    error: Option<&'static str>,
    tool_calls: u32,
    usage: Option<Usage>,
    pub(crate) finished: bool,
    pub(crate) history: Option<&'static str>,
}

impl Outcome {
    pub(crate) fn new(ledger: Option<Ledger>, dialect: Dialect, model: &str, stream: bool) -> Self {
        Outcome {
            dialect,
            client: None,
            ledger,
            started_at_ms: ledger::unix_now_ms(),
            started: Instant::now(),
            model: model.to_string(),
            stream,
            continued: false,
            ttft: None,
            status: 200,
            error: None,
            tool_calls: 0,
            usage: None,
            finished: false,
            history: None,
        }
    }

    pub(crate) fn first_output(&mut self) {
        if self.ttft.is_none() {
            self.ttft = Some(self.started.elapsed());
        }
    }

    pub(crate) fn set_result(&mut self, tool_calls: usize, usage: Usage) {
        self.tool_calls = tool_calls as u32;
        self.usage = Some(usage);
    }

    pub(crate) fn done(&mut self) {
        self.finished = true;
    }

    pub(crate) fn fail(&mut self, e: &ApiError) {
        self.status = e.status.as_u16();
        self.error = Some(e.code_str());
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        if !self.finished && self.error.is_none() {
            self.status = 499;
            self.error = Some("client_disconnected");
        }
        tracing::info!(
            dialect = self.dialect.as_str(),
            client = self.client.as_deref().unwrap_or(""),
            model = %self.model,
            stream = self.stream,
            continued = self.continued,
            history = self.history.unwrap_or(""),
            status = self.status,
            error = self.error.unwrap_or(""),
            tool_calls = self.tool_calls,
            ttft_ms = self.ttft.map(|d| d.as_millis() as u64),
            total_ms = self.started.elapsed().as_millis() as u64,
            completion_tokens = self.usage.map(|u| u.completion_tokens),
            tokens_exact = self.usage.is_some_and(|u| u.exact),
            "request"
        );
        if let Some(l) = &self.ledger {
            l.record(LedgerEntry {
                started_at_ms: self.started_at_ms,
                model: std::mem::take(&mut self.model),
                stream: self.stream,
                prompt_tokens: self
                    .usage
                    .filter(|u| !u.prompt_deferred)
                    .map(|u| u.prompt_tokens),
                completion_tokens: self.usage.map(|u| u.completion_tokens),
                cache_read_tokens: self.usage.and_then(|u| u.cached_tokens),
                cache_write_tokens: self.usage.and_then(|u| u.cache_write_tokens),
                reasoning_tokens: self.usage.and_then(|u| u.reasoning_tokens),
                tokens_exact: self.usage.is_some_and(|u| u.exact),
                ttft_ms: self.ttft.map(|d| d.as_millis() as u64),
                total_ms: self.started.elapsed().as_millis() as u64,
                status: self.status,
                error_kind: self.error.map(str::to_string),
                tool_calls: self.tool_calls,
                continued: self.continued,
                history: self.history.map(str::to_string),
                dialect: self.dialect.as_str().to_string(),
                client: self.client.take(),
            });
        }
    }
}

impl Outcome {
    /// Names the client (from its `User-Agent`) for the usage split by client.
    pub(crate) fn set_client(&mut self, client: Option<String>) {
        self.client = client;
    }
}
