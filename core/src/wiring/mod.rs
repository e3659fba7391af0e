//! The composition root: the one place that turns [`Settings`] into the parts the app
//! runs on — the Cursor client (with the credential store the settings choose), the HTTP
//! client of an agent transport, the usage ledger, the conversation store and the proxy's
//! state (which opens the local key). [`crate::app::App`] receives these built parts
//! instead of constructing them, so how a part follows from the settings is written once.
//!
//! It knows nothing of the app: dependencies run `config → store → cursor → engine/proxy
//! → wiring → app`, never back. Opening the ledger, the conversation store and the
//! proxy's state blocks (files, SQLite's busy wait): async callers run it on
//! `spawn_blocking`.

mod client;
pub use client::*;

use crate::config::settings::{Env, Paths, Settings};
use crate::cursor::version::ClientVersion;
use crate::cursor::{CursorClient, CursorError, CursorHttp};
use crate::engine::conversations::ConversationStore;
use crate::proxy::ProxyState;
use crate::store::ledger::{Ledger, LedgerError};

/// Builds the parts of one install (its directories and environment) from settings.
#[derive(Debug, Clone)]
pub(crate) struct Wiring {
    paths: Paths,
    env: Env,
}

impl Wiring {
    /// The parts of the install at `paths`, with `env` as its environment overrides.
    pub(crate) fn new(paths: Paths, env: Env) -> Wiring {
        Wiring { paths, env }
    }

    /// Where the install's files live.
    pub(crate) fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The environment the install was started with.
    pub(crate) fn env(&self) -> &Env {
        &self.env
    }

    /// The Cursor client: its HTTP client, token manager and credential store.
    pub(crate) fn client(&self, settings: &Settings) -> Result<CursorClient, CursorError> {
        cursor_client(settings, &self.paths, &self.env)
    }

    /// The HTTP client for `settings`' agent transport, resolving the client version with
    /// `version` (the one in use, so a transport change does not re-resolve it).
    pub(crate) fn http(
        &self,
        settings: &Settings,
        version: ClientVersion,
    ) -> Result<CursorHttp, CursorError> {
        CursorHttp::new(settings.http_config_with(version))
    }

    /// The usage ledger. Blocking: it waits out a lock held by another process.
    pub(crate) fn ledger(&self) -> Result<Ledger, LedgerError> {
        Ledger::open(&self.paths.ledger_file())
    }

    /// The conversation store `settings` ask for (persisted or in memory). Blocking.
    pub(crate) fn conversations(&self, settings: &Settings) -> ConversationStore {
        ConversationStore::open(
            &self.paths.data_dir,
            settings.conversation_store_persist,
            settings.conversation_limits(),
        )
    }

    /// The state of one proxy run: `client`, the local key (unless the settings turn the
    /// check off), the ledger, `kept` as its conversation store (`None` opens one) and the
    /// app's `guard`. Blocking.
    pub(crate) fn proxy_state(
        &self,
        client: CursorClient,
        settings: Settings,
        kept: Option<ConversationStore>,
        guard: std::sync::Arc<crate::engine::guard::Guard>,
    ) -> std::io::Result<ProxyState> {
        ProxyState::from_settings_sharing(
            client,
            settings,
            &self.paths,
            &self.env,
            kept,
            Some(guard),
        )
    }
}
