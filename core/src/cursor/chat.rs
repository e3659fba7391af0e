//! The agent chat engine: one agent run per [`ChatRun`] (reference §3.2–3.9), over the
//! HTTP/2 bidirectional `AgentService/Run` stream or, with `agent_transport = "http1"`,
//! `RunSSE` + `BidiAppend` over HTTP/1.1 ([`super::transport`] holds that byte level; the
//! driver here is the same for both).
//!
//! [`start_run`] opens the run, sends the `run_request` and hands back a [`ChatRun`]:
//! a typed stream of [`ChatEvent`]s plus a [`ChatHandle`] to answer tool calls and cancel.
//! A driver task owns the connection and answers everything Cursor asks that needs no
//! decision from the caller — KV blob reads/writes, `request_context_args` (our tools and
//! the system prompt as `cloud_rule`), interaction queries, native tools the caller has no
//! equivalent for (rejected with their typed result so the model uses the declared tools)
//! — and keeps the stream alive with client heartbeats. MCP tool calls, and native tools
//! redirected to an equivalent declared tool ([`super::native`]), are surfaced as
//! [`ChatEvent::ToolCall`]; the caller answers them with [`ChatHandle::send_tool_result`]
//! whenever it has the result, on the *same* stream, so a tool loop never re-sends the
//! conversation. We never execute anything ourselves: the caller owns tool execution.
//!
//! Server messages are decoded under [`super::decode`]'s policy (reference §9.2): parts
//! the schema does not know are skipped and counted ([`ChatHandle::skipped_parts`],
//! logged once per run), never fatal; whatever asks for an answer gets one by id.
//!
//! Watchdogs: no frame at all within `first_activity_timeout` ends the run; after that,
//! `idle_timeout` without any frame ends it, and `heartbeat_only_timeout` (longer: a model
//! may think for minutes) with nothing but server heartbeats — except while a tool call is
//! waiting for the caller, when the stream is parked on purpose.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::blobs::BlobStore;
use super::decode::{self, Decoded, Part};
use super::error::CursorError;
use super::framing::{self, Decoder, Frame};
use super::http::{CursorHttp, StreamLease};
use super::native;
use super::transport::{self, ByteStream, ClientBytes, UpstreamFailure};
use super::value;
use crate::pb::agent_v1 as pb;

/// The provider id our MCP tools carry; Cursor echoes it in `McpArgs`.
pub const MCP_PROVIDER: &str = "cursor-bridge";
/// How long a cancelled run may take to wind down before the stream is dropped.
const CANCEL_GRACE: Duration = Duration::from_millis(500);
/// The MCP server name shown to the model.
pub const MCP_SERVER_NAME: &str = "Cursor Bridge";

/// A tool the caller offers the model (an OpenAI function, in the proxy).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments; `None` means "an object with no declared fields".
    pub parameters: Option<serde_json::Value>,
}

/// An image the user message carries (`SelectedImage`, reference §9.6): the bytes go
/// inline, with the MIME type and the size the model's input needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub data: Bytes,
    pub mime_type: String,
    pub width: u32,
    pub height: u32,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// Cursor's wire model id (`default` for automatic routing).
    pub model_id: String,
    /// The new user message. Empty with `conversation_state` set → a `resume_action`.
    pub user_text: String,
    /// Sent as `RequestContext.cloud_rule`, the system-prompt channel the agent honours.
    pub system_prompt: Option<String>,
    pub tools: Vec<ToolDef>,
    /// Stable per conversation.
    pub conversation_id: String,
    /// The last checkpoint of this conversation, verbatim; `None` for a new one.
    pub conversation_state: Option<Bytes>,
    /// The conversation's blob store (must hold every blob the state refers to).
    pub blobs: BlobStore,
    /// The workspace folder reported to Cursor (display only: we never touch files).
    pub workspace: String,
    /// Hand Cursor's native tools (read, write, shell, ls, grep, fetch) to an equivalent
    /// tool in `tools` as a [`ChatEvent::ToolCall`] (default). Off, or with no equivalent,
    /// they are rejected with their typed result.
    pub redirect_native_tools: bool,
    /// Images of the new user message (sent as its `selected_context`).
    pub images: Vec<Image>,
}

impl ChatRequest {
    /// A new single-message conversation.
    pub fn new(model_id: impl Into<String>, user_text: impl Into<String>) -> Self {
        Self {
            model_id: model_id.into(),
            user_text: user_text.into(),
            system_prompt: None,
            tools: Vec::new(),
            conversation_id: uuid::Uuid::new_v4().to_string(),
            conversation_state: None,
            blobs: BlobStore::new(),
            workspace: "/".into(),
            redirect_native_tools: true,
            images: Vec::new(),
        }
    }
}

/// Timing of a run. Defaults follow the reference (§3.3, §3.8).
#[derive(Debug, Clone)]
pub struct ChatOptions {
    /// Client heartbeat period (`AgentClientMessage.client_heartbeat`).
    pub heartbeat_interval: Duration,
    /// Until the response headers and the first frame arrive.
    pub first_activity_timeout: Duration,
    /// Longest gap between frames of any kind, unless parked on a tool.
    pub idle_timeout: Duration,
    /// Longest stretch of nothing but server heartbeats (the model thinking), unless
    /// parked on a tool.
    pub heartbeat_only_timeout: Duration,
    /// After `turn_ended`, how long to wait for the end-of-stream frame.
    pub turn_end_grace: Duration,
}

