//! The proxy's lifecycle: start, stop, toggle, a restart when settings or the key
//! change, a socket that dies on its own, launch and shutdown; the conversation store
//! every run serves; and the proxy's last state in `<data_dir>/app-state.json`.
//!
//! The port is the app's for its whole life (issue 15): bound at the first start (or at
//! launch when `start_proxy_on_launch` is on, even if the proxy was left stopped) and
//! released only on quit. A stop swaps the running proxy for the "stopped" 503
//! (`crate::proxy::stopped_router`) without unbinding; a settings change or a new key
//! swaps one run for the next on the same socket; only a new port binds anew, and then
//! the new port is bound before the old one is released. Another local user therefore
//! never finds the port free to pose as the proxy.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex as StdMutex};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::{
    AlertKind, App, CommandError, Event, ProxyRunState, ProxyStatus, Status, blocking, lock,
};
use crate::config::settings::{Settings, write_atomic};
use crate::engine::conversations::ConversationStore;
use crate::proxy::server::{Generation, Socket};
use crate::proxy::{self, ProxyState, Served, StartError};

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

/// The running proxy and the socket it is served on.
#[derive(Default)]
pub(super) struct Lifecycle {
    run: Option<Served>,
    /// The port, held from the first start (or launch) until quit.
    socket: Option<Socket>,
    /// Bumped per socket, so a late "it died" report of a replaced socket is ignored.
    generation: u64,
    /// Bumped when what a proxy's state is made of changes (settings, the key): a state
    /// prepared before that is prepared again.
    config: u64,
    /// Bumped per stop: a start prepared before a stop is dropped, as if it had run first.
    stops: u64,
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

    /// The conversation store to serve with `settings`: the one in use unless its own
    /// settings changed.
    fn kept_conversations(&self, settings: &Settings) -> Option<ConversationStore> {
        lock(&self.conversations).clone().filter(|c| {
            c.opened_as(
                settings.conversation_store_persist,
                settings.conversation_limits(),
            )
        })
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
        if wanted {
            if let Err(e) = self.start_inner().await {
                tracing::warn!(error = %e, "the proxy did not start at launch");
            }
        } else if self.settings().start_proxy_on_launch {
            // Stopped last time: the port is held all the same, answering "stopped".
            let mut lc = self.inner.proxy.lifecycle.lock().await;
            if lc.run.is_none()
                && lc.socket.is_none()
                && let Err(e) = self.hold_stopped(&mut lc).await
            {
                tracing::warn!(error = %e, "the proxy's port could not be held at launch");
            }
        }
        self.publish().await
    }

