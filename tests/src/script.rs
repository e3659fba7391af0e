//! What a `Run` plays: a [`Turn`] is an ordered list of [`Step`]s, declared in the test.
//!
//! Steps that *ask* the client something (KV, exec, interaction query) make the fake wait
//! for the matching reply before it moves on, exactly as Cursor's backend stalls until the
//! client answers (reference §3.6, §6.4 "Unanswered server requests stall the turn").

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_core::pb::aiserver_v1::error_details::Error as ErrorKind;
use sha2::{Digest, Sha256};

/// The blob id Cursor uses for `data`: its SHA-256 (32 raw bytes, reference §3.7).
pub fn blob_id(data: &[u8]) -> Vec<u8> {
    Sha256::digest(data).to_vec()
}

/// One action of the fake during a run.
#[derive(Debug, Clone)]
pub enum Step {
    /// `interaction_update.text_delta`.
    Text(String),
    /// `interaction_update.thinking_delta`.
    Thinking(String),
    /// `interaction_update.thinking_completed` with the duration in milliseconds.
    ThinkingCompleted(i32),
    /// `interaction_update.token_delta` (a count of output tokens, not text).
    TokenDelta(i32),
    /// `interaction_update.heartbeat`.
    Heartbeat,
    /// One `interaction_update` with every field given set: the service may combine
    /// updates, e.g. `text_delta` and `token_delta` (reference §9.3).
    Update(pb::InteractionUpdate),
    /// A data frame holding these bytes as the `AgentServerMessage` (unknown variants and
    /// fields, shapes our schema does not declare); the run goes on.
    RawMessage(Bytes),
    /// A native read the way the service shows it: `tool_call_started` with its
    /// `ReadToolArgs` (offset/limit), the `read_args` exec with the same tool call id
    /// (waits for its typed result, like [`Step::NativeExec`]), then `tool_call_completed`
    /// with a `ReadToolSuccess` carrying `total_lines` and `file_size` (reference §9.1).
    AnnouncedRead(ReadCall),
    /// `interaction_update.step_started`.
    StepStarted(u64),
    /// `interaction_update.step_completed`.
    StepCompleted { step_id: u64, duration_ms: i64 },
    /// `kv_server_message.set_blob_args` with `blob_id = sha256(data)`; waits for the
    /// matching `set_blob_result`. The blob joins the fake's own view ([`crate::FakeCursor::blobs`])
    /// and the `turns` of later checkpoints in this run.
    KvSet(Bytes),
    /// `kv_server_message.get_blob_args`; waits for `get_blob_result` and records what the
    /// client served in [`crate::RecordedRun::kv_get_results`].
    KvGet(Vec<u8>),
    /// `exec_server_message.request_context_args`; waits for `request_context_result` and
    /// `stream_close`, records the context in [`crate::RecordedRun::request_contexts`].
    RequestContext,
    /// `exec_server_message.mcp_args`; waits (the long timeout: the client may first hand
    /// the call to its own caller) for `mcp_result` + `stream_close`.
    McpCall(McpCall),
    /// Several `mcp_args` execs sent back to back (the model called tools in parallel);
    /// waits for every reply, in any order. Results are recorded in call order.
    ParallelMcpCalls(Vec<McpCall>),
    /// A native tool exec (its `tool_call_id` is `toolu_fake_<exec id>`); waits for the typed
    /// result(s) + `stream_close`, or a `throw` — with the short reply timeout, even when the
    /// client hands it to its caller as a redirected tool call.
    NativeExec(NativeExec),
    /// An `exec_server_message` carrying only `id`/`exec_id` plus an unknown field number
    /// (a tool the client's schema does not know, e.g. 27 execute_hook); waits for the
    /// reply for that id, whose result must sit at the same field number (reference §9.7;
    /// a `throw` is taken too, as the service may).
    UnknownExec {
        /// The unknown field number (default 99 via [`Turn::unknown_exec`]).
        field: u32,
    },
    /// `interaction_query`; waits for the `interaction_response` with the same id.
    InteractionQuery(Query),
    /// `conversation_checkpoint_update`: a serialized `ConversationStateStructure` whose
    /// `turns` are the prior state's turns plus every blob set in this run, and whose
    /// `root_prompt_messages_json` are the prior state's messages plus this run's (the
    /// user's text, the assistant's text and tool calls, the tool results), each first
    /// stored in the client's blob store with a `set_blob_args` the client must answer,
    /// as the service persists a conversation (reference §3.7, §9.5).
    Checkpoint { used_tokens: u32, max_tokens: u32 },
    /// `interaction_update.turn_ended` without usage (an older service, or one that
    /// counted nothing).
    TurnEnded,
    /// `interaction_update.turn_ended` carrying the turn's usage, as the live service
    /// sends it (reference §9.4).
    TurnEndedUsage(TurnUsage),
    /// Any server message, as given (escape hatch).
    Send(pb::AgentServerMessage),
    /// End-of-stream frame `{}` (success), then close.
    EndOk,
    /// End-of-stream frame carrying a Connect error, then close.
    EndError(EndError),
    /// Close the response body cleanly but without an end-of-stream frame
    /// ("missing EndStreamResponse").
    Drop,
    /// Abort the response with a transport error (HTTP/2 `RST_STREAM`; on HTTP/1.1 the
    /// connection is cut mid-chunk). The client's HTTP/2 stack may discard frames it had
    /// buffered but not yet handed over; put a short `Sleep` first if the test needs them.
    Reset,
    /// Write bytes that are not a valid frame, then close.
    Malformed(Malformed),
    /// Pause (a slow stream). Ends early if the client goes away.
    Sleep(Duration),
    /// Send `heartbeat` every `interval` for `total`.
    HeartbeatsFor { total: Duration, interval: Duration },
    /// Wait (long timeout) until the client sends `conversation_action.cancel_action` or
    /// closes its side; [`crate::RecordedRun::cancelled`] says which.
    WaitForCancel,
    /// A runaway agent: the model makes a tool call, and after every result the next one,
    /// on the same run, forever — until the client goes away (a cancel, its stream closed
    /// or reset), which [`crate::RecordedRun::cancelled`] records.
    ToolLoop(ToolLoop),
}