impl Default for ChatOptions {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(5),
            first_activity_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            heartbeat_only_timeout: Duration::from_secs(600),
            turn_end_grace: Duration::from_secs(2),
        }
    }
}

/// Something the run produced.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// Assistant text.
    Text(String),
    /// Reasoning text (kept apart from the answer).
    Thinking(String),
    /// Reasoning finished.
    ThinkingDone { duration_ms: u32 },
    /// Newly generated output tokens (Cursor's `token_delta`).
    Tokens(u32),
    /// The model calls one of the caller's tools; answer with [`ChatHandle::send_tool_result`].
    ToolCall(ToolCall),
    /// Cursor saved the conversation; `used_tokens` covers the whole context.
    Checkpoint { used_tokens: u32, max_tokens: u32 },
    /// The turn is over (the stream closes right after).
    TurnEnded,
}

/// A call of a caller-declared tool (an MCP call, or a native Cursor tool redirected to
/// its declared equivalent).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The id to answer with (Cursor's tool call id).
    pub call_id: String,
    /// The tool's name as the caller declared it.
    pub name: String,
    /// The arguments, a JSON object.
    pub arguments: serde_json::Value,
}

/// The caller's answer to a [`ToolCall`].
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    pub content: String,
    pub is_error: bool,
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
    pub fn exact(&self) -> bool {
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
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    /// Part of `output_tokens` spent on reasoning.
    pub reasoning_tokens: u64,
}

impl TurnUsage {
    /// The usage of a `turn_ended`, or `None` when it carries none: proto3 cannot tell an
    /// absent count from 0, and a turn Cursor counted read at least one input token.
    pub fn from_update(u: &pb::TurnEndedUpdate) -> Option<TurnUsage> {
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

enum Command {
    ToolResult {
        call_id: String,
        result: ToolResult,
        reply: oneshot::Sender<Result<(), CursorError>>,
    },
}

#[derive(Debug, Default)]
struct SharedState {
    checkpoint: Option<Bytes>,
    usage: Usage,
    /// Tool calls surfaced to the caller and not yet answered, by call id. The driver
    /// is the only writer; handles read the ids.
    pending: HashMap<String, PendingExec>,
    /// Server message parts skipped under the decoding policy (unknown, undecodable).
    skipped_parts: u64,
    finished: bool,
}

#[derive(Debug)]
struct Shared {
    cmd_tx: mpsc::UnboundedSender<Command>,
    cancel: CancellationToken,
    state: Mutex<SharedState>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Cheap-clone control handle of a run: answer tool calls, cancel, read the checkpoint.
#[derive(Clone, Debug)]
pub struct ChatHandle {
    shared: Arc<Shared>,
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
    events: mpsc::UnboundedReceiver<Result<ChatEvent, CursorError>>,
    peeked: Option<Option<Result<ChatEvent, CursorError>>>,
    handle: ChatHandle,
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

/// Opens a run over the transport `http` is configured for. Returns once Cursor answered
/// with response headers; errors that arrive before any event (an HTTP 401, a refused
/// first append) are returned here or as the first item.
pub async fn start_run(
    http: &CursorHttp,
    token: &str,
    req: ChatRequest,
    opts: ChatOptions,
) -> Result<ChatRun, CursorError> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let wire = transport::open(
        http,
        http.config().agent_transport,
        token,
        &request_id,
        first_message(&req),
        opts.first_activity_timeout,
    )
    .await?;

    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        cmd_tx,
        cancel: CancellationToken::new(),
        state: Default::default(),
    });
    let driver = Driver {
        body: wire.body,
        upstream_failed: wire.upstream_failed,
        decoder: Decoder::default(),
        out: wire.out,
        events: events_tx,
        cmds: cmd_rx,
        shared: shared.clone(),
        request_context: build_request_context(&req),
        tool_names: req.tools.iter().map(|t| t.name.clone()).collect(),
        redirect_to: if req.redirect_native_tools {
            req.tools.clone()
        } else {
            Vec::new()
        },
        blobs: req.blobs.clone(),
        opts,
        first_frame_seen: false,
        last_frame: Instant::now(),
        last_progress: Instant::now(),
        turn_ended_at: None,
        skip_logged: false,
        read_windows: HashMap::new(),
        _lease: wire.lease,
    };
    tokio::spawn(driver.run());
    Ok(ChatRun {
        events: events_rx,
        peeked: None,
        handle: ChatHandle { shared },
    })
}

/// A tool call surfaced to the caller and not yet answered.
#[derive(Debug)]
struct PendingExec {
    id: u32,
    exec_id: String,
    /// Which result message the answer becomes.
    answer: Answer,
}

#[derive(Debug)]
enum Answer {
    /// An `McpResult`.
    Mcp,
    /// The typed result of the redirected native exec.
    Native(native::NativeCall),
}

/// Owns one run, whatever its transport: reads response bytes from `body`, writes client
/// messages to `out`, and ends the run if `upstream_failed` fires.
struct Driver {
    body: ByteStream,
    upstream_failed: UpstreamFailure,
    decoder: Decoder,
    out: mpsc::UnboundedSender<ClientBytes>,
    events: mpsc::UnboundedSender<Result<ChatEvent, CursorError>>,
    cmds: mpsc::UnboundedReceiver<Command>,
    shared: Arc<Shared>,
    request_context: pb::RequestContext,
    tool_names: Vec<String>,
    /// Tools native execs may be redirected to (empty when redirection is off).
    redirect_to: Vec<ToolDef>,
    blobs: BlobStore,
    opts: ChatOptions,
    first_frame_seen: bool,
    /// The last frame of any kind.
    last_frame: Instant,
    /// The last frame that was not just a server heartbeat.
    last_progress: Instant,
    turn_ended_at: Option<Instant>,
    /// Skipped parts are logged once per run.
    skip_logged: bool,
    /// The offset/limit of native reads, by tool call id, from their display-only
    /// `ToolCall` (the exec's `ReadArgs` has none), so a redirected read keeps its window.
    read_windows: HashMap<String, native::ReadWindow>,
    /// This run's place on its HTTP/2 connection (none over HTTP/1.1), freed when the
    /// driver ends.
    _lease: Option<StreamLease>,
}

/// How the run ended, decided by the driver loop.
enum End {
    Ok,
    Err(CursorError),
    /// The caller went away; nothing to report.
    Abandoned,
}

impl Driver {
    async fn run(mut self) {
        let start = Instant::now();
        let mut heartbeat = tokio::time::interval_at(
            start + self.opts.heartbeat_interval,
            self.opts.heartbeat_interval,
        );
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let cancel = self.shared.cancel.clone();
        let end = loop {
            let deadline = self.deadline(start);
            tokio::select! {
                _ = cancel.cancelled() => {
                    self.send(action(pb::conversation_action::Action::CancelAction(pb::CancelAction {})));
                    break End::Err(CursorError::Cancelled);
                }
                _ = self.events.closed() => {
                    self.send(action(pb::conversation_action::Action::CancelAction(pb::CancelAction {})));
                    break End::Abandoned;
                }
                chunk = self.body.next() => match chunk {
                    Some(Ok(bytes)) => {
                        self.decoder.push(&bytes);
                        match self.drain_frames() {
                            Ok(Some(end)) => break end,
                            Ok(None) => {}
                            Err(e) => break End::Err(e),
                        }
                    }
                    Some(Err(e)) => break End::Err(e),
                    None => break self.on_eof(),
                },
                e = &mut self.upstream_failed => break End::Err(e),
                Some(cmd) = self.cmds.recv() => self.on_command(cmd),
                _ = heartbeat.tick() => {
                    self.send(pb::agent_client_message::Message::ClientHeartbeat(pb::ClientHeartbeat {}));
                }
                _ = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    break self.on_deadline();
                }
            }
        };
        {
            let mut st = self.shared.state();
            st.finished = true;
            st.pending.clear();
        }
        // Fail any tool results still queued, then close our side of the stream.
        self.cmds.close();
        while let Ok(Command::ToolResult { reply, .. }) = self.cmds.try_recv() {
            let _ = reply.send(Err(CursorError::Protocol(
                "the Cursor run has already ended".into(),
            )));
        }
        if matches!(end, End::Abandoned | End::Err(CursorError::Cancelled)) {
            self.drain_after_cancel().await;
        }
        match end {
            End::Ok | End::Abandoned => {}
            End::Err(e) => {
                tracing::debug!(kind = e.kind(), "cursor run ended with an error");
                let _ = self.events.send(Err(e));
            }
        }
        drop(self.out);
    }