    /// Stops the proxy for quitting and releases its port, without changing the
    /// remembered state (so the next launch restores it).
    pub async fn shutdown(&self) {
        self.cancel_sign_in();
        let mut lc = self.inner.proxy.lifecycle.lock().await;
        lc.stops += 1;
        let run = lc.run.take();
        // Refuse new connections at once, then let the run drain.
        if let Some(socket) = lc.socket.take() {
            socket.close().await.retire();
        }
        if let Some(run) = run {
            run.end().await;
            tracing::info!("proxy stopped");
        }
        self.inner.proxy.set_phase(Phase::Stopped);
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

    /// Stops the proxy (in-flight responses get the drain grace period; the port stays
    /// held, answering a 503 that says the proxy is stopped) and remembers that it is
    /// stopped.
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

    /// Prepares a run with the settings in use and serves it, replacing a running one.
    async fn start_locked(&self, lc: &mut Lifecycle) -> Result<(), CommandError> {
        let state = self.prepare().await.inspect_err(|e| {
            if lc.run.is_none() {
                self.inner.proxy.fail(&e.message);
            }
        })?;
        self.run(lc, state).await
    }

    /// The state of the next proxy run, built from the settings in use.
    async fn prepare(&self) -> Result<ProxyState, CommandError> {
        let part = &self.inner.proxy;
        let settings = self.settings();
        let kept = part.kept_conversations(&settings);
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

    /// Serves a prepared state under the lifecycle lock on the app's socket, replacing
    /// the run or the "stopped" answer it served; a run replaced this way drains as a stop
    /// would. When the socket cannot be had (the port is taken) a running proxy keeps
    /// serving where it was.
    async fn run(&self, lc: &mut Lifecycle, state: ProxyState) -> Result<(), CommandError> {
        let part = &self.inner.proxy;
        *lock(&part.conversations) = Some(state.engine.conversations.clone());
        let settings = state.settings().clone();
        let served = Served::begin(Arc::new(state)).await;
        match self.install(lc, &settings, served.generation()).await {
            Ok(addr) => {
                let old = lc.run.replace(served);
                self.watch_guard();
                part.set_phase(Phase::Running(addr));
                self.inner.alerts.resolve(AlertKind::PortInUse);
                self.inner.alerts.resolve(AlertKind::ProxyStopped);
                tracing::info!(%addr, "proxy started");
                if let Some(old) = old {
                    old.end().await;
                }
                Ok(())
            }
            Err(e) => {
                served.end().await;
                let err = self.start_failed(e);
                if lc.run.is_none() {
                    part.fail(&err.message);
                }
                Err(err)
            }
        }
    }

    /// The error of a start that could not have its port, alerting when it is taken.
    fn start_failed(&self, e: StartError) -> CommandError {
        if let StartError::PortInUse { ip, port, owner } = &e {
            self.inner.alerts.raise(Event::PortInUse {
                ip: *ip,
                port: *port,
                owner: owner.clone(),
            });
        }
        CommandError::from(e)
    }

    /// Makes `generation` what the socket on the configured address serves, binding that
    /// address first when the socket is elsewhere or not held yet (the old socket is
    /// released only after the new one is bound). The replaced generation is retired:
    /// the "stopped" answer's connections close; a run's are drained by its owner.
    /// Returns the address served.
    async fn install(
        &self,
        lc: &mut Lifecycle,
        settings: &Settings,
        generation: Generation,
    ) -> Result<SocketAddr, StartError> {
        let addr = SocketAddr::new(settings.host, settings.port);
        if let Some(socket) = lc.socket.as_ref().filter(|s| s.local_addr() == addr) {
            socket.install(generation).retire();
            return Ok(addr);
        }
        let listener = self.listen(settings).await?;
        let bound = listener
            .local_addr()
            .map_err(|source| StartError::Io { addr, source })?;
        let twin = proxy::bind_twin(bound, settings).await;
        let socket = Socket::open(listener, twin.into_iter().collect(), generation)
            .map_err(|source| StartError::Io { addr, source })?;
        let addr = socket.local_addr();
        lc.generation += 1;
        self.supervise(lc.generation, &socket);
        if let Some(old) = lc.socket.replace(socket) {
            old.close().await.retire();
        }
        Ok(addr)
    }

    /// A listener on the configured address: the caller's for that address if one was
    /// handed in (whose binding, loopback or not, was the caller's choice), else bound.
    async fn listen(&self, settings: &Settings) -> Result<tokio::net::TcpListener, StartError> {
        let addr = SocketAddr::new(settings.host, settings.port);
        let Some(listener) = self.inner.proxy.take_listener(addr) else {
            return proxy::bind(settings).await;
        };
        let io = |source| StartError::Io { addr, source };
        listener.set_nonblocking(true).map_err(io)?;
        tokio::net::TcpListener::from_std(listener).map_err(io)
    }

    /// What the socket serves while the proxy is stopped: the "stopped" 503 behind the
    /// usual checks, with the current settings and key.
    fn stopped_generation(&self) -> Generation {
        let settings = self.settings();
        // A key that cannot be read is one nobody can present (an empty key is refused).
        let key = settings
            .require_api_key
            .then(|| self.api_key().unwrap_or_default());
        let gate = ProxyState::new(self.client(), settings, key);
        proxy::stopped_generation(Arc::new(gate))
    }

    /// Holds the configured port answering "stopped" (launch with the proxy left stopped,
    /// a settings change while stopped); a taken port is alerted and shown.
    async fn hold_stopped(&self, lc: &mut Lifecycle) -> Result<(), CommandError> {
        let settings = self.settings();
        let generation = self.stopped_generation();
        match self.install(lc, &settings, generation).await {
            Ok(_) => {
                self.inner.alerts.resolve(AlertKind::PortInUse);
                Ok(())
            }
            Err(e) => {
                let err = self.start_failed(e);
                self.inner.proxy.fail(&err.message);
                Err(err)
            }
        }
    }

    /// Watches the socket's accept loop: one that ends without being closed or replaced
    /// means the proxy died.
    fn supervise(&self, generation: u64, socket: &Socket) {
        let ended = socket.ended();
        let app = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            ended.await;
            if let Some(inner) = app.upgrade() {
                App { inner }.proxy_died(generation).await;
            }
        });
    }

    /// Stops the proxy for the user (or for quitting): a start being prepared is dropped.
    async fn stop_locked(&self, lc: &mut Lifecycle) {
        lc.stops += 1;
        self.halt(lc).await;
    }

    /// Stops the run: the socket answers "stopped" at once, and the run drains.
    async fn halt(&self, lc: &mut Lifecycle) {
        if let Some(run) = lc.run.take() {
            if let Some(socket) = &lc.socket {
                socket.install(self.stopped_generation()).retire();
            }
            run.end().await;
            tracing::info!("proxy stopped");
        }
        self.inner.proxy.set_phase(Phase::Stopped);
    }

    /// Makes new settings or a new key apply: a running proxy is replaced by a run
    /// prepared with them on the same socket (no moment without a server), a stopped one
    /// answers "stopped" with them (on the new port, if it changed), and a start being
    /// prepared prepares again.
    pub(super) async fn restart_if_running(&self, lc: &mut Lifecycle) -> Result<(), CommandError> {
        lc.config += 1;
        if lc.run.is_none() {
            if lc.socket.is_some() {
                // Settings saved are not undone by a port that is taken: the alert says it.
                let _ = self.hold_stopped(lc).await;
            }
            return Ok(());
        }
        if self
            .inner
            .proxy
            .kept_conversations(&self.settings())
            .is_none()
        {
            // A conversation store opened anew must not meet the old store's last write:
            // the old run ends first (the socket answers "stopped" meanwhile).
            self.halt(lc).await;
        }
        self.start_locked(lc).await
    }

    /// Called (in its own task) when a socket's accept loop ended; unless that socket was
    /// closed or replaced on purpose meanwhile, the proxy died.
    async fn proxy_died(self, generation: u64) {
        {
            let mut lc = self.inner.proxy.lifecycle.lock().await;
            if lc.generation != generation || lc.socket.is_none() {
                return;
            }
            lc.socket = None;
            if let Some(run) = lc.run.take() {
                run.end().await;
            }
            let message = "The proxy stopped unexpectedly".to_string();
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