/// What a [`Step::ToolLoop`] repeats.
#[derive(Debug, Clone)]
pub struct ToolLoop {
    /// The call; the `n`th (from 1) has `tool_call_id` `<its id>_<n>`, as the service gives
    /// every call an id of its own.
    pub call: McpCall,
    /// Streamed before each call (a model that says something each time).
    pub text: Option<String>,
    /// Each call's arguments also carry `"step": n` (an agent busy with varied calls);
    /// otherwise they are identical every time.
    pub vary: bool,
}

impl ToolLoop {
    /// The same call with the same arguments, forever.
    pub fn same(call: McpCall) -> Self {
        Self {
            call,
            text: None,
            vary: false,
        }
    }

    /// Streams `text` before each call.
    pub fn saying(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Varies the arguments (`"step": n`).
    pub fn varied(mut self) -> Self {
        self.vary = true;
        self
    }

    /// The `n`th call (from 1).
    pub(crate) fn nth(&self, n: u64) -> McpCall {
        let mut call = self.call.clone();
        call.tool_call_id = format!("{}_{n}", self.call.tool_call_id);
        if self.vary
            && let Some(o) = call.args.as_object_mut()
        {
            o.insert("step".into(), n.into());
        }
        call
    }
}

/// The usage a `turn_ended` carries (reference §9.4): Cursor's count for the whole turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnUsage {
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub reasoning_tokens: i64,
}

impl TurnUsage {
    /// The wire message.
    pub fn update(&self) -> pb::TurnEndedUpdate {
        pb::TurnEndedUpdate {
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens,
        }
    }
}

/// An MCP tool call the model "makes".
#[derive(Debug, Clone)]
pub struct McpCall {
    /// The unique name the model sees (e.g. `cursor-tools-get_weather`).
    pub name: String,
    /// The caller's tool name (e.g. `get_weather`).
    pub tool_name: String,
    pub tool_call_id: String,
    /// The arguments; must be a JSON object (each member becomes a `google.protobuf.Value`).
    pub args: serde_json::Value,
    /// `provider_identifier`, default `cursor-tools`.
    pub provider_identifier: String,
    /// Precede the exec with `tool_call_started` and follow the reply with
    /// `tool_call_completed` (display-only updates, as the real server sends).
    pub announce: bool,
}

impl McpCall {
    pub fn new(
        name: impl Into<String>,
        tool_name: impl Into<String>,
        tool_call_id: impl Into<String>,
        args: serde_json::Value,
    ) -> Self {
        Self {
            name: name.into(),
            tool_name: tool_name.into(),
            tool_call_id: tool_call_id.into(),
            args,
            provider_identifier: "cursor-tools".into(),
            announce: false,
        }
    }