    /// After a cancel: close our side so the queued `cancel_action` is flushed, then let
    /// Cursor finish for a moment instead of resetting the stream under it.
    async fn drain_after_cancel(&mut self) {
        let (closed_tx, _) = mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.out, closed_tx));
        let _ = tokio::time::timeout(CANCEL_GRACE, async {
            while let Some(Ok(_)) = self.body.next().await {}
        })
        .await;
    }

    /// When the current watchdog fires; `None` while parked on a tool call.
    fn deadline(&self, start: Instant) -> Option<Instant> {
        if let Some(t) = self.turn_ended_at {
            return Some(t + self.opts.turn_end_grace);
        }
        if !self.first_frame_seen {
            return Some(start + self.opts.first_activity_timeout);
        }
        if !self.shared.state().pending.is_empty() {
            return None;
        }
        Some(
            (self.last_frame + self.opts.idle_timeout)
                .min(self.last_progress + self.opts.heartbeat_only_timeout),
        )
    }

    fn on_deadline(&self) -> End {
        if self.turn_ended_at.is_some() {
            // The turn is complete; a missing end-of-stream frame loses nothing.
            End::Ok
        } else if !self.first_frame_seen {
            End::Err(CursorError::Timeout(format!(
                "Cursor sent nothing for {} s",
                self.opts.first_activity_timeout.as_secs()
            )))
        } else if self.last_frame + self.opts.idle_timeout <= Instant::now() {
            End::Err(CursorError::Timeout(format!(
                "Cursor made no progress for {} s (nothing arrived)",
                self.opts.idle_timeout.as_secs()
            )))
        } else {
            End::Err(CursorError::Timeout(format!(
                "Cursor made no progress for {} s (only heartbeats)",
                self.opts.heartbeat_only_timeout.as_secs()
            )))
        }
    }

    fn on_eof(&self) -> End {
        if let Err(e) = self.decoder.finish() {
            return End::Err(e);
        }
        if self.turn_ended_at.is_some() {
            End::Ok
        } else {
            End::Err(CursorError::Protocol(
                "the connection closed before the turn ended (no end-of-stream frame)".into(),
            ))
        }
    }

    fn drain_frames(&mut self) -> Result<Option<End>, CursorError> {
        while let Some(frame) = self.decoder.next_frame()? {
            self.first_frame_seen = true;
            match frame {
                Frame::EndStream(json) => {
                    return Ok(Some(match super::error::parse_end_stream(&json) {
                        Ok(()) => End::Ok,
                        Err(e) => End::Err(e),
                    }));
                }
                Frame::Message(payload) => {
                    let decoded = decode::server_message(&payload)?;
                    self.on_message(decoded);
                }
            }
        }
        Ok(None)
    }

    fn emit(&self, ev: ChatEvent) {
        let _ = self.events.send(Ok(ev));
    }

    fn send(&self, msg: pb::agent_client_message::Message) {
        self.send_raw(
            pb::AgentClientMessage { message: Some(msg) }
                .encode_to_vec()
                .into(),
        );
    }

    /// Sends an already encoded `AgentClientMessage`.
    fn send_raw(&self, bytes: ClientBytes) {
        let _ = self.out.send(bytes);
    }

    fn on_message(&mut self, msg: Decoded) {
        let now = Instant::now();
        self.last_frame = now;
        if !msg.is_heartbeat_only() {
            self.last_progress = now;
        }
        self.on_skipped(&msg.skipped);
        for part in msg.parts {
            match part {
                Part::Update(u) => self.on_update(*u),
                Part::Exec(e) => self.on_exec(e),
                Part::UnservableExec { id, exec_id, field } => {
                    self.reply_unservable(id, &exec_id, field)
                }
                Part::Checkpoint(bytes) => self.on_checkpoint(bytes),
                Part::Kv(kv) => self.on_kv(kv),
                Part::ExecControl(c) => {
                    if let Some(pb::exec_server_control_message::Message::Abort(a)) = c.message {
                        self.shared.state().pending.retain(|_, p| p.id != a.id);
                    }
                }
                Part::Query(q) => self.on_query(q),
            }
        }
    }

    /// Counts skipped parts; the first of a run is logged (debug: it is expected as the
    /// service evolves, and a log line per part would flood).
    fn on_skipped(&mut self, skipped: &[String]) {
        if skipped.is_empty() {
            return;
        }
        self.shared.state().skipped_parts += skipped.len() as u64;
        if !self.skip_logged {
            self.skip_logged = true;
            tracing::debug!(
                part = %skipped[0],
                "skipping server message parts Cursor Bridge cannot read (logged once per run)"
            );
        }
    }

    /// Every present field counts (reference §9.3), in the order they happen: text before
    /// the tokens counting it, `turn_ended` last.
    fn on_update(&mut self, u: pb::InteractionUpdate) {
        for tc in [
            u.tool_call_started
                .as_ref()
                .map(|t| (&t.call_id, &t.tool_call)),
            u.partial_tool_call
                .as_ref()
                .map(|t| (&t.call_id, &t.tool_call)),
        ]
        .into_iter()
        .flatten()
        {
            self.on_tool_call_display(tc.0, tc.1.as_ref());
        }
        if let Some(t) = &u.tool_call_completed {
            // Done: a window no exec took by now never will be.
            self.read_windows.remove(&t.call_id);
        }
        if let Some(t) = u.text_delta.filter(|t| !t.text.is_empty()) {
            self.emit(ChatEvent::Text(t.text));
        }
        if let Some(t) = u.thinking_delta.filter(|t| !t.text.is_empty()) {
            self.emit(ChatEvent::Thinking(t.text));
        }
        if let Some(t) = u.thinking_completed {
            self.emit(ChatEvent::ThinkingDone {
                duration_ms: t.thinking_duration_ms.max(0) as u32,
            });
        }
        if let Some(t) = u.token_delta.filter(|t| t.tokens > 0) {
            self.shared.state().usage.completion_tokens += t.tokens as u64;
            self.emit(ChatEvent::Tokens(t.tokens as u32));
        }
        if let Some(t) = u.turn_ended {
            self.on_turn_ended(t);
        }
        // Summaries, steps, user_message_appended and heartbeats are display only.
    }

    fn on_turn_ended(&mut self, t: pb::TurnEndedUpdate) {
        if let Some(turn) = TurnUsage::from_update(&t) {
            self.shared.state().usage.turn = Some(turn);
        }
        self.turn_ended_at = Some(Instant::now());
        self.emit(ChatEvent::TurnEnded);
    }

    /// Remembers a read's window for the exec that follows with the same tool call id
    /// (`ReadArgs.tool_call_id` is the display update's `call_id`).
    fn on_tool_call_display(&mut self, call_id: &str, tc: Option<&pb::ToolCall>) {
        let Some(pb::ToolCall {
            tool: Some(pb::tool_call::Tool::Read(r)),
        }) = tc
        else {
            return;
        };
        if let Some(a) = &r.args
            && (a.offset.is_some() || a.limit.is_some())
            && !call_id.is_empty()
        {
            self.read_windows.insert(
                call_id.to_string(),
                native::ReadWindow {
                    offset: a.offset,
                    limit: a.limit,
                },
            );
        }
    }

    fn on_checkpoint(&mut self, bytes: Bytes) {
        let details = pb::ConversationStateStructure::decode(&bytes[..])
            .ok()
            .and_then(|s| s.token_details);
        {
            let mut st = self.shared.state();
            st.checkpoint = Some(bytes);
            if let Some(d) = &details {
                st.usage.context_tokens = Some(d.used_tokens);
                st.usage.context_limit = Some(d.max_tokens);
            }
        }
        if let Some(d) = details {
            self.emit(ChatEvent::Checkpoint {
                used_tokens: d.used_tokens,
                max_tokens: d.max_tokens,
            });
        }
    }

    fn on_kv(&mut self, kv: pb::KvServerMessage) {
        use pb::kv_client_message::Message as R;
        use pb::kv_server_message::Message as K;
        let reply = match kv.message {
            Some(K::GetBlobArgs(g)) => R::GetBlobResult(pb::GetBlobResult {
                blob_data: self.blobs.get(&g.blob_id),
            }),
            Some(K::SetBlobArgs(s)) => {
                self.blobs.put(s.blob_id, s.blob_data);
                R::SetBlobResult(pb::SetBlobResult { error: None })
            }
            None => R::SetBlobResult(pb::SetBlobResult {
                error: Some(pb::Error {
                    message: "unsupported KV request".into(),
                }),
            }),
        };
        self.send(pb::agent_client_message::Message::KvClientMessage(
            pb::KvClientMessage {
                id: kv.id,
                message: Some(reply),
            },
        ));
    }

    fn on_query(&mut self, q: pb::InteractionQuery) {
        use pb::interaction_query::Query as Q;
        use pb::interaction_response::Response as R;
        let reject = || pb::ApprovalResponse {
            result: Some(pb::approval_response::Result::Rejected(
                pb::approval_response::Rejected {
                    reason: "Not available through Cursor Bridge; use the tools provided.".into(),
                },
            )),
        };
        let response = match q.query {
            Some(Q::WebSearchRequestQuery(_)) => R::WebSearchRequestResponse(reject()),
            Some(Q::SwitchModeRequestQuery(_)) => R::SwitchModeRequestResponse(reject()),
            Some(Q::ExaSearchRequestQuery(_)) => R::ExaSearchRequestResponse(reject()),
            Some(Q::ExaFetchRequestQuery(_)) => R::ExaFetchRequestResponse(reject()),
            Some(Q::AskQuestionInteractionQuery(_)) => {
                R::AskQuestionInteractionResponse(rejected_result())
            }
            Some(Q::CreatePlanRequestQuery(_)) => R::CreatePlanRequestResponse(rejected_result()),
            Some(Q::SetupVmEnvironmentArgs(_)) => R::SetupVmEnvironmentResult(pb::EmptyResponse {}),
            // Unknown query type: an answer without a variant still unblocks the id.
            None => {
                self.send(pb::agent_client_message::Message::InteractionResponse(
                    pb::InteractionResponse {
                        id: q.id,
                        response: None,
                    },
                ));
                return;
            }
        };
        self.send(pb::agent_client_message::Message::InteractionResponse(
            pb::InteractionResponse {
                id: q.id,
                response: Some(response),
            },
        ));
    }

    fn on_exec(&mut self, e: pb::ExecServerMessage) {
        use pb::exec_client_message::Result as Res;
        use pb::exec_server_message::Message as X;
        let (id, exec_id) = (e.id, e.exec_id.clone());
        let Some(kind) = e.message else {
            // Not even a field number to mirror: a throw is the only answer left.
            return self.throw(id, exec_id, "an exec without a kind");
        };
        let result = match kind {
            X::RequestContextArgs(_) => Res::RequestContextResult(pb::RequestContextResult {
                result: Some(pb::request_context_result::Result::Success(
                    pb::RequestContextSuccess {
                        request_context: Some(self.request_context.clone()),
                    },
                )),
            }),
            X::McpArgs(args) => {
                let call = ToolCall {
                    call_id: tool_call_id(&args.tool_call_id, &exec_id, id),
                    name: self.tool_name(&args),
                    arguments: value::map_to_object(&args.args),
                };
                self.park(call, id, exec_id, Answer::Mcp);
                return;
            }
            // The same tools as `request_context`, under our one MCP server (§9.7).
            X::McpStateExecArgs(_) => Res::McpStateExecResult(mcp_state(&self.request_context)),
            X::SubagentArgs(_) => Res::SubagentResult(generic_exec_error(
                "Subagents are not available through Cursor Bridge; use the provided tools instead.",
            )),
            other => {
                let window = match &other {
                    X::ReadArgs(a) => self.read_windows.remove(&a.tool_call_id),
                    _ => None,
                };
                if let Some(r) = native::redirect(&other, &self.redirect_to, window) {
                    let call = ToolCall {
                        call_id: tool_call_id(&r.tool_call_id, &exec_id, id),
                        name: r.tool,
                        arguments: r.arguments,
                    };
                    self.park(call, id, exec_id, Answer::Native(r.native));
                    return;
                }
                let field = decode::exec_field(&other);
                match native::rejection(other, &self.tool_names) {
                    Some(r) => r,
                    // A kind without a typed answer of ours: the generic error, mirrored.
                    None => return self.reply_unservable(id, &exec_id, field),
                }
            }
        };
        self.reply_exec(id, exec_id, vec![result]);
    }

    /// Answers an exec we cannot serve at its mirrored field number (reference §9.7:
    /// never unanswered, never a throw).
    fn reply_unservable(&self, id: u32, exec_id: &str, field: u32) {
        tracing::debug!(field, "answering an exec kind Cursor Bridge cannot serve");
        self.send_raw(decode::unservable_exec_reply(
            id,
            exec_id,
            field,
            decode::UNSERVABLE_EXEC_ERROR,
        ));
        self.close_exec(id);
    }

    /// Hands a tool call to the caller; the exec stays open until it answers.
    fn park(&mut self, call: ToolCall, id: u32, exec_id: String, answer: Answer) {
        self.shared.state().pending.insert(
            call.call_id.clone(),
            PendingExec {
                id,
                exec_id,
                answer,
            },
        );
        self.emit(ChatEvent::ToolCall(call));
    }

    fn tool_name(&self, args: &pb::McpArgs) -> String {
        if !args.tool_name.is_empty() {
            return args.tool_name.clone();
        }
        let name = args.name.as_str();
        // Some servers prefix the provider: "cursor-bridge-read" → "read".
        let stripped = name
            .strip_prefix(MCP_PROVIDER)
            .map(|s| s.trim_start_matches(['-', '_', ':']));
        match stripped {
            Some(s) if self.tool_names.iter().any(|t| t == s) => s.to_string(),
            _ => name.to_string(),
        }
    }

    /// The result message(s) of exec `id` (several for a shell stream), then
    /// `stream_close`.
    fn reply_exec(&self, id: u32, exec_id: String, results: Vec<pb::exec_client_message::Result>) {
        for result in results {
            self.send(pb::agent_client_message::Message::ExecClientMessage(
                pb::ExecClientMessage {
                    id,
                    exec_id: exec_id.clone(),
                    result: Some(result),
                },
            ));
        }
        self.close_exec(id);
    }

    fn close_exec(&self, id: u32) {
        self.send(pb::agent_client_message::Message::ExecClientControlMessage(
            pb::ExecClientControlMessage {
                message: Some(pb::exec_client_control_message::Message::StreamClose(
                    pb::ExecStreamClose { id },
                )),
            },
        ));
    }

    fn throw(&self, id: u32, _exec_id: String, error: &str) {
        self.send(pb::agent_client_message::Message::ExecClientControlMessage(
            pb::ExecClientControlMessage {
                message: Some(pb::exec_client_control_message::Message::Throw(
                    pb::ExecThrow {
                        id,
                        error: error.into(),
                        stack_trace: None,
                    },
                )),
            },
        ));
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::ToolResult {
                call_id,
                result,
                reply,
            } => {
                let pending = self.shared.state().pending.remove(&call_id);
                let Some(p) = pending else {
                    let _ = reply.send(Err(CursorError::Protocol(format!(
                        "no pending tool call with id {call_id}"
                    ))));
                    return;
                };
                let typed = match p.answer {
                    Answer::Mcp => vec![mcp_result(result)],
                    Answer::Native(native) => native.into_results(result),
                };
                self.reply_exec(p.id, p.exec_id, typed);
                // The model works again: restart the idle clocks from now.
                self.last_frame = Instant::now();
                self.last_progress = self.last_frame;
                let _ = reply.send(Ok(()));
            }
        }
    }
}

