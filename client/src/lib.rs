//! # cursor-bridge-client
//!
//! OUTBOUND: the embedded Cursor client, its own crate so Cargo keeps it a leaf. It
//! depends on nothing else of ours and knows nothing about OpenAI, the proxy, our settings
//! or where credentials are kept (the core's `wiring` builds it from settings and hands
//! it a [`credentials::CredentialStore`]).
//!
//! ## Layout
//! - [`pb`]: generated protobuf code from `proto/` (quarantined; everything says `pb::…`).
//! - Wire: Connect framing ([`framing`]), typed errors ([`error`]), the one HTTP client
//!   and its headers ([`http`]), the agent-stream transports ([`transport`]), the
//!   `x-cursor-client-version` policy ([`version`]).
//! - Session: browser/API-key login and token refresh ([`auth`]) over the
//!   [`credentials`] a store keeps.
//! - Calls: models ([`models`]), plan usage ([`usage`]), the agent chat run ([`chat`])
//!   with its decoder ([`decode`]), blob store ([`blobs`]), protobuf values ([`value`])
//!   and its answers to Cursor's native tools ([`native`]); the tool types both share
//!   ([`tools`]).
//! - [`CursorClient`]: the handle front ends use, giving every call the same auth policy.

#![warn(missing_docs, unreachable_pub)]

pub mod auth;
pub mod blobs;
pub mod chat;
pub mod client;
pub mod credentials;
pub mod decode;
pub mod error;
pub mod framing;
pub mod http;
pub mod models;
pub mod native;
pub mod pb;
pub mod tools;
pub mod transport;
pub mod usage;
pub mod value;
pub mod version;

pub use client::{CallObserver, CursorClient, RetryPolicy};
pub use error::CursorError;
pub use http::{AgentTransport, CursorHttp, Endpoints, HttpConfig};
