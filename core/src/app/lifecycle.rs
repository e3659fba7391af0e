//! The proxy's lifecycle: start, stop, toggle, a restart when settings or the key
//! change, a run that dies on its own, launch and shutdown; the conversation store every
//! run serves; and the proxy's last state in `<data_dir>/app-state.json`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex as StdMutex, Weak};

use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, oneshot};
use tokio::task::JoinHandle;

use super::{
    AlertKind, App, CommandError, Event, Inner, ProxyRunState, ProxyStatus, Status, blocking, lock,
};
use crate::config::settings::{Settings, write_atomic};
use crate::engine::conversations::ConversationStore;
use crate::proxy::{self, ProxyState, RunningProxy, StartError};

/// File name of the remembered proxy state in the data directory.
pub(crate) const STATE_FILE: &str = "app-state.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SavedState {
    proxy_running: bool,
}

impl Default for SavedState {
    /// A first launch (or an unreadable file) restores a running proxy.
    fn default() -> Self {
        SavedState {
            proxy_running: true,
        }
    }
}

/// The proxy part's state.
pub(super) struct Proxy {
    /// Held across binding and stopping the proxy and across a settings change that
    /// restarts it — awaits included, on purpose: start/stop/restart never interleave (two
    /// quick clicks on the tray toggle cannot start two servers). An async mutex, so
    /// what waits for it parks. A start prepares the proxy's state (key, ledger — which
    /// may wait seconds for another process —, conversation file) on `spawn_blocking`
    /// before taking it; only a restart, which must not let a click in between, prepares
    /// under it.
    pub(super) lifecycle: Mutex<Lifecycle>,
    /// Read for every status: a `std::sync` lock held only to copy it.
    phase: StdMutex<Phase>,
    /// The conversation store every proxy run serves, opened at the first start (and
    /// again when its settings change), so "Forget conversations" clears what a running
    /// proxy holds too.
    conversations: StdMutex<Option<ConversationStore>>,
    /// The guard every proxy run serves: its trips, pause and counts outlive a restart
    /// (a settings change restarts the proxy; it must not reset the budgets).
    pub(super) guard: Arc<crate::engine::guard::Guard>,
    /// The guard's watcher is running (started by the first proxy start).
    pub(super) guard_watched: std::sync::atomic::AtomicBool,
    /// Listeners bound by the caller ([`super::AppBuilder::listener`]), each served by the
    /// first start on its address.
    listeners: StdMutex<Vec<std::net::TcpListener>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("phase", &*lock(&self.phase))
            .finish_non_exhaustive()
    }
}

/// The running proxy, owned by its supervisor task.
#[derive(Default)]
pub(super) struct Lifecycle {
    run: Option<Run>,
    /// Bumped per start, so a late "it died" report of an old run is ignored.
    generation: u64,
    /// Bumped when what a proxy's state is made of changes (settings, the key): a state
    /// prepared before that is prepared again.
    config: u64,
    /// Bumped per stop: a start prepared before a stop is dropped, as if it had run first.
    stops: u64,
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

impl Proxy {
    pub(super) fn new(listeners: Vec<std::net::TcpListener>) -> Proxy {
        Proxy {
            lifecycle: Mutex::new(Lifecycle::default()),
            phase: StdMutex::new(Phase::Stopped),
            conversations: StdMutex::new(None),
            guard: Arc::new(crate::engine::guard::Guard::new()),
            guard_watched: std::sync::atomic::AtomicBool::new(false),
            listeners: StdMutex::new(listeners),
        }
    }

    /// The proxy part of the status: where it listens when running, else where it would.
    pub(super) fn status(&self, settings: &Settings) -> ProxyStatus {
        let configured = SocketAddr::new(settings.host, settings.port);
        let (addr, state, error) = match &*lock(&self.phase) {
            Phase::Running(addr) => (*addr, ProxyRunState::Running, None),
            Phase::Stopped => (configured, ProxyRunState::Stopped, None),
            Phase::Failed(e) => (configured, ProxyRunState::Error, Some(e.clone())),
        };
        ProxyStatus {
            state,
            host: addr.ip().to_string(),
            port: addr.port(),
            base_url: format!("http://{}:{}/v1", host_text(addr.ip()), addr.port()),
            error,
        }
    }

    fn set_phase(&self, phase: Phase) {
        *lock(&self.phase) = phase;
    }

    fn fail(&self, message: &str) {
        self.set_phase(Phase::Failed(message.to_string()));
    }

