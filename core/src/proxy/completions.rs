//! `POST /v1/chat/completions`, streamed (SSE) and plain.
//!
//! A request either **continues a parked Cursor stream** — it ends with `tool` results for
//! the tool calls of a parked step: the results go onto that stream and its continuation
//! is this response, no new run, no re-sent history — or **starts a fresh run** (the
//! first request of a conversation, or when nothing is parked for those ids: expired,
//! restarted proxy, another client), which rebuilds the conversation from the request.
//!
//! A step that ends with tool calls answers `finish_reason: "tool_calls"` with every call
//! of the step, and parks the run keyed by those ids. Calls arriving together are
//! gathered for a short window so one response carries them all.
//!
//! Errors before the first byte get their HTTP status (429, 503, …); once an SSE stream
//! has started, an error becomes an OpenAI error event followed by `[DONE]`. A client
//! that goes away drops the response, which drops the run, which cancels it on Cursor.
//!
//! **Usage.** Cursor counts a turn exactly and says so when it ends (`TurnEndedUpdate`,
//! reference §9.4); those numbers win. A turn that calls the client's tools spans several
//! responses, and only the one in which the turn ends has Cursor's count: a response
//! ending in `tool_calls` before that reports completion tokens counted so far (exact:
//! Σ `token_delta`) and `prompt_tokens: 0`, its prompt *deferred* to the turn's count (the
//! ledger stores no prompt count for it, so it is not an estimate either); the response
//! in which the turn ends reports Cursor's count minus what the earlier responses of the
//! same run reported, so a turn's responses add up to Cursor's numbers exactly. Until this
//! proxy has seen Cursor count a turn (`ProxyState::cursor_counts_turns`) a service that
//! never counts is assumed possible: such a `tool_calls` response reports prompt tokens
//! inferred from the checkpoint or estimated from the text instead, marked estimated in
//! the ledger and without cache/reasoning details. Cached tokens are
//! part of `prompt_tokens` (OpenAI's convention); whether Cursor's `input_tokens` already
//! includes them is the setting `cursor_input_includes_cache` (default: it does not).
//!
//! A fresh run that fails to start for a transient reason (Cursor unreachable, a connect
//! timeout, 502/503/504, Connect `unavailable`, an error Cursor marks retryable) is started
//! again, `upstream_retries` times at most with exponential backoff from
//! `retry_backoff_ms` ([`crate::cursor::CursorClient::chat_with_retry`]). That happens
//! before the response starts — the status line and the first SSE chunk wait for the
//! run's first output — so a retry is invisible to the client; once output has been
//! sent, a failure is final. A continued (parked) run is never retried: Cursor already
//! holds its state.
//!
//! A fresh run carries the history one of three ways, recorded in the ledger's `history`
//! column: `checkpoint` — the conversation store ([`crate::engine::conversations`]) holds
//! the checkpoint that answered every message but the newest user message, so the run
//! continues from Cursor's own state with only that message; `structured` — the history
//! rebuilt as message blobs ([`crate::engine::history`]); `flattened` — one transcript
//! text, the last resort. When the service reports a blob it cannot find, the run starts
//! once more from the next way down. A turn that ends (no tool calls pending) keeps its
//! checkpoint in the store for the next turn.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::ProxyState;
use super::error::ApiError;
use super::sessions::Parked;
use crate::cursor::CursorError;
use crate::cursor::blobs::BlobStore;
use crate::cursor::chat::{ChatEvent, ChatHandle, ChatRequest, ChatRun, ToolCall, ToolResult};
use crate::cursor::models::AUTO_WIRE_ID;
use crate::engine::conversations::Stored;
use crate::engine::history::{self, Msg};
use crate::openai::chunks::{ChunkWriter, UsageOut};
use crate::openai::request::ChatCompletionRequest;
use crate::openai::{history as openai_history, translate};
use crate::store::ledger::{self, Ledger, LedgerEntry};

/// How long to wait for more tool calls of the same step after one arrived.
pub(crate) const TOOL_GATHER_WINDOW: Duration = Duration::from_millis(25);

