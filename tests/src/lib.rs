//! # cursor-bridge-tests: a fake Cursor server speaking the real wire protocol
//!
//! Nothing in our test suite can reach Cursor, so every test talks to [`FakeCursor`]: a
//! real HTTP server on `127.0.0.1:<random port>` that serves HTTP/1.1 and cleartext HTTP/2
//! (prior knowledge) on the same port and implements, from
//! `shared/cursor-protocol.md`, the browser login + poll (§1.1), token refresh and API-key
//! exchange (§1.2–1.3), the model and usage RPCs (§5) and the agent run (§3) with its KV,
//! exec and interaction round-trips — over both transports: the HTTP/2 bidirectional
//! `Run` stream and the HTTP/1.1 `RunSSE` + `BidiAppend` pair.
//!
//! Each test declares the fake it needs, failures included, with the builder; the fake
//! records everything the client sent so the test can assert on wire-level facts.
//!
//! ## Layout
//! - [`FakeCursor`] / [`FakeCursorBuilder`] (this file): start, stop, knobs, inspection.
//! - `state`: immutable config + mutable state behind one mutex, and a change counter
//!   that wakes the `wait_*` helpers.
//! - `tokens`: JWT-shaped tokens (header HS256, claims `sub/exp/iss/aud/type`).
//! - `auth`: `/loginDeepControl` (HTML page with an Approve form), `/auth/poll`,
//!   `/oauth/token`, `/auth/exchange_user_api_key`.
//! - `unary`: `GetUsableModels` (JSON and proto, on AiService and AgentService),
//!   `AvailableModels` (proto), `DashboardService/GetCurrentPeriodUsage` and `GetMe`
//!   (JSON), the website's CLI installer script (`GET /install`), and the
//!   `unimplemented` fallback.
//! - `run`: `agent.v1.AgentService/Run`: a reader task that records client frames and a
//!   driver task that plays a scripted [`Turn`].
//! - `bidi`: `agent.v1.AgentService/RunSSE` + `aiserver.v1.BidiService/BidiAppend`: they
//!   meet by request id (`RunSSE` first; an earlier append is refused); appends are checked
//!   (hex, `append_seqno` from 0 without gaps or repeats, `x-request-id`) and fed to the
//!   same driver.
//! - [`script`]: [`Turn`] and [`Step`], the script language of a run.
//! - [`record`]: [`RecordedRun`], [`RecordedCall`] and friends.
//! - [`catalog`]: [`FakeModel`], [`FakeUsage`], [`FakeUser`] with realistic defaults.
//! - JSON ⇄ `google.protobuf.Value` comes from core (`cursor_bridge_core::cursor::value`).
//! - [`raw`]: a tiny hand-rolled `Run` client used by the smoke tests.
//! - [`oracle`]: what decoding a Connect stream must come to, shared by the property tests
//!   and the fuzz targets.
//!
//! ## Behaviour worth knowing
//! - Every authenticated endpoint accepts only bearer tokens this fake issued and that
//!   have not expired or been revoked. Unary calls then answer HTTP 401 Connect JSON;
//!   `Run` answers 200 with an `unauthenticated` end-of-stream frame (or a bare 401 with
//!   [`FakeCursorBuilder::run_auth_failure_as_http`]). A refused run does not consume a turn,
//!   nor does one failed by [`FakeCursorBuilder::fail_runs`].
//! - Each authorized run pops the next queued [`Turn`]; with none queued it plays
//!   [`Turn::default_reply`]. The first client frame must be a `run_request`.
//! - `RunSSE` answers its response headers at once (after
//!   [`FakeCursorBuilder::run_sse_delay`]); an append for a request id no `RunSSE` opened
//!   yet is refused with `not_found` and recorded
//!   ([`FakeCursor::appends_before_run_sse`]: reference §9.8, the service may lose it).
//!   `RunSSE` declares `text/event-stream` and writes Connect envelopes. Each run
//!   records its [`RunTransport`], and for `RunSSE` the accepted appends and the first
//!   refused one ([`RecordedRun::append_error`]). Appends are also [`RecordedCall`]s.
//! - Request-type steps wait for the client's reply (10 s by default; 60 s for MCP calls
//!   and `WaitForCancel`) and then end the stream with `deadline_exceeded` naming what
//!   was missing. Exec replies must be followed by `stream_close{id}` (see
//!   [`FakeCursorBuilder::lenient_stream_close`]) and sit at the args' field number
//!   (reference §9.7; [`ExecOutcome::result_fields`] records it raw, a `shell_stream`'s
//!   single `ShellResult` at 2 is taken). A `cancel_action` received while the
//!   fake waits for a reply ends the run with `{}`.
//! - JSON unary calls must carry `connect-protocol-version: 1`.
//! - With [`FakeCursorBuilder::min_client_version`], authenticated calls refuse an older
//!   (or non-`cli-`) `x-cursor-client-version` the way Cursor did in June 2026.
//!
//! ## Example
//! ```no_run
//! use cursor_bridge_tests::{FakeCursor, Turn};
//! use serde_json::json;
//! use std::time::Duration;
//!
//! # async fn example() {
//! let fake = FakeCursor::builder()
//!     .turn(
//!         Turn::new()
//!             .text("Let me check the weather.")
//!             .kv_set(&b"{\"role\":\"user\"}"[..])
//!             .mcp_call("cursor-tools-get_weather", "get_weather", "call_1", json!({"city": "Paris"}))
//!             .text("It is sunny.")
//!             .checkpoint(1500, 200_000)
//!             .turn_ended()
//!             .end_ok(),
//!     )
//!     .start()
//!     .await;
//! let token = fake.mint_access_token(Duration::from_secs(3600));
//! // … point the client at fake.url() with `token`, run a chat …
//! let run = fake.wait_for_run_end(0, Duration::from_secs(5)).await;
//! assert_eq!(run.mcp_results[0].0, "call_1");
//! # }
//! ```

