//! Anthropic Messages (`POST /v1/messages`, `POST /v1/messages/count_tokens`) over the
//! engine, for Claude Code and the Anthropic SDKs. Translation is pure (no I/O), so every
//! rule is unit-tested without a server; [`handler`] is the only part that serves.
//!
//! - [`request`]: the request body, type-checked, every error naming the field's path.
//! - [`translate`]: the request → the engine's neutral request; the `count_tokens`
//!   estimate.
//! - [`stream`]: the engine's events → Anthropic's SSE events and message object.
//! - [`error`]: [`crate::engine::error::ApiError`] in Anthropic's error shape.
//! - [`handler`]: the two routes.

pub mod error;
pub(crate) mod handler;
pub mod request;
pub mod stream;
pub mod translate;

pub(crate) use handler::{count_tokens, handle};
