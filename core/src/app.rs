//! The actions both front ends call. The tray menu and the web UI (through the Tauri
//! shell's IPC commands) are two views over this one [`App`]: each IPC command is a
//! one-line call into a method here, and each method returns the serde types of
//! `docs/IPC.md` ([`ipc`]) or a [`CommandError`].
//!
//! [`App`] owns the Cursor client, the proxy's lifecycle, the settings the UI edits, the
//! status every front end renders (published on a `watch` channel so the shell re-renders
//! the tray and emits `status-changed`), and the notification policy ([`alerts`]).
//!
//! Two things the core cannot do itself are injected: opening the browser ([`Opener`], so
//! tests approve the login on the fake server instead) and the OS's launch-at-login
//! switch ([`LaunchAtLogin`], which lives in a Tauri plugin).
//!
//! ## The proxy's last state survives restarts
//! `<data_dir>/app-state.json` remembers whether the user last left the proxy running
//! (written by [`App::start_proxy`] / [`App::stop_proxy`] only — quitting the app or a
//! crash of the proxy does not change it). [`App::launch`] starts the proxy when that
//! remembered state is "running" (the default on a first launch) *and* the
//! `start_proxy_on_launch` setting is on: the setting is the user's standing rule, the
//! file is what they did last.

pub mod alerts;
pub mod ipc;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex, RwLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, broadcast, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::settings::{
    ENV_AGENT_TRANSPORT, ENV_API_KEY, Env, Paths, Settings, write_atomic,
};
use crate::cursor::auth::{self, Pkce};
use crate::cursor::{AgentTransport, CallObserver, CursorClient, CursorError, CursorHttp};
use crate::engine::conversations::ConversationStore;
use crate::opencode::install::{self, WriteOutcome};
use crate::proxy::{self, ProxyState, RunningProxy, StartError};
use crate::store::credentials::StoreError;
use crate::store::ledger::{Ledger, Range, RecentError, UsageReport};
use crate::store::local_key;

pub use alerts::{Alert, AlertKind, Alerts, Event};
pub use ipc::{
    Account, CommandError, ErrorKind, Model, OpencodeSnippet, PlanUsage, ProxyRunState,
    ProxyStatus, SettingsView, Status,
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

/// File name of the remembered proxy state in the data directory.
pub const STATE_FILE: &str = "app-state.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedState {
    proxy_running: bool,
}

/// Handle to the application core. Cheap to clone; every clone is the same app.
///
/// Lock choice:
/// - `lifecycle` (`tokio::sync::Mutex`) is held across binding and stopping the proxy
///   and across a settings change that restarts it, so start/stop/restart never
///   interleave (two quick clicks on the tray toggle cannot start two servers).
/// - Everything read to render a status (`settings`, `phase`, `account`) sits behind
///   `std::sync` locks held only to copy a value, never across an await, so rendering a
///   status never waits for a proxy to drain.
/// - `publishing` (`tokio::sync::Mutex`) makes computing and sending a status one step,
///   so two changes racing cannot leave the older status as the last one sent.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    paths: Paths,
    env: Env,
    /// Replaced (same tokens, model cache and observer) when `agent_transport` changes.
    client: RwLock<CursorClient>,
    settings: StdMutex<Settings>,
    lifecycle: Mutex<Lifecycle>,
    phase: StdMutex<Phase>,
    account: StdMutex<Option<Account>>,
    /// Cursor refused the stored session: it reads as signed out until the next sign-in.
    session_expired: AtomicBool,
    /// The sign-in waiting for approval, by attempt number.
    login: StdMutex<Option<(u64, CancellationToken)>>,
    login_attempts: AtomicU64,
    status: watch::Sender<Status>,
    /// Serializes compute-and-send, so a status computed earlier is never sent last.
    publishing: Mutex<()>,
    alerts: Alerts,
    opener: Opener,
    launch_at_login: RwLock<Option<Arc<dyn LaunchAtLogin>>>,
    /// The usage ledger, opened on first use (reads; the proxy records through its own
    /// handle — SQLite's WAL lets both work at once).
    ledger: StdMutex<Option<Ledger>>,
    /// The conversation store every proxy run serves, opened at the first start (and
    /// again when its settings change), so "Forget conversations" clears what a running
    /// proxy holds too.
    conversations: StdMutex<Option<ConversationStore>>,
}