mod auth;
mod bidi;
pub mod catalog;
mod connect;
pub mod oracle;
pub mod raw;
pub mod record;
mod run;
pub mod script;
mod slot;
mod state;
mod tokens;
mod unary;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State as AxState};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt as _;
use bytes::Bytes;
use tokio::task::JoinHandle;

pub use auth::pkce_challenge;
pub use catalog::{FakeModel, FakeUsage, FakeUser, PlanUsage, SpendLimitUsage};
pub use cursor_bridge_core::pb::aiserver_v1::error_details::Error as ErrorKind;
pub use record::{
    CancelledBy, ExecOutcome, HistoryKind, ReceivedImage, RecordedCall, RecordedRun, RunEnd,
    RunTransport,
};
pub use script::{
    EndError, ErrorDetail, Malformed, McpCall, NativeExec, Query, ReadCall, Step, ToolLoop, Turn,
    TurnUsage, blob_id, read_tool_call, wire,
};
pub use state::{CLIENT_ID, DEFAULT_INSTALLER_BUILD, OUTDATED_MESSAGE, OutdatedShape};
pub use tokens::exp_of as jwt_exp;

use record::header_map;
use state::{Config, InjectedError, Shared};

/// A running fake Cursor server. Dropping it stops the server and every run in flight.
#[derive(Debug)]
pub struct FakeCursor {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
}

/// Declares a [`FakeCursor`]; every knob has a realistic default.
#[derive(Debug, Default)]
pub struct FakeCursorBuilder {
    cfg: Config,
    state: state::State,
}

impl FakeCursorBuilder {
    /// Lifetime of every access token the fake issues (default 1 h).
    pub fn access_token_ttl(mut self, ttl: Duration) -> Self {
        self.cfg.access_token_ttl = ttl;
        self
    }

    /// The signed-in user (token `sub`, poll `authId`, `GetMe`).
    pub fn user(mut self, user: FakeUser) -> Self {
        self.cfg.user = user;
        self
    }

    /// A user API key `/auth/exchange_user_api_key` accepts.
    pub fn api_key(mut self, key: &str) -> Self {
        self.state.api_keys.insert(key.to_string());
        self
    }

