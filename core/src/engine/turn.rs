//! One turn of a conversation, whatever dialect asked for it: a [`Request`] becomes a
//! [`Turn`] that yields [`Event`]s (text, reasoning, the step's tool calls, the end, an
//! error); the dialect writes them in its wire format.
//!
//! A request either **continues a parked Cursor stream** — it ends with tool results for
//! the tool calls of a parked step: the results go onto that stream and its continuation
//! is this response, no new run, no re-sent history — or **starts a fresh run** (the
//! first request of a conversation, or when nothing is parked for those ids: expired,
//! restarted proxy, another client), which rebuilds the conversation from the request.
//!
//! A step that ends with tool calls yields [`Event::ToolCalls`] with every call of the
//! step under ids minted for the client, and parks the run keyed by those ids and the
//! request's conversation prefix ([`super::sessions`]); a continuation must answer all of
//! them under the same prefix, or it starts a fresh run. Calls arriving together are
//! gathered for a short window so one response carries them all.
//!
//! Errors before the first output are for the dialect to answer with their HTTP status
//! (429, 503, …); once a stream has started, an error becomes the dialect's error event.
//! A client that goes away drops the response, which drops the [`Turn`] and its run,
//! which cancels it on Cursor, and the ledger records a 499.
//!
//! **Usage.** Cursor counts a turn exactly and says so when it ends (`TurnEndedUpdate`,
//! reference §9.4); those numbers win. A turn that calls the client's tools spans several
//! responses, and only the one in which the turn ends has Cursor's count: a response
//! ending in tool calls before that reports completion tokens counted so far (exact:
//! Σ `token_delta`) and `prompt_tokens: 0`, its prompt *deferred* to the turn's count (the
//! ledger stores no prompt count for it, so it is not an estimate either); the response
//! in which the turn ends reports Cursor's count minus what the earlier responses of the
//! same run reported, so a turn's responses add up to Cursor's numbers exactly. Until this
//! proxy has seen Cursor count a turn (`Engine::cursor_counts_turns`) a service that
//! never counts is assumed possible: such a tool-call response reports prompt tokens
//! inferred from the checkpoint or estimated from the text instead, marked estimated in
//! the ledger and without cache/reasoning details. Cached tokens are
//! part of `prompt_tokens` (OpenAI's convention; each dialect splits them as its API does); whether Cursor's `input_tokens` already
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

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use super::Engine;
use super::conversations::Stored;
use super::history::{self, Msg};
use super::outcome::Outcome;
use super::request::Request;
use super::sessions::Parked;
use super::usage::Usage;
use crate::cursor::CursorError;
use crate::cursor::blobs::BlobStore;
use crate::cursor::chat::{ChatEvent, ChatHandle, ChatRequest, ChatRun, ToolCall, ToolResult};
use crate::engine::error::ApiError;

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
        recorded_as: None,
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
    reported: Usage,
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

/// Continues a parked run when the request answers its tool calls; otherwise starts a
/// fresh one.
/// The run for `req`: its parked run continued, or a fresh run — which needs one of the
/// engine's `max_concurrent_runs` places, held by the returned permit (refused at once
/// when none is free: a queue could hang a client behind a stuck stream).
async fn prepare(
    engine: &Engine,
    mut req: Request,
    requested: &str,
) -> Result<(Prepared, Option<OwnedSemaphorePermit>), ApiError> {
    let results = req.trailing_tool_results();
    if !results.is_empty() {
        let ids: Vec<String> = results.iter().map(|(id, _)| id.clone()).collect();
        let prefix = history::prefix_key(step_prefix(&req.messages));
        if let Some(parked) = engine.sessions.take(&ids, prefix) {
            match resume(parked, &results, &mut req.messages).await {
                Ok(p) => return Ok((p, None)),
                Err(e) => tracing::info!(
                    "the parked Cursor stream could not take the tool results ({e}); \
                     starting a fresh run from the history"
                ),
            }
        }
    }
    let permit = engine
        .fresh_runs
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::too_many_runs(engine.settings.max_concurrent_runs))?;
    Ok((fresh(engine, req, requested).await?, Some(permit)))
}

