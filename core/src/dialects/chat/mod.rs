//! OpenAI Chat Completions over the engine. Translation is pure (no I/O), so every rule
//! is unit-tested without a server; [`handler`] is the only part that serves.
//!
//! - [`request`]: the request body, parsed with the path of a bad field in the error.
//! - [`history`]: the messages as the engine's neutral history.
//! - [`translate`]: the whole request → the engine's neutral request.
//! - [`chunks`]: the response objects and SSE chunks we send.
//! - [`handler`]: `POST /v1/chat/completions`.

pub mod chunks;
pub(crate) mod handler;
pub mod history;
pub mod request;
pub mod translate;

pub(crate) use handler::handle;