    /// The next `n` polls answer HTTP 500.
    pub fn poll_failures(mut self, n: usize) -> Self {
        self.state.poll_failures_left = n;
        self
    }

    /// Approve every login on its first poll (no page visit needed). The PKCE check still
    /// applies when the fake knows the challenge (the page was fetched).
    pub fn auto_approve_logins(mut self) -> Self {
        self.cfg.auto_approve_logins = true;
        self
    }

    /// `/oauth/token` answers 404 (to test the fallback to the exchange endpoint).
    pub fn oauth_token_disabled(mut self) -> Self {
        self.cfg.oauth_token_disabled = true;
        self
    }

    /// `/auth/exchange_user_api_key` refuses refresh tokens with 401 (as it may for a
    /// token it did not issue), so a refresh must fall back to `/oauth/token`. API keys
    /// are still exchanged.
    pub fn exchange_refresh_disabled(mut self) -> Self {
        self.cfg.exchange_refresh_disabled = true;
        self
    }

    /// Authenticated RPCs (unary, `Run`, `RunSSE`, `BidiAppend`) refuse an
    /// `x-cursor-client-version` older than `cli-<date>-…` (`date` as `YYYY.MM.DD`), or
    /// not of that form, the way Cursor did in June 2026: `resource_exhausted` "Your
    /// version of Cursor is no longer supported…" (HTTP 429 on unary calls, an
    /// end-of-stream error on runs).
    pub fn min_client_version(mut self, date: &str) -> Self {
        self.state.min_client_build = Some(date.to_string());
        self
    }

    /// Refuse outdated clients in this shape (default: June 2026's "no longer supported").
    pub fn outdated_shape(mut self, shape: OutdatedShape) -> Self {
        self.state.outdated_shape = shape;
        self
    }

    /// The build (`YYYY.MM.DD-hash`) the installer script at `GET /install` names
    /// (default [`DEFAULT_INSTALLER_BUILD`]); `None` makes `/install` answer 404.
    pub fn installer_build(mut self, build: Option<&str>) -> Self {
        self.cfg.installer_build = build.map(str::to_string);
        self
    }

    /// Both refresh routes wait this long before answering (so concurrent refreshes
    /// overlap).
    pub fn refresh_delay(mut self, d: Duration) -> Self {
        self.cfg.refresh_delay = d;
        self
    }

    /// Replaces the model catalogue.
    pub fn models(mut self, models: Vec<FakeModel>) -> Self {
        self.cfg.models = models;
        self
    }

    /// Replaces the `GetCurrentPeriodUsage` numbers.
    pub fn usage(mut self, usage: FakeUsage) -> Self {
        self.cfg.usage = usage;
        self
    }

    /// Queues a scripted turn (FIFO; one per authorized run).
    pub fn turn(mut self, turn: Turn) -> Self {
        self.state.turns.push_back(turn);
        self
    }

    /// Gzip every data frame of every run (flag `0x01`, `connect-content-encoding: gzip`),
    /// whether or not the client advertised `connect-accept-encoding`.
    pub fn gzip_frames(mut self) -> Self {
        self.cfg.gzip_frames = true;
        self
    }

    /// Write each frame of a run as body chunks of at most `bytes` bytes (each its own
    /// HTTP/2 DATA frame), so the client must reassemble envelopes split anywhere.
    pub fn split_writes(mut self, bytes: usize) -> Self {
        self.cfg.split_writes = bytes;
        self
    }

    /// How long KV, request-context, native exec and interaction steps wait (default 10 s).
    pub fn reply_timeout(mut self, d: Duration) -> Self {
        self.cfg.reply_timeout = d;
        self
    }

    /// How long MCP calls and `WaitForCancel` wait (default 60 s).
    pub fn long_reply_timeout(mut self, d: Duration) -> Self {
        self.cfg.long_reply_timeout = d;
        self
    }