/// The messages of the request that produced the step a continuation answers: without
/// the trailing tool results and the assistant message(s) that made the calls.
fn step_prefix(msgs: &[Msg]) -> &[Msg] {
    let mut end = msgs.len();
    while end > 0 && matches!(msgs[end - 1], Msg::Tool { .. }) {
        end -= 1;
    }
    while end > 0 && matches!(msgs[end - 1], Msg::Assistant { .. }) {
        end -= 1;
    }
    &msgs[..end]
}

async fn resume(
    parked: Parked,
    results: &[(String, ToolResult)],
    messages: &mut Vec<Msg>,
) -> Result<Prepared, CursorError> {
    let handle = parked.run.handle();
    if handle.is_finished() {
        return Err(CursorError::Protocol("the parked run has ended".into()));
    }
    let mut prompt_chars = 0;
    for id in handle.pending_tool_calls() {
        // The client answers under the minted ids; Cursor hears its own.
        let result = results
            .iter()
            .find(|(rid, _)| parked.cursor_id(rid) == Some(id.as_str()))
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
            // Taken only once the results are on the stream: a failure above leaves
            // them for the fresh run.
            messages: std::mem::take(messages),
            conversation_id: parked.conversation_id,
        },
    })
}

async fn fresh(engine: &Engine, mut req: Request, requested: &str) -> Result<Prepared, ApiError> {
    let (wire_id, supports_images) = super::models::resolve(engine, requested).await?;
    // Unknown support (`None`, e.g. `auto`) goes through: Cursor decides. A known "no"
    // is refused here rather than the images being dropped without a word.
    if let Some(first) = req.images.first()
        && supports_images == Some(false)
    {
        return Err(ApiError::images_not_supported(requested, &first.param));
    }
    let tools = req.offered_tools();
    let system_prompt = req.system_prompt(&tools);
    let images: Vec<_> = req.images.iter().map(|a| a.image.clone()).collect();
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
            reported: Usage::default(),
            prompt_estimate: (chat.user_text.len() + system_chars + blob_chars) as u64 / 4,
            continued: false,
            blobs: chat.blobs.clone(),
            history: Some(history),
            messages,
            conversation_id: chat.conversation_id.clone(),
        },
    };

    // 1. Cursor's own checkpoint of the turn before this one.
    let (earlier, newest) = history::split_newest_user(&req.messages);
    if let Some(newest) = newest
        && let Some(stored) = engine.conversations.get(&history::prefix_key(earlier))
    {
        let mut chat = base(newest);
        chat.conversation_state = Some(stored.checkpoint);
        chat.blobs = stored.blobs;
        chat.conversation_id = stored.conversation_id;
        if let Some(run) = start(engine, &chat).await? {
            let blob_chars = chat.blobs.total_bytes();
            return Ok(prepared(
                run,
                &chat,
                "checkpoint",
                blob_chars,
                std::mem::take(&mut req.messages),
            ));
        }
        tracing::info!("Cursor is missing a blob of the kept checkpoint; rebuilding the history");
    }

    // 2. The history as message blobs.
    let structured = history::build(&req.messages);
    let mut chat = base(&structured.user_text);
    chat.conversation_state = Some(structured.state.clone());
    structured.fill(&chat.blobs);
    if let Some(run) = start(engine, &chat).await? {
        return Ok(prepared(
            run,
            &chat,
            "structured",
            structured.blob_bytes(),
            std::mem::take(&mut req.messages),
        ));
    }
    tracing::warn!("Cursor is missing a blob of the rebuilt history; sending it as text");

    // 3. The last resort: one transcript text.
    let chat = base(&req.transcript());
    match start(engine, &chat).await? {
        Some(run) => Ok(prepared(
            run,
            &chat,
            "flattened",
            0,
            std::mem::take(&mut req.messages),
        )),
        None => Err(CursorError::Protocol(
            "Cursor reports a missing blob for a run that names none".into(),
        )
        .into()),
    }
}

/// Starts `chat` (with the retry policy); `None` when the service reports that a blob
/// of its `conversation_state` is missing, so the caller can try the next way.
async fn start(engine: &Engine, chat: &ChatRequest) -> Result<Option<ChatRun>, ApiError> {
    // Retried only here, before the response has started: nothing reached the client.
    let started = tokio::select! {
        r = engine.client.chat_with_retry(chat.clone(), engine.settings.retry_policy()) => r,
        () = engine.shutdown.cancelled() => return Err(stopping()),
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
            () = engine.shutdown.cancelled() => return Err(stopping()),
        };
        if matches!(first, Some(Err(e)) if e.is_missing_blob()) {
            return Ok(None);
        }
    }
    Ok(Some(run))
}