    /// Also send `tool_call_started` / `tool_call_completed`.
    pub fn announce(mut self) -> Self {
        self.announce = true;
        self
    }

    /// Sets `provider_identifier`.
    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        self.provider_identifier = provider.into();
        self
    }
}

/// A native read for [`Step::AnnouncedRead`].
#[derive(Debug, Clone)]
pub struct ReadCall {
    pub tool_call_id: String,
    pub path: String,
    pub offset: Option<i32>,
    pub limit: Option<i32>,
}

impl ReadCall {
    /// The display-only `ToolCall` of this read; `content` set → completed with it.
    pub fn tool_call(&self, content: Option<&str>) -> pb::ToolCall {
        read_tool_call(&self.path, self.offset, self.limit, content)
    }
}

/// A display-only read `ToolCall` (reference §9.1): `ReadToolArgs`, and with `content` a
/// `ReadToolSuccess{content, total_lines, file_size}` — `file_size` a varint at field 5.
pub fn read_tool_call(
    path: &str,
    offset: Option<i32>,
    limit: Option<i32>,
    content: Option<&str>,
) -> pb::ToolCall {
    pb::ToolCall {
        tool: Some(pb::tool_call::Tool::Read(pb::ReadToolCall {
            args: Some(pb::ReadToolArgs {
                path: path.into(),
                offset,
                limit,
            }),
            result: content.map(|c| pb::ReadToolResult {
                result: Some(pb::read_tool_result::Result::Success(pb::ReadToolSuccess {
                    output: Some(pb::read_tool_success::Output::Content(c.into())),
                    total_lines: c.lines().count() as u32,
                    file_size: c.len() as u32,
                    path: path.into(),
                    ..Default::default()
                })),
            }),
        })),
    }
}

/// Raw protobuf for scripts that send what our schema does not declare.
pub mod wire {
    use prost::encoding::{WireType, encode_key, encode_varint};

    /// A length-delimited field.
    pub fn ld(field: u32, body: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        encode_key(field, WireType::LengthDelimited, &mut b);
        encode_varint(body.len() as u64, &mut b);
        b.extend_from_slice(body);
        b
    }

    /// A varint field.
    pub fn varint(field: u32, v: u64) -> Vec<u8> {
        let mut b = Vec::new();
        encode_key(field, WireType::Varint, &mut b);
        encode_varint(v, &mut b);
        b
    }
}

/// The native execs the fake can ask for (reference §3.6 table).
#[derive(Debug, Clone)]
pub enum NativeExec {
    Shell {
        command: String,
        working_directory: String,
    },
    /// `shell_stream_args`: the client may answer with many `ShellStream` events.
    ShellStream {
        command: String,
        working_directory: String,
    },
    Read {
        path: String,
    },
    Write {
        path: String,
        text: String,
    },
    Delete {
        path: String,
    },
    Ls {
        path: String,
    },
    Grep {
        pattern: String,
        path: Option<String>,
    },
    Fetch {
        url: String,
    },
    BackgroundShell {
        command: String,
        working_directory: String,
    },
    Diagnostics {
        path: String,
    },
    WriteShellStdin,
    /// `subagent_args` (28, reference §9.7).
    Subagent,
    /// `mcp_state_exec_args` (36, reference §9.7).
    McpState,
}

