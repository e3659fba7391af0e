//! The caller's side of a run: the [`ChatRun`] event stream and its [`ChatHandle`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::error::CursorError;
use crate::native;
use crate::pb::agent_v1 as pb;
use crate::tools::{ToolCall, ToolResult};

pub(super) enum Command {
    ToolResult {
        call_id: String,
        result: ToolResult,
        reply: oneshot::Sender<Result<(), CursorError>>,
    },
}

#[derive(Debug, Default)]
pub(super) struct SharedState {
    pub(super) checkpoint: Option<Bytes>,
    pub(super) usage: Usage,
    /// Tool calls surfaced to the caller and not yet answered, by call id. The driver
    /// is the only writer; handles read the ids.
    pub(super) pending: HashMap<String, PendingExec>,
    /// Server message parts skipped under the decoding policy (unknown, undecodable).
    pub(super) skipped_parts: u64,
    pub(super) finished: bool,
}

#[derive(Debug)]
pub(super) struct Shared {
    pub(super) cmd_tx: mpsc::UnboundedSender<Command>,
    pub(super) cancel: CancellationToken,
    pub(super) state: Mutex<SharedState>,
}

impl Shared {
    pub(super) fn state(&self) -> std::sync::MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Cheap-clone control handle of a run: answer tool calls, cancel, read the checkpoint.
#[derive(Clone, Debug)]
pub struct ChatHandle {
    pub(super) shared: Arc<Shared>,
}

impl ChatHandle {
    /// Sends the result of a tool call on the live stream. Fails when the run is over or
    /// no such call is pending.
    pub async fn send_tool_result(
        &self,
        call_id: &str,
        result: ToolResult,
    ) -> Result<(), CursorError> {
        let (reply, rx) = oneshot::channel();
        self.shared
            .cmd_tx
            .send(Command::ToolResult {
                call_id: call_id.to_string(),
                result,
                reply,
            })
            .map_err(|_| CursorError::Protocol("the Cursor run has already ended".into()))?;
        rx.await
            .map_err(|_| CursorError::Protocol("the Cursor run has already ended".into()))?
    }

    /// Cancels the run: tells Cursor (`cancel_action`), then closes the stream.
    pub fn cancel(&self) {
        self.shared.cancel.cancel();
    }

    /// The latest checkpoint, verbatim (to continue the conversation in a later run).
    pub fn checkpoint(&self) -> Option<Bytes> {
        self.shared.state().checkpoint.clone()
    }

    /// Token accounting so far.
    pub fn usage(&self) -> Usage {
        self.shared.state().usage
    }

    /// How many server message parts this run skipped because they were unknown or
    /// undecodable display parts (reference §9.2); they never end the run.
    pub fn skipped_parts(&self) -> u64 {
        self.shared.state().skipped_parts
    }

    /// Ids of tool calls waiting for [`ChatHandle::send_tool_result`].
    pub fn pending_tool_calls(&self) -> Vec<String> {
        self.shared.state().pending.keys().cloned().collect()
    }

    /// True once the stream is over (ended, failed or cancelled).
    pub fn is_finished(&self) -> bool {
        self.shared.state().finished
    }
}

/// A live run: a stream of events, ending after the end-of-stream frame. An `Err` item is
/// the last item.
pub struct ChatRun {
    pub(super) events: mpsc::Receiver<Result<ChatEvent, CursorError>>,
    pub(super) peeked: Option<Option<Result<ChatEvent, CursorError>>>,
    pub(super) handle: ChatHandle,
}

impl std::fmt::Debug for ChatRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatRun")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

impl ChatRun {
    /// The run's control handle.
    pub fn handle(&self) -> ChatHandle {
        self.handle.clone()
    }

    /// Waits for the first item without consuming it (used to retry a run whose very
    /// first answer is an auth error, before anything reached the caller).
    pub async fn peek(&mut self) -> Option<&Result<ChatEvent, CursorError>> {
        if self.peeked.is_none() {
            self.peeked = Some(self.events.recv().await);
        }
        self.peeked.as_ref().and_then(|p| p.as_ref())
    }
}

impl Stream for ChatRun {
    type Item = Result<ChatEvent, CursorError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(p) = self.peeked.take() {
            return Poll::Ready(p);
        }
        self.events.poll_recv(cx)
    }
}

impl Drop for ChatRun {
    fn drop(&mut self) {
        // Nobody can read the events any more (a parked run keeps its `ChatRun`, not
        // just a handle): stop the run.
        self.handle.cancel();
    }
}