/// What one step of a run produced, in order.
#[derive(Debug)]
enum Out {
    Reasoning(String),
    Content(String),
    /// Every tool call of the step; the response ends and the run is parked.
    ToolCalls(Vec<ToolCall>),
    /// The turn is over.
    Stop,
    Error(ApiError),
}

/// Pulls [`Out`]s from a run, gathering tool calls that arrive together.
struct Driver {
    run: Option<ChatRun>,
    /// Kept after the run is parked or gone, for the usage numbers.
    handle: ChatHandle,
    calls: Vec<ToolCall>,
    shutdown: CancellationToken,
    done: bool,
}

impl Driver {
    fn new(run: ChatRun, shutdown: CancellationToken) -> Self {
        Driver {
            handle: run.handle(),
            run: Some(run),
            calls: Vec::new(),
            shutdown,
            done: false,
        }
    }

    async fn next(&mut self) -> Option<Out> {
        if self.done {
            return None;
        }
        let out = self.step().await;
        if matches!(out, Out::ToolCalls(_) | Out::Stop | Out::Error(_)) {
            self.done = true;
        }
        Some(out)
    }

    async fn step(&mut self) -> Out {
        let Some(run) = self.run.as_mut() else {
            return Out::Stop;
        };
        loop {
            let ev = if self.calls.is_empty() {
                tokio::select! {
                    ev = run.next() => ev,
                    () = self.shutdown.cancelled() => return Out::Error(stopping()),
                }
            } else {
                tokio::select! {
                    ev = run.next() => ev,
                    () = tokio::time::sleep(TOOL_GATHER_WINDOW) => {
                        return Out::ToolCalls(std::mem::take(&mut self.calls));
                    }
                    () = self.shutdown.cancelled() => return Out::Error(stopping()),
                }
            };
            match ev {
                Some(Ok(ChatEvent::Text(t))) if !t.is_empty() => return Out::Content(t),
                Some(Ok(ChatEvent::Thinking(t))) if !t.is_empty() => return Out::Reasoning(t),
                Some(Ok(ChatEvent::ToolCall(c))) => self.calls.push(c),
                Some(Ok(ChatEvent::TurnEnded)) | None if !self.calls.is_empty() => {
                    // Calls without a chance to answer them: still hand them out, but
                    // the run is over, so nothing will be parked.
                    self.run = None;
                    return Out::ToolCalls(std::mem::take(&mut self.calls));
                }
                Some(Ok(ChatEvent::TurnEnded)) | None => return Out::Stop,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Out::Error(e.into()),
            }
        }
    }

    /// The run to park after a `ToolCalls` step (`None` when it has ended).
    fn take_run(&mut self) -> Option<ChatRun> {
        self.run.take().filter(|r| !r.handle().is_finished())
    }
}

fn stopping() -> ApiError {
    ApiError {
        status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
        message: "Cursor Bridge is stopping; retry in a moment".into(),
        kind: "server_error",
        code: Some("proxy_stopping"),
        param: None,
        retry_after: None,
    }
}

/// What is logged about a request when it ends (however it ends).
struct Outcome {
    ledger: Option<Ledger>,
    started_at_ms: i64,
    started: Instant,
    model: String,
    stream: bool,
    continued: bool,
    ttft: Option<Duration>,
    status: u16,
    error: Option<&'static str>,
    tool_calls: u32,
    usage: Option<UsageOut>,
    finished: bool,
    history: Option<&'static str>,
}

impl Outcome {
    fn new(ledger: Option<Ledger>, model: &str, stream: bool) -> Self {
        Outcome {
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

    fn first_output(&mut self) {
        if self.ttft.is_none() {
            self.ttft = Some(self.started.elapsed());
        }
    }

    fn set_result(&mut self, tool_calls: usize, usage: UsageOut) {
        self.tool_calls = tool_calls as u32;
        self.usage = Some(usage);
    }

    fn done(&mut self) {
        self.finished = true;
    }

    fn fail(&mut self, e: &ApiError) {
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
            "chat completion"
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
            });
        }
    }
}

