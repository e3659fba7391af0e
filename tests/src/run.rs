//! `POST /agent.v1.AgentService/Run`: the bidirectional agent stream (reference §3.3).
//!
//! The handler answers at once (200, `application/connect+proto`, a channel-fed body) and
//! spawns two tasks per run:
//! - the **reader** decodes the client's request body incrementally and records every
//!   `AgentClientMessage` (heartbeats, replies, cancels, the half-close) as it arrives,
//!   forwarding each to the driver;
//! - the **driver** plays the run's [`Turn`], writing frames and, for request-type steps,
//!   waiting for the matching reply with a deadline.
//!
//! Both stop when the fake shuts down; the reader keeps draining for a short grace period
//! after the driver finished, so a client's late half-close is still recorded.
//!
//! The driver only sees [`Inbound`] client messages, so the HTTP/1.1 transport
//! (`crate::bidi`: `RunSSE` + `BidiAppend`) plays its turns with the very same engine
//! through [`play`].

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use cursor_bridge_core::cursor::framing::{
    Decoder, FLAG_COMPRESSED, FLAG_END_STREAM, Frame, encode_gzip, encode_message,
    encode_with_flags,
};
use cursor_bridge_core::pb::agent_v1 as pb;
use futures::StreamExt as _;
use pb::agent_client_message::Message as ClientMsg;
use pb::agent_server_message::Message as ServerMsg;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::connect::{end_error_frame, end_ok_frame, error_response};
use crate::record::{
    CancelledBy, ExecOutcome, HistoryKind, RecordedRun, RunEnd, RunTransport, exec_result_field,
    header_map,
};
use crate::script::{
    EndError, Malformed, McpCall, NativeExec, Query, ReadCall, Step, Turn, blob_id,
};
use crate::state::Shared;
use cursor_bridge_core::cursor::value::object_to_map as json_to_args;

/// The RPC path.
pub(crate) const RUN_PATH: &str = "/agent.v1.AgentService/Run";

/// The content type of `Run`'s requests and responses.
pub(crate) const CONNECT_PROTO: &str = "application/connect+proto";

type BodyTx = mpsc::Sender<Result<Bytes, io::Error>>;

fn stream_response(
    rx: mpsc::Receiver<Result<Bytes, io::Error>>,
    gzip: bool,
    content_type: &'static str,
) -> Response {
    let mut b = Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, content_type);
    if gzip {
        b = b.header("connect-content-encoding", "gzip");
    }
    b.body(Body::from_stream(
        tokio_stream::wrappers::ReceiverStream::new(rx),
    ))
    .unwrap_or_default()
}

/// The handler.
pub(crate) async fn run(
    State(shared): State<Arc<Shared>>,
    version: http::Version,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let index = new_run(&shared, &headers, version, RunTransport::Http2);
    if let Some(refused) = refuse(&shared, index, &headers, "Run", CONNECT_PROTO) {
        return refused;
    }
    shared.update_run(index, |r| r.authorized = true);
    if let Some(f) = shared.take_run_failure() {
        finish(&shared, index, f.end());
        return crate::connect::run_failure_response(&f);
    }
    let (in_tx, inbox) = mpsc::unbounded_channel();
    let done = CancellationToken::new();
    tokio::spawn(read_client(
        shared.clone(),
        index,
        body,
        in_tx,
        done.clone(),
    ));
    play(shared, index, inbox, done, CONNECT_PROTO)
}

/// Records a new run; returns its index.
pub(crate) fn new_run(
    shared: &Shared,
    headers: &HeaderMap,
    version: http::Version,
    transport: RunTransport,
) -> usize {
    shared.update(|s| {
        let i = s.runs.len();
        s.runs
            .push(RecordedRun::new(i, header_map(headers), version, transport));
        i
    })
}

/// Records how the fake ended run `index`.
pub(crate) fn finish(shared: &Shared, index: usize, end: RunEnd) {
    shared.update_run(index, |r| {
        r.end = Some(end);
        r.ended_after = Some(r.started_at.elapsed());
    })
}

/// The answer to a run request the fake refuses (bearer token, content type), or `None`.
/// A refused run does not consume a turn.
pub(crate) fn refuse(
    shared: &Shared,
    index: usize,
    headers: &HeaderMap,
    rpc: &str,
    response_type: &'static str,
) -> Option<Response> {
    if let Err((_, err)) = shared.check_client_version(headers) {
        finish(
            shared,
            index,
            RunEnd::Error {
                code: err.code.clone(),
                message: err.message.clone(),
            },
        );
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.try_send(Ok(end_error_frame(&err)));
        return Some(stream_response(rx, false, response_type));
    }
    if let Err(msg) = shared.check_bearer(headers) {
        if shared.cfg.run_auth_failure_as_http {
            finish(shared, index, RunEnd::Http(401));
            return Some(error_response(401, "unauthenticated", &msg));
        }
        let err = EndError::new("unauthenticated", msg.clone());
        finish(
            shared,
            index,
            RunEnd::Error {
                code: err.code.clone(),
                message: msg,
            },
        );
        let (tx, rx) = mpsc::channel(1);
        // The channel has room for this one frame; the sender drops, ending the body.
        let _ = tx.try_send(Ok(end_error_frame(&err)));
        return Some(stream_response(rx, false, response_type));
    }
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.starts_with(CONNECT_PROTO) {
        finish(shared, index, RunEnd::Http(415));
        return Some(error_response(
            415,
            "unimplemented",
            &format!("{rpc} needs {CONNECT_PROTO}, not {ct:?}"),
        ));
    }
    None
}

