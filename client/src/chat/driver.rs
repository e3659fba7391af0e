//! [`start_run`] and the driver task that owns one run: reading Cursor's frames, answering
//! what needs no decision from the caller, the watchdogs.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::exec::{
    MCP_PROVIDER, action, generic_exec_error, mcp_result, mcp_state, rejected_result, tool_call_id,
};
use super::request::{ChatOptions, ChatRequest, build_request_context, first_message};
use super::run::{Answer, ChatEvent, ChatHandle, ChatRun, Command, PendingExec, Shared, TurnUsage};
use crate::blobs::BlobStore;
use crate::decode::{self, Decoded, Part};
use crate::error::CursorError;
use crate::framing::{Decoder, Frame};
use crate::http::{CursorHttp, StreamLease};
use crate::native;
use crate::pb::agent_v1 as pb;
use crate::tools::{ToolCall, ToolDef};
use crate::transport::{self, ByteStream, ClientBytes, UpstreamFailure};
use crate::value;

/// How long a cancelled run may take to wind down before the stream is dropped.
const CANCEL_GRACE: Duration = Duration::from_millis(500);

/// Events queued for the caller before the driver stops reading Cursor's stream. A caller
/// that stops reading (its client stopped reading the proxy's answer) thus slows Cursor's
/// stream through HTTP/2 flow control instead of growing memory: what is held is this
/// many events, the events of one chunk of response bytes (the backlog), and the
/// stream's flow-control window.
pub(crate) const EVENT_QUEUE: usize = 64;

/// Opens a run over the transport `http` is configured for. Returns once Cursor answered
/// with response headers; errors that arrive before any event (an HTTP 401, a refused
/// first append) are returned here or as the first item.
pub(crate) async fn start_run(
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

    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
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
        backlog: VecDeque::new(),
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

/// Owns one run, whatever its transport: reads response bytes from `body`, writes client
/// messages to `out`, and ends the run if `upstream_failed` fires.
struct Driver {
    body: ByteStream,
    upstream_failed: UpstreamFailure,
    decoder: Decoder,
    out: mpsc::UnboundedSender<ClientBytes>,
    events: mpsc::Sender<Result<ChatEvent, CursorError>>,
    /// Events decoded while the queue was full, oldest first; while any wait, the body is
    /// not read (see [`EVENT_QUEUE`]).
    backlog: VecDeque<ChatEvent>,
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
        // A permit borrows its sender; this one is apart from `self`.
        let events = self.events.clone();
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
                permit = events.reserve(), if !self.backlog.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(ev) = self.backlog.pop_front() {
                            permit.send(Ok(ev));
                        }
                        if self.backlog.is_empty() {
                            // The pause was the caller's, not Cursor's silence.
                            self.last_frame = Instant::now();
                            self.last_progress = self.last_frame;
                        }
                    }
                    Err(_) => {
                        self.send(action(pb::conversation_action::Action::CancelAction(pb::CancelAction {})));
                        break End::Abandoned;
                    }
                },
                chunk = self.body.next(), if self.backlog.is_empty() => match chunk {
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
        if !matches!(end, End::Abandoned | End::Err(CursorError::Cancelled)) {
            // What was decoded before the end reaches the caller, in order.
            while let Some(ev) = self.backlog.pop_front() {
                if self.events.send(Ok(ev)).await.is_err() {
                    break;
                }
            }
        }
        match end {
            End::Ok | End::Abandoned => {}
            End::Err(e) => {
                tracing::debug!(kind = e.kind(), "cursor run ended with an error");
                let _ = self.events.send(Err(e)).await;
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

    /// When the current watchdog fires; `None` while parked on a tool call or while the
    /// caller is not taking events (the stream is paused on our side, not silent).
    fn deadline(&self, start: Instant) -> Option<Instant> {
        if !self.backlog.is_empty() {
            return None;
        }
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
                    return Ok(Some(match crate::error::parse_end_stream(&json) {
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

    /// Queues `ev` for the caller, or in the backlog when the queue is full.
    fn emit(&mut self, ev: ChatEvent) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(ev);
            return;
        }
        match self.events.try_send(Ok(ev)) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(Ok(ev))) => self.backlog.push_back(ev),
            Err(mpsc::error::TrySendError::Full(Err(_))) => {}
        }
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
