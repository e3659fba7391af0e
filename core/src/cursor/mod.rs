//! OUTBOUND: the embedded Cursor client. Nothing here knows about OpenAI or the proxy.

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
pub mod transport;
pub mod usage;
pub mod value;
pub mod version;

pub use client::{CallObserver, CursorClient, RetryPolicy};
pub use error::CursorError;
pub use http::{AgentTransport, CursorHttp, Endpoints, HttpConfig};
