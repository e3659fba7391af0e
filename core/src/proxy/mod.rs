//! INBOUND: the localhost server every client talks to.
//!
//! - [`security`]: the middleware in front of every route — loopback `Host`
//!   (DNS-rebinding guard), browser `Origin` refusal, the per-install key (Bearer or
//!   `x-api-key`), JSON bodies only; every refusal logged in summary ([`refusals`]).
//!   No CORS headers, ever. (Not to be confused with the
//!   spend and loop guard, `crate::engine::guard`.)
//! - the routes: every dialect's (`crate::dialects::routes`), `GET /v1/models`
//!   ([`models`]), `/health`, and the guard's `GET /guard`, `POST /guard/resume` and
//!   `POST /guard/pause`.
//!
//! - [`server`]: the accept loop over one listening socket, serving each new connection
//!   with what is in its slot (a run's router, or the "stopped" 503), with the connection
//!   bounds (header timeout, connection cap). The app keeps one socket for its whole life
//!   (`crate::app::lifecycle`), so the port is never free for another user to take.
//! - [`owner`]: who holds a port we could not bind.
//!
//! The server takes an already-bound listener and a shutdown future ([`serve`]), so tests
//! bind port 0; [`start_on`] spawns it and hands back a [`RunningProxy`]. Stopping drains
//! in-flight responses for `drain_grace_secs`, then cancels them.

pub(crate) mod models;
pub mod owner;
pub(crate) mod refusals;
pub(crate) mod security;
pub(crate) mod server;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderValue;
use axum::response::{Json, Response};
use axum::routing::get;
use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

use crate::config::settings::{ENV_API_KEY, Env, Paths, Settings};
use crate::cursor::CursorClient;
use crate::engine::conversations::ConversationStore;
use crate::engine::error::ApiError;
use crate::engine::request::Dialect;
use crate::store::ledger::Ledger;
use crate::store::local_key;

use crate::engine::Engine;
pub use owner::PortOwner;

/// What handlers share (cheap to clone behind an `Arc`): the engine the dialects drive,
/// and what only the server itself needs.
pub struct ProxyState {
    /// The conversation engine (Cursor client, settings, parked runs, ledger, store).
    pub engine: Arc<Engine>,
    /// The Bearer key clients must send; `None` when the check is off. Wiped from memory
    /// when the proxy stops (this copy lives as long as the server).
    pub api_key: Option<Zeroizing<String>>,
    /// Refused requests, logged in summary.
    pub(crate) refusals: refusals::RefusalLog,
}

impl std::fmt::Debug for ProxyState {
    /// Everything but the local key's text (a panic message or a `{:?}` log prints this).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyState")
            .field("engine", &self.engine)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl ProxyState {
    /// State for the given client and settings; the key is checked when `api_key` is set.
    pub fn new(client: CursorClient, settings: Settings, api_key: Option<String>) -> Self {
        Self::with_engine(Engine::new(client, settings), api_key)
    }

    /// State serving `engine`.
    pub fn with_engine(engine: Engine, api_key: Option<String>) -> Self {
        ProxyState {
            engine: Arc::new(engine),
            api_key: api_key.map(Zeroizing::new),
            refusals: refusals::RefusalLog::default(),
        }
    }

    /// The settings the proxy was started with.
    pub fn settings(&self) -> &Settings {
        &self.engine.settings
    }

    /// State as the CLI and the tray build it: the per-install key (or
    /// `CURSOR_BRIDGE_API_KEY`) unless the settings turn the check off.
    pub fn from_settings(
        client: CursorClient,
        settings: Settings,
        paths: &Paths,
        env: &Env,
    ) -> std::io::Result<Self> {
        Self::from_settings_sharing(client, settings, paths, env, None, None)
    }

    /// [`ProxyState::from_settings`] serving `conversations` (the tray keeps one store
    /// across proxy restarts and clears it on "Forget conversations"; `None` opens the
    /// data dir's) and `guard` (the app keeps one across restarts; `None` starts afresh).
    pub(crate) fn from_settings_sharing(
        client: CursorClient,
        settings: Settings,
        paths: &Paths,
        env: &Env,
        conversations: Option<ConversationStore>,
        guard: Option<Arc<crate::engine::guard::Guard>>,
    ) -> std::io::Result<Self> {
        let key = if settings.require_api_key {
            Some(local_key::load_or_create(
                &paths.data_dir,
                env.get(ENV_API_KEY),
            )?)
        } else {
            None
        };
        let mut engine = Engine::new(client, settings);
        if let Some(g) = guard {
            engine.guard = g;
        }
        engine.conversations = conversations.unwrap_or_else(|| {
            ConversationStore::open(
                &paths.data_dir,
                engine.settings.conversation_store_persist,
                engine.settings.conversation_limits(),
            )
        });
        // A locked or damaged usage database must not keep the proxy from serving.
        match Ledger::open(&paths.ledger_file()) {
            Ok(l) => engine.ledger = Some(l),
            Err(e) => {
                tracing::error!("usage ledger unavailable, requests will not be recorded: {e}");
                engine.ledger_error = Some(e.to_string());
            }
        }
        Ok(ProxyState::with_engine(engine, key))
    }
}

/// The router: every route behind the guards.
pub(crate) fn router(state: Arc<ProxyState>) -> Router {
    let limit = usize::try_from(state.settings().max_body_bytes).unwrap_or(usize::MAX);
    Router::new()
        .route("/health", get(health))
        .route("/v1/health", get(health))
        .route("/v1/models", get(models::list))
        .route("/models", get(models::list))
        .route("/v1/models/{*id}", get(models::one))
        .route("/models/{*id}", get(models::one))
        .merge(crate::dialects::routes(&state.engine))
        .route("/guard", get(guard_status))
        .route("/guard/resume", axum::routing::post(guard_resume))
        .route("/guard/pause", axum::routing::post(guard_pause))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::check,
        ))
        .with_state(state.engine.clone())
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting (the port is free
/// at once), drains for the grace period and cancels whatever is still streaming.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let twin = bind_twin(listener.local_addr()?, state.settings()).await;
    let served = Served::begin(state).await;
    let socket = server::Socket::open(listener, twin.into_iter().collect(), served.generation())?;
    tokio::select! {
        () = socket.ended() => {
            served.end().await;
            return Err(std::io::Error::other("the accept loop ended"));
        }
        () = shutdown => {}
    }
    socket.close().await;
    served.end().await;
    Ok(())
}