    /// The caller's listener bound to `addr`, if it handed one in.
    fn take_listener(&self, addr: SocketAddr) -> Option<std::net::TcpListener> {
        let mut listeners = lock(&self.listeners);
        let i = listeners
            .iter()
            .position(|l| l.local_addr().is_ok_and(|a| a == addr))?;
        Some(listeners.swap_remove(i))
    }
}

fn host_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V6(h) => format!("[{h}]"),
        IpAddr::V4(h) => h.to_string(),
    }
}

impl App {
    /// Startup: learns who is signed in and restores the proxy's last state (see the
    /// module doc). Failures end up in the status and the alerts, not here.
    pub async fn launch(&self) -> Status {
        if matches!(self.client().tokens().current().await, Ok(Some(_))) {
            let _ = self.refresh_account().await;
        }
        let wanted =
            self.settings().start_proxy_on_launch && self.saved_state().await.proxy_running;
        if wanted && let Err(e) = self.start_inner().await {
            tracing::warn!(error = %e, "the proxy did not start at launch");
        }
        self.publish().await
    }

    /// Stops the proxy for quitting, without changing the remembered state (so the next
    /// launch restores it).
    pub async fn shutdown(&self) {
        self.cancel_sign_in();
        let mut lc = self.inner.proxy.lifecycle.lock().await;
        self.stop_locked(&mut lc).await;
    }

    /// Starts the proxy on the configured host and port and remembers that it runs.
    pub async fn start_proxy(&self) -> Result<Status, CommandError> {
        self.save_state(SavedState {
            proxy_running: true,
        })
        .await;
        self.start_inner().await?;
        Ok(self.publish().await)
    }

    /// Stops the proxy (in-flight responses get the drain grace period; the port is free
    /// when this returns) and remembers that it is stopped.
    pub async fn stop_proxy(&self) -> Result<Status, CommandError> {
        self.save_state(SavedState {
            proxy_running: false,
        })
        .await;
        {
            let mut lc = self.inner.proxy.lifecycle.lock().await;
            self.stop_locked(&mut lc).await;
        }
        Ok(self.publish().await)
    }

    /// Start if stopped, stop if running (the tray's left click).
    pub async fn toggle_proxy(&self) -> Result<Status, CommandError> {
        let running = matches!(*lock(&self.inner.proxy.phase), Phase::Running(_));
        if running {
            self.stop_proxy().await
        } else {
            self.start_proxy().await
        }
    }

    async fn start_inner(&self) -> Result<(), CommandError> {
        let r = self.start_prepared_first().await;
        if r.is_err() {
            self.publish().await;
        }
        r
    }

    /// Starts the proxy unless it runs, preparing its state before taking the lifecycle
    /// lock. Settings or a key that changed meanwhile mean preparing again; a stop
    /// meanwhile drops the start (as if it had come first and been stopped).
    async fn start_prepared_first(&self) -> Result<(), CommandError> {
        let part = &self.inner.proxy;
        loop {
            let seen = {
                let lc = part.lifecycle.lock().await;
                if lc.run.is_some() {
                    return Ok(());
                }
                (lc.config, lc.stops)
            };
            let prepared = self.prepare().await;
            let mut lc = part.lifecycle.lock().await;
            if lc.run.is_some() || lc.stops != seen.1 {
                return Ok(());
            }
            if lc.config == seen.0 {
                let state = prepared.inspect_err(|e| part.fail(&e.message))?;
                return self.run(&mut lc, state).await;
            }
        }
    }

    async fn start_locked(&self, lc: &mut Lifecycle) -> Result<(), CommandError> {
        if lc.run.is_some() {
            return Ok(());
        }
        let state = self
            .prepare()
            .await
            .inspect_err(|e| self.inner.proxy.fail(&e.message))?;
        self.run(lc, state).await
    }

    /// The state of the next proxy run, built from the settings in use.
    async fn prepare(&self) -> Result<ProxyState, CommandError> {
        let part = &self.inner.proxy;
        let settings = self.settings();
        let kept = lock(&part.conversations).clone().filter(|c| {
            c.opened_as(
                settings.conversation_store_persist,
                settings.conversation_limits(),
            )
        });
        // Off the runtime: opening the ledger waits out a lock held by another process
        // (up to its busy timeout), which would stall every task on this worker.
        let (client, wiring) = (self.client(), self.inner.wiring.clone());
        let guard = part.guard.clone();
        blocking("starting the proxy", move || {
            wiring.proxy_state(client, settings, kept, guard)
        })
        .await?
        .map_err(|e| CommandError::io(format!("Cannot read or create the local API key: {e}")))
    }