    /// Every run waits this long after its `run_request` before playing its turn: Cursor's
    /// run start (model routing, context assembly), which a fresh run pays and a
    /// continued stream does not. Default zero.
    pub fn run_start_delay(mut self, d: Duration) -> Self {
        self.cfg.run_start_delay = d;
        self
    }

    /// Every `RunSSE` takes this long before the fake has seen it (request id registered,
    /// headers sent), as through a slow edge: a client that appends before `RunSSE`'s
    /// headers arrived is then reliably refused. Default zero.
    pub fn run_sse_delay(mut self, d: Duration) -> Self {
        self.cfg.run_sse_delay = d;
        self
    }

    /// Accept an exec reply without the `stream_close{id}` that should follow it.
    pub fn lenient_stream_close(mut self) -> Self {
        self.cfg.require_stream_close = false;
        self
    }

    /// Refuse unauthenticated runs with a bare HTTP 401 (a pre-stream failure) instead of
    /// a 200 carrying an `unauthenticated` end-of-stream frame.
    pub fn run_auth_failure_as_http(mut self) -> Self {
        self.cfg.run_auth_failure_as_http = true;
        self
    }

    /// The `BidiAppend` with this `append_seqno` (of every HTTP/1.1 run) is refused with
    /// this HTTP status and Connect error; the run counts as failed (`append_error`).
    pub fn fail_append(mut self, seqno: i64, status: u16, code: &str, message: &str) -> Self {
        self.cfg.fail_append = Some((
            seqno,
            InjectedError {
                status,
                code: code.into(),
                message: message.into(),
                remaining: None,
            },
        ));
        self
    }

    /// Every call to `path` (e.g. `/aiserver.v1.AiService/GetUsableModels`) fails with
    /// this HTTP status and Connect error, before the token check.
    pub fn unary_error(mut self, path: &str, status: u16, code: &str, message: &str) -> Self {
        self.state.unary_errors.insert(
            path.to_string(),
            InjectedError {
                status,
                code: code.into(),
                message: message.into(),
                remaining: None,
            },
        );
        self
    }

    /// The first `n` runs fail before playing a turn (queued turns stay queued): with
    /// `status` 200 as a stream holding only `error`'s end-of-stream frame (a Connect error
    /// such as `unavailable`), otherwise as a bare HTTP `status` (502, 503, …) with
    /// `error` as Connect JSON. Tokens are checked first.
    pub fn fail_runs(mut self, n: usize, status: u16, error: EndError) -> Self {
        self.state.run_failures = Some(state::RunFailure {
            remaining: n,
            status,
            error,
        });
        self
    }

    /// Binds `127.0.0.1:0` and starts serving. Panics if the port cannot be bound.
    pub async fn start(self) -> FakeCursor {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0 for the fake Cursor server");
        self.start_on(listener)
    }

    /// Serves on an already-bound listener.
    pub fn start_on(self, listener: tokio::net::TcpListener) -> FakeCursor {
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Shared::new(self.cfg, self.state);
        let app = router(shared.clone());
        let stop = shared.shutdown.clone();
        let listener = listener.tap_io(|tcp| {
            // A ~40 ms Nagle stall per small frame otherwise.
            let _ = tcp.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            // axum's server auto-detects the HTTP/2 preface, so h1 and h2c share the port.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        FakeCursor {
            shared,
            addr,
            server: Some(server),
        }
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/loginDeepControl", get(auth::login_page))
        .route("/loginDeepControl/approve", post(auth::approve))
        .route("/auth/poll", get(auth::poll))
        .route("/oauth/token", post(auth::oauth_token))
        .route("/auth/exchange_user_api_key", post(auth::exchange))
        .route("/install", get(unary::installer))
        .route(
            "/aiserver.v1.AiService/GetUsableModels",
            post(unary::get_usable_models),
        )
        .route(
            "/agent.v1.AgentService/GetUsableModels",
            post(unary::get_usable_models),
        )
        .route(
            "/aiserver.v1.AiService/AvailableModels",
            post(unary::available_models),
        )
        .route(
            "/aiserver.v1.DashboardService/GetCurrentPeriodUsage",
            post(unary::current_period_usage),
        )
        .route("/aiserver.v1.DashboardService/GetMe", post(unary::get_me))
        .route(run::RUN_PATH, post(run::run))
        .route(bidi::RUN_SSE_PATH, post(bidi::run_sse))
        .route(bidi::APPEND_PATH, post(bidi::bidi_append))
        .fallback(unary::fallback)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            record_call,
        ))
        .with_state(shared)
}