/// Plays the next queued turn (or the default reply) on authorized run `index`, reading
/// the client's messages from `inbox`; the answer is the response whose body the driver
/// writes. `done` is cancelled when the driver finished.
pub(crate) fn play(
    shared: Arc<Shared>,
    index: usize,
    inbox: mpsc::UnboundedReceiver<Inbound>,
    done: CancellationToken,
    content_type: &'static str,
) -> Response {
    // With a conditional turn queued, the choice waits for the run request.
    let turn = shared.update(|s| {
        if s.turns.iter().any(|t| t.when.is_some()) {
            None
        } else {
            Some(s.turns.pop_front().unwrap_or_else(Turn::default_reply))
        }
    });
    let gzip = turn
        .as_ref()
        .and_then(|t| t.gzip)
        .unwrap_or(shared.cfg.gzip_frames);
    let (out, rx) = mpsc::channel(64);
    let driver = Driver {
        shared,
        index,
        out,
        inbox,
        gzip,
        next_exec: 0,
        next_kv: 0,
        next_query: 0,
        prior: pb::ConversationStateStructure::default(),
        set_this_run: Vec::new(),
        root: Vec::new(),
        pending: Vec::new(),
        assistant_text: String::new(),
    };
    tokio::spawn(driver.run(turn, done));
    stream_response(rx, gzip, content_type)
}

/// What the reader forwards to the driver.
// Almost every value is a `Msg`; boxing would only add an allocation per message.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Inbound {
    Msg(pb::AgentClientMessage),
    Closed,
    Reset,
    Bad(String),
}

/// Records one decoded client message on run `index` (a cancel marks the run cancelled);
/// `raw` is its encoding; `appended`: it came as a `BidiAppend` (counted in the same
/// update).
pub(crate) fn record_client_msg(
    shared: &Shared,
    index: usize,
    m: &pb::AgentClientMessage,
    raw: &[u8],
    appended: bool,
) {
    let cancel = m.message.as_ref().is_some_and(is_cancel);
    let result_field = match &m.message {
        Some(ClientMsg::ExecClientMessage(e)) => exec_result_field(raw).map(|f| (e.id, f)),
        _ => None,
    };
    shared.update_run(index, |r| {
        r.exec_result_fields.extend(result_field);
        r.appends += usize::from(appended);
        r.messages.push(m.clone());
        r.message_times.push(r.started_at.elapsed());
        if cancel && r.cancelled.is_none() {
            r.cancelled = Some(CancelledBy::Action);
        }
    });
}

fn is_cancel(m: &ClientMsg) -> bool {
    matches!(
        m,
        ClientMsg::ConversationAction(pb::ConversationAction {
            action: Some(pb::conversation_action::Action::CancelAction(_))
        })
    )
}