/// Keeps the checkpoint of a turn that ended (no tool call pending) for the next turn:
/// under the key of the request's messages plus the answer `text`.
fn remember(engine: &Engine, handle: &ChatHandle, m: &mut Meta, text: &str) {
    if m.conversation_id.is_empty() {
        return;
    }
    let Some(checkpoint) = handle.checkpoint() else {
        return;
    };
    // The turn is over: the messages are not needed for anything else.
    let mut answered = std::mem::take(&mut m.messages);
    answered.push(Msg::Assistant {
        text: text.to_string(),
        calls: Vec::new(),
    });
    engine.conversations.put(
        history::prefix_key(&answered),
        &Stored {
            checkpoint,
            blobs: m.blobs.clone(),
            conversation_id: m.conversation_id.clone(),
        },
    );
}

/// What this response reports (the rule is in the module doc).
fn usage_of(engine: &Engine, handle: &ChatHandle, m: &Meta) -> Usage {
    use std::sync::atomic::Ordering::Relaxed;
    let input_includes_cache = engine.settings.cursor_input_includes_cache;
    let u = handle.usage();
    let before = &m.reported;
    let Some(t) = u.turn else {
        let completion_tokens = u.completion_tokens.saturating_sub(before.completion_tokens);
        if engine.cursor_counts_turns.load(Relaxed) {
            // The turn's count will come with its last response: the prompt goes there.
            return Usage {
                completion_tokens,
                prompt_deferred: true,
                ..Usage::default()
            };
        }
        return Usage {
            prompt_tokens: u.prompt_tokens().unwrap_or(m.prompt_estimate),
            completion_tokens,
            ..Usage::default()
        };
    };
    engine.cursor_counts_turns.store(true, Relaxed);
    let rest = |total: u64, reported: Option<u64>| total.saturating_sub(reported.unwrap_or(0));
    let prompt = t
        .prompt_tokens(input_includes_cache)
        .saturating_sub(before.prompt_tokens);
    let completion = t.output_tokens.saturating_sub(before.completion_tokens);
    Usage {
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

/// Parks the run after a `tool_calls` response that reported `usage`; `calls` carry the
/// minted ids, `cursor_ids` Cursor's.
fn park(
    engine: &Engine,
    driver: &mut Driver,
    m: &Meta,
    calls: &[ToolCall],
    cursor_ids: Vec<String>,
    usage: &Usage,
) {
    if let Some(run) = driver.take_run() {
        engine.sessions.park(
            Parked::new(
                run,
                calls,
                cursor_ids,
                m.model.clone(),
                m.reported.plus(usage),
                m.blobs.clone(),
            )
            .in_conversation(m.conversation_id.clone(), history::prefix_key(&m.messages)),
        );
    }
}

/// What a [`Turn`] yields, in order: any number of [`Event::Reasoning`] and
/// [`Event::Text`], then exactly one of the last three.
#[derive(Debug)]
pub enum Event {
    /// Reasoning (thinking) text.
    Reasoning(String),
    /// Answer text.
    Text(String),
    /// Every tool call of the step; the run is parked under their ids, and the client's
    /// next request with their results continues it. The response ends here.
    ToolCalls {
        /// The calls, in the order the model made them.
        calls: Vec<ToolCall>,
        /// What this response reports.
        usage: Usage,
    },
    /// The turn is over (its checkpoint is kept for the conversation's next turn).
    End {
        /// What this response reports.
        usage: Usage,
    },
    /// The turn failed; the dialect answers its error (a status before the first output,
    /// an error event after).
    Error(ApiError),
}

/// One response's worth of a Cursor run: a continued parked run or a fresh one. Dropping
/// it before its last event cancels the run and records the request as abandoned.
pub struct Turn {
    engine: Arc<Engine>,
    driver: Driver,
    meta: Meta,
    outcome: Outcome,
    /// The answer text so far: with the request's messages, the key the turn's checkpoint
    /// is kept under.
    answer: String,
    /// A fresh run's place among `max_concurrent_runs`, freed when the response ends
    /// (also when the run is parked: parked runs are bounded on their own).
    _place: Option<OwnedSemaphorePermit>,
}

impl Drop for Turn {
    /// A request was served: the guard's view of Cursor's plan usage may be due for a
    /// refresh. After the request, not before: its own Cursor calls (a client version
    /// Cursor refused, a token refresh) are settled by then.
    fn drop(&mut self) {
        self.engine.refresh_plan_soon();
    }
}

impl std::fmt::Debug for Turn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turn")
            .field("model", &self.meta.model)
            .field("continued", &self.meta.continued)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Continues the parked run `req` answers, or starts a fresh one. An error is
    /// recorded in the ledger before it is returned.
    pub async fn turn(self: &Arc<Self>, req: Request) -> Result<Turn, ApiError> {
        let requested = req
            .model
            .clone()
            .unwrap_or_else(|| self.settings.default_model.clone());
        let mut outcome = Outcome::new(self.ledger.clone(), req.dialect, &requested, req.stream);
        outcome.set_client(req.client.clone());
        if let Err(e) = self.guard.admit(&self.guard_rules()) {
            outcome.fail(&e);
            outcome.done();
            return Err(e);
        }
        match prepare(self, req, &requested).await {
            Ok((Prepared { run, meta }, permit)) => {
                outcome.continued = meta.continued;
                outcome.history = meta.history;
                Ok(Turn {
                    engine: self.clone(),
                    driver: Driver::new(run, self.shutdown.clone()),
                    meta,
                    outcome,
                    answer: String::new(),
                    _place: permit,
                })
            }
            Err(e) => {
                outcome.fail(&e);
                outcome.done();
                Err(e)
            }
        }
    }

    /// Records a request the dialect refused before it became a [`Request`] (a body that
    /// is not JSON, a bad field): it shows in the error chart, with model `-`, under the
    /// client that sent it.
    pub fn refused(&self, dialect: super::request::Dialect, client: Option<String>, e: &ApiError) {
        let mut outcome = Outcome::new(self.ledger.clone(), dialect, "-", false);
        outcome.set_client(client);
        outcome.fail(e);
        outcome.done();
    }
}

impl Engine {
    /// The guard's rules, as this engine's settings give them.
    pub fn guard_rules(&self) -> super::guard::GuardRules {
        super::guard::GuardRules::of(&self.settings)
    }
}

impl Turn {
    /// The model name as the client asked for it (echoed in responses).
    pub fn model(&self) -> &str {
        &self.meta.model
    }

    /// True when this turn continues a parked run.
    pub fn continued(&self) -> bool {
        self.meta.continued
    }

    /// The next event; `None` after the last one.
    pub async fn next(&mut self) -> Option<Event> {
        let out = self.driver.next().await?;
        let engine = &self.engine;
        let ev = match out {
            Out::Content(t) => {
                self.answer.push_str(&t);
                Event::Text(t)
            }
            Out::Reasoning(t) => Event::Reasoning(t),
            Out::ToolCalls(mut calls) => {
                let rules = engine.guard_rules();
                if let Err(e) = engine.guard.check_step(&rules, &self.meta.messages, &calls) {
                    // The calls never reach the client; dropping the run cancels it.
                    drop(self.driver.take_run());
                    self.outcome.fail(&e);
                    self.outcome.done();
                    return Some(Event::Error(e));
                }
                let usage = usage_of(engine, &self.driver.handle, &self.meta);
                engine
                    .guard
                    .add_tokens(usage.prompt_tokens + usage.completion_tokens);
                self.outcome.set_result(calls.len(), usage);
                // The client never sees Cursor's ids (see `sessions`).
                let cursor_ids = calls
                    .iter_mut()
                    .map(|c| std::mem::replace(&mut c.call_id, super::sessions::mint_call_id()))
                    .collect();
                park(
                    engine,
                    &mut self.driver,
                    &self.meta,
                    &calls,
                    cursor_ids,
                    &usage,
                );
                self.outcome.done();
                Event::ToolCalls { calls, usage }
            }
            Out::Stop => {
                remember(engine, &self.driver.handle, &mut self.meta, &self.answer);
                let usage = usage_of(engine, &self.driver.handle, &self.meta);
                engine
                    .guard
                    .add_tokens(usage.prompt_tokens + usage.completion_tokens);
                self.outcome.set_result(0, usage);
                self.outcome.done();
                Event::End { usage }
            }
            Out::Error(e) => {
                self.outcome.fail(&e);
                self.outcome.done();
                return Some(Event::Error(e));
            }
        };
        // An error is not a first token.
        self.outcome.first_output();
        Some(ev)
    }
}