fn mcp_result(result: ToolResult) -> pb::exec_client_message::Result {
    pb::exec_client_message::Result::McpResult(pb::McpResult {
        result: Some(pb::mcp_result::Result::Success(pb::McpSuccess {
            content: vec![pb::McpToolResultContentItem {
                content: Some(pb::mcp_tool_result_content_item::Content::Text(
                    pb::McpTextContent {
                        text: result.content,
                    },
                )),
            }],
            is_error: result.is_error,
        })),
    })
}

/// The typed "no" to an ask-question / create-plan query (reference §9.7).
fn rejected_result() -> pb::QueryResultResponse {
    pb::QueryResultResponse {
        result: Some(pb::QueryResult {
            result: Some(pb::query_result::Result::Rejected(pb::QueryRejected {
                reason: "Not available through Cursor Bridge; answer from what you know.".into(),
            })),
        }),
    }
}

fn generic_exec_error(error: &str) -> pb::GenericExecResult {
    pb::GenericExecResult {
        result: Some(pb::generic_exec_result::Result::Error(
            pb::GenericExecError {
                error: error.into(),
            },
        )),
    }
}

/// `mcp_state_exec_args`' answer: our MCP server and the tools of `ctx` (none: no server).
fn mcp_state(ctx: &pb::RequestContext) -> pb::McpStateExecResult {
    let servers = if ctx.tools.is_empty() {
        vec![]
    } else {
        vec![pb::McpServerState {
            server_name: MCP_SERVER_NAME.into(),
            server_identifier: MCP_PROVIDER.into(),
            tools: ctx.tools.clone(),
        }]
    };
    pb::McpStateExecResult {
        result: Some(pb::mcp_state_exec_result::Result::Success(
            pb::McpStateSuccess { servers },
        )),
    }
}