/// A tool call surfaced to the caller and not yet answered.
#[derive(Debug)]
pub(super) struct PendingExec {
    pub(super) id: u32,
    pub(super) exec_id: String,
    /// Which result message the answer becomes.
    pub(super) answer: Answer,
}

#[derive(Debug)]
pub(super) enum Answer {
    /// An `McpResult`.
    Mcp,
    /// The typed result of the redirected native exec.
    Native(native::NativeCall),
}

/// Something the run produced.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// Assistant text.
    Text(String),
    /// Reasoning text (kept apart from the answer).
    Thinking(String),
    /// Reasoning finished.
    ThinkingDone {
        /// How long the model reasoned, in milliseconds.
        duration_ms: u32,
    },
    /// Newly generated output tokens (Cursor's `token_delta`).
    Tokens(u32),
    /// The model calls one of the caller's tools; answer with [`ChatHandle::send_tool_result`].
    ToolCall(ToolCall),
    /// Cursor saved the conversation; `used_tokens` covers the whole context.
    Checkpoint {
        /// Tokens the whole context uses.
        used_tokens: u32,
        /// The context window Cursor applies.
        max_tokens: u32,
    },
    /// The turn is over (the stream closes right after).
    TurnEnded,
}

/// Token accounting of a run. Cursor counts the turn exactly and says so at its end
/// (`TurnEndedUpdate`, reference §9.4): [`Usage::turn`]. Until then (and from a service
/// that sends none) only completion is counted (Σ `token_delta`, §3.8) and the prompt is
/// inferred from the checkpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Σ `token_delta`.
    pub completion_tokens: u64,
    /// Last checkpoint's `token_details.used_tokens` (the whole context).
    pub context_tokens: Option<u32>,
    /// Last checkpoint's `token_details.max_tokens` (the window Cursor applies).
    pub context_limit: Option<u32>,
    /// Cursor's own count of the turn, once it ended with one.
    pub turn: Option<TurnUsage>,
}

impl Usage {
    /// Prompt tokens as far as they can be inferred: context − completion.
    pub fn prompt_tokens(&self) -> Option<u64> {
        self.context_tokens
            .map(|c| (c as u64).saturating_sub(self.completion_tokens))
    }

    /// True when Cursor counted the turn (the numbers in [`Usage::turn`] are its own).
    #[cfg(test)]
    pub(crate) fn exact(&self) -> bool {
        self.turn.is_some()
    }
}

/// The usage `TurnEndedUpdate` carries, as Cursor counts it for the whole turn (every
/// model call of it, tool steps included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnUsage {
    /// `input_tokens`. Whether it includes the cache reads and writes is not documented;
    /// [`TurnUsage::prompt_tokens`] takes the answer as a parameter.
    pub input_tokens: u64,
    /// `output_tokens`: what the model generated.
    pub output_tokens: u64,
    /// `cache_read_tokens`: prompt tokens read from the cache.
    pub cache_read_tokens: u64,
    /// `cache_write_tokens`: prompt tokens written to the cache.
    pub cache_write_tokens: u64,
    /// Part of `output_tokens` spent on reasoning.
    pub reasoning_tokens: u64,
}

impl TurnUsage {
    /// The usage of a `turn_ended`, or `None` when it carries none: proto3 cannot tell an
    /// absent count from 0, and a turn Cursor counted read at least one input token.
    pub(crate) fn from_update(u: &pb::TurnEndedUpdate) -> Option<TurnUsage> {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let t = TurnUsage {
            input_tokens: n(u.input_tokens),
            output_tokens: n(u.output_tokens),
            cache_read_tokens: n(u.cache_read_tokens),
            cache_write_tokens: n(u.cache_write_tokens),
            reasoning_tokens: n(u.reasoning_tokens),
        };
        (t != TurnUsage::default()).then_some(t)
    }

    /// Prompt tokens in OpenAI's sense, where cached tokens are part of the prompt:
    /// `input_tokens` as is when Cursor already counts the cache in it, otherwise
    /// `input_tokens` + cache reads + cache writes (the Anthropic convention, whose
    /// field split Cursor's usage follows).
    pub fn prompt_tokens(&self, input_includes_cache: bool) -> u64 {
        if input_includes_cache {
            self.input_tokens
        } else {
            self.input_tokens
                .saturating_add(self.cache_read_tokens)
                .saturating_add(self.cache_write_tokens)
        }
    }
}