impl NativeExec {
    /// A short name used in records and timeout messages (`shell`, `read`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            NativeExec::Shell { .. } => "shell",
            NativeExec::ShellStream { .. } => "shell_stream",
            NativeExec::Read { .. } => "read",
            NativeExec::Write { .. } => "write",
            NativeExec::Delete { .. } => "delete",
            NativeExec::Ls { .. } => "ls",
            NativeExec::Grep { .. } => "grep",
            NativeExec::Fetch { .. } => "fetch",
            NativeExec::BackgroundShell { .. } => "background_shell",
            NativeExec::Diagnostics { .. } => "diagnostics",
            NativeExec::WriteShellStdin => "write_shell_stdin",
            NativeExec::Subagent => "subagent",
            NativeExec::McpState => "mcp_state",
        }
    }

    /// The `exec_server_message` variant for this exec.
    pub(crate) fn to_pb(&self, tool_call_id: &str) -> pb::exec_server_message::Message {
        use pb::exec_server_message::Message as M;
        let tc = tool_call_id.to_string();
        match self.clone() {
            NativeExec::Shell {
                command,
                working_directory,
            } => M::ShellArgs(pb::ShellArgs {
                command,
                working_directory,
                tool_call_id: tc,
                ..Default::default()
            }),
            NativeExec::ShellStream {
                command,
                working_directory,
            } => M::ShellStreamArgs(pb::ShellArgs {
                command,
                working_directory,
                tool_call_id: tc,
                ..Default::default()
            }),
            NativeExec::Read { path } => M::ReadArgs(pb::ReadArgs {
                path,
                tool_call_id: tc,
            }),
            NativeExec::Write { path, text } => M::WriteArgs(pb::WriteArgs {
                path,
                file_text: text,
                tool_call_id: tc,
                ..Default::default()
            }),
            NativeExec::Delete { path } => M::DeleteArgs(pb::DeleteArgs {
                path,
                tool_call_id: tc,
            }),
            NativeExec::Ls { path } => M::LsArgs(pb::LsArgs {
                path,
                tool_call_id: tc,
                ..Default::default()
            }),
            NativeExec::Grep { pattern, path } => M::GrepArgs(pb::GrepArgs {
                pattern,
                path,
                tool_call_id: tc,
                ..Default::default()
            }),
            NativeExec::Fetch { url } => M::FetchArgs(pb::FetchArgs {
                url,
                tool_call_id: tc,
            }),
            NativeExec::BackgroundShell {
                command,
                working_directory,
            } => M::BackgroundShellSpawnArgs(pb::BackgroundShellSpawnArgs {
                command,
                working_directory,
                tool_call_id: tc,
            }),
            NativeExec::Diagnostics { path } => M::DiagnosticsArgs(pb::DiagnosticsArgs {
                path,
                tool_call_id: tc,
            }),
            NativeExec::WriteShellStdin => M::WriteShellStdinArgs(pb::WriteShellStdinArgs {}),
            NativeExec::Subagent => M::SubagentArgs(pb::SubagentArgs {}),
            NativeExec::McpState => M::McpStateExecArgs(pb::McpStateExecArgs {}),
        }
    }
}

/// Interaction queries (reference §3.6 `InteractionQuery`).
#[derive(Debug, Clone)]
pub enum Query {
    WebSearch {
        search_term: String,
        tool_call_id: String,
    },
    AskQuestion,
    SwitchMode,
    ExaSearch,
    ExaFetch,
    CreatePlan,
}

impl Query {
    /// A short name used in records and timeout messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Query::WebSearch { .. } => "web_search",
            Query::AskQuestion => "ask_question",
            Query::SwitchMode => "switch_mode",
            Query::ExaSearch => "exa_search",
            Query::ExaFetch => "exa_fetch",
            Query::CreatePlan => "create_plan",
        }
    }

    pub(crate) fn to_pb(&self) -> pb::interaction_query::Query {
        use pb::interaction_query::Query as Q;
        match self.clone() {
            Query::WebSearch {
                search_term,
                tool_call_id,
            } => Q::WebSearchRequestQuery(pb::WebSearchRequestQuery {
                args: Some(pb::web_search_request_query::Args {
                    search_term,
                    tool_call_id,
                }),
            }),
            Query::AskQuestion => Q::AskQuestionInteractionQuery(pb::EmptyQuery {}),
            Query::SwitchMode => Q::SwitchModeRequestQuery(pb::EmptyQuery {}),
            Query::ExaSearch => Q::ExaSearchRequestQuery(pb::EmptyQuery {}),
            Query::ExaFetch => Q::ExaFetchRequestQuery(pb::EmptyQuery {}),
            Query::CreatePlan => Q::CreatePlanRequestQuery(pb::EmptyQuery {}),
        }
    }
}

/// A Connect error to end the stream with.
#[derive(Debug, Clone)]
pub struct EndError {
    /// snake_case Connect code, e.g. `resource_exhausted`.
    pub code: String,
    pub message: String,
    /// Becomes one `aiserver.v1.ErrorDetails` entry in `details`.
    pub detail: Option<ErrorDetail>,
    /// Gzip the end frame (flags `0x03`).
    pub gzip: bool,
}

/// The content of an `aiserver.v1.ErrorDetails`.
#[derive(Debug, Clone)]
pub struct ErrorDetail {
    pub kind: ErrorKind,
    pub title: String,
    pub detail: String,
    pub is_retryable: Option<bool>,
}