/// A run ready to stream, plus what the response needs to know about it.
struct Prepared {
    run: ChatRun,
    meta: Meta,
}

struct Meta {
    model: String,
    /// What the earlier responses of this run reported (continuations; zero otherwise).
    reported: UsageOut,
    /// Rough prompt size when Cursor sends no checkpoint (≈ 4 characters per token).
    prompt_estimate: u64,
    continued: bool,
    /// The conversation's blobs, parked with the run (they count towards its size).
    blobs: BlobStore,
    /// Which way the history travelled (`None` for a continued run).
    history: Option<&'static str>,
    /// The request's messages: with the answer, the key its checkpoint is kept under.
    messages: Vec<Msg>,
    conversation_id: String,
}

/// The handler of `POST /v1/chat/completions` (and `/chat/completions`): parses the body,
/// continues a parked run or starts a fresh one, and answers SSE or one JSON object as the
/// request's `stream` asks.
pub(crate) async fn handle(
    State(state): State<Arc<ProxyState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Refused bodies are recorded too (model "-"): they show up in the error chart.
    let mut outcome = Outcome::new(state.ledger.clone(), "-", false);
    let parsed = match body {
        Ok(b) => ChatCompletionRequest::parse(&b).map_err(|e| {
            if e.malformed {
                ApiError::malformed(e.message)
            } else {
                ApiError::invalid(e.param, e.message)
            }
        }),
        Err(e) => Err(reject_body(&state, e)),
    };
    let req = match parsed {
        Ok(r) => r,
        Err(e) => {
            outcome.fail(&e);
            outcome.done();
            return e.into_response();
        }
    };
    let requested = req
        .model
        .clone()
        .unwrap_or_else(|| state.settings.default_model.clone());
    outcome.model = requested.clone();
    outcome.stream = req.is_stream();
    let prepared = match prepare(&state, &req, &requested).await {
        Ok(p) => p,
        Err(e) => {
            outcome.fail(&e);
            outcome.finished = true;
            return e.into_response();
        }
    };
    outcome.continued = prepared.meta.continued;
    outcome.history = prepared.meta.history;
    if req.is_stream() {
        stream_response(state, prepared, req.include_usage(), outcome).await
    } else {
        plain_response(state, prepared, outcome).await
    }
}

fn reject_body(state: &ProxyState, e: BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(state.settings.max_body_bytes)
    } else {
        ApiError::malformed(format!("cannot read the request body: {e}"))
    }
}

/// Continues a parked run when the request answers its tool calls; otherwise starts a
/// fresh one.
async fn prepare(
    state: &ProxyState,
    req: &ChatCompletionRequest,
    requested: &str,
) -> Result<Prepared, ApiError> {
    let results = translate::trailing_tool_results(req);
    if !results.is_empty() {
        let ids: Vec<String> = results.iter().map(|(id, _)| id.clone()).collect();
        if let Some(parked) = state.sessions.take(&ids) {
            match resume(parked, &results, req).await {
                Ok(p) => return Ok(p),
                Err(e) => tracing::info!(
                    "the parked Cursor stream could not take the tool results ({e}); \
                     starting a fresh run from the history"
                ),
            }
        }
    }
    fresh(state, req, requested).await
}

async fn resume(
    parked: Parked,
    results: &[(String, ToolResult)],
    req: &ChatCompletionRequest,
) -> Result<Prepared, CursorError> {
    let handle = parked.run.handle();
    if handle.is_finished() {
        return Err(CursorError::Protocol("the parked run has ended".into()));
    }
    let mut prompt_chars = 0;
    for id in handle.pending_tool_calls() {
        let result = results
            .iter()
            .find(|(rid, _)| *rid == id)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| ToolResult {
                content: "No result was supplied for this tool call.".into(),
                is_error: true,
            });
        prompt_chars += result.content.len();
        handle.send_tool_result(&id, result).await?;
    }
    Ok(Prepared {
        run: parked.run,
        meta: Meta {
            model: parked.model,
            reported: parked.reported,
            prompt_estimate: (prompt_chars / 4) as u64,
            continued: true,
            blobs: parked.blobs,
            history: None,
            messages: openai_history::messages(req),
            conversation_id: parked.conversation_id,
        },
    })
}

