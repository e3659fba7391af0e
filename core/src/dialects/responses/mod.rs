//! OpenAI Responses (`POST /v1/responses`, what Codex CLI speaks) over the engine. Errors
//! use OpenAI's shape ([`super::openai_error`]).
//!
//! - [`request`]: the body, parsed and type-checked, every error naming its field path;
//!   which tools are skipped and which `tool_choice` is refused.
//! - [`translate`]: → the neutral request (pure).
//! - [`stream`]: the engine's events → SSE events and the response object (pure).
//! - [`store`]: responses kept in memory for `previous_response_id`.
//! - [`handler`]: the routes and the handler.

pub(crate) mod handler;
pub(crate) mod request;
pub(crate) mod store;
pub(crate) mod stream;
pub(crate) mod translate;

pub(crate) use handler::routes;
