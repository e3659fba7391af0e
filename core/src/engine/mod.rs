//! The dialect-neutral conversation engine. Every dialect's handler turns its request
//! into a [`request::Request`], asks [`Engine::turn`] for a [`turn::Turn`] and writes the
//! [`turn::Event`]s it yields in its own wire format; nothing here knows a wire format.
//!
//! - [`request`]: the neutral request (system, messages with text, images, tool calls
//!   and results, tools, tool choice, model, stream) and the rules on it alone.
//! - [`turn`]: a turn of a Cursor run — continue a parked run or start a fresh one
//!   (checkpoint → structure → transcript), gather tool calls, report usage, park on a
//!   tool call, keep the checkpoint when the turn ends.
//! - [`sessions`]: Cursor runs parked on tool calls, waiting for the client's results.
//! - [`history`]: the history as Cursor's own structure; [`conversations`]: the store
//!   of finished conversations' checkpoints.
//! - [`images`]: inline images decoded and checked; [`usage`]: the numbers a response
//!   reports; [`error`]: [`error::ApiError`], the one error of the inbound boundary
//!   (each dialect renders it); `outcome`: the ledger row every request leaves;
//!   [`guard`]: the spend and runaway-loop rules every request and tool step passes.

pub mod conversations;
pub mod error;
pub mod guard;
pub mod history;
pub mod images;
pub(crate) mod models;
pub(crate) mod outcome;
mod plan;
pub mod request;
pub mod sessions;
pub mod turn;
pub mod usage;

use std::sync::atomic::AtomicBool;

use tokio_util::sync::CancellationToken;

use crate::config::settings::Settings;
use crate::cursor::CursorClient;
use crate::store::ledger::Ledger;
use conversations::ConversationStore;
use sessions::Sessions;

/// What every turn shares (behind an `Arc`).
pub struct Engine {
    /// The one Cursor client every request goes through (pooled connections, token
    /// manager, model catalogue).
    pub client: CursorClient,
    /// The settings the proxy was started with, fixed for its lifetime: the app restarts
    /// the proxy when a setting it reads changes.
    pub settings: Settings,
    /// Cursor streams parked on tool calls, waiting for the client's results.
    pub sessions: Sessions,
    /// Cancelled when the proxy stops: every in-flight response ends and cancels its run.
    pub shutdown: CancellationToken,
    /// The usage ledger; `None` when it could not be opened (the proxy serves anyway).
    pub ledger: Option<Ledger>,
    /// Why the ledger is unavailable, for `/health` and the UI.
    pub ledger_error: Option<String>,
    /// The last checkpoint of each finished conversation, to continue its next turn.
    pub conversations: ConversationStore,
    /// The spend and runaway-loop guard (shared by every proxy the app runs).
    pub guard: std::sync::Arc<guard::Guard>,
    /// Cursor has counted a turn at its end (reference §9.4) since this proxy started, so
    /// it will count the next ones too: a step that ends in tool calls before the turn
    /// ends leaves its prompt to the turn's count instead of guessing it.
    pub cursor_counts_turns: AtomicBool,
    /// Places for fresh runs streaming at once (`max_concurrent_runs`); a [`turn::Turn`]
    /// of a fresh run holds one until it drops.
    pub(crate) fresh_runs: std::sync::Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("client", &self.client)
            .field("settings", &self.settings)
            .field("sessions", &self.sessions)
            .field("shutdown", &self.shutdown)
            .field("ledger", &self.ledger)
            .field("ledger_error", &self.ledger_error)
            .field("conversations", &self.conversations.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `client` and `settings` with an in-memory conversation store and no
    /// ledger.
    pub fn new(client: CursorClient, settings: Settings) -> Self {
        let sessions = Sessions::new(
            std::time::Duration::from_secs(settings.parked_ttl_secs),
            settings.max_parked_streams as usize,
            settings.max_parked_bytes,
        );
        let settings_runs = settings.max_concurrent_runs;
        Engine {
            conversations: ConversationStore::in_memory(settings.conversation_limits()),
            client,
            settings,
            sessions,
            shutdown: CancellationToken::new(),
            ledger: None,
            ledger_error: None,
            guard: std::sync::Arc::new(guard::Guard::new()),
            cursor_counts_turns: AtomicBool::new(false),
            fresh_runs: std::sync::Arc::new(tokio::sync::Semaphore::new(settings_runs as usize)),
        }
    }
}