/// The running proxy, owned by its supervisor task.
#[derive(Default)]
struct Lifecycle {
    run: Option<Run>,
    /// Bumped per start, so a late "it died" report of an old run is ignored.
    generation: u64,
}

struct Run {
    stop: oneshot::Sender<()>,
    supervisor: JoinHandle<()>,
}

/// What the status shows about the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    Stopped,
    Running(SocketAddr),
    Failed(String),
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("paths", &self.inner.paths)
            .field("phase", &*lock(&self.inner.phase))
            .finish_non_exhaustive()
    }
}

/// Builds an [`App`].
pub struct AppBuilder {
    paths: Paths,
    env: Env,
    settings: Settings,
    opener: Option<Opener>,
    launch_at_login: Option<Arc<dyn LaunchAtLogin>>,
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

    /// The launch-at-login switch (also settable later: [`App::set_launch_at_login_backend`]).
    pub fn launch_at_login(mut self, backend: Arc<dyn LaunchAtLogin>) -> Self {
        self.launch_at_login = Some(backend);
        self
    }

    /// Builds the Cursor client and the app around it. The client reports every
    /// call to the app, whichever front end makes it (the proxy's requests included), so
    /// an expired session or an unreachable Cursor becomes an alert and a status change.
    pub fn build(self) -> Result<App, CommandError> {
        let client = crate::wiring::cursor_client(&self.settings, &self.paths, &self.env)?;
        let opener = self.opener.unwrap_or_else(|| {
            Arc::new(|url: &str| webbrowser::open(url).map_err(|e| e.to_string()))
        });
        let phase = Phase::Stopped;
        let initial = Status {
            signed_in: false,
            account: None,
            proxy: proxy_status(&self.settings, &phase),
            launch_at_login: false,
            version: crate::VERSION.to_string(),
            client_version: client.http().client_version().current().into(),
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
                paths: self.paths,
                env: self.env,
                client: RwLock::new(client),
                settings: StdMutex::new(self.settings),
                lifecycle: Mutex::new(Lifecycle::default()),
                phase: StdMutex::new(phase),
                account: StdMutex::new(None),
                session_expired: AtomicBool::new(false),
                login: StdMutex::new(None),
                login_attempts: AtomicU64::new(0),
                status: watch::channel(initial).0,
                publishing: Mutex::new(()),
                alerts: Alerts::new(),
                opener,
                launch_at_login: RwLock::new(self.launch_at_login),
                ledger: StdMutex::new(None),
                conversations: StdMutex::new(None),
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

fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(h) => format!("[{h}]"),
        IpAddr::V4(h) => h.to_string(),
    }
}

fn proxy_status(settings: &Settings, phase: &Phase) -> ProxyStatus {
    let (addr, state, error) = match phase {
        Phase::Running(addr) => (*addr, ProxyRunState::Running, None),
        Phase::Stopped => (
            SocketAddr::new(settings.host, settings.port),
            ProxyRunState::Stopped,
            None,
        ),
        Phase::Failed(e) => (
            SocketAddr::new(settings.host, settings.port),
            ProxyRunState::Error,
            Some(e.clone()),
        ),
    };
    ProxyStatus {
        state,
        host: addr.ip().to_string(),
        port: addr.port(),
        base_url: format!("http://{}:{}/v1", host_text(addr.ip()), addr.port()),
        error,
    }
}

fn settings_view(s: &Settings) -> SettingsView {
    SettingsView {
        host: s.host.to_string(),
        port: s.port,
        default_model: s.default_model.clone(),
        start_proxy_on_launch: s.start_proxy_on_launch,
        require_api_key: s.require_api_key,
        agent_transport: s.agent_transport.as_str().to_string(),
    }
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
            launch_at_login: None,
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
    pub fn paths(&self) -> &Paths {
        &self.inner.paths
    }

    /// The notification policy; subscribe to show its alerts.
    pub fn alerts(&self) -> &Alerts {
        &self.inner.alerts
    }

    /// Alerts to display from now on.
    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Alert> {
        self.inner.alerts.subscribe()
    }

    /// The status, re-sent on every change (the tray and the `status-changed` event).
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    // ---- status ------------------------------------------------------------------------

    /// The current status (also published to subscribers if it changed).
    pub async fn status(&self) -> Status {
        self.publish().await
    }

    async fn compute_status(&self) -> Status {
        let client = self.client();
        let tokens = client.tokens();
        let has_creds = match tokens.current().await {
            Ok(c) => c.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the stored credentials");
                false
            }
        };
        let signed_in = has_creds && !self.inner.session_expired.load(Ordering::SeqCst);
        let account = if signed_in {
            lock(&self.inner.account).clone()
        } else {
            None
        };
        let proxy = {
            let settings = lock(&self.inner.settings);
            let phase = lock(&self.inner.phase);
            proxy_status(&settings, &phase)
        };
        Status {
            signed_in,
            account,
            proxy,
            launch_at_login: self.read_launch_at_login(),
            version: crate::VERSION.to_string(),
            client_version: client.http().client_version().current().into(),
        }
    }