fn action(a: pb::conversation_action::Action) -> pb::agent_client_message::Message {
    pb::agent_client_message::Message::ConversationAction(pb::ConversationAction {
        action: Some(a),
    })
}

/// The id a tool call is answered with: Cursor's tool call id, else the exec id, else
/// the numeric exec id.
fn tool_call_id(tool_call_id: &str, exec_id: &str, id: u32) -> String {
    if !tool_call_id.is_empty() {
        tool_call_id.to_string()
    } else if !exec_id.is_empty() {
        exec_id.to_string()
    } else {
        format!("exec_{id}")
    }
}

fn mcp_definitions(tools: &[ToolDef]) -> Vec<pb::McpToolDefinition> {
    tools
        .iter()
        .map(|t| pb::McpToolDefinition {
            name: t.name.clone(),
            description: t.description.clone(),
            input_schema: Some(value::to_proto(
                t.parameters
                    .as_ref()
                    .unwrap_or(&serde_json::json!({"type": "object", "properties": {}})),
            )),
            provider_identifier: MCP_PROVIDER.into(),
            tool_name: t.name.clone(),
        })
        .collect()
}

/// The request context we hand Cursor, both inside the action and as the answer to
/// `request_context_args`: our tools, the system prompt as `cloud_rule`, a minimal env.
pub fn build_request_context(req: &ChatRequest) -> pb::RequestContext {
    let tools = mcp_definitions(&req.tools);
    let instructions = if tools.is_empty() {
        vec![]
    } else {
        let list: Vec<String> = req
            .tools
            .iter()
            .map(|t| {
                let first_line = t.description.lines().next().unwrap_or("");
                format!("- {}: {}", t.name, first_line)
            })
            .collect();
        vec![pb::McpInstructions {
            server_name: MCP_SERVER_NAME.into(),
            instructions: format!(
                "These tools run on the user's machine. Use them for every file, shell, search or web action:\n{}",
                list.join("\n")
            ),
        }]
    };
    pb::RequestContext {
        rules: vec![],
        env: Some(pb::RequestContextEnv {
            os_version: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            workspace_paths: vec![req.workspace.clone()],
            shell: "bash".into(),
            sandbox_enabled: false,
            time_zone: String::new(),
            project_folder: req.workspace.clone(),
        }),
        tools,
        mcp_instructions: instructions,
        cloud_rule: req.system_prompt.clone().filter(|s| !s.is_empty()),
        web_search_enabled: Some(false),
    }
}