async fn fresh(
    state: &ProxyState,
    req: &ChatCompletionRequest,
    requested: &str,
) -> Result<Prepared, ApiError> {
    let (wire_id, supports_images) = resolve_model(state, requested).await?;
    let images =
        translate::newest_user_images(req).map_err(|e| ApiError::invalid(e.param, e.message))?;
    // Unknown support (`None`, e.g. `auto`) goes through: Cursor decides. A known "no"
    // is refused here rather than the images being dropped without a word.
    if let Some(first) = images.first()
        && supports_images == Some(false)
    {
        return Err(ApiError::images_not_supported(requested, &first.param));
    }
    let tools = translate::tool_defs(req);
    let system_prompt = translate::system_prompt(req, &tools);
    let images: Vec<_> = images.into_iter().map(|a| a.image).collect();
    let messages = openai_history::messages(req);
    let base = |user_text: &str| {
        let mut chat = ChatRequest::new(wire_id.clone(), user_text);
        chat.system_prompt = system_prompt.clone();
        chat.tools = tools.clone();
        chat.images = images.clone();
        chat
    };
    let system_chars = system_prompt.as_ref().map_or(0, String::len);
    // Takes the messages: each way returns right after, so they are moved, not copied.
    let prepared = |run, chat: &ChatRequest, history, blob_chars: usize, messages| Prepared {
        run,
        meta: Meta {
            model: requested.to_string(),
            reported: UsageOut::default(),
            prompt_estimate: (chat.user_text.len() + system_chars + blob_chars) as u64 / 4,
            continued: false,
            blobs: chat.blobs.clone(),
            history: Some(history),
            messages,
            conversation_id: chat.conversation_id.clone(),
        },
    };

    // 1. Cursor's own checkpoint of the turn before this one.
    let (earlier, newest) = history::split_newest_user(&messages);
    if let Some(newest) = newest
        && let Some(stored) = state.conversations.get(&history::prefix_key(earlier))
    {
        let mut chat = base(newest);
        chat.conversation_state = Some(stored.checkpoint);
        chat.blobs = stored.blobs;
        chat.conversation_id = stored.conversation_id;
        if let Some(run) = start(state, &chat).await? {
            let blob_chars = chat.blobs.total_bytes();
            return Ok(prepared(run, &chat, "checkpoint", blob_chars, messages));
        }
        tracing::info!("Cursor is missing a blob of the kept checkpoint; rebuilding the history");
    }

    // 2. The history as message blobs.
    let structured = history::build(&messages);
    let mut chat = base(&structured.user_text);
    chat.conversation_state = Some(structured.state.clone());
    structured.fill(&chat.blobs);
    if let Some(run) = start(state, &chat).await? {
        return Ok(prepared(
            run,
            &chat,
            "structured",
            structured.blob_bytes(),
            messages,
        ));
    }
    tracing::warn!("Cursor is missing a blob of the rebuilt history; sending it as text");

    // 3. The last resort: one transcript text.
    let chat = base(&translate::transcript(req));
    match start(state, &chat).await? {
        Some(run) => Ok(prepared(run, &chat, "flattened", 0, messages)),
        None => Err(CursorError::Protocol(
            "Cursor reports a missing blob for a run that names none".into(),
        )
        .into()),
    }
}

