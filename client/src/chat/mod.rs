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
//!
//! Files: what to run and its first message (`request`), the caller's side — events,
//! handles, usage (`run`), [`start_run`] and the driver task (`driver`), the answers to
//! Cursor's exec messages (`exec`). `mod.rs` only re-exports.

mod driver;
mod exec;
mod request;
mod run;
#[cfg(test)]
mod tests;

pub use crate::tools::{ToolCall, ToolDef, ToolResult};
pub(crate) use driver::start_run;
pub use exec::{MCP_PROVIDER, MCP_SERVER_NAME};
pub use request::{
    ChatOptions, ChatRequest, Image, build_request_context, build_run_request, first_frame,
    first_message,
};
pub use run::{ChatEvent, ChatHandle, ChatRun, TurnUsage, Usage};