impl EndError {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            detail: None,
            gzip: false,
        }
    }

    /// Adds an `aiserver.v1.ErrorDetails` detail.
    pub fn detail(
        mut self,
        kind: ErrorKind,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        self.detail = Some(ErrorDetail {
            kind,
            title: title.into(),
            detail: detail.into(),
            is_retryable: None,
        });
        self
    }

    /// The plan's usage limit: `resource_exhausted` with a `PRO_USER_USAGE_LIMIT` detail.
    pub fn usage_limit() -> Self {
        Self::new("resource_exhausted", "Error").detail(
            ErrorKind::ProUserUsageLimit,
            "Usage limit",
            "You've hit your usage limit",
        )
    }

    /// A rate limit: `resource_exhausted` with a `RATE_LIMITED` detail.
    pub fn rate_limited() -> Self {
        Self::new("resource_exhausted", "slow down").detail(
            ErrorKind::RateLimited,
            "Rate limited",
            "try again in a bit",
        )
    }

    /// A full context: `invalid_argument` with a `CONVERSATION_TOO_LONG` detail.
    pub fn conversation_too_long() -> Self {
        Self::new("invalid_argument", "too long").detail(
            ErrorKind::ConversationTooLong,
            "Too long",
            "the conversation is too long",
        )
    }

    /// Sets `is_retryable` on the detail (no effect without one).
    pub fn retryable(mut self, retryable: bool) -> Self {
        if let Some(d) = &mut self.detail {
            d.is_retryable = Some(retryable);
        }
        self
    }

    /// Gzip the end frame.
    pub fn gzip(mut self) -> Self {
        self.gzip = true;
        self
    }
}

/// Kinds of broken bytes for [`Step::Malformed`].
#[derive(Debug, Clone)]
pub enum Malformed {
    /// A frame with flags `0x40`, which no Connect peer sends.
    UnknownFlags,
    /// A valid data frame whose payload is not a decodable `AgentServerMessage`.
    UndecodableMessage,
    /// A data frame flagged gzip whose payload is not gzip.
    BadGzip,
    /// A frame header promising more bytes than follow before the body ends.
    Truncated,
    /// An end-of-stream frame whose payload is not JSON.
    BadEndStreamJson,
    /// These exact bytes.
    Raw(Bytes),
}

/// A scripted run: what the fake says, and what it waits for, in order.
///
/// A script that runs out without a terminal step (`EndOk`, `EndError`, `Drop`, `Reset`,
/// `Malformed`) ends with `EndOk`; steps after a terminal step are never played.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    pub steps: Vec<Step>,
    /// Gzip data frames for this turn (overrides the builder's `gzip_frames`).
    pub gzip: Option<bool>,
    /// Which runs may play this turn ([`Turn::when`]); `None`: the next run, whatever it asks.
    pub when: Option<RunMatcher>,
}

/// A condition on a run's `run_request`, for turns that answer what a run asks rather than
/// when it arrives: a real client may send several requests at once (OpenCode asks for a
/// session title while it sends the prompt), and the service answers each by its content.
#[derive(Clone)]
pub struct RunMatcher(Arc<dyn Fn(&pb::AgentRunRequest) -> bool + Send + Sync>);

impl RunMatcher {
    pub fn matches(&self, req: &pb::AgentRunRequest) -> bool {
        (self.0)(req)
    }
}

impl std::fmt::Debug for RunMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunMatcher(..)")
    }
}

impl Turn {
    /// An empty script (plays as a bare `EndOk`).
    pub fn new() -> Self {
        Self::default()
    }

    /// What a run plays when no turn is queued: two text deltas spelling
    /// "Hello from the fake Cursor.", token deltas, a checkpoint, `turn_ended` with usage
    /// (most of the prompt read from the cache, as a live follow-up turn is), `EndOk`.
    pub fn default_reply() -> Self {
        Turn::new()
            .text("Hello from ")
            .token_delta(3)
            .text("the fake Cursor.")
            .token_delta(4)
            .checkpoint(1200, 200_000)
            .turn_ended_usage(TurnUsage {
                input_tokens: 193,
                output_tokens: 7,
                cache_read_tokens: 1000,
                ..TurnUsage::default()
            })
            .end_ok()
    }