/// One proxy state being served on a socket (its router in the socket's slot) and the
/// sweeper of its parked streams. The App swaps these in and out of the socket it keeps
/// for its whole life; [`serve`] holds one for as long as it runs.
pub(crate) struct Served {
    state: Arc<ProxyState>,
    generation: server::Generation,
    _sweeper: AbortOnDrop,
}

impl Served {
    /// Seeds the guard with today's counts and starts the sweeper; install
    /// [`Served::generation`] in a socket to serve it.
    pub(crate) async fn begin(state: Arc<ProxyState>) -> Served {
        // Today's counts start from the ledger, so a restart does not reset the budgets.
        if let Some(l) = &state.engine.ledger {
            match l
                .counts_since(crate::engine::guard::start_of_today_ms())
                .await
            {
                Ok((requests, tokens)) => state.engine.guard.seed(requests, tokens),
                Err(e) => tracing::warn!("the guard starts without today's counts: {e}"),
            }
        }
        // Expired parked streams are cancelled even when no request comes to notice them.
        let sweeper = {
            let state = state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(15));
                loop {
                    tick.tick().await;
                    let n = state.engine.sessions.sweep();
                    if n > 0 {
                        tracing::info!("{n} parked Cursor stream(s) expired and were cancelled");
                    }
                }
            })
        };
        let limits = server::Limits::from_settings(state.settings());
        Served {
            generation: server::Generation::new(router(state.clone()), limits),
            state,
            _sweeper: AbortOnDrop(sweeper),
        }
    }

    /// What a socket serves new connections with while this runs.
    pub(crate) fn generation(&self) -> server::Generation {
        self.generation.clone()
    }

    /// Ends it once its generation is out of the socket's slot: in-flight responses get
    /// `drain_grace_secs` (idle keep-alive connections close at once), then the rest are
    /// cancelled; parked streams are cancelled, the ledger and the conversation store
    /// written out.
    pub(crate) async fn end(self) {
        let grace = Duration::from_secs(self.state.settings().drain_grace_secs);
        if !self.generation.drain(grace).await {
            tracing::info!("drain grace period over; cancelling in-flight responses");
            self.state.engine.shutdown.cancel();
            let _ = self.generation.drain(Duration::from_secs(2)).await;
        }
        self.state.engine.sessions.clear();
        if let Some(l) = &self.state.engine.ledger {
            l.flush().await;
        }
        // The conversation store's last write may still be queued: land it before the
        // process (or the next proxy on the same data dir) reads the file.
        let conversations = self.state.engine.conversations.clone();
        let _ = tokio::task::spawn_blocking(move || conversations.flush()).await;
    }
}

