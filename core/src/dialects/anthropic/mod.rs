//! Anthropic Messages (`POST /v1/messages`, `POST /v1/messages/count_tokens`) over the
//! engine.
//!
//! - [`error`]: [`crate::engine::error::ApiError`] in Anthropic's error shape.

pub mod error;