/// Starts `chat` (with the retry policy); `None` when the service reports that a blob
/// of its `conversation_state` is missing, so the caller can try the next way.
async fn start(state: &ProxyState, chat: &ChatRequest) -> Result<Option<ChatRun>, ApiError> {
    // Retried only here, before the response has started: nothing reached the client.
    let started = tokio::select! {
        r = state.client.chat_with_retry(chat.clone(), state.settings.retry_policy()) => r,
        () = state.shutdown.cancelled() => return Err(stopping()),
    };
    let mut run = match started {
        Err(e) if e.is_missing_blob() => return Ok(None),
        r => r?,
    };
    if chat.conversation_state.is_some() {
        // The service fetches the state's blobs before it answers anything, so a missing
        // one shows as the run's first item.
        let first = tokio::select! {
            f = run.peek() => f,
            () = state.shutdown.cancelled() => return Err(stopping()),
        };
        if matches!(first, Some(Err(e)) if e.is_missing_blob()) {
            return Ok(None);
        }
    }
    Ok(Some(run))
}

/// Keeps the checkpoint of a turn that ended (no tool call pending) for the next turn:
/// under the key of the request's messages plus the answer `text`.
fn remember(state: &ProxyState, handle: &ChatHandle, m: &mut Meta, text: &str) {
    if m.conversation_id.is_empty() {
        return;
    }
    let Some(checkpoint) = handle.checkpoint() else {
        return;
    };
    // The turn is over: the messages are not needed for anything else.
    let mut answered = std::mem::take(&mut m.messages);
    answered.push(openai_history::answer(text, &[]));
    state.conversations.put(
        history::prefix_key(&answered),
        &Stored {
            checkpoint,
            blobs: m.blobs.clone(),
            conversation_id: m.conversation_id.clone(),
        },
    );
}

/// The wire id for what the client asked, and whether that model takes images; `auto`
/// is Cursor's own routing.
async fn resolve_model(
    state: &ProxyState,
    requested: &str,
) -> Result<(String, Option<bool>), ApiError> {
    let models = state.client.models().await?;
    if let Some(m) = crate::cursor::models::resolve(&models, requested) {
        return Ok((m.wire_id.clone(), m.supports_images));
    }
    if crate::cursor::models::is_auto(requested) {
        return Ok((AUTO_WIRE_ID.to_string(), None));
    }
    let all = crate::cursor::models::with_auto(&models);
    let ids: Vec<&str> = all.iter().map(|m| m.id.as_str()).collect();
    Err(ApiError::unknown_model(requested, &ids))
}

/// What this response reports (the rule is in the module doc).
fn usage_of(state: &ProxyState, handle: &ChatHandle, m: &Meta) -> UsageOut {
    use std::sync::atomic::Ordering::Relaxed;
    let input_includes_cache = state.settings.cursor_input_includes_cache;
    let u = handle.usage();
    let before = &m.reported;
    let Some(t) = u.turn else {
        let completion_tokens = u.completion_tokens.saturating_sub(before.completion_tokens);
        if state.cursor_counts_turns.load(Relaxed) {
            // The turn's count will come with its last response: the prompt goes there.
            return UsageOut {
                completion_tokens,
                prompt_deferred: true,
                ..UsageOut::default()
            };
        }
        return UsageOut {
            prompt_tokens: u.prompt_tokens().unwrap_or(m.prompt_estimate),
            completion_tokens,
            ..UsageOut::default()
        };
    };
    state.cursor_counts_turns.store(true, Relaxed);
    let rest = |total: u64, reported: Option<u64>| total.saturating_sub(reported.unwrap_or(0));
    let prompt = t
        .prompt_tokens(input_includes_cache)
        .saturating_sub(before.prompt_tokens);
    let completion = t.output_tokens.saturating_sub(before.completion_tokens);
    UsageOut {
        prompt_tokens: prompt,
        completion_tokens: completion,
        // Parts of the two totals above, so never more than they are.
        cached_tokens: Some(rest(t.cache_read_tokens, before.cached_tokens).min(prompt)),
        cache_write_tokens: Some(rest(t.cache_write_tokens, before.cache_write_tokens)),
        reasoning_tokens: Some(rest(t.reasoning_tokens, before.reasoning_tokens).min(completion)),
        exact: true,
        prompt_deferred: false,
    }
}