/// The first message of a run: `AgentClientMessage{run_request}`.
pub fn first_message(req: &ChatRequest) -> pb::AgentClientMessage {
    pb::AgentClientMessage {
        message: Some(pb::agent_client_message::Message::RunRequest(
            build_run_request(req),
        )),
    }
}

/// The first frame of a run on HTTP/2: [`first_message`], enveloped.
pub fn first_frame(req: &ChatRequest) -> Bytes {
    framing::encode_message(&first_message(req))
}

/// The first message of a run (reference §3.4).
/// The images as `SelectedContext.selected_images`, bytes inline; `None` without images.
fn selected_context(images: &[Image]) -> Option<pb::SelectedContext> {
    let to_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    (!images.is_empty()).then(|| pb::SelectedContext {
        selected_images: images
            .iter()
            .map(|i| pb::SelectedImage {
                data_or_blob_id: Some(pb::selected_image::DataOrBlobId::Data(i.data.clone())),
                uuid: uuid::Uuid::new_v4().to_string(),
                path: String::new(),
                dimension: Some(pb::ImageDimension {
                    width: to_i32(i.width),
                    height: to_i32(i.height),
                }),
                mime_type: i.mime_type.clone(),
            })
            .collect(),
    })
}

pub fn build_run_request(req: &ChatRequest) -> pb::AgentRunRequest {
    let request_context = build_request_context(req);
    let resume = req.user_text.is_empty() && req.conversation_state.is_some();
    let action = if resume {
        pb::conversation_action::Action::ResumeAction(pb::ResumeAction {
            request_context: Some(request_context),
        })
    } else {
        pb::conversation_action::Action::UserMessageAction(pb::UserMessageAction {
            user_message: Some(pb::UserMessage {
                text: req.user_text.clone(),
                message_id: uuid::Uuid::new_v4().to_string(),
                mode: pb::AgentMode::Agent as i32,
                selected_context: selected_context(&req.images),
                ..Default::default()
            }),
            request_context: Some(request_context),
            send_to_interaction_listener: None,
        })
    };
    let tools = mcp_definitions(&req.tools);
    let fs_options = (!tools.is_empty()).then(|| pb::McpFileSystemOptions {
        enabled: true,
        workspace_project_dir: req.workspace.clone(),
        mcp_descriptors: vec![pb::McpDescriptor {
            server_name: MCP_SERVER_NAME.into(),
            server_identifier: MCP_PROVIDER.into(),
            folder_path: Some(req.workspace.clone()),
            server_use_instructions: None,
        }],
    });
    pb::AgentRunRequest {
        conversation_state: Some(req.conversation_state.clone().unwrap_or_default()),
        action: Some(pb::ConversationAction {
            action: Some(action),
        }),
        model_details: Some(pb::ModelDetails {
            model_id: req.model_id.clone(),
            ..Default::default()
        }),
        mcp_tools: Some(pb::McpTools { mcp_tools: tools }),
        conversation_id: Some(req.conversation_id.clone()),
        mcp_file_system_options: fs_options,
        custom_system_prompt: None,
        requested_model: Some(pb::RequestedModel {
            model_id: req.model_id.clone(),
            max_mode: false,
            parameters: vec![],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req_with_tools() -> ChatRequest {
        let mut r = ChatRequest::new("default", "hi");
        r.system_prompt = Some("be brief".into());
        r.tools = vec![ToolDef {
            name: "read".into(),
            description: "Read a file\nmore".into(),
            parameters: Some(
                serde_json::json!({"type":"object","properties":{"filePath":{"type":"string"}}}),
            ),
        }];
        r
    }

    #[test]
    fn run_request_carries_tools_prompt_and_model() {
        let rr = build_run_request(&req_with_tools());
        assert_eq!(rr.model_details.unwrap().model_id, "default");
        assert_eq!(rr.requested_model.unwrap().model_id, "default");
        assert_eq!(
            rr.conversation_state.as_deref(),
            Some(&b""[..]),
            "present but empty"
        );
        let Some(pb::conversation_action::Action::UserMessageAction(a)) = rr.action.unwrap().action
        else {
            panic!("expected a user message action")
        };
        assert_eq!(a.user_message.unwrap().text, "hi");
        let ctx = a.request_context.unwrap();
        assert_eq!(ctx.cloud_rule.as_deref(), Some("be brief"));
        assert_eq!(ctx.tools[0].tool_name, "read");
        assert!(
            ctx.mcp_instructions[0]
                .instructions
                .contains("- read: Read a file")
        );
        assert_eq!(rr.mcp_tools.unwrap().mcp_tools.len(), 1);
        assert!(rr.mcp_file_system_options.unwrap().enabled);
    }

    /// Regression: the run request was once framed bare, without its
    /// `AgentClientMessage{run_request}` wrapper, which Cursor cannot decode.
    #[test]
    fn first_frame_wraps_the_run_request_in_an_agent_client_message() {
        let frame = first_frame(&req_with_tools());
        let mut dec = framing::Decoder::default();
        dec.push(&frame);
        let Some(framing::Frame::Message(payload)) = dec.next_frame().unwrap() else {
            panic!()
        };
        let msg: pb::AgentClientMessage = framing::decode_message(&payload).unwrap();
        assert!(matches!(
            msg.message,
            Some(pb::agent_client_message::Message::RunRequest(_))
        ));
    }

    /// The wire layout of §9.6, byte for byte: `UserMessage.selected_context` (3) →
    /// `selected_images` (1) → `SelectedImage{8 data, 2 uuid, 4 dimension{1, 2}, 7 mime}`.
    #[test]
    fn images_travel_as_selected_images_on_the_wire() {
        let mut r = req_with_tools();
        r.images = vec![Image {
            data: Bytes::from_static(b"PNG!"),
            mime_type: "image/png".into(),
            width: 300,
            height: 2,
        }];
        let rr = build_run_request(&r);
        let Some(pb::conversation_action::Action::UserMessageAction(a)) = rr.action.unwrap().action
        else {
            panic!("expected a user message action")
        };
        let mut m = a.user_message.unwrap();
        let uuid =
            std::mem::take(&mut m.selected_context.as_mut().unwrap().selected_images[0].uuid);
        assert_eq!(uuid.len(), 36, "a UUID per image");
        let ctx = m.selected_context.unwrap().encode_to_vec();
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x0a, 24,                                   // selected_images (1), 24 bytes
            0x42, 4, b'P', b'N', b'G', b'!',            // data (8)
            0x22, 5, 0x08, 0xac, 0x02, 0x10, 0x02,      // dimension (4): width 300, height 2
            0x3a, 9, b'i', b'm', b'a', b'g', b'e', b'/', b'p', b'n', b'g', // mime_type (7)
        ];
        assert_eq!(ctx, want);
        // Without images the field stays absent, as before.
        let plain = build_run_request(&req_with_tools());
        let Some(pb::conversation_action::Action::UserMessageAction(a)) =
            plain.action.unwrap().action
        else {
            panic!()
        };
        assert_eq!(a.user_message.unwrap().selected_context, None);
    }

    #[test]
    fn empty_text_with_state_resumes() {
        let mut r = req_with_tools();
        r.user_text.clear();
        r.conversation_state = Some(Bytes::from_static(b"\x2a\x00"));
        let rr = build_run_request(&r);
        assert!(matches!(
            rr.action.unwrap().action,
            Some(pb::conversation_action::Action::ResumeAction(_))
        ));
        assert_eq!(rr.conversation_state.as_deref(), Some(&b"\x2a\x00"[..]));
    }

    #[test]
    fn tool_call_ids_fall_back() {
        assert_eq!(tool_call_id("toolu_1", "e", 3), "toolu_1");
        assert_eq!(tool_call_id("", "e", 3), "e");
        assert_eq!(tool_call_id("", "", 3), "exec_3");
    }

    #[test]
    fn usage_infers_prompt_tokens() {
        let u = Usage {
            completion_tokens: 40,
            context_tokens: Some(1000),
            context_limit: Some(200_000),
            turn: None,
        };
        assert_eq!(u.prompt_tokens(), Some(960));
        assert!(!u.exact());
        assert_eq!(Usage::default().prompt_tokens(), None);
    }

    #[test]
    fn turn_usage_is_read_from_turn_ended_and_absent_when_all_zero() {
        let t = TurnUsage::from_update(&pb::TurnEndedUpdate {
            input_tokens: 11_292,
            output_tokens: 250,
            cache_read_tokens: 9_000,
            cache_write_tokens: 1_000,
            reasoning_tokens: 40,
        })
        .expect("usage");
        assert_eq!(t.prompt_tokens(false), 21_292);
        assert_eq!(t.prompt_tokens(true), 11_292);
        assert_eq!(
            TurnUsage::from_update(&pb::TurnEndedUpdate::default()),
            None
        );
        // A negative count (a broken peer) reads as 0, never as a huge unsigned number.
        let odd = TurnUsage::from_update(&pb::TurnEndedUpdate {
            input_tokens: -5,
            output_tokens: 3,
            ..Default::default()
        });
        assert_eq!(odd.map(|t| (t.input_tokens, t.output_tokens)), Some((0, 3)));
    }
}