/// What a socket answers while the proxy is stopped: the same checks as a running proxy
/// (loopback `Host`, no foreign `Origin`, the local key — so the answer tells a stranger
/// nothing), then a 503 in the dialect's error shape saying the proxy is stopped.
pub(crate) fn stopped_router(gate: Arc<ProxyState>) -> Router {
    Router::new()
        .fallback(stopped)
        .layer(axum::middleware::from_fn_with_state(gate, security::check))
}

/// The generation a socket serves while the proxy is stopped.
pub(crate) fn stopped_generation(gate: Arc<ProxyState>) -> server::Generation {
    let limits = server::Limits::from_settings(gate.settings());
    server::Generation::new(stopped_router(gate), limits)
}

async fn stopped(uri: axum::http::Uri) -> Response {
    crate::dialects::error_response(
        crate::dialects::dialect_of_path(uri.path()),
        ApiError::proxy_stopped(),
    )
}

/// Aborts a background task when its owner goes away.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Another program holds the configured port (`EADDRINUSE`).
    #[error("{}", port_in_use_message(*ip, *port, owner.as_ref()))]
    PortInUse {
        /// The configured `host`.
        ip: std::net::IpAddr,
        /// The configured `port`.
        port: u16,
        /// Who holds it, as far as the OS shows it.
        owner: Option<PortOwner>,
    },
    /// `host` is not a loopback address and `allow_non_loopback` is off; nothing was bound.
    #[error(
        "refusing to listen on {0}: only loopback addresses are allowed unless allow_non_loopback is set"
    )]
    NotLoopback(std::net::IpAddr),
    /// `host` is not a loopback address and the local key check is off: anyone on the
    /// network could use the Cursor account. Nothing was bound.
    #[error(
        "refusing to listen on {0} with require_api_key = false: anyone on the network could use your Cursor account; turn require_api_key back on"
    )]
    Unprotected(std::net::IpAddr),
    /// Any other failure to create, bind or listen on the socket.
    #[error("cannot listen on {addr}: {source}")]
    Io {
        /// The address the proxy tried to listen on.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// "port 18741 is already in use on 127.0.0.1 by python3 (pid 4242, user nobody): …".
fn port_in_use_message(ip: std::net::IpAddr, port: u16, owner: Option<&PortOwner>) -> String {
    let by = owner.map(|o| format!(" by {o}")).unwrap_or_default();
    match owner.and_then(PortOwner::impersonation_warning) {
        Some(warning) => format!(
            "port {port} is already in use on {ip}{by}: {warning}; stop that program or pick \
             another port"
        ),
        None => format!(
            "port {port} is already in use on {ip}{by}: stop the other program or pick another \
             port"
        ),
    }
}

/// Binds the configured address (loopback unless the user opted in, and then only with
/// the key check on), with a backlog that survives bursts of agents connecting at once.
pub async fn bind(settings: &Settings) -> Result<tokio::net::TcpListener, StartError> {
    if !settings.host.is_loopback() && !settings.allow_non_loopback {
        return Err(StartError::NotLoopback(settings.host));
    }
    if !settings.host.is_loopback() && !settings.require_api_key {
        return Err(StartError::Unprotected(settings.host));
    }
    let addr = SocketAddr::new(settings.host, settings.port);
    let io = |source| StartError::Io { addr, source };
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(io)?;
    // Lets a stopped proxy be restarted at once (sockets in TIME_WAIT).
    #[cfg(unix)]
    socket.set_reuseaddr(true).map_err(io)?;
    socket.bind(addr).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            StartError::PortInUse {
                ip: addr.ip(),
                port: addr.port(),
                owner: owner::find(addr.ip(), addr.port()),
            }
        } else {
            io(e)
        }
    })?;
    socket.listen(1024).map_err(io)
}

/// `[::1]` on the port of `of` when `of` is `127.0.0.1`, served alike: a client that
/// says `localhost` may try IPv6 first, and another user listening there would receive its
/// key and prompts. Best effort: no IPv6 means none; a port taken there is logged with
/// its holder.
pub(crate) async fn bind_twin(
    of: SocketAddr,
    settings: &Settings,
) -> Option<tokio::net::TcpListener> {
    if of.ip() != std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST) {
        return None;
    }
    let twin = Settings {
        host: std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        port: of.port(),
        ..settings.clone()
    };
    match bind(&twin).await {
        Ok(l) => Some(l),
        Err(e @ StartError::PortInUse { .. }) => {
            tracing::warn!(error = %e, "the IPv6 loopback twin of the proxy's port is taken");
            None
        }
        Err(e) => {
            tracing::debug!(error = %e, "no IPv6 loopback twin of the proxy's port");
            None
        }
    }
}