    /// Recomputes the status and sends it to subscribers when it changed.
    async fn publish(&self) -> Status {
        let _one_at_a_time = self.inner.publishing.lock().await;
        let status = self.compute_status().await;
        self.inner.status.send_if_modified(|cur| {
            if *cur == status {
                false
            } else {
                *cur = status.clone();
                true
            }
        });
        status
    }

    fn launch_backend(&self) -> Option<Arc<dyn LaunchAtLogin>> {
        self.inner
            .launch_at_login
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn read_launch_at_login(&self) -> bool {
        match self.launch_backend().map(|b| b.is_enabled()) {
            Some(Ok(on)) => on,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot read the launch-at-login state");
                false
            }
            None => false,
        }
    }

    /// Startup: learns who is signed in and restores the proxy's last state (see the
    /// module doc). Failures end up in the status and the alerts, not here.
    pub async fn launch(&self) -> Status {
        if matches!(self.client().tokens().current().await, Ok(Some(_))) {
            let _ = self.refresh_account().await;
        }
        let wanted = self.settings().start_proxy_on_launch && self.saved_state().proxy_running;
        if wanted {
            if let Err(e) = self.start_inner().await {
                tracing::warn!(error = %e, "the proxy did not start at launch");
            }
        }
        self.publish().await
    }

    /// Stops the proxy for quitting, without changing the remembered state (so the next
    /// launch restores it).
    pub async fn shutdown(&self) {
        self.cancel_sign_in();
        let mut lc = self.inner.lifecycle.lock().await;
        self.stop_locked(&mut lc).await;
    }

    // ---- Cursor calls and the alerts they feed ------------------------------------------