async fn read_client(
    shared: Arc<Shared>,
    index: usize,
    body: Body,
    tx: mpsc::UnboundedSender<Inbound>,
    done: CancellationToken,
) {
    let mut stream = body.into_data_stream();
    let mut dec = Decoder::default();
    let grace = shared.cfg.drain_grace;
    let bad = |msg: String| {
        shared.update_run(index, |r| r.decode_error = Some(msg.clone()));
        let _ = tx.send(Inbound::Bad(msg));
    };
    // The client went away, closing its stream (`closed`) or resetting it: the run records which
    // and is cancelled by it unless it had already ended, and the driver hears of it.
    let gone = |closed: bool| {
        shared.update_run(index, |r| {
            let by = if closed {
                r.client_closed = true;
                CancelledBy::ClientClosed
            } else {
                r.client_reset = true;
                CancelledBy::ClientReset
            };
            r.cancel_unless_ended(by);
        });
        let _ = tx.send(if closed {
            Inbound::Closed
        } else {
            Inbound::Reset
        });
    };
    loop {
        let next = tokio::select! {
            c = stream.next() => c,
            _ = shared.shutdown.cancelled() => return,
            _ = async { done.cancelled().await; tokio::time::sleep(grace).await } => return,
        };
        match next {
            None => {
                if let Err(e) = dec.finish() {
                    bad(e.to_string());
                }
                return gone(true);
            }
            Some(Err(_)) => return gone(false),
            Some(Ok(chunk)) => {
                dec.push(&chunk);
                loop {
                    match dec.next_frame() {
                        Ok(None) => break,
                        Ok(Some(Frame::Message(payload))) => {
                            match pb::AgentClientMessage::decode(payload.clone()) {
                                Ok(m) => {
                                    record_client_msg(&shared, index, &m, &payload, false);
                                    let _ = tx.send(Inbound::Msg(m));
                                }
                                Err(e) => {
                                    bad(format!("undecodable AgentClientMessage: {e}"));
                                    return;
                                }
                            }
                        }
                        Ok(Some(Frame::EndStream(_))) => {
                            bad(
                                "the client sent an end-of-stream frame (only servers send those)"
                                    .into(),
                            );
                            return;
                        }
                        Err(e) => {
                            bad(e.to_string());
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Why the script stopped.
enum Stop {
    /// A terminal step ran.
    Ended(RunEnd),
    /// The response body was dropped by hyper (client gone) or the fake shut down.
    Gone,
    /// A reply did not come in time.
    Timeout(String),
    /// The client half-closed while the fake waited for something.
    ClientClosed(String),
    /// The client reset its request stream.
    ClientReset,
    /// A client frame or reply that breaks the protocol.
    Bad(String),
    /// The client sent `cancel_action` while the fake waited for a reply.
    Cancelled,
}

/// What a wait predicate says about one client message.
enum Flow<T> {
    Skip,
    Done(T),
    Bad(String),
}

struct Driver {
    shared: Arc<Shared>,
    index: usize,
    out: BodyTx,
    inbox: mpsc::UnboundedReceiver<Inbound>,
    gzip: bool,
    next_exec: u32,
    next_kv: u32,
    next_query: u32,
    /// The state the client sent in `run_request` (empty if none).
    prior: pb::ConversationStateStructure,
    /// Blob ids set during this run, for checkpoints.
    set_this_run: Vec<Bytes>,
    /// The conversation's message blob ids so far (`root_prompt_messages_json`): the
    /// received state's, then every message of this run a checkpoint persisted.
    root: Vec<Bytes>,
    /// Messages of this run not yet persisted (the user's, the assistant's steps, tool
    /// results), as the service stores them (AI-SDK-like JSON).
    pending: Vec<serde_json::Value>,
    /// Text streamed since the last persisted assistant message.
    assistant_text: String,
}

impl Driver {
    async fn run(mut self, turn: Option<Turn>, done: CancellationToken) {
        let stop = self.play(turn).await;
        let end = match stop {
            Stop::Ended(e) => e,
            Stop::Gone | Stop::ClientReset => RunEnd::ClientGone,
            Stop::Cancelled => match self.write(end_ok_frame()).await {
                Ok(()) => RunEnd::Ok,
                Err(_) => RunEnd::ClientGone,
            },
            Stop::Timeout(what) => self.fail("deadline_exceeded", what).await,
            Stop::ClientClosed(what) => {
                self.fail("canceled", format!("the client closed its request stream while the fake Cursor server waited for {what}")).await
            }
            Stop::Bad(what) => self.fail("invalid_argument", what).await,
        };
        self.shared.update_run(self.index, |r| {
            r.end = Some(end);
            r.ended_after = Some(r.started_at.elapsed());
        });
        done.cancel();
        // Dropping `self.out` here ends the response body.
    }

    async fn fail(&mut self, code: &str, message: String) -> RunEnd {
        let err = EndError::new(code, message.clone());
        match self.write(end_error_frame(&err)).await {
            Ok(()) => RunEnd::Error {
                code: code.into(),
                message,
            },
            Err(_) => RunEnd::ClientGone,
        }
    }

    async fn play(&mut self, turn: Option<Turn>) -> Stop {
        if let Err(stop) = self.first_message().await {
            return stop;
        }
        let turn = turn.unwrap_or_else(|| self.matching_turn());
        let delay = self.shared.cfg.run_start_delay;
        if !delay.is_zero()
            && let Err(stop) = self.pause(delay).await
        {
            return stop;
        }
        if let Err(stop) = self.fetch_history().await {
            return stop;
        }
        for step in turn.steps {
            if let Err(stop) = self.step(step).await {
                return stop;
            }
            self.shared.update_run(self.index, |r| r.steps_played += 1);
        }
        match self.write(end_ok_frame()).await {
            Ok(()) => Stop::Ended(RunEnd::Ok),
            Err(stop) => stop,
        }
    }

    /// The first queued turn this run may play (by its recorded `run_request`), taken off
    /// the queue; the default reply when none fits.
    fn matching_turn(&self) -> Turn {
        let index = self.index;
        self.shared
            .update(|s| {
                let req = s.runs.get(index).and_then(|r| r.run_request.clone())?;
                let at = s
                    .turns
                    .iter()
                    .position(|t| t.when.as_ref().is_none_or(|m| m.matches(&req)))?;
                s.turns.remove(at)
            })
            .unwrap_or_else(Turn::default_reply)
    }

    async fn first_message(&mut self) -> Result<(), Stop> {
        let timeout = self.shared.cfg.reply_timeout;
        let m = self
            .recv(
                Instant::now() + timeout,
                timeout,
                "the first client message (run_request)",
            )
            .await?;
        match m.message {
            Some(ClientMsg::RunRequest(req)) => {
                if let Some(text) = user_action_text(&req) {
                    self.pending.push(serde_json::json!({
                        "role": "user", "content": [{"type": "text", "text": text}]
                    }));
                }
                if let Some(state) = &req.conversation_state {
                    // An undecodable state is kept verbatim in the record; checkpoints then
                    // start from scratch, as they would for a new conversation.
                    self.prior =
                        pb::ConversationStateStructure::decode(state.as_ref()).unwrap_or_default();
                }
                self.shared
                    .update_run(self.index, |r| r.run_request = Some(req));
                Ok(())
            }
            other => Err(Stop::Bad(format!(
                "the first client message must be run_request, got {}",
                client_msg_name(other.as_ref())
            ))),
        }
    }

    // ---- writing ------------------------------------------------------------------

    async fn write(&mut self, frame: Bytes) -> Result<(), Stop> {
        let step = match self.shared.cfg.split_writes {
            0 => frame.len().max(1),
            n => n,
        };
        for start in (0..frame.len()).step_by(step) {
            let chunk = frame.slice(start..(start + step).min(frame.len()));
            self.out.send(Ok(chunk)).await.map_err(|_| Stop::Gone)?;
            if self.shared.cfg.split_writes > 0 {
                // Pace the tiny writes: h2 clients refuse more than ~100 unread small
                // DATA frames at once as a flood (h2's "too_many_data_frames").
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        Ok(())
    }

    fn frame(&self, payload: &[u8]) -> Bytes {
        if self.gzip {
            encode_gzip(0, payload)
        } else {
            encode_with_flags(0, payload)
        }
    }

    async fn send_msg(&mut self, msg: pb::AgentServerMessage) -> Result<(), Stop> {
        let frame = if self.gzip {
            encode_gzip(0, &msg.encode_to_vec())
        } else {
            encode_message(&msg)
        };
        self.write(frame).await
    }

    async fn send(&mut self, m: ServerMsg) -> Result<(), Stop> {
        self.send_msg(pb::AgentServerMessage { message: Some(m) })
            .await
    }

    async fn update(&mut self, u: pb::InteractionUpdate) -> Result<(), Stop> {
        self.send(ServerMsg::InteractionUpdate(u)).await
    }

    /// An update with the one field `set` fills: most steps are exactly one.
    async fn update_one(
        &mut self,
        set: impl FnOnce(&mut pb::InteractionUpdate),
    ) -> Result<(), Stop> {
        let mut u = pb::InteractionUpdate::default();
        set(&mut u);
        self.update(u).await
    }

    /// Sleeps, ending early (as `Gone`) if the client goes away or the fake shuts down.
    async fn pause(&mut self, d: Duration) -> Result<(), Stop> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.out.closed() => Err(Stop::Gone),
            _ = self.shared.shutdown.cancelled() => Err(Stop::Gone),
        }
    }

    // ---- reading ------------------------------------------------------------------

    async fn recv(
        &mut self,
        deadline: Instant,
        timeout: Duration,
        what: &str,
    ) -> Result<pb::AgentClientMessage, Stop> {
        tokio::select! {
            r = tokio::time::timeout_at(deadline, self.inbox.recv()) => match r {
                Err(_) => Err(Stop::Timeout(format!(
                    "the fake Cursor server timed out after {timeout:?} waiting for {what}"
                ))),
                Ok(Some(Inbound::Msg(m))) => Ok(m),
                Ok(None | Some(Inbound::Closed)) => Err(Stop::ClientClosed(what.to_string())),
                Ok(Some(Inbound::Reset)) => Err(Stop::ClientReset),
                Ok(Some(Inbound::Bad(e))) => Err(Stop::Bad(e)),
            },
            _ = self.out.closed() => Err(Stop::Gone),
            _ = self.shared.shutdown.cancelled() => Err(Stop::Gone),
        }
    }

    /// Reads client messages until `f` is done with one. A `cancel_action` stops the wait.
    async fn wait_for<T>(
        &mut self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(ClientMsg) -> Flow<T>,
    ) -> Result<T, Stop> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.recv(deadline, timeout, what).await?;
            let Some(m) = m.message else { continue };
            if is_cancel(&m) {
                return Err(Stop::Cancelled);
            }
            match f(m) {
                Flow::Skip => {}
                Flow::Done(t) => return Ok(t),
                Flow::Bad(e) => return Err(Stop::Bad(e)),
            }
        }
    }

    /// Collects the reply to exec `id`, whose args are at field `args_field`: its result
    /// message(s), then `stream_close` (or a `throw`). A result at another field number
    /// than the args' is refused (reference §9.7), except the single `ShellResult` (2)
    /// some clients answer a `shell_stream_args` (14) with, which the service takes.
    async fn await_exec(
        &mut self,
        id: u32,
        exec_id: String,
        kind: &str,
        args_field: u32,
        timeout: Duration,
    ) -> Result<ExecOutcome, Stop> {
        let mut out = ExecOutcome {
            id,
            exec_id,
            kind: kind.to_string(),
            results: Vec::new(),
            echoed_exec_id: None,
            thrown: None,
            stream_closed: false,
            result_fields: Vec::new(),
        };
        let require_close = self.shared.cfg.require_stream_close;
        let what = format!("the reply to exec id {id} ({kind})");
        let mut answered = false;
        let r = self
            .wait_for(timeout, &what, |m| match m {
                ClientMsg::ExecClientMessage(e) if e.id == id => {
                    out.echoed_exec_id = Some(e.exec_id);
                    // A result at a field our schema has no name for decodes as `None`.
                    answered = true;
                    out.results.extend(e.result);
                    if !require_close && answered {
                        Flow::Done(())
                    } else {
                        Flow::Skip
                    }
                }
                ClientMsg::ExecClientControlMessage(c) => match c.message {
                    Some(pb::exec_client_control_message::Message::StreamClose(s))
                        if s.id == id =>
                    {
                        out.stream_closed = true;
                        Flow::Done(())
                    }
                    Some(pb::exec_client_control_message::Message::Throw(t)) if t.id == id => {
                        out.thrown = Some(t.error);
                        Flow::Done(())
                    }
                    _ => Flow::Skip,
                },
                _ => Flow::Skip,
            })
            .await;
        match r {
            Ok(()) => {}
            Err(Stop::Timeout(_)) if answered => {
                return Err(Stop::Timeout(format!(
                    "the fake Cursor server timed out after {timeout:?} waiting for stream_close of exec id {id} ({kind}) after its result"
                )));
            }
            Err(e) => return Err(e),
        }
        out.result_fields = self.result_fields(id);
        let wrong: Vec<u32> = out
            .result_fields
            .iter()
            .copied()
            .filter(|f| *f != args_field && !(args_field == 14 && *f == 2))
            .collect();
        if !wrong.is_empty() {
            return Err(Stop::Bad(format!(
                "exec id {id} ({kind}) was answered at result field(s) {wrong:?}; the result must mirror the args' field {args_field}"
            )));
        }
        let rec = out.clone();
        self.shared.update_run(self.index, |r| r.execs.push(rec));
        Ok(out)
    }

    /// The raw result field numbers the client answered exec `id` with, in order.
    fn result_fields(&self, id: u32) -> Vec<u32> {
        self.shared.lock().runs[self.index]
            .exec_result_fields
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, f)| *f)
            .collect()
    }

    fn new_exec(&mut self) -> (u32, String) {
        self.next_exec += 1;
        (self.next_exec, uuid::Uuid::new_v4().to_string())
    }

    // ---- steps --------------------------------------------------------------------

    async fn step(&mut self, step: Step) -> Result<(), Stop> {
        let cfg_reply = self.shared.cfg.reply_timeout;
        let cfg_long = self.shared.cfg.long_reply_timeout;
        match step {
            Step::Text(text) => {
                self.assistant_text.push_str(&text);
                let delta = pb::TextDeltaUpdate { text };
                self.update_one(|u| u.text_delta = Some(delta)).await
            }
            Step::Thinking(text) => {
                let delta = pb::ThinkingDeltaUpdate { text };
                self.update_one(|u| u.thinking_delta = Some(delta)).await
            }
            Step::ThinkingCompleted(thinking_duration_ms) => {
                let done = pb::ThinkingCompletedUpdate {
                    thinking_duration_ms,
                };
                self.update_one(|u| u.thinking_completed = Some(done)).await
            }
            Step::TokenDelta(tokens) => {
                let delta = pb::TokenDeltaUpdate { tokens };
                self.update_one(|u| u.token_delta = Some(delta)).await
            }
            Step::Heartbeat => {
                self.update_one(|u| u.heartbeat = Some(pb::HeartbeatUpdate {}))
                    .await
            }
            Step::StepStarted(step_id) => {
                let started = pb::StepStartedUpdate { step_id };
                self.update_one(|u| u.step_started = Some(started)).await
            }
            Step::StepCompleted {
                step_id,
                duration_ms,
            } => {
                let completed = pb::StepCompletedUpdate {
                    step_id,
                    step_duration_ms: duration_ms,
                };
                self.update_one(|u| u.step_completed = Some(completed))
                    .await
            }
            Step::TurnEnded => {
                self.update_one(|u| u.turn_ended = Some(pb::TurnEndedUpdate::default()))
                    .await
            }
            Step::TurnEndedUsage(usage) => {
                self.update_one(|u| u.turn_ended = Some(usage.update()))
                    .await
            }
            Step::Send(m) => self.send_msg(m).await,
            Step::Update(u) => self.update(u).await,
            Step::RawMessage(bytes) => {
                let frame = self.frame(&bytes);
                self.write(frame).await
            }
            Step::AnnouncedRead(call) => self.announced_read(call, cfg_reply).await,
            Step::KvSet(data) => self.kv_set(data, cfg_reply).await,
            Step::KvGet(id) => self.kv_get(id, cfg_reply).await,
            Step::RequestContext => self.request_context(cfg_reply).await,
            Step::McpCall(call) => self.mcp_call(call, cfg_long).await,
            Step::ParallelMcpCalls(calls) => self.parallel_mcp_calls(calls, cfg_long).await,
            Step::NativeExec(exec) => self.native_exec(exec, cfg_reply).await,
            Step::UnknownExec { field } => self.unknown_exec(field, cfg_reply).await,
            Step::InteractionQuery(q) => self.query(q, cfg_reply).await,
            Step::Checkpoint {
                used_tokens,
                max_tokens,
            } => {
                self.persist_messages(cfg_reply).await?;
                let mut state = self.prior.clone();
                state.root_prompt_messages_json = self.root.clone();
                state.turns.extend(self.set_this_run.iter().cloned());
                state.token_details = Some(pb::ConversationTokenDetails {
                    used_tokens,
                    max_tokens,
                });
                let bytes: Bytes = state.encode_to_vec().into();
                let issued = blob_id(&bytes);
                self.shared.update(|s| s.issued_checkpoints.insert(issued));
                self.send(ServerMsg::ConversationCheckpointUpdate(bytes))
                    .await
            }
            Step::EndOk => {
                self.write(end_ok_frame()).await?;
                Err(Stop::Ended(RunEnd::Ok))
            }
            Step::EndError(e) => {
                self.write(end_error_frame(&e)).await?;
                Err(Stop::Ended(RunEnd::Error {
                    code: e.code,
                    message: e.message,
                }))
            }
            Step::Drop => Err(Stop::Ended(RunEnd::Dropped)),
            Step::Reset => {
                let _ = self
                    .out
                    .send(Err(io::Error::other("fake Cursor: scripted stream reset")))
                    .await;
                Err(Stop::Ended(RunEnd::Reset))
            }
            Step::Malformed(m) => {
                let bytes = match m {
                    Malformed::UnknownFlags => encode_with_flags(0x40, &[0x0a, 0x00]),
                    // Field 1, length 5, but only one byte follows: a protobuf underflow.
                    Malformed::UndecodableMessage => encode_with_flags(0, &[0x0a, 0x05, 0x01]),
                    Malformed::BadGzip => encode_with_flags(FLAG_COMPRESSED, b"this is not gzip"),
                    Malformed::Truncated => {
                        Bytes::from_static(&[0, 0, 0, 0, 100, 0x0a, 0x00, 0x0a])
                    }
                    Malformed::BadEndStreamJson => encode_with_flags(FLAG_END_STREAM, b"{not json"),
                    Malformed::Raw(b) => b,
                };
                self.write(bytes).await?;
                Err(Stop::Ended(RunEnd::Malformed))
            }
            Step::Sleep(d) => self.pause(d).await,
            Step::HeartbeatsFor { total, interval } => {
                let end = Instant::now() + total;
                loop {
                    self.update(pb::InteractionUpdate {
                        heartbeat: Some(pb::HeartbeatUpdate {}),
                        ..Default::default()
                    })
                    .await?;
                    let now = Instant::now();
                    if now >= end {
                        return Ok(());
                    }
                    self.pause(interval.min(end - now)).await?;
                }
            }
            Step::ToolLoop(l) => {
                // Ends only when a call's reply never comes (the client went away).
                let mut n = 0;
                loop {
                    n += 1;
                    if let Some(text) = &l.text {
                        self.assistant_text.push_str(text);
                        let delta = pb::TextDeltaUpdate { text: text.clone() };
                        self.update_one(|u| u.text_delta = Some(delta)).await?;
                    }
                    self.mcp_call(l.nth(n), cfg_long).await?;
                }
            }
            Step::WaitForCancel => {
                let deadline = Instant::now() + cfg_long;
                loop {
                    match self
                        .recv(
                            deadline,
                            cfg_long,
                            "a cancel (cancel_action or the client closing its side)",
                        )
                        .await
                    {
                        Ok(m) if m.message.as_ref().is_some_and(is_cancel) => return Ok(()),
                        Ok(_) => {}
                        Err(Stop::ClientClosed(_) | Stop::ClientReset) => return Ok(()),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }

    async fn kv_set(&mut self, data: Bytes, timeout: Duration) -> Result<(), Stop> {
        let bid = self.set_blob(data, timeout).await?;
        self.set_this_run.push(Bytes::from(bid));
        Ok(())
    }

    /// Stores `data` in the client's blob store; its id.
    async fn set_blob(&mut self, data: Bytes, timeout: Duration) -> Result<Vec<u8>, Stop> {
        self.next_kv += 1;
        let id = self.next_kv;
        let bid = blob_id(&data);
        self.shared
            .update(|s| s.blobs.insert(bid.clone(), data.clone()));
        self.send(ServerMsg::KvServerMessage(pb::KvServerMessage {
            id,
            message: Some(pb::kv_server_message::Message::SetBlobArgs(
                pb::SetBlobArgs {
                    blob_id: bid.clone().into(),
                    blob_data: data,
                },
            )),
        }))
        .await?;
        self.wait_for(
            timeout,
            &format!("kv set_blob_result for id {id}"),
            |m| match m {
                ClientMsg::KvClientMessage(k) if k.id == id => match k.message {
                    Some(pb::kv_client_message::Message::SetBlobResult(_)) => Flow::Done(()),
                    _ => Flow::Bad(format!("the kv reply for id {id} is not a set_blob_result")),
                },
                _ => Flow::Skip,
            },
        )
        .await?;
        Ok(bid)
    }

    /// Persists the run's new messages as the service does: each one a JSON blob set in
    /// the client's store, its id appended to the conversation's root messages.
    async fn persist_messages(&mut self, timeout: Duration) -> Result<(), Stop> {
        self.flush_assistant(Vec::new());
        for m in std::mem::take(&mut self.pending) {
            let id = self.set_blob(Bytes::from(m.to_string()), timeout).await?;
            self.root.push(Bytes::from(id));
        }
        Ok(())
    }

    /// Closes the assistant message streamed so far, with `calls` (tool-call parts).
    fn flush_assistant(&mut self, calls: Vec<serde_json::Value>) {
        let text = std::mem::take(&mut self.assistant_text);
        if text.is_empty() && calls.is_empty() {
            return;
        }
        let mut content = Vec::new();
        if !text.is_empty() {
            content.push(serde_json::json!({"type": "text", "text": text}));
        }
        content.extend(calls);
        self.pending
            .push(serde_json::json!({"role": "assistant", "content": content}));
    }

    /// Remembers the tool calls made and their results as conversation messages.
    fn record_tool_step(&mut self, calls: &[McpCall], outs: &[ExecOutcome]) {
        let parts = calls
            .iter()
            .map(|c| {
                serde_json::json!({"type": "tool-call", "toolCallId": c.tool_call_id,
                    "toolName": c.tool_name, "args": c.args})
            })
            .collect();
        self.flush_assistant(parts);
        for (c, o) in calls.iter().zip(outs) {
            self.pending
                .push(serde_json::json!({"role": "tool", "content": [{
                "type": "tool-result", "toolCallId": c.tool_call_id, "toolName": c.tool_name,
                "result": mcp_text(o)}]}));
        }
    }

    /// Reads the history the client's `conversation_state` names, as the service builds
    /// its prompt from it: every `root_prompt_messages_json` blob fetched from the client
    /// through KV gets (the service holds none of the client's blobs), all asked at once.
    /// A blob the client cannot serve ends the run with `internal` "Blob not found"
    /// (reference §5, §9.5); one that is not a JSON message is `invalid_argument`.
    async fn fetch_history(&mut self) -> Result<(), Stop> {
        let state = self
            .shared
            .lock()
            .runs
            .get(self.index)
            .and_then(|r| r.run_request.as_ref()?.conversation_state.clone())
            .unwrap_or_default();
        let issued = !state.is_empty()
            && self
                .shared
                .lock()
                .issued_checkpoints
                .contains(&blob_id(&state));
        let ids = self.prior.root_prompt_messages_json.clone();
        let kind = if issued {
            HistoryKind::Checkpoint
        } else if !ids.is_empty() {
            HistoryKind::Structured
        } else {
            HistoryKind::None
        };
        self.root = ids.clone();
        let first = self.next_kv + 1;
        for bid in &ids {
            self.get_blob(bid.clone()).await?;
        }
        let mut got: Vec<Option<Option<Bytes>>> = vec![None; ids.len()];
        if !ids.is_empty() {
            let timeout = self.shared.cfg.reply_timeout;
            let what = format!("kv get_blob_results for {} history messages", ids.len());
            self.wait_for(timeout, &what, |m| match m {
                ClientMsg::KvClientMessage(k)
                    if k.id >= first && k.id < first + got.len() as u32 =>
                {
                    match k.message {
                        Some(pb::kv_client_message::Message::GetBlobResult(r)) => {
                            got[(k.id - first) as usize] = Some(r.blob_data);
                            if got.iter().all(Option::is_some) {
                                Flow::Done(())
                            } else {
                                Flow::Skip
                            }
                        }
                        _ => Flow::Bad(format!(
                            "the kv reply for id {} is not a get_blob_result",
                            k.id
                        )),
                    }
                }
                _ => Flow::Skip,
            })
            .await?;
        }
        let mut messages = Vec::new();
        let mut missing = None;
        let mut served = 0;
        for (bid, data) in ids.iter().zip(got) {
            let Some(d) = data.flatten() else {
                missing = Some(hex::encode(bid));
                break;
            };
            served += d.len();
            match parse_history_message(&d) {
                Ok(v) => messages.push(v),
                Err(e) => {
                    return Err(Stop::Bad(format!(
                        "history blob {} is not a message: {e}",
                        hex::encode(bid)
                    )));
                }
            }
        }
        self.shared.update_run(self.index, |r| {
            r.history = kind;
            r.history_messages = messages;
            r.history_bytes = served;
        });
        if let Some(hex) = missing {
            let e = EndError::new("internal", format!("Blob not found: {hex}"));
            self.write(end_error_frame(&e)).await?;
            return Err(Stop::Ended(RunEnd::Error {
                code: e.code,
                message: e.message,
            }));
        }
        Ok(())
    }

    /// Asks the client for the blob `blob_id` under the next KV id, which it returns.
    async fn get_blob(&mut self, blob_id: Bytes) -> Result<u32, Stop> {
        self.next_kv += 1;
        let id = self.next_kv;
        self.send(ServerMsg::KvServerMessage(pb::KvServerMessage {
            id,
            message: Some(pb::kv_server_message::Message::GetBlobArgs(
                pb::GetBlobArgs { blob_id },
            )),
        }))
        .await?;
        Ok(id)
    }

    async fn kv_get(&mut self, bid: Vec<u8>, timeout: Duration) -> Result<(), Stop> {
        let id = self.get_blob(bid.clone().into()).await?;
        let data = self
            .wait_for(
                timeout,
                &format!("kv get_blob_result for id {id}"),
                |m| match m {
                    ClientMsg::KvClientMessage(k) if k.id == id => match k.message {
                        Some(pb::kv_client_message::Message::GetBlobResult(r)) => {
                            Flow::Done(r.blob_data)
                        }
                        _ => {
                            Flow::Bad(format!("the kv reply for id {id} is not a get_blob_result"))
                        }
                    },
                    _ => Flow::Skip,
                },
            )
            .await?;
        self.shared
            .update_run(self.index, |r| r.kv_get_results.push((bid, data)));
        Ok(())
    }

    async fn request_context(&mut self, timeout: Duration) -> Result<(), Stop> {
        let (id, exec_id) = self.new_exec();
        self.send(ServerMsg::ExecServerMessage(pb::ExecServerMessage {
            id,
            exec_id: exec_id.clone(),
            message: Some(pb::exec_server_message::Message::RequestContextArgs(
                pb::RequestContextArgs::default(),
            )),
        }))
        .await?;
        let out = self
            .await_exec(id, exec_id, "request_context", 10, timeout)
            .await?;
        let contexts: Vec<pb::RequestContext> = out
            .results
            .iter()
            .filter_map(|r| match r {
                pb::exec_client_message::Result::RequestContextResult(
                    pb::RequestContextResult {
                        result: Some(pb::request_context_result::Result::Success(s)),
                    },
                ) => s.request_context.clone(),
                _ => None,
            })
            .collect();
        self.shared
            .update_run(self.index, |r| r.request_contexts.extend(contexts));
        Ok(())
    }

    async fn mcp_call(&mut self, call: McpCall, timeout: Duration) -> Result<(), Stop> {
        let (id, exec_id) = self.new_exec();
        let args = pb::McpArgs {
            name: call.name.clone(),
            args: json_to_args(&call.args),
            tool_call_id: call.tool_call_id.clone(),
            provider_identifier: call.provider_identifier.clone(),
            tool_name: call.tool_name.clone(),
        };
        let tool_call = |result: Option<pb::McpResult>| pb::ToolCall {
            tool: Some(pb::tool_call::Tool::Mcp(pb::McpToolCall {
                args: Some(args.clone()),
                result,
            })),
        };
        if call.announce {
            self.update(pb::InteractionUpdate {
                tool_call_started: Some(pb::ToolCallStartedUpdate {
                    call_id: call.tool_call_id.clone(),
                    tool_call: Some(tool_call(None)),
                    model_call_id: format!("model-call-{id}"),
                }),
                ..Default::default()
            })
            .await?;
        }
        self.send(ServerMsg::ExecServerMessage(pb::ExecServerMessage {
            id,
            exec_id: exec_id.clone(),
            message: Some(pb::exec_server_message::Message::McpArgs(args.clone())),
        }))
        .await?;
        let out = self.await_exec(id, exec_id, "mcp", 11, timeout).await?;
        self.record_tool_step(std::slice::from_ref(&call), std::slice::from_ref(&out));
        let text = mcp_text(&out);
        let tc_id = call.tool_call_id.clone();
        self.shared
            .update_run(self.index, |r| r.mcp_results.push((tc_id, text)));
        if call.announce {
            let result = out.results.iter().find_map(|r| match r {
                pb::exec_client_message::Result::McpResult(m) => Some(m.clone()),
                _ => None,
            });
            self.update(pb::InteractionUpdate {
                tool_call_completed: Some(pb::ToolCallCompletedUpdate {
                    call_id: call.tool_call_id,
                    tool_call: Some(tool_call(result)),
                    model_call_id: format!("model-call-{id}"),
                }),
                ..Default::default()
            })
            .await?;
        }
        Ok(())
    }

    async fn parallel_mcp_calls(
        &mut self,
        calls: Vec<McpCall>,
        timeout: Duration,
    ) -> Result<(), Stop> {
        let mut outs = Vec::new();
        for call in &calls {
            let (id, exec_id) = self.new_exec();
            self.send(ServerMsg::ExecServerMessage(pb::ExecServerMessage {
                id,
                exec_id: exec_id.clone(),
                message: Some(pb::exec_server_message::Message::McpArgs(pb::McpArgs {
                    name: call.name.clone(),
                    args: json_to_args(&call.args),
                    tool_call_id: call.tool_call_id.clone(),
                    provider_identifier: call.provider_identifier.clone(),
                    tool_name: call.tool_name.clone(),
                })),
            }))
            .await?;
            outs.push(ExecOutcome {
                id,
                exec_id,
                kind: "mcp".into(),
                results: Vec::new(),
                echoed_exec_id: None,
                thrown: None,
                stream_closed: false,
                result_fields: Vec::new(),
            });
        }
        let what = format!("the replies to {} parallel tool calls", outs.len());
        self.wait_for(timeout, &what, |m| {
            match m {
                ClientMsg::ExecClientMessage(e) => {
                    if let Some(o) = outs.iter_mut().find(|o| o.id == e.id) {
                        o.echoed_exec_id = Some(e.exec_id);
                        o.results.extend(e.result);
                    }
                }
                ClientMsg::ExecClientControlMessage(c) => match c.message {
                    Some(pb::exec_client_control_message::Message::StreamClose(s)) => {
                        if let Some(o) = outs.iter_mut().find(|o| o.id == s.id) {
                            o.stream_closed = true;
                        }
                    }
                    Some(pb::exec_client_control_message::Message::Throw(t)) => {
                        if let Some(o) = outs.iter_mut().find(|o| o.id == t.id) {
                            o.thrown = Some(t.error);
                            o.stream_closed = true;
                        }
                    }
                    _ => {}
                },
                _ => {}
            }
            if outs.iter().all(|o| o.stream_closed) {
                Flow::Done(())
            } else {
                Flow::Skip
            }
        })
        .await?;
        self.record_tool_step(&calls, &outs);
        for (call, out) in calls.iter().zip(&outs) {
            let text = mcp_text(out);
            let tc_id = call.tool_call_id.clone();
            self.shared
                .update_run(self.index, |r| r.mcp_results.push((tc_id, text)));
        }
        Ok(())
    }

    async fn native_exec(&mut self, exec: NativeExec, timeout: Duration) -> Result<(), Stop> {
        let (id, exec_id) = self.new_exec();
        let message = exec.to_pb(&format!("toolu_fake_{id}"));
        let args_field = exec_field(&message);
        self.send(ServerMsg::ExecServerMessage(pb::ExecServerMessage {
            id,
            exec_id: exec_id.clone(),
            message: Some(message),
        }))
        .await?;
        self.await_exec(id, exec_id, exec.kind(), args_field, timeout)
            .await
            .map(|_| ())
    }

    async fn announced_read(&mut self, call: ReadCall, timeout: Duration) -> Result<(), Stop> {
        let (id, exec_id) = self.new_exec();
        let model_call_id = format!("model-call-{id}");
        self.update(pb::InteractionUpdate {
            tool_call_started: Some(pb::ToolCallStartedUpdate {
                call_id: call.tool_call_id.clone(),
                tool_call: Some(call.tool_call(None)),
                model_call_id: model_call_id.clone(),
            }),
            ..Default::default()
        })
        .await?;
        self.send(ServerMsg::ExecServerMessage(pb::ExecServerMessage {
            id,
            exec_id: exec_id.clone(),
            message: Some(pb::exec_server_message::Message::ReadArgs(pb::ReadArgs {
                path: call.path.clone(),
                tool_call_id: call.tool_call_id.clone(),
            })),
        }))
        .await?;
        let out = self.await_exec(id, exec_id, "read", 7, timeout).await?;
        let content = out
            .results
            .iter()
            .find_map(|r| match r {
                pb::exec_client_message::Result::ReadResult(pb::ReadResult {
                    result: Some(pb::read_result::Result::Success(s)),
                }) => match &s.output {
                    Some(pb::read_success::Output::Content(c)) => Some(c.clone()),
                    _ => None,
                },
                _ => None,
            })
            .unwrap_or_default();
        self.update(pb::InteractionUpdate {
            tool_call_completed: Some(pb::ToolCallCompletedUpdate {
                call_id: call.tool_call_id.clone(),
                tool_call: Some(call.tool_call(Some(&content))),
                model_call_id,
            }),
            ..Default::default()
        })
        .await
    }

    async fn unknown_exec(&mut self, field: u32, timeout: Duration) -> Result<(), Stop> {
        use prost::encoding::{WireType, encode_key, encode_varint};
        let (id, exec_id) = self.new_exec();
        let mut inner = pb::ExecServerMessage {
            id,
            exec_id: exec_id.clone(),
            message: None,
        }
        .encode_to_vec();
        // Unknown field `field`: a nested message holding an empty field 1.
        encode_key(field, WireType::LengthDelimited, &mut inner);
        encode_varint(2, &mut inner);
        inner.extend_from_slice(&[0x0a, 0x00]);
        let mut outer = Vec::with_capacity(inner.len() + 6);
        encode_key(2, WireType::LengthDelimited, &mut outer);
        encode_varint(inner.len() as u64, &mut outer);
        outer.extend_from_slice(&inner);
        let frame = self.frame(&outer);
        self.write(frame).await?;
        self.await_exec(id, exec_id, "unknown", field, timeout)
            .await
            .map(|_| ())
    }

    async fn query(&mut self, q: Query, timeout: Duration) -> Result<(), Stop> {
        self.next_query += 1;
        let id = self.next_query;
        self.send(ServerMsg::InteractionQuery(pb::InteractionQuery {
            id,
            query: Some(q.to_pb()),
        }))
        .await?;
        let resp = self
            .wait_for(
                timeout,
                &format!("interaction_response for query id {id} ({})", q.kind()),
                |m| match m {
                    ClientMsg::InteractionResponse(r) if r.id == id => Flow::Done(r),
                    _ => Flow::Skip,
                },
            )
            .await?;
        self.shared
            .update_run(self.index, |r| r.interaction_responses.push(resp));
        Ok(())
    }
}

/// The field number of an exec's args (what its result must mirror).
fn exec_field(m: &pb::exec_server_message::Message) -> u32 {
    let mut buf = Vec::new();
    m.encode(&mut buf);
    prost::encoding::decode_key(&mut &buf[..])
        .map(|(n, _)| n)
        .unwrap_or(0)
}

/// The text of an MCP reply, for [`RecordedRun::mcp_results`].
/// The text of a `user_message_action`, if that is the run's action.
fn user_action_text(req: &pb::AgentRunRequest) -> Option<String> {
    match req.action.as_ref()?.action.as_ref()? {
        pb::conversation_action::Action::UserMessageAction(a) => {
            a.user_message.as_ref().map(|m| m.text.clone())
        }
        _ => None,
    }
}

/// A history blob as the service reads it: a JSON object with a known `role` and
/// `content` (a string or a list of typed parts — both forms are in use).
fn parse_history_message(data: &[u8]) -> Result<serde_json::Value, String> {
    let v: serde_json::Value = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    match v.get("role").and_then(|r| r.as_str()) {
        Some("system" | "user" | "assistant" | "tool") => {}
        other => return Err(format!("unknown role {other:?}")),
    }
    match v.get("content") {
        Some(serde_json::Value::String(_)) => Ok(v),
        Some(serde_json::Value::Array(parts))
            if parts
                .iter()
                .all(|p| p.get("type").and_then(|t| t.as_str()).is_some()) =>
        {
            Ok(v)
        }
        _ => Err("content is neither text nor a list of typed parts".into()),
    }
}

fn mcp_text(out: &ExecOutcome) -> String {
    use pb::mcp_result::Result as R;
    if let Some(t) = &out.thrown {
        return format!("[throw] {t}");
    }
    for r in &out.results {
        if let pb::exec_client_message::Result::McpResult(m) = r {
            return match &m.result {
                Some(R::Success(s)) => s
                    .content
                    .iter()
                    .map(|c| match &c.content {
                        Some(pb::mcp_tool_result_content_item::Content::Text(t)) => t.text.clone(),
                        Some(pb::mcp_tool_result_content_item::Content::Image(i)) => {
                            format!("[image {}]", i.mime_type)
                        }
                        None => String::new(),
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
                Some(R::Error(e)) => format!("[error] {}", e.error),
                Some(R::Rejected(e)) => format!("[rejected] {}", e.reason),
                Some(R::ToolNotFound(e)) => format!("[tool_not_found] {}", e.name),
                None => String::new(),
            };
        }
    }
    String::new()
}

fn client_msg_name(m: Option<&ClientMsg>) -> &'static str {
    match m {
        None => "an empty message",
        Some(ClientMsg::RunRequest(_)) => "run_request",
        Some(ClientMsg::ExecClientMessage(_)) => "exec_client_message",
        Some(ClientMsg::KvClientMessage(_)) => "kv_client_message",
        Some(ClientMsg::ConversationAction(_)) => "conversation_action",
        Some(ClientMsg::ExecClientControlMessage(_)) => "exec_client_control_message",
        Some(ClientMsg::InteractionResponse(_)) => "interaction_response",
        Some(ClientMsg::ClientHeartbeat(_)) => "client_heartbeat",
    }
}