    /// `text`, `turn_ended`, `EndOk`: no checkpoint, so no KV writes (for a client that
    /// sends its whole request body at once and cannot answer them).
    pub fn reply_without_checkpoint(text: impl Into<String>) -> Self {
        Turn::new().text(text).turn_ended().end_ok()
    }

    /// A plain answer: `text`, one token delta, a checkpoint, `turn_ended` with usage
    /// (1000 input tokens, one output token a word), `EndOk`.
    pub fn reply(text: impl Into<String>) -> Self {
        let text = text.into();
        let tokens = text.split_whitespace().count().max(1) as i32;
        Turn::new()
            .text(text)
            .token_delta(tokens)
            .checkpoint(1000 + tokens as u32, 200_000)
            .turn_ended_usage(TurnUsage {
                input_tokens: 1000,
                output_tokens: tokens.into(),
                ..TurnUsage::default()
            })
            .end_ok()
    }

    /// Appends any step.
    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    /// Gzip this turn's data frames.
    pub fn gzip(mut self) -> Self {
        self.gzip = Some(true);
        self
    }

    /// Only a run whose `run_request` satisfies `f` plays this turn. While such a turn is
    /// queued, each run picks, once its `run_request` arrived, the first queued turn it may
    /// play (turns without a condition fit any run), else the default reply. The response
    /// headers go out before that choice, so such runs gzip by the builder's `gzip_frames`
    /// alone.
    pub fn when(
        mut self,
        f: impl Fn(&pb::AgentRunRequest) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.when = Some(RunMatcher(Arc::new(f)));
        self
    }

    /// Only a run that offers the model at least one MCP tool plays this turn.
    pub fn when_tools_offered(self) -> Self {
        self.when(|r| {
            r.mcp_tools
                .as_ref()
                .is_some_and(|t| !t.mcp_tools.is_empty())
        })
    }

    /// Only a run that offers the model no tool plays this turn (e.g. a title request).
    pub fn when_no_tools_offered(self) -> Self {
        self.when(|r| r.mcp_tools.as_ref().is_none_or(|t| t.mcp_tools.is_empty()))
    }

    pub fn text(self, s: impl Into<String>) -> Self {
        self.step(Step::Text(s.into()))
    }

    pub fn thinking(self, s: impl Into<String>) -> Self {
        self.step(Step::Thinking(s.into()))
    }

    pub fn thinking_completed(self, ms: i32) -> Self {
        self.step(Step::ThinkingCompleted(ms))
    }

    pub fn token_delta(self, n: i32) -> Self {
        self.step(Step::TokenDelta(n))
    }

    pub fn heartbeat(self) -> Self {
        self.step(Step::Heartbeat)
    }

    /// One update carrying `text_delta` and `token_delta` together (reference §9.3).
    pub fn text_with_tokens(self, text: impl Into<String>, tokens: i32) -> Self {
        self.step(Step::Update(pb::InteractionUpdate {
            text_delta: Some(pb::TextDeltaUpdate { text: text.into() }),
            token_delta: Some(pb::TokenDeltaUpdate { tokens }),
            ..Default::default()
        }))
    }

    /// Raw `AgentServerMessage` bytes (see [`wire`]).
    pub fn raw_message(self, bytes: impl Into<Bytes>) -> Self {
        self.step(Step::RawMessage(bytes.into()))
    }

    /// An `AgentServerMessage` variant our schema does not know (field `field`, holding a
    /// small message).
    pub fn unknown_variant(self, field: u32) -> Self {
        self.raw_message(wire::ld(field, &wire::ld(1, b"from the future")))
    }

    /// A `text_delta` in an update that also carries unknown field `field`.
    pub fn text_with_unknown_field(self, text: &str, field: u32) -> Self {
        let update = [
            wire::ld(1, &wire::ld(1, text.as_bytes())),
            wire::ld(field, &wire::varint(1, 7)),
        ]
        .concat();
        self.raw_message(wire::ld(1, &update))
    }

    /// A `tool_call_completed` for a read the service ran, `ReadToolSuccess` with
    /// `file_size` (reference §9.1: a varint at field 5, where the exec `ReadSuccess` has
    /// `bytes`): display only, nothing to answer.
    pub fn completed_read(self, call_id: &str, path: &str, content: &str) -> Self {
        self.step(Step::Update(pb::InteractionUpdate {
            tool_call_completed: Some(pb::ToolCallCompletedUpdate {
                call_id: call_id.into(),
                tool_call: Some(read_tool_call(path, None, None, Some(content))),
                model_call_id: format!("model-{call_id}"),
            }),
            ..Default::default()
        }))
    }