    /// Every Cursor call's outcome (see [`AppBuilder::build`]): failures worth a popup
    /// become alerts, successes resolve them, and a session that expires or comes back
    /// re-renders the status. Runs inline on the caller's path: no awaiting here.
    fn observe_cursor(&self, result: Result<(), &CursorError>) {
        let alerts = &self.inner.alerts;
        let expired = &self.inner.session_expired;
        match result {
            Ok(()) => {
                alerts.resolve(AlertKind::UpstreamUnreachable);
                alerts.resolve(AlertKind::OutdatedClient);
                if expired.swap(false, Ordering::SeqCst) {
                    alerts.resolve(AlertKind::SessionExpired);
                    self.publish_soon();
                }
            }
            Err(CursorError::SessionExpired | CursorError::Unauthenticated { .. }) => {
                if !expired.swap(true, Ordering::SeqCst) {
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

    /// Publishes the status from a synchronous context (the call observer).
    fn publish_soon(&self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let app = self.clone();
            rt.spawn(async move {
                app.publish().await;
            });
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

    /// Fetches the account shown in the status.
    async fn refresh_account(&self) -> Result<Account, CommandError> {
        let r = self.client().account().await;
        let acc = self.cursor(r).await?;
        let account = Account {
            email: Some(acc.email).filter(|e| !e.is_empty()),
            plan: None,
        };
        *lock(&self.inner.account) = Some(account.clone());
        Ok(account)
    }

    // ---- sign in / out -------------------------------------------------------------------

    /// Browser sign-in: opens Cursor's login page (PKCE) and waits until the user approves
    /// it there. A second call cancels the first. Cancellable by [`App::cancel_sign_in`].
    pub async fn sign_in(&self) -> Result<Status, CommandError> {
        // Fail before the browser opens when the credential store cannot be used (no
        // keychain): learning it after approving would be worse. Unreadable stored
        // credentials are fine, signing in replaces them.
        match self.client().tokens().current().await {
            Ok(_) | Err(StoreError::Corrupt { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let client = self.client();
        let http = client.http();
        let pkce = Pkce::generate();
        let url = auth::login_url(http.endpoints(), &pkce);
        let cancel = CancellationToken::new();
        let attempt = self.inner.login_attempts.fetch_add(1, Ordering::SeqCst);
        if let Some((_, previous)) = lock(&self.inner.login).replace((attempt, cancel.clone())) {
            previous.cancel();
        }
        let policy = self.settings().poll_policy();
        let polled = match (self.inner.opener)(url.as_str()) {
            Ok(()) => auth::poll_login(http, &pkce, &policy, &cancel).await,
            Err(e) => {
                self.clear_login(attempt);
                return Err(CommandError::io(format!(
                    "Cannot open your browser to sign in: {e}"
                )));
            }
        };
        self.clear_login(attempt);
        let creds = match polled {
            Ok(c) => c,
            Err(auth::LoginError::Failed(e)) => {
                // Not through the client's observed calls: report it the same way.
                self.observe_cursor(Err(&e));
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        self.client().tokens().sign_in(creds).await?;
        self.inner.session_expired.store(false, Ordering::SeqCst);
        self.inner.alerts.resolve(AlertKind::SessionExpired);
        *lock(&self.inner.account) = None;
        if let Err(e) = self.refresh_account().await {
            tracing::warn!(error = %e, "signed in, but the account details are unavailable");
        }
        Ok(self.publish().await)
    }

    /// Forgets attempt `mine` unless a newer sign-in has replaced it.
    fn clear_login(&self, mine: u64) {
        let mut slot = lock(&self.inner.login);
        if slot.as_ref().is_some_and(|(n, _)| *n == mine) {
            *slot = None;
        }
    }

    /// Cancels a sign-in in progress (it then fails with `login_cancelled`).
    pub fn cancel_sign_in(&self) {
        if let Some((_, t)) = lock(&self.inner.login).take() {
            t.cancel();
        }
    }

    /// True while a browser sign-in waits for approval.
    pub fn signing_in(&self) -> bool {
        lock(&self.inner.login).is_some()
    }

    /// Removes the stored credentials. The proxy keeps running (it answers "not signed
    /// in" until the next sign-in).
    pub async fn sign_out(&self) -> Result<Status, CommandError> {
        let r = self.client().tokens().sign_out().await;
        *lock(&self.inner.account) = None;
        self.inner.session_expired.store(false, Ordering::SeqCst);
        self.inner.alerts.resolve(AlertKind::SessionExpired);
        let status = self.publish().await;
        r?;
        Ok(status)
    }

    // ---- the proxy -----------------------------------------------------------------------

    /// Starts the proxy on the configured host and port and remembers that it runs.
    pub async fn start_proxy(&self) -> Result<Status, CommandError> {
        self.save_state(SavedState {
            proxy_running: true,
        });
        self.start_inner().await?;
        Ok(self.publish().await)
    }

    /// Stops the proxy (in-flight responses get the drain grace period; the port is free
    /// when this returns) and remembers that it is stopped.
    pub async fn stop_proxy(&self) -> Result<Status, CommandError> {
        self.save_state(SavedState {
            proxy_running: false,
        });
        {
            let mut lc = self.inner.lifecycle.lock().await;
            self.stop_locked(&mut lc).await;
        }
        Ok(self.publish().await)
    }

    /// Start if stopped, stop if running (the tray's left click).
    pub async fn toggle_proxy(&self) -> Result<Status, CommandError> {
        let running = matches!(*lock(&self.inner.phase), Phase::Running(_));
        if running {
            self.stop_proxy().await
        } else {
            self.start_proxy().await
        }
    }

    async fn start_inner(&self) -> Result<(), CommandError> {
        let r = {
            let mut lc = self.inner.lifecycle.lock().await;
            self.start_locked(&mut lc).await
        };
        if r.is_err() {
            self.publish().await;
        }
        r
    }

    async fn start_locked(&self, lc: &mut Lifecycle) -> Result<(), CommandError> {
        if lc.run.is_some() {
            return Ok(());
        }
        let settings = self.settings();
        // Off the runtime: opening the ledger waits out a lock held by another process
        // (up to its busy timeout), which would stall every task on this worker.
        let (client, paths, env) = (
            self.client(),
            self.inner.paths.clone(),
            self.inner.env.clone(),
        );
        let kept = lock(&self.inner.conversations).clone().filter(|c| {
            c.opened_as(
                settings.conversation_store_persist,
                settings.conversation_limits(),
            )
        });
        let state = tokio::task::spawn_blocking(move || {
            ProxyState::from_settings_sharing(client, settings, &paths, &env, kept)
        })
        .await
        .map_err(|e| CommandError::internal(format!("starting the proxy failed: {e}")))?
        .map_err(|e| {
            let msg = format!("Cannot read or create the local API key: {e}");
            *lock(&self.inner.phase) = Phase::Failed(msg.clone());
            CommandError::io(msg)
        })?;
        *lock(&self.inner.conversations) = Some(state.conversations.clone());
        match proxy::start(Arc::new(state)).await {
            Ok(running) => {
                let addr = running.local_addr();
                lc.generation += 1;
                let (stop, stop_rx) = oneshot::channel();
                let supervisor = tokio::spawn(supervise(
                    Arc::downgrade(&self.inner),
                    lc.generation,
                    running,
                    stop_rx,
                ));
                lc.run = Some(Run { stop, supervisor });
                *lock(&self.inner.phase) = Phase::Running(addr);
                self.inner.alerts.resolve(AlertKind::PortInUse);
                self.inner.alerts.resolve(AlertKind::ProxyStopped);
                tracing::info!(%addr, "proxy started");
                Ok(())
            }
            Err(e) => {
                if let StartError::PortInUse { ip, port } = &e {
                    self.inner.alerts.raise(Event::PortInUse {
                        ip: *ip,
                        port: *port,
                    });
                }
                let err = CommandError::from(e);
                *lock(&self.inner.phase) = Phase::Failed(err.message.clone());
                Err(err)
            }
        }
    }

    async fn stop_locked(&self, lc: &mut Lifecycle) {
        if let Some(run) = lc.run.take() {
            let _ = run.stop.send(());
            if let Err(e) = run.supervisor.await {
                tracing::warn!(error = %e, "the proxy supervisor failed");
            }
            tracing::info!("proxy stopped");
        }
        *lock(&self.inner.phase) = Phase::Stopped;
    }

    /// Restarts a running proxy so new settings or a new key apply; a stopped one stays
    /// stopped.
    async fn restart_if_running(&self, lc: &mut Lifecycle) -> Result<(), CommandError> {
        if lc.run.is_some() {
            self.stop_locked(lc).await;
            self.start_locked(lc).await?;
        }
        Ok(())
    }

    /// Called (in its own task) when a run's server ended without being stopped.
    async fn proxy_died(self, generation: u64, result: std::io::Result<()>) {
        {
            let mut lc = self.inner.lifecycle.lock().await;
            if lc.generation != generation || lc.run.is_none() {
                return;
            }
            lc.run = None;
            let message = match result {
                Ok(()) => "The proxy stopped unexpectedly".to_string(),
                Err(e) => format!("The proxy stopped unexpectedly: {e}"),
            };
            *lock(&self.inner.phase) = Phase::Failed(message.clone());
            self.inner.alerts.raise(Event::ProxyStopped { message });
        }
        self.publish().await;
    }

    fn saved_state(&self) -> SavedState {
        let path = self.state_file();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable state file");
                SavedState {
                    proxy_running: true,
                }
            }),
            Err(_) => SavedState {
                proxy_running: true,
            },
        }
    }

    fn save_state(&self, state: SavedState) {
        let path = self.state_file();
        let bytes = serde_json::to_vec(&state).unwrap_or_default();
        if let Err(e) = write_atomic(&path, &bytes, false) {
            // Losing this only changes what the next launch restores; not worth failing
            // the user's action over.
            tracing::warn!(path = %path.display(), error = %e, "cannot remember the proxy state");
        }
    }

    fn state_file(&self) -> PathBuf {
        self.inner.paths.data_dir.join(STATE_FILE)
    }

    // ---- models, usage, OpenCode ------------------------------------------------------------

    /// The models the plan can use, with limits (`refresh` skips the cache).
    pub async fn list_models(&self, refresh: bool) -> Result<Vec<Model>, CommandError> {
        if refresh {
            self.client().invalidate_models().await;
        }
        let r = self.client().models().await;
        let models = self.cursor(r).await?;
        Ok(models.iter().map(Model::from).collect())
    }

    /// Cursor's plan usage for the billing cycle.
    pub async fn plan_usage(&self) -> Result<PlanUsage, CommandError> {
        let r = self.client().plan_usage().await;
        let u = self.cursor(r).await?;
        if u.plan_usage.as_ref().and_then(|p| p.has_room()) == Some(true) {
            self.inner.alerts.resolve(AlertKind::Quota);
        }
        Ok(PlanUsage::from_cursor(&u, now_ms()))
    }

    /// What the OpenCode provider block is made of: the live models, this proxy's base URL
    /// and its key.
    async fn provider_inputs(
        &self,
    ) -> Result<(Arc<Vec<crate::cursor::models::ModelInfo>>, String, String), CommandError> {
        let r = self.client().models().await;
        let models = self.cursor(r).await?;
        let key = self.api_key()?;
        let base_url = {
            let settings = lock(&self.inner.settings);
            proxy_status(&settings, &lock(&self.inner.phase)).base_url
        };
        Ok((models, base_url, key))
    }

    /// The OpenCode provider block for the live model list, this proxy and its key.
    pub async fn opencode_snippet(&self) -> Result<OpencodeSnippet, CommandError> {
        let (models, base_url, key) = self.provider_inputs().await?;
        let value = crate::opencode::config_snippet(&models, &base_url, &key);
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| CommandError::internal(format!("Cannot format the snippet: {e}")))?;
        Ok(OpencodeSnippet { text, base_url })
    }

    /// Merges our provider block into OpenCode's config (`path`, else OpenCode's global
    /// config), keeping comments and everything else, after a backup.
    pub async fn opencode_install(
        &self,
        path: Option<PathBuf>,
    ) -> Result<WriteOutcome, CommandError> {
        let (models, base_url, key) = self.provider_inputs().await?;
        let block = crate::opencode::provider_block(&models, &base_url, &key);
        let path = match path {
            Some(p) => p,
            None => install::default_config_path(&self.inner.env)
                .map_err(|e| CommandError::io(e.to_string()))?,
        };
        tokio::task::spawn_blocking(move || {
            install::write_provider(&path, &block, SystemTime::now())
        })
        .await
        .map_err(|e| CommandError::internal(format!("The config writer stopped: {e}")))?
        .map_err(|e| {
            if e.is_refusal() {
                CommandError::invalid_input(e.to_string())
            } else {
                CommandError::io(e.to_string())
            }
        })
    }

    // ---- the usage ledger --------------------------------------------------------------------

    fn ledger(&self) -> Result<Ledger, CommandError> {
        let mut slot = lock(&self.inner.ledger);
        if let Some(l) = slot.as_ref() {
            return Ok(l.clone());
        }
        let l = Ledger::open(&self.inner.paths.ledger_file())
            .map_err(|e| CommandError::io(e.to_string()))?;
        *slot = Some(l.clone());
        Ok(l)
    }

    /// Requests, tokens, latency and errors from our own ledger over `range`.
    pub async fn usage_report(&self, range: Range) -> Result<UsageReport, CommandError> {
        self.ledger()?
            .report(range, now_ms())
            .await
            .map_err(|e| CommandError::io(e.to_string()))
    }

    /// The latest failed requests, newest first.
    pub async fn recent_errors(&self) -> Result<Vec<RecentError>, CommandError> {
        self.ledger()?
            .recent_errors(20)
            .await
            .map_err(|e| CommandError::io(e.to_string()))
    }

    // ---- settings and the local key ---------------------------------------------------------

    /// The settings in use.
    pub fn settings(&self) -> Settings {
        lock(&self.inner.settings).clone()
    }

    /// The settings the UI edits.
    pub fn get_settings(&self) -> SettingsView {
        settings_view(&lock(&self.inner.settings))
    }

    /// Validates and saves (atomically) the UI's settings; a running proxy restarts so a
    /// new host, port, key requirement, default model or agent transport applies at once.
    /// A new agent transport also replaces the Cursor client's HTTP client (keeping its
    /// tokens, model cache and observer), so the next run uses it, proxy running or not;
    /// runs in flight finish on the old one. Only these six fields are written: the rest
    /// of `settings.toml` (and anything the environment overrides) is kept as it is on
    /// disk. A transport the environment sets cannot be changed here (it would come back
    /// at the next launch).
    pub async fn update_settings(&self, view: SettingsView) -> Result<SettingsView, CommandError> {
        let host: IpAddr = view.host.trim().parse().map_err(|_| {
            CommandError::invalid_input(format!(
                "host: expected an IP address such as 127.0.0.1, got {:?}",
                view.host
            ))
        })?;
        let transport = AgentTransport::parse(&view.agent_transport).ok_or_else(|| {
            CommandError::invalid_input(format!(
                "{}: expected \"http2\" or \"http1\", got {:?}",
                ipc::ui_field("agent_transport"),
                view.agent_transport
            ))
        })?;
        let apply = |s: &mut Settings| {
            s.host = host;
            s.port = view.port;
            s.default_model = view.default_model.trim().to_string();
            s.start_proxy_on_launch = view.start_proxy_on_launch;
            s.require_api_key = view.require_api_key;
            s.agent_transport = transport;
        };
        let mut lc = self.inner.lifecycle.lock().await;
        let current = self.settings();
        let mut next = current.clone();
        apply(&mut next);
        next.validate()?;
        if next == current {
            return Ok(settings_view(&next));
        }
        let transport_changed = next.agent_transport != current.agent_transport;
        if transport_changed && self.inner.env.get(ENV_AGENT_TRANSPORT).is_some() {
            return Err(CommandError::invalid_input(format!(
                "{}: set to {:?} by the {ENV_AGENT_TRANSPORT} environment variable; change it there",
                ipc::ui_field("agent_transport"),
                current.agent_transport.as_str()
            )));
        }
        // Built before anything is saved, so a failure leaves the settings as they were.
        let http = if transport_changed {
            let version = self.client().http().client_version().clone();
            Some(CursorHttp::new(next.http_config_with(version))?)
        } else {
            None
        };
        let mut on_disk = Settings::load(&self.inner.paths, &Env::default())?;
        apply(&mut on_disk);
        on_disk.validate()?;
        on_disk.save(&self.inner.paths)?;
        *lock(&self.inner.settings) = next.clone();
        if let Some(http) = http {
            let mut client = self.inner.client.write().unwrap_or_else(|p| p.into_inner());
            *client = client.clone().with_http(http);
            tracing::info!(
                transport = next.agent_transport.as_str(),
                "agent transport changed"
            );
        }
        let proxy_changed = transport_changed
            || (
                next.host,
                next.port,
                next.require_api_key,
                &next.default_model,
            ) != (
                current.host,
                current.port,
                current.require_api_key,
                &current.default_model,
            );
        let restarted = if proxy_changed {
            self.restart_if_running(&mut lc).await
        } else {
            Ok(())
        };
        drop(lc);
        self.publish().await;
        restarted.map(|()| settings_view(&next))
    }

    /// The local API key clients send as `Authorization: Bearer …`.
    pub fn api_key(&self) -> Result<String, CommandError> {
        local_key::load_or_create(&self.inner.paths.data_dir, self.inner.env.get(ENV_API_KEY))
            .map_err(|e| {
                CommandError::io(format!(
                    "Cannot read or create the local API key in {}: {e}",
                    self.inner.paths.data_dir.display()
                ))
            })
    }

    /// Replaces the local API key; a running proxy restarts so only the new key works.
    pub async fn regenerate_api_key(&self) -> Result<String, CommandError> {
        if self.inner.env.get(ENV_API_KEY).is_some() {
            return Err(CommandError::invalid_input(format!(
                "The key is set by the {ENV_API_KEY} environment variable; change it there"
            )));
        }
        let mut lc = self.inner.lifecycle.lock().await;
        let key = local_key::regenerate(&self.inner.paths.data_dir)
            .map_err(|e| CommandError::io(format!("Cannot write a new local API key: {e}")))?;
        let restarted = self.restart_if_running(&mut lc).await;
        drop(lc);
        self.publish().await;
        restarted.map(|()| key)
    }

    /// Forgets every kept conversation checkpoint — in the running proxy's memory and
    /// in `<data_dir>/conversations.json` — and says how many there were. Their next turns
    /// start from the history the client sends.
    pub async fn forget_conversations(&self) -> Result<u32, CommandError> {
        let settings = self.settings();
        let store = lock(&self.inner.conversations).clone();
        let data_dir = self.inner.paths.data_dir.clone();
        let n = tokio::task::spawn_blocking(move || {
            let store = store.unwrap_or_else(|| {
                ConversationStore::open(
                    &data_dir,
                    settings.conversation_store_persist,
                    settings.conversation_limits(),
                )
            });
            let n = store.clear()?;
            // A store opened with persistence off never had the file; one may be left from
            // before, and it holds prompts too.
            crate::engine::conversations::forget_file(&data_dir)?;
            Ok::<_, std::io::Error>(n)
        })
        .await
        .map_err(|e| CommandError::internal(format!("forgetting conversations failed: {e}")))?
        .map_err(|e| CommandError::io(format!("Cannot delete the kept conversations: {e}")))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    // ---- the desktop --------------------------------------------------------------------------

    /// Turns launch-at-login on or off and returns what the OS says afterwards.
    pub async fn set_launch_at_login(&self, enabled: bool) -> Result<bool, CommandError> {
        let backend = self
            .launch_backend()
            .ok_or_else(|| CommandError::internal("Launch at login is not available here."))?;
        backend
            .set_enabled(enabled)
            .map_err(|e| CommandError::io(format!("Cannot change launch at login: {e}")))?;
        let now = backend
            .is_enabled()
            .map_err(|e| CommandError::io(format!("Cannot read launch at login: {e}")))?;
        self.publish().await;
        Ok(now)
    }

    /// Opens the log directory in the file manager.
    pub fn open_log_folder(&self) -> Result<(), CommandError> {
        let dir = &self.inner.paths.log_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| CommandError::io(format!("Cannot create {}: {e}", dir.display())))?;
        let url = url::Url::from_directory_path(dir)
            .map_err(|()| CommandError::internal(format!("{} is not absolute", dir.display())))?;
        (self.inner.opener)(url.as_str())
            .map_err(|e| CommandError::io(format!("Cannot open {}: {e}", dir.display())))
    }
}

/// Owns a running proxy until it is told to stop or ends on its own.
async fn supervise(
    app: Weak<Inner>,
    generation: u64,
    mut running: RunningProxy,
    stop: oneshot::Receiver<()>,
) {
    // A dropped sender (the app went away) also means stop.
    let ended = tokio::select! {
        _ = stop => None,
        r = running.wait() => Some(r),
    };
    match ended {
        None => {
            if let Err(e) = running.stop().await {
                tracing::warn!(error = %e, "the proxy ended with an error while stopping");
            }
        }
        Some(result) => {
            if let Some(inner) = app.upgrade() {
                // In its own task: the one stopping this run may hold the lifecycle lock
                // while it waits for this supervisor to return.
                tokio::spawn(App { inner }.proxy_died(generation, result));
            }
        }
    }
}
