//! Translation only: OpenAI Chat Completions ⇄ the Cursor chat engine. Pure functions and
//! data, no I/O, so every rule here is unit-tested without a server.
//!
//! - [`request`]: the request body, parsed with the path of a bad field in the error.
//! - [`translate`]: messages → a Cursor run (system prompt, tools, the prompt text, or
//!   the tool results that continue a parked run).
//! - [`images`]: `image_url` data URLs → the images a Cursor message carries.
//! - [`history`]: the messages as the dialect-neutral history Cursor's structure is
//!   built from.
//! - [`chunks`]: the response objects and SSE chunks we send.

pub mod chunks;
pub mod history;
pub mod images;
pub mod request;
pub mod translate;