    /// A native read with its display updates (see [`Step::AnnouncedRead`]).
    pub fn announced_read(self, call: ReadCall) -> Self {
        self.step(Step::AnnouncedRead(call))
    }

    /// An exec of kind `field` our schema does not know.
    pub fn unknown_exec_at(self, field: u32) -> Self {
        self.step(Step::UnknownExec { field })
    }

    pub fn step_started(self, id: u64) -> Self {
        self.step(Step::StepStarted(id))
    }

    pub fn kv_set(self, data: impl Into<Bytes>) -> Self {
        self.step(Step::KvSet(data.into()))
    }

    pub fn kv_get(self, blob_id: impl Into<Vec<u8>>) -> Self {
        self.step(Step::KvGet(blob_id.into()))
    }

    /// `KvGet` of the blob whose content is `data` (its id is `sha256(data)`).
    pub fn kv_get_data(self, data: &[u8]) -> Self {
        self.step(Step::KvGet(blob_id(data)))
    }

    pub fn request_context(self) -> Self {
        self.step(Step::RequestContext)
    }

    pub fn mcp_call(
        self,
        name: impl Into<String>,
        tool_name: impl Into<String>,
        tool_call_id: impl Into<String>,
        args: serde_json::Value,
    ) -> Self {
        self.step(Step::McpCall(McpCall::new(
            name,
            tool_name,
            tool_call_id,
            args,
        )))
    }

    /// Parallel tool calls: `(tool_name, tool_call_id, args)` each, sent together.
    pub fn parallel_mcp_calls(self, calls: &[(&str, &str, serde_json::Value)]) -> Self {
        self.step(Step::ParallelMcpCalls(
            calls
                .iter()
                .map(|(name, id, args)| McpCall::new(*name, *name, *id, args.clone()))
                .collect(),
        ))
    }

    pub fn native_exec(self, exec: NativeExec) -> Self {
        self.step(Step::NativeExec(exec))
    }

    /// An exec with unknown field 99.
    pub fn unknown_exec(self) -> Self {
        self.step(Step::UnknownExec { field: 99 })
    }

    pub fn query(self, q: Query) -> Self {
        self.step(Step::InteractionQuery(q))
    }

    pub fn checkpoint(self, used_tokens: u32, max_tokens: u32) -> Self {
        self.step(Step::Checkpoint {
            used_tokens,
            max_tokens,
        })
    }

    /// `turn_ended` without usage.
    pub fn turn_ended(self) -> Self {
        self.step(Step::TurnEnded)
    }

    /// `turn_ended` carrying the turn's usage.
    pub fn turn_ended_usage(self, usage: TurnUsage) -> Self {
        self.step(Step::TurnEndedUsage(usage))
    }

    pub fn send(self, msg: pb::AgentServerMessage) -> Self {
        self.step(Step::Send(msg))
    }

    pub fn end_ok(self) -> Self {
        self.step(Step::EndOk)
    }

    /// Ends with a Connect error without details.
    pub fn end_error(self, code: impl Into<String>, message: impl Into<String>) -> Self {
        self.step(Step::EndError(EndError::new(code, message)))
    }

    /// Ends with a fully specified Connect error.
    pub fn end_with(self, err: EndError) -> Self {
        self.step(Step::EndError(err))
    }

    pub fn drop_stream(self) -> Self {
        self.step(Step::Drop)
    }

    pub fn reset(self) -> Self {
        self.step(Step::Reset)
    }

    pub fn malformed(self, m: Malformed) -> Self {
        self.step(Step::Malformed(m))
    }

    pub fn sleep(self, d: Duration) -> Self {
        self.step(Step::Sleep(d))
    }

    pub fn heartbeats_for(self, total: Duration, interval: Duration) -> Self {
        self.step(Step::HeartbeatsFor { total, interval })
    }

    pub fn wait_for_cancel(self) -> Self {
        self.step(Step::WaitForCancel)
    }

    /// A runaway tool loop (see [`Step::ToolLoop`]); nothing after it is played.
    pub fn tool_loop(self, l: ToolLoop) -> Self {
        self.step(Step::ToolLoop(l))
    }
}

impl From<Vec<Step>> for Turn {
    fn from(steps: Vec<Step>) -> Self {
        Turn {
            steps,
            gzip: None,
            when: None,
        }
    }
}