/// Parks the run after a `tool_calls` response that reported `usage`.
fn park(state: &ProxyState, driver: &mut Driver, m: &Meta, calls: &[ToolCall], usage: &UsageOut) {
    if let Some(run) = driver.take_run() {
        state.sessions.park(
            Parked::new(
                run,
                calls,
                m.model.clone(),
                m.reported.plus(usage),
                m.blobs.clone(),
            )
            .in_conversation(m.conversation_id.clone()),
        );
    }
}

async fn plain_response(state: Arc<ProxyState>, p: Prepared, mut outcome: Outcome) -> Response {
    let Prepared { run, mut meta } = p;
    let writer = ChunkWriter::new(&meta.model);
    let mut driver = Driver::new(run, state.shutdown.clone());
    let (mut content, mut reasoning) = (String::new(), String::new());
    let mut calls = Vec::new();
    let mut finish = "stop";
    while let Some(out) = driver.next().await {
        outcome.first_output();
        match out {
            Out::Content(t) => content.push_str(&t),
            Out::Reasoning(t) => reasoning.push_str(&t),
            Out::ToolCalls(c) => {
                calls = c;
                finish = "tool_calls";
            }
            Out::Stop => {}
            Out::Error(e) => {
                outcome.fail(&e);
                outcome.finished = true;
                return e.into_response();
            }
        }
    }
    let usage = usage_of(&state, &driver.handle, &meta);
    outcome.usage = Some(usage);
    outcome.tool_calls = calls.len() as u32;
    if calls.is_empty() {
        remember(&state, &driver.handle, &mut meta, &content);
    } else {
        park(&state, &mut driver, &meta, &calls, &usage);
    }
    outcome.finished = true;
    Json(writer.completion(&content, &reasoning, &calls, finish, &usage)).into_response()
}

fn event(data: String) -> Result<Event, Infallible> {
    Ok(Event::default().data(data))
}

async fn stream_response(
    state: Arc<ProxyState>,
    p: Prepared,
    include_usage: bool,
    mut outcome: Outcome,
) -> Response {
    let Prepared { run, mut meta } = p;
    let mut driver = Driver::new(run, state.shutdown.clone());
    // The first output decides the status: an error before any byte is a real HTTP
    // error (429, 503, …) rather than a 200 stream holding an error event.
    let first = driver.next().await;
    if let Some(Out::Error(e)) = first {
        outcome.fail(&e);
        outcome.finished = true;
        return e.into_response();
    }
    let writer = ChunkWriter::new(&meta.model);
    let body = async_stream::stream! {
        let mut pending = first;
        // The answer's text, for the conversation store's key when the turn ends.
        let mut answer = String::new();
        yield event(writer.role());
        loop {
            let out = match pending.take() {
                Some(o) => o,
                None => match driver.next().await {
                    Some(o) => o,
                    None => break,
                },
            };
            outcome.first_output();
            match out {
                Out::Content(t) => {
                    answer.push_str(&t);
                    yield event(writer.content(&t));
                }
                Out::Reasoning(t) => yield event(writer.reasoning(&t)),
                Out::ToolCalls(calls) => {
                    yield event(writer.tool_calls(&calls));
                    yield event(writer.finish("tool_calls"));
                    let usage = usage_of(&state, &driver.handle, &meta);
                    outcome.set_result(calls.len(), usage);
                    if include_usage {
                        yield event(writer.usage(&usage));
                    }
                    park(&state, &mut driver, &meta, &calls, &usage);
                    break;
                }
                Out::Stop => {
                    remember(&state, &driver.handle, &mut meta, &answer);
                    yield event(writer.finish("stop"));
                    let usage = usage_of(&state, &driver.handle, &meta);
                    outcome.set_result(0, usage);
                    if include_usage {
                        yield event(writer.usage(&usage));
                    }
                    break;
                }
                Out::Error(e) => {
                    outcome.fail(&e);
                    yield event(e.body().to_string());
                    break;
                }
            }
        }
        yield event("[DONE]".to_string());
        outcome.done();
    };
    Sse::new(body)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}
