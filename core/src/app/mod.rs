//! The actions both front ends call. The tray menu and the web UI (through the Tauri
//! shell's IPC commands) are two views over this one [`App`]: each IPC command is a
//! one-line call into a method here, and each method returns the serde types of
//! `docs/IPC.md` ([`ipc`]) or a [`CommandError`].
//!
//! [`App`] is one façade over parts that each own their state:
//! - `session`: sign-in and sign-out, the account shown, a session Cursor refused, the
//!   browser sign-in waiting for approval ([`SignInProgress`] in the status);
//! - `lifecycle`: the proxy's start, stop, restart, launch and shutdown, and its last
//!   state in `app-state.json`;
//! - `settings`: the settings in use and their one editor (which swaps the agent
//!   transport);
//! - `usage`: the model list, Cursor's plan usage and our own ledger;
//! - `status`: the status every front end renders, published on a `watch` channel so the
//!   shell re-renders the tray and emits `status-changed`;
//! - `guard`: the spend guard's pause and resume, and its trips as alerts;
//! - and the notification policy ([`alerts`]).
//!
//! The parts are built by the composition root ([`crate::wiring`]) from the settings;
//! [`AppBuilder`] asks it for them. Two things the core cannot do itself are injected:
//! opening the browser ([`Opener`], so tests approve the login on the fake server instead)
//! and the OS's launch-at-login switch ([`LaunchAtLogin`], which lives in a Tauri plugin).
//!
//! ## The proxy's last state survives restarts
//! `<data_dir>/app-state.json` remembers whether the user last left the proxy running
//! (written by [`App::start_proxy`] / [`App::stop_proxy`] only — quitting the app or a
//! crash of the proxy does not change it). [`App::launch`] starts the proxy when that
//! remembered state is "running" (the default on a first launch) *and* the
//! `start_proxy_on_launch` setting is on: the setting is the user's standing rule, the
//! file is what they did last.
//!
//! ## Locks and blocking work
//! Everything read to render a status sits behind `std::sync` locks held only to copy a
//! value, never across an await (clippy's `await_holding_lock` is denied), so rendering a
//! status never waits for a proxy to drain. The two `tokio::sync::Mutex`es are held
//! across awaits on purpose, each said where it is declared: the proxy's lifecycle lock
//! and the status publisher's. File and database work (the ledger, `app-state.json`,
//! `settings.toml`, the local key, the conversation store) runs on `spawn_blocking`.

pub mod alerts;
mod connections;
mod guard;
pub mod ipc;
mod lifecycle;
mod session;
mod settings;
mod status;
mod usage;

use std::sync::{Arc, Mutex as StdMutex, RwLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use crate::config::settings::{Env, Paths, Settings};
use crate::cursor::{CallObserver, CursorClient, CursorError};
use crate::wiring::Wiring;

pub use alerts::{Alert, AlertKind, Alerts, Event};
pub use connections::{ClientSnippet, ConnectChoice, ConnectOptions, OpencodeInstalled};
pub use ipc::{
    Account, CommandError, ErrorKind, GuardStatus, GuardSummary, Model, OpencodeSnippet, PlanUsage,
    ProxyRunState, ProxyStatus, SettingsView, SignInProgress, Status,
};

/// Opens a URL in the user's browser. Injected so tests never open one.
pub type Opener = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// The OS's "launch at login" switch (the shell implements it with its autostart plugin).
pub trait LaunchAtLogin: Send + Sync {
    /// What the OS says now.
    fn is_enabled(&self) -> Result<bool, String>;
    /// Turns it on or off.
    fn set_enabled(&self, enabled: bool) -> Result<(), String>;
}

/// Handle to the application core. Cheap to clone; every clone is the same app.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    /// Builds the parts that follow the settings (the proxy's state at each start, the
    /// ledger, a new agent transport's HTTP client).
    wiring: Wiring,
    /// Replaced (same tokens, model cache and observer) when `agent_transport` changes.
    client: RwLock<CursorClient>,
    alerts: Alerts,
    opener: Opener,
    launch_at_login: RwLock<Option<Arc<dyn LaunchAtLogin>>>,
    session: session::Session,
    proxy: lifecycle::Proxy,
    settings: settings::SettingsState,
    usage: usage::Usage,
    status: status::Publisher,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("paths", self.paths())
            .field("proxy", &self.inner.proxy)
            .finish_non_exhaustive()
    }
}