/// Records every request except `Run` and `RunSSE` (runs record themselves, streaming).
async fn record_call(AxState(shared): AxState<Arc<Shared>>, req: Request, next: Next) -> Response {
    // `/install` is the website's installer script, counted on its own
    // (`installer_fetches`), not a Cursor call.
    if matches!(
        req.uri().path(),
        run::RUN_PATH | bidi::RUN_SSE_PATH | "/install"
    ) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let mut call = RecordedCall {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: header_map(&parts.headers),
        body: body.clone(),
        status: 0,
        version: parts.version,
    };
    let resp = next.run(Request::from_parts(parts, Body::from(body))).await;
    call.status = resp.status().as_u16();
    shared.update(|s| s.calls.push(call));
    resp
}

impl FakeCursor {
    /// A builder with every default.
    pub fn builder() -> FakeCursorBuilder {
        FakeCursorBuilder::default()
    }

    /// `http://127.0.0.1:PORT`: both the API base and the login base.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, ends every run in flight, and waits (up to 2 s) for the server.
    pub async fn shutdown(mut self) {
        self.shared.shutdown.cancel();
        let Some(mut h) = self.server.take() else {
            return;
        };
        if tokio::time::timeout(Duration::from_secs(2), &mut h)
            .await
            .is_err()
        {
            h.abort();
        }
    }

    // ---- tokens ---------------------------------------------------------------------

    /// A valid access token living `ttl`.
    pub fn mint_access_token(&self, ttl: Duration) -> String {
        self.shared.mint_access(ttl)
    }

    /// A token the fake issued but that expired a minute ago.
    pub fn mint_expired_token(&self) -> String {
        self.shared
            .mint_access_at(tokens::now_unix().saturating_sub(60))
    }

    /// A refresh token `/oauth/token` and the exchange endpoint accept.
    pub fn mint_refresh_token(&self) -> String {
        self.shared.mint_refresh()
    }

    /// Accept another user API key.
    pub fn add_api_key(&self, key: &str) {
        self.shared.update(|s| s.api_keys.insert(key.to_string()));
    }

    /// Every refresh token becomes dead (`shouldLogout: true`, exchange 401).
    pub fn revoke_refresh_tokens(&self) {
        self.shared
            .update(|s| s.refresh_tokens.values_mut().for_each(|r| r.revoked = true));
    }

    /// Every access token issued so far is refused from now on, expired or not.
    pub fn revoke_access_tokens(&self) {
        self.shared.update(|s| s.access_tokens.clear());
    }

    /// Whether `token` is currently accepted as a bearer token.
    pub fn is_valid_access_token(&self, token: &str) -> bool {
        let exp = self.shared.lock().access_tokens.get(token).copied();
        exp.is_some_and(|e| e > tokens::now_unix())
    }

    // ---- login ----------------------------------------------------------------------

    /// Approves a login by uuid (as the page's button does). Returns false if the fake
    /// has never seen that uuid (neither its page nor a poll). Without a known challenge
    /// the poll skips the PKCE check.
    pub fn approve_login(&self, uuid: &str) -> bool {
        self.shared.update(|s| match s.logins.get_mut(uuid) {
            Some(l) => {
                l.approved = true;
                true
            }
            None if s.polled.iter().any(|u| u == uuid) => {
                s.logins.insert(
                    uuid.to_string(),
                    state::Login {
                        challenge: None,
                        approved: true,
                    },
                );
                true
            }
            None => false,
        })
    }