/// A proxy running in the background; stop it with [`RunningProxy::stop`].
#[derive(Debug)]
pub struct RunningProxy {
    addr: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
    state: Arc<ProxyState>,
}

impl RunningProxy {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its shared state (sessions, settings, key).
    pub fn state(&self) -> &Arc<ProxyState> {
        &self.state
    }

    /// Stops accepting and releases the port, drains in-flight responses (bounded
    /// grace), cancels the rest.
    pub async fn stop(self) -> std::io::Result<()> {
        self.stop.cancel();
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Serves an already-bound listener in a background task (tests bind port 0).
pub fn start_on(
    listener: tokio::net::TcpListener,
    state: Arc<ProxyState>,
) -> Result<RunningProxy, StartError> {
    let addr = listener.local_addr().map_err(|source| StartError::Io {
        addr: SocketAddr::new(state.settings().host, state.settings().port),
        source,
    })?;
    let stop = CancellationToken::new();
    let signal = stop.clone();
    let task = tokio::spawn(serve(listener, state.clone(), async move {
        signal.cancelled().await
    }));
    Ok(RunningProxy {
        addr,
        stop,
        task,
        state,
    })
}

async fn health(State(engine): State<Arc<Engine>>) -> Json<serde_json::Value> {
    let signed_in = matches!(engine.client.tokens().current().await, Ok(Some(_)));
    // Reachability is what the model catalogue call says (cached for a few minutes, so a
    // health poll does not hammer Cursor).
    let upstream = if signed_in {
        match engine.client.models().await {
            Ok(_) => json!({"reachable": true}),
            Err(e) => json!({"reachable": !e.is_unreachable(), "error": e.kind()}),
        }
    } else {
        json!({"reachable": null})
    };
    Json(json!({
        "status": "ok",
        "version": crate::VERSION,
        "signed_in": signed_in,
        "upstream": upstream,
        "parked_streams": engine.sessions.len(),
        "parked_bytes": engine.sessions.bytes(),
        "conversations": engine.conversations.len(),
        "guard": guard_summary(&engine),
        "ledger": match &engine.ledger_error {
            None => json!({"ok": true}),
            Some(e) => json!({"ok": false, "error": e}),
        },
    }))
}

/// The guard in `/health`: whether it refuses everything and which rules tripped.
fn guard_summary(engine: &Engine) -> serde_json::Value {
    let g = engine.guard.status(&engine.guard_rules());
    json!({
        "enabled": g.rules.enabled,
        "paused": g.paused,
        "tripped": g.trips.iter().map(|t| t.rule.key()).collect::<Vec<_>>(),
    })
}

/// `GET /guard`: the rules, today's counts and the trips (`cursor-bridge guard status`).
async fn guard_status(State(engine): State<Arc<Engine>>) -> Json<serde_json::Value> {
    Json(json!(engine.guard.status(&engine.guard_rules())))
}

/// `POST /guard/resume`: clears the trips and the pause (`cursor-bridge guard resume`).
async fn guard_resume(State(engine): State<Arc<Engine>>) -> Json<serde_json::Value> {
    let cleared = engine.guard.resume();
    Json(json!({"cleared": cleared, "status": engine.guard.status(&engine.guard_rules())}))
}

/// `POST /guard/pause`: refuses everything until resumed (`cursor-bridge guard pause`).
async fn guard_pause(State(engine): State<Arc<Engine>>) -> Json<serde_json::Value> {
    engine.guard.pause();
    Json(json!(engine.guard.status(&engine.guard_rules())))
}

/// Any path we do not serve.
async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    crate::dialects::error_response(
        crate::dialects::dialect_of_path(path),
        ApiError::not_found_path(path),
    )
}

/// A path we serve, with a method it does not take (axum's default is an empty 405),
/// with the `Allow` header HTTP requires.
async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let path = uri.path();
    let dialect = crate::dialects::dialect_of_path(path);
    let allow = if path.ends_with("/chat/completions") || dialect != Dialect::Chat {
        "POST"
    } else {
        "GET, HEAD"
    };
    let mut res = crate::dialects::error_response(
        dialect,
        ApiError::method_not_allowed(method.as_str(), path),
    );
    res.headers_mut()
        .insert(axum::http::header::ALLOW, HeaderValue::from_static(allow));
    res
}