/// Builds an [`App`].
pub struct AppBuilder {
    paths: Paths,
    env: Env,
    settings: Settings,
    opener: Option<Opener>,
    listeners: Vec<std::net::TcpListener>,
}

impl AppBuilder {
    /// Opens URLs (the sign-in page) with this instead of the system browser.
    pub fn opener(
        mut self,
        opener: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.opener = Some(Arc::new(opener));
        self
    }

    /// Serves the proxy on this already-bound listener the first time it starts on the
    /// listener's address, instead of binding that address itself. Tests bind port 0 and
    /// hand the listener in, so no port is ever released and hoped for in between; the
    /// status reports the address the proxy really listens on.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listeners.push(listener);
        self
    }

    /// Builds the app around the parts the composition root makes from the settings.
    /// The Cursor client reports every call to the app, whichever front end makes it (the
    /// proxy's requests included), so an expired session or an unreachable Cursor becomes
    /// an alert and a status change.
    pub fn build(self) -> Result<App, CommandError> {
        let wiring = Wiring::new(self.paths, self.env);
        let client = wiring.client(&self.settings)?;
        let opener = self.opener.unwrap_or_else(|| {
            Arc::new(|url: &str| webbrowser::open(url).map_err(|e| e.to_string()))
        });
        let proxy = lifecycle::Proxy::new(self.listeners);
        let initial = Status {
            signed_in: false,
            account: None,
            proxy: proxy.status(&self.settings),
            launch_at_login: false,
            version: crate::VERSION.to_string(),
            commit: crate::COMMIT.to_string(),
            client_version: client.http().client_version().current().into(),
            sign_in: None,
            guard: ipc::GuardSummary::default(),
        };
        let inner = Arc::new_cyclic(|me: &Weak<Inner>| {
            // Weak: the client lives inside the app; a strong handle would be a cycle.
            let me = me.clone();
            let client = client.with_observer(CallObserver::new(move |result| {
                if let Some(inner) = me.upgrade() {
                    App { inner }.observe_cursor(result);
                }
            }));
            Inner {
                wiring,
                client: RwLock::new(client),
                alerts: Alerts::new(),
                opener,
                // Set by the shell once its autostart plugin is up.
                launch_at_login: RwLock::new(None),
                session: session::Session::default(),
                proxy,
                settings: settings::SettingsState::new(self.settings),
                usage: usage::Usage::default(),
                status: status::Publisher::new(initial),
            }
        });
        Ok(App { inner })
    }
}

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these short locks leaves a plain value behind; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs blocking work (files, SQLite, the OS) on the blocking pool; `what` names it if
/// the task dies ("{what} failed: …").
async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, CommandError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CommandError::internal(format!("{what} failed: {e}")))
}

impl App {
    /// Starts building an app over these paths, environment and settings (loaded once by
    /// the caller with `Settings::load`).
    pub fn builder(paths: Paths, env: Env, settings: Settings) -> AppBuilder {
        AppBuilder {
            paths,
            env,
            settings,
            opener: None,
            listeners: Vec::new(),
        }
    }

    /// Installs the launch-at-login switch once the shell has it (after plugin setup).
    pub fn set_launch_at_login_backend(&self, backend: Arc<dyn LaunchAtLogin>) {
        *self
            .inner
            .launch_at_login
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(backend);
    }