    /// Approves the login a `…/loginDeepControl?challenge=…&uuid=…` URL describes,
    /// challenge included (so the poll verifies PKCE). Returns false for another URL.
    pub fn approve_login_url(&self, url: &str) -> bool {
        let Ok(u) = url::Url::parse(url) else {
            return false;
        };
        let q: std::collections::HashMap<_, _> = u.query_pairs().into_owned().collect();
        let (Some(uuid), Some(challenge)) = (q.get("uuid"), q.get("challenge")) else {
            return false;
        };
        self.shared.update(|s| {
            s.logins.insert(
                uuid.clone(),
                state::Login {
                    challenge: Some(challenge.clone()),
                    approved: true,
                },
            )
        });
        true
    }

    /// uuids that were polled and are not yet completed.
    pub fn pending_logins(&self) -> Vec<String> {
        let s = self.shared.lock();
        s.polled
            .iter()
            .filter(|u| s.logins.get(*u).is_some_and(|l| !l.approved))
            .cloned()
            .collect()
    }

    /// Polls received (failures included).
    pub fn poll_count(&self) -> usize {
        self.shared.lock().polls
    }

    /// Polls answered 403 because the verifier did not match the challenge.
    pub fn pkce_mismatches(&self) -> usize {
        self.shared.lock().pkce_mismatches
    }

    /// Make the next `n` polls answer 500.
    pub fn set_poll_failures(&self, n: usize) {
        self.shared.update(|s| s.poll_failures_left = n);
    }

    /// Refresh attempts on either route: calls to `/oauth/token` plus calls to
    /// `/auth/exchange_user_api_key` that did not carry a known API key.
    pub fn refresh_calls(&self) -> usize {
        let s = self.shared.lock();
        s.refresh_calls + s.exchange_refresh_calls
    }

    /// From now on, refuse client versions older than `date` (`None`: accept any), as
    /// [`FakeCursorBuilder::min_client_version`]: Cursor raising its bar mid-session.
    pub fn set_min_client_version(&self, date: Option<&str>) {
        self.shared
            .update(|s| s.min_client_build = date.map(str::to_string));
    }

    /// Requests refused for an outdated `x-cursor-client-version`.
    pub fn outdated_rejections(&self) -> usize {
        self.shared.lock().outdated_rejections
    }

    /// `GET /install` requests (the CLI installer script).
    pub fn installer_fetches(&self) -> usize {
        self.shared.lock().installer_fetches
    }

    /// Calls to `/oauth/token`.
    pub fn oauth_calls(&self) -> usize {
        self.shared.lock().refresh_calls
    }

    /// Calls to `/auth/exchange_user_api_key` that did not carry a known API key.
    pub fn exchange_refresh_calls(&self) -> usize {
        self.shared.lock().exchange_refresh_calls
    }

    /// Calls to `/auth/exchange_user_api_key`.
    pub fn exchange_calls(&self) -> usize {
        self.shared.lock().exchange_calls
    }

    /// Calls to either `GetUsableModels`.
    pub fn models_calls(&self) -> usize {
        self.shared.lock().models_calls
    }

    // ---- unary ----------------------------------------------------------------------

    /// Every request other than `Run` / `RunSSE` (so `BidiAppend`s too), in arrival order
    /// (recorded when answered).
    pub fn unary_calls(&self) -> Vec<RecordedCall> {
        self.shared.lock().calls.clone()
    }

    /// Every distinct bearer token any request (unary or `Run`) carried, in first-seen
    /// order, so a test can assert no stale or foreign token was ever sent.
    pub fn bearer_tokens_seen(&self) -> Vec<String> {
        let s = self.shared.lock();
        let mut seen: Vec<String> = Vec::new();
        let runs = s.runs.iter().map(|r| r.bearer());
        for t in s.calls.iter().map(|c| c.bearer()).chain(runs).flatten() {
            if !seen.iter().any(|x| x == t) {
                seen.push(t.to_string());
            }
        }
        seen
    }

    /// Make the next `times` calls to `path` fail (`None` = until cleared).
    pub fn fail_unary(
        &self,
        path: &str,
        status: u16,
        code: &str,
        message: &str,
        times: Option<usize>,
    ) {
        self.shared.update(|s| {
            s.unary_errors.insert(
                path.to_string(),
                InjectedError {
                    status,
                    code: code.into(),
                    message: message.into(),
                    remaining: times,
                },
            )
        });
    }

