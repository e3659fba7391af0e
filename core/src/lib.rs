//! # cursor-bridge-core
//!
//! The headless heart of Cursor Bridge: everything that can be tested without a window.
//! The tray app (`src-tauri/`) and the `cursor-bridge` CLI (`cli/`) are thin front ends
//! over it.
//!
//! ## Layout
//! - [`pb`], [`cursor`]: re-exported from the `cursor-bridge-client` crate — the
//!   generated protobuf code, and OUTBOUND, the Cursor client: Connect framing ([`cursor::framing`]),
//!   typed errors ([`cursor::error`]), the one HTTP client and its headers
//!   ([`cursor::http`]), browser/API-key login and token refresh ([`cursor::auth`]),
//!   models ([`cursor::models`]), plan usage ([`cursor::usage`]) and the agent chat
//!   engine ([`cursor::chat`]) with its blob store ([`cursor::blobs`]) and its answers
//!   to Cursor's native tools ([`cursor::native`]).
//! - [`proxy`]: INBOUND — the localhost OpenAI-compatible server: `/v1/chat/completions`
//!   (streamed or not, tool calls parked on the open Cursor run), `/v1/models`, `/health`,
//!   behind its guard (loopback `Host`/`Origin`, the local API key).
//! - [`engine`]: the history as Cursor's structure ([`engine::history`], pure) and the
//!   store of finished conversations' checkpoints ([`engine::conversations`]).
//! - [`store`]: credential stores (OS keychain by default, opt-in 0600 file, env override)
//!   and the usage ledger ([`store::ledger`], SQLite).
//! - [`config`]: typed, validated settings and the directories we use.
//! - [`connect`]: "Connect your tools" — OpenCode, Claude Code and Codex configs written
//!   safely (one edit path for JSONC and TOML: comments kept, backup, atomic, a diff for
//!   dry runs) and undone by disconnect; [`opencode`] is [`connect::opencode`], the
//!   OpenCode provider block generated from the live model list.
//! - [`app`]: the actions the tray, the web UI and the CLI share ([`app::App`]), their IPC types,
//!   `CommandError`, and the notification policy ([`app::alerts`]).
//! - [`dates`]: calendar dates from Unix time for what we print.
//! - [`wiring`]: the composition root — the client, stores and proxy state built from
//!   the settings, handed to the app.
//!
//! ## Invariants
//! - Secrets (tokens, keys, the PKCE verifier) never reach logs or error messages.
//! - No global state: settings and clients are built once and passed in as handles.
//! - Decoding is incremental; "need more bytes" is never "bad bytes".

// Private by default: what another crate does not use is `pub(crate)`; what it does use
// says what it is for.
#![warn(missing_docs, unreachable_pub)]

// The Cursor client is its own crate (`client/`); these keep `crate::cursor::…` and
// `cursor_bridge_core::pb::…` working everywhere.
pub use cursor_bridge_client as cursor;
pub use cursor_bridge_client::pb;

pub mod app;
pub mod config;
pub mod connect;
pub mod dates;
pub mod dialects;
pub mod engine;
/// The OpenCode provider block; its old path, kept for other crates.
pub use connect::opencode;
pub mod proxy;
pub mod store;
pub mod wiring;

/// The version of this build: one version for the workspace, the app and its packages
/// (`[workspace.package]` in the root `Cargo.toml`; `tauri.conf.json` and `ui/package.json`
/// repeat it, checked by `src-tauri/tests/version.rs`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit this was built from (short hash), `unknown` outside a git checkout
/// (`build.rs`).
pub const COMMIT: &str = env!("CURSOR_BRIDGE_COMMIT");
/// `VERSION (COMMIT)`, what `cursor-bridge --version` prints after the program name.
pub const VERSION_WITH_COMMIT: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("CURSOR_BRIDGE_COMMIT"),
    ")"
);