    /// The Cursor client in use (for front ends that need more than these actions). A
    /// handle, not a reference: a settings change can replace the client (see
    /// [`App::update_settings`]).
    pub fn client(&self) -> CursorClient {
        self.inner
            .client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Where our files live.
    pub(crate) fn paths(&self) -> &Paths {
        self.inner.wiring.paths()
    }

    fn env(&self) -> &Env {
        self.inner.wiring.env()
    }

    /// The notification policy; subscribe to show its alerts.
    pub fn alerts(&self) -> &Alerts {
        &self.inner.alerts
    }

    /// Alerts to display from now on.
    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Alert> {
        self.inner.alerts.subscribe()
    }

    // ---- Cursor calls and the alerts they feed ------------------------------------------

    /// Every Cursor call's outcome (see [`AppBuilder::build`]): failures worth a popup
    /// become alerts, successes resolve them, and a session that expires or comes back
    /// re-renders the status. Runs inline on the caller's path: no awaiting here.
    fn observe_cursor(&self, result: Result<(), &CursorError>) {
        let alerts = &self.inner.alerts;
        let session = &self.inner.session;
        match result {
            Ok(()) => {
                alerts.resolve(AlertKind::UpstreamUnreachable);
                alerts.resolve(AlertKind::OutdatedClient);
                if session.set_expired(false) {
                    alerts.resolve(AlertKind::SessionExpired);
                    self.publish_soon();
                }
            }
            Err(CursorError::SessionExpired | CursorError::Unauthenticated { .. }) => {
                if session.set_expired(true) {
                    self.publish_soon();
                }
                alerts.raise(Event::SessionExpired);
            }
            Err(e @ CursorError::Quota { rate_limited, .. }) => {
                alerts.raise(Event::Quota {
                    message: e.to_string(),
                    rate_limited: *rate_limited,
                });
            }
            Err(e) if e.is_unreachable() => {
                alerts.raise(Event::UpstreamUnreachable {
                    message: e.to_string(),
                });
            }
            Err(CursorError::OutdatedClient { .. }) => {
                let version = self.client().http().client_version().current().version;
                alerts.raise(Event::OutdatedClient { version });
            }
            Err(_) => {}
        }
    }

    /// A Cursor call's result for a front end (the observer has seen it already).
    async fn cursor<T>(&self, r: Result<T, CursorError>) -> Result<T, CommandError> {
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                self.publish().await;
                Err(e.into())
            }
        }
    }

    // ---- the desktop --------------------------------------------------------------------------

    fn launch_backend(&self) -> Option<Arc<dyn LaunchAtLogin>> {
        self.inner
            .launch_at_login
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// What the OS says about launch-at-login (false when it cannot tell). Off the
    /// runtime: the OS's answer may come from a file or a helper process.
    async fn read_launch_at_login(&self) -> bool {
        let Some(backend) = self.launch_backend() else {
            return false;
        };
        let read = blocking("reading launch at login", move || backend.is_enabled())
            .await
            .map_err(|e| e.message)
            .and_then(|r| r);
        read.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the launch-at-login state");
            false
        })
    }

    /// Turns launch-at-login on or off and returns what the OS says afterwards.
    pub async fn set_launch_at_login(&self, enabled: bool) -> Result<bool, CommandError> {
        let backend = self
            .launch_backend()
            .ok_or_else(|| CommandError::internal("Launch at login is not available here."))?;
        let now = blocking("changing launch at login", move || {
            backend
                .set_enabled(enabled)
                .map_err(|e| CommandError::io(format!("Cannot change launch at login: {e}")))?;
            backend
                .is_enabled()
                .map_err(|e| CommandError::io(format!("Cannot read launch at login: {e}")))
        })
        .await??;
        self.publish().await;
        Ok(now)
    }

    /// Opens the log directory in the file manager.
    pub fn open_log_folder(&self) -> Result<(), CommandError> {
        let dir = &self.paths().log_dir;
        crate::config::private::ensure_dir(dir)
            .map_err(|e| CommandError::io(format!("Cannot create {}: {e}", dir.display())))?;
        let url = url::Url::from_directory_path(dir)
            .map_err(|()| CommandError::internal(format!("{} is not absolute", dir.display())))?;
        (self.inner.opener)(url.as_str())
            .map_err(|e| CommandError::io(format!("Cannot open {}: {e}", dir.display())))
    }
}