    /// Make the next `n` runs fail; see [`FakeCursorBuilder::fail_runs`].
    pub fn fail_next_runs(&self, n: usize, status: u16, error: EndError) {
        self.shared.update(|s| {
            s.run_failures = Some(state::RunFailure {
                remaining: n,
                status,
                error,
            })
        });
    }

    /// Removes an injected failure.
    pub fn clear_unary_error(&self, path: &str) {
        self.shared.update(|s| s.unary_errors.remove(path));
    }

    // ---- runs -----------------------------------------------------------------------

    /// Queues a scripted turn (FIFO; one per authorized run).
    pub fn push_turn(&self, turn: Turn) {
        self.shared.update(|s| s.turns.push_back(turn));
    }

    /// Turns still queued.
    pub fn queued_turns(&self) -> usize {
        self.shared.lock().turns.len()
    }

    /// Snapshot of every run so far (in progress ones included).
    pub fn runs(&self) -> Vec<RecordedRun> {
        self.shared.lock().runs.clone()
    }

    pub fn run_count(&self) -> usize {
        self.shared.lock().runs.len()
    }

    /// `(request id, append_seqno)` of every `BidiAppend` refused because it came before
    /// its `RunSSE` (reference §9.8: the service may lose those).
    pub fn appends_before_run_sse(&self) -> Vec<(String, i64)> {
        self.shared.lock().appends_before_run_sse.clone()
    }

    /// The fake's view of the client's blob store: every blob it set, by id.
    pub fn blobs(&self) -> std::collections::HashMap<Vec<u8>, Bytes> {
        self.shared.lock().blobs.clone()
    }

    /// Waits until `pred` holds, re-checking after every recorded change. False on timeout.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut pred: impl FnMut(&FakeCursor) -> bool,
    ) -> bool {
        let mut rx = self.shared.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            rx.borrow_and_update();
            if pred(self) {
                return true;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => return pred(self),
            }
        }
    }

    /// Waits until at least `n` runs have started; panics after `timeout`.
    pub async fn wait_for_runs(&self, n: usize, timeout: Duration) -> Vec<RecordedRun> {
        if !self.wait_until(timeout, |f| f.run_count() >= n).await {
            panic!(
                "expected {n} Run stream(s) within {timeout:?}, saw {}",
                self.run_count()
            );
        }
        self.runs()
    }

    /// Waits until run `index` has ended on the fake's side; panics after `timeout`.
    pub async fn wait_for_run_end(&self, index: usize, timeout: Duration) -> RecordedRun {
        let done = |f: &FakeCursor| {
            f.shared
                .lock()
                .runs
                .get(index)
                .is_some_and(|r| r.end.is_some())
        };
        if !self.wait_until(timeout, done).await {
            panic!(
                "run {index} did not end within {timeout:?}: {:#?}",
                self.runs().get(index)
            );
        }
        self.runs().swap_remove(index)
    }
}

impl Drop for FakeCursor {
    fn drop(&mut self) {
        self.shared.shutdown.cancel();
        if let Some(h) = self.server.take() {
            h.abort();
        }
    }
}

/// The environment a user would set to point Cursor Bridge at the Cursor at `url` (a
/// fake's [`FakeCursor::url`]), with its home and file credential store in `dir`, as
/// `(name, value)` pairs for `Env::from_pairs` or `Command::envs`.
pub fn client_env(url: &str, dir: &std::path::Path) -> Vec<(String, String)> {
    vec![
        ("CURSOR_BRIDGE_HOME".to_string(), dir.display().to_string()),
        ("CURSOR_BRIDGE_API_URL".to_string(), url.to_string()),
        ("CURSOR_BRIDGE_LOGIN_URL".to_string(), url.to_string()),
        (
            "CURSOR_BRIDGE_CREDENTIALS_FILE".to_string(),
            dir.join("credentials.json").display().to_string(),
        ),
    ]
}
