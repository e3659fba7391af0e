//! INBOUND: the localhost server every client talks to.
//!
//! - [`security`]: the middleware in front of every route — loopback `Host`
//!   (DNS-rebinding guard), browser `Origin` refusal, the per-install key (Bearer or
//!   `x-api-key`), JSON bodies only. No CORS headers, ever. (Not to be confused with the
//!   spend and loop guard, `crate::engine::guard`.)
//! - the routes: every dialect's (`crate::dialects::routes`), `GET /v1/models`
//!   ([`models`]), `/health`, and the guard's `GET /guard`, `POST /guard/resume` and
//!   `POST /guard/pause`.
//!
//! The server takes an already-bound listener and a shutdown future ([`serve`]), so tests
//! bind port 0; [`start`] binds, spawns and hands back a [`RunningProxy`] the CLI and the
//! tray own. Stopping drains in-flight responses for `drain_grace_secs`, then cancels them.

pub(crate) mod models;
pub(crate) mod security;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderValue;
use axum::response::{Json, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
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

/// What handlers share (cheap to clone behind an `Arc`): the engine the dialects drive,
/// and what only the server itself needs.
pub struct ProxyState {
    /// The conversation engine (Cursor client, settings, parked runs, ledger, store).
    pub engine: Arc<Engine>,
    /// The Bearer key clients must send; `None` when the check is off. Wiped from memory
    /// when the proxy stops (this copy lives as long as the server).
    pub api_key: Option<Zeroizing<String>>,
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

/// Serves on `listener` until `shutdown` resolves, then drains for the grace period and
/// cancels whatever is still streaming.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = Duration::from_secs(state.settings().drain_grace_secs);
    let cancel = state.engine.shutdown.clone();
    let stop = CancellationToken::new();
    let stop_signal = stop.clone();
    let app = router(state.clone());
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
    // Without TCP_NODELAY every small SSE write can wait ~40 ms for the peer's ACK.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop_signal.cancelled().await });
    let mut server = std::pin::pin!(server.into_future());
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
    let _sweeper = AbortOnDrop(sweeper);
    tokio::select! {
        r = &mut server => return r,
        () = shutdown => {}
    }
    stop.cancel();
    // Idle keep-alive connections close at once; streams get the grace period.
    if tokio::time::timeout(grace, &mut server).await.is_err() {
        tracing::info!("drain grace period over; cancelling in-flight responses");
        cancel.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut server).await;
    }
    state.engine.sessions.clear();
    if let Some(l) = &state.engine.ledger {
        l.flush().await;
    }
    Ok(())
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
    #[error("port {port} is already in use on {ip}: stop the other program or pick another port")]
    PortInUse {
        /// The configured `host`.
        ip: std::net::IpAddr,
        /// The configured `port`.
        port: u16,
    },
    /// `host` is not a loopback address and `allow_non_loopback` is off; nothing was bound.
    #[error(
        "refusing to listen on {0}: only loopback addresses are allowed unless allow_non_loopback is set"
    )]
    NotLoopback(std::net::IpAddr),
    /// Any other failure to create, bind or listen on the socket.
    #[error("cannot listen on {addr}: {source}")]
    Io {
        /// The address the proxy tried to listen on.
        addr: SocketAddr,
        /// What the operating system said.
        source: std::io::Error,
    },
}

/// Binds the configured address (loopback unless the user opted in), with a backlog
/// that survives bursts of agents connecting at once.
pub async fn bind(settings: &Settings) -> Result<tokio::net::TcpListener, StartError> {
    if !settings.host.is_loopback() && !settings.allow_non_loopback {
        return Err(StartError::NotLoopback(settings.host));
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
            }
        } else {
            io(e)
        }
    })?;
    socket.listen(1024).map_err(io)
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

    /// Stops accepting, drains in-flight responses (bounded grace), cancels the rest and
    /// releases the port.
    pub async fn stop(self) -> std::io::Result<()> {
        self.stop.cancel();
        let r = match self.task.await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        };
        // The conversation store's last write may still be queued: land it before the
        // process (or the next proxy on the same data dir) reads the file.
        let conversations = self.state.engine.conversations.clone();
        let _ = tokio::task::spawn_blocking(move || conversations.flush()).await;
        r
    }

    /// Waits until the server ends on its own (an accept error), for supervision.
    pub(crate) async fn wait(&mut self) -> std::io::Result<()> {
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}

/// Binds per the state's settings and serves in a background task.
pub(crate) async fn start(state: Arc<ProxyState>) -> Result<RunningProxy, StartError> {
    let listener = bind(state.settings()).await?;
    start_on(listener, state)
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