    /// Serves a prepared state under the lifecycle lock, supervised.
    async fn run(&self, lc: &mut Lifecycle, state: ProxyState) -> Result<(), CommandError> {
        let part = &self.inner.proxy;
        *lock(&part.conversations) = Some(state.engine.conversations.clone());
        match self.serve(Arc::new(state)).await {
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
                self.watch_guard();
                part.set_phase(Phase::Running(addr));
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
                part.fail(&err.message);
                Err(err)
            }
        }
    }

    /// Serves `state` on the caller's listener for its address if one was handed in
    /// (whose binding, loopback or not, was the caller's choice), else binds it.
    async fn serve(&self, state: Arc<ProxyState>) -> Result<RunningProxy, StartError> {
        let addr = SocketAddr::new(state.settings().host, state.settings().port);
        let Some(listener) = self.inner.proxy.take_listener(addr) else {
            return proxy::start(state).await;
        };
        let io = |source| StartError::Io { addr, source };
        listener.set_nonblocking(true).map_err(io)?;
        let listener = tokio::net::TcpListener::from_std(listener).map_err(io)?;
        proxy::start_on(listener, state)
    }

    /// Stops the proxy for the user (or for quitting): a start being prepared is dropped.
    async fn stop_locked(&self, lc: &mut Lifecycle) {
        lc.stops += 1;
        self.halt(lc).await;
    }

    /// Stops the run and waits for its port to be free.
    async fn halt(&self, lc: &mut Lifecycle) {
        if let Some(run) = lc.run.take() {
            let _ = run.stop.send(());
            if let Err(e) = run.supervisor.await {
                tracing::warn!(error = %e, "the proxy supervisor failed");
            }
            tracing::info!("proxy stopped");
        }
        self.inner.proxy.set_phase(Phase::Stopped);
    }

    /// Restarts a running proxy so new settings or a new key apply; a stopped one stays
    /// stopped, and a start being prepared prepares again.
    pub(super) async fn restart_if_running(&self, lc: &mut Lifecycle) -> Result<(), CommandError> {
        lc.config += 1;
        if lc.run.is_some() {
            self.halt(lc).await;
            self.start_locked(lc).await?;
        }
        Ok(())
    }

    /// Called (in its own task) when a run's server ended without being stopped.
    async fn proxy_died(self, generation: u64, result: std::io::Result<()>) {
        {
            let mut lc = self.inner.proxy.lifecycle.lock().await;
            if lc.generation != generation || lc.run.is_none() {
                return;
            }
            lc.run = None;
            let message = match result {
                Ok(()) => "The proxy stopped unexpectedly".to_string(),
                Err(e) => format!("The proxy stopped unexpectedly: {e}"),
            };
            self.inner.proxy.fail(&message);
            self.inner.alerts.raise(Event::ProxyStopped { message });
        }
        self.publish().await;
    }

    async fn saved_state(&self) -> SavedState {
        let path = self.paths().data_dir.join(STATE_FILE);
        let read = blocking("reading the proxy state", move || {
            let bytes = std::fs::read(&path).ok()?;
            Some(serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable state file");
                SavedState::default()
            }))
        })
        .await;
        read.ok().flatten().unwrap_or_default()
    }

    async fn save_state(&self, state: SavedState) {
        let path = self.paths().data_dir.join(STATE_FILE);
        let bytes = serde_json::to_vec(&state).unwrap_or_default();
        let written = blocking("remembering the proxy state", move || {
            write_atomic(&path, &bytes, true).map_err(|e| format!("{}: {e}", path.display()))
        })
        .await
        .map_err(|e| e.message)
        .and_then(|r| r);
        if let Err(e) = written {
            // Losing this only changes what the next launch restores; not worth failing
            // the user's action over.
            tracing::warn!(error = %e, "cannot remember the proxy state");
        }
    }

    /// Forgets every kept conversation checkpoint — in the running proxy's memory and
    /// in `<data_dir>/conversations.json` — and says how many there were. Their next turns
    /// start from the history the client sends.
    pub async fn forget_conversations(&self) -> Result<u32, CommandError> {
        let settings = self.settings();
        let store = lock(&self.inner.proxy.conversations).clone();
        let wiring = self.inner.wiring.clone();
        let n = blocking("forgetting conversations", move || {
            let store = store.unwrap_or_else(|| wiring.conversations(&settings));
            let n = store.clear()?;
            // A store opened with persistence off never had the file; one may be left from
            // before, and it holds prompts too.
            crate::engine::conversations::forget_file(&wiring.paths().data_dir)?;
            Ok::<_, std::io::Error>(n)
        })
        .await?
        .map_err(|e| CommandError::io(format!("Cannot delete the kept conversations: {e}")))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
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
