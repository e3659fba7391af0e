//! The one upstream HTTP client, built once and injected everywhere.
//!
//! Pooled reqwest clients share one configuration: `unary` for JSON/proto calls
//! (HTTP/1.1 or HTTP/2 by ALPN); agent-stream clients for the agent's bidirectional `Run`
//! stream, which needs HTTP/2: over `https://` ALPN offers only `h2`, over `http://` (a
//! local fake server) it is cleartext HTTP/2 with prior knowledge. A run leases its place
//! on an agent-stream connection ([`CursorHttp::stream_lease`]); past
//! [`STREAMS_PER_CONNECTION`] open streams another connection is opened. And `http1` for
//! the fallback agent transport ([`AgentTransport::Http1`]: `RunSSE` + `BidiAppend`),
//! which never speaks HTTP/2 at all, for networks whose proxies break it. Every Cursor
//! header is built in [`CursorHttp::headers`] (plus the per-call extras of
//! [`CursorHttp::agent_headers`]) and nowhere else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::CursorError;
use super::version::ClientVersion;

/// Where Cursor lives. Both are settings; tests point them at the fake server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// API base (`https://api2.cursor.sh`): `/auth/*`, `/oauth/token`, every RPC.
    pub api: Url,
    /// Website base (`https://cursor.com`): the browser login page.
    pub login: Url,
}

impl Endpoints {
    /// Joins a path onto a base URL, keeping any path prefix the base carries.
    fn join(base: &Url, path: &str) -> Url {
        let mut u = base.clone();
        let prefix = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{prefix}/{}", path.trim_start_matches('/')));
        u
    }

    /// `<base>/<path>` for any base (e.g. the installer script under the login base).
    pub fn join_onto(base: &Url, path: &str) -> Url {
        Self::join(base, path)
    }

    /// `<api>/<path>`.
    pub fn api(&self, path: &str) -> Url {
        Self::join(&self.api, path)
    }

    /// `<login>/<path>`.
    pub(crate) fn login(&self, path: &str) -> Url {
        Self::join(&self.login, path)
    }
}

/// How we present ourselves to Cursor (reference §2.4).
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where Cursor is (the API and website bases).
    pub endpoints: Endpoints,
    /// `x-cursor-client-version`, e.g. `cli-2026.01.09-231024f`: a shared handle, resolved
    /// at run time (see [`super::version`]) and kept when the HTTP client is rebuilt.
    pub client_version: ClientVersion,
    /// `x-ghost-mode` (privacy mode); the official CLI defaults to true.
    pub ghost_mode: bool,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout of unary calls (never applied to streams).
    pub unary_timeout: Duration,
    /// How agent runs reach Cursor.
    pub agent_transport: AgentTransport,
}

/// How an agent run reaches Cursor (setting `agent_transport`, reference §3.2–3.3).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentTransport {
    /// One bidirectional `AgentService/Run` stream over HTTP/2 (what the official CLI uses).
    #[default]
    Http2,
    /// HTTP/1.1 only: the server stream `AgentService/RunSSE` downstream and one
    /// `BidiService/BidiAppend` request per client message upstream. For networks (proxies,
    /// middleboxes) that break HTTP/2.
    Http1,
}

impl AgentTransport {
    /// The setting's text: `http2` or `http1`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentTransport::Http2 => "http2",
            AgentTransport::Http1 => "http1",
        }
    }

    /// Parses the setting's text (case and surrounding blanks ignored).
    pub fn parse(text: &str) -> Option<AgentTransport> {
        match text.trim().to_ascii_lowercase().as_str() {
            "http2" => Some(AgentTransport::Http2),
            "http1" => Some(AgentTransport::Http1),
            _ => None,
        }
    }
}

/// Which agent call [`CursorHttp::agent_headers`] is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AgentCall {
    /// `AgentService/Run`, the HTTP/2 bidirectional stream.
    Run,
    /// `AgentService/RunSSE`, the HTTP/1.1 server stream.
    RunSse,
    /// `BidiService/BidiAppend`, one upstream message on the HTTP/1.1 transport.
    BidiAppend,
}

/// HTTP/2 flow-control window of one agent stream: what Cursor may send ahead of us.
const STREAM_WINDOW: u32 = 256 * 1024;
/// HTTP/2 flow-control window of the connection agent streams share.
const CONNECTION_WINDOW: u32 = 32 * 1024 * 1024;

/// The value the official CLI reports as its client type.
pub(crate) const CLIENT_TYPE: &str = "cli";

/// Cheap-clone handle to the pooled clients and the header recipe.
#[derive(Clone, Debug)]
pub struct CursorHttp {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    unary: reqwest::Client,
    http1: reqwest::Client,
    /// Every agent-stream client, in the order they were opened.
    streams: Mutex<Vec<Arc<Slot>>>,
    config: HttpConfig,
    user_agent: HeaderValue,
    time_zone: Option<HeaderValue>,
}

/// Agent streams one HTTP/2 connection carries before another is opened. A server caps
/// the streams open at once on a connection (`SETTINGS_MAX_CONCURRENT_STREAMS`: RFC 9113
/// asks for at least 100; hyper's default is 200) and a stream over the cap waits for a
/// free one — a run parked on a tool call holds its stream for minutes, so the agent
/// after the cap stalled until its first-activity timeout. reqwest keeps one HTTP/2
/// connection per client and host, so streams are spread over several clients.
pub(crate) const STREAMS_PER_CONNECTION: usize = 100;

/// One agent-stream client (one HTTP/2 connection) and how many streams it carries.
#[derive(Debug)]
struct Slot {
    client: reqwest::Client,
    open: AtomicUsize,
}

/// A run's place on an agent-stream connection; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct StreamLease {
    slot: Arc<Slot>,
}

impl StreamLease {
    /// The client whose connection carries this stream.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.slot.client
    }
}

impl Drop for StreamLease {
    fn drop(&mut self) {
        self.slot.open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn base_client(config: &HttpConfig) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90))
        .http2_keep_alive_interval(Duration::from_secs(20))
        .http2_keep_alive_while_idle(true)
        .redirect(reqwest::redirect::Policy::none())
}

/// An agent-stream client. HTTP/2 only: over TLS ALPN offers just `h2`, over `http://`
/// it is prior knowledge. A bidirectional stream cannot work over HTTP/1.1, so a network
/// that refuses HTTP/2 fails loudly here instead of hanging.
///
/// Flow-control windows: h2 tolerates only half the connection window's worth of small
/// DATA frames buffered unread across *all* streams (each token delta counts as ~240
/// bytes), then it sends GOAWAY(ENHANCE_YOUR_CALM, "too_many_data_frames") and every run
/// on the connection dies. The adaptive (BDP) window starts the connection at 64 KiB:
/// ~140 frames, one burst. So: a large connection window (32 MiB: ~70,000 frames) and a
/// modest stream window (256 KiB: at most ~9,000 token frames in flight per stream, a
/// bound Cursor's sending respects), so a reader that falls behind slows Cursor down
/// through flow control instead of tripping the limit. 256 KiB per round trip is still
/// megabytes per second for large blobs.
fn agent_stream_client(config: &HttpConfig) -> Result<reqwest::Client, CursorError> {
    base_client(config)
        .http2_initial_stream_window_size(STREAM_WINDOW)
        .http2_initial_connection_window_size(CONNECTION_WINDOW)
        .http2_prior_knowledge()
        .build()
        .map_err(CursorError::from_reqwest)
}

impl CursorHttp {
    /// Builds the three clients. Fails only on an unusable TLS setup.
    pub fn new(config: HttpConfig) -> Result<Self, CursorError> {
        // reqwest is built without a bundled crypto provider (aws-lc is slow to build);
        // ring is ours. Installing twice is harmless, so ignore "already installed".
        let _ = rustls::crypto::ring::default_provider().install_default();
        let unary = base_client(&config)
            .build()
            .map_err(CursorError::from_reqwest)?;
        let stream = agent_stream_client(&config)?;
        // HTTP/1.1 only, for the fallback agent transport: ALPN offers just `http/1.1`.
        let http1 = base_client(&config)
            .http1_only()
            .build()
            .map_err(CursorError::from_reqwest)?;
        let time_zone = local_time_zone().and_then(|tz| HeaderValue::from_str(&tz).ok());
        Ok(Self {
            inner: Arc::new(Inner {
                unary,
                streams: Mutex::new(vec![Arc::new(Slot {
                    client: stream,
                    open: AtomicUsize::new(0),
                })]),
                http1,
                user_agent: HeaderValue::from_static(concat!(
                    "connect-es/1.6.1 cursor-bridge/",
                    env!("CARGO_PKG_VERSION")
                )),
                time_zone,
                config,
            }),
        })
    }

    /// A place for one more agent stream: on the first connection with room for it, else
    /// on a new one. Hold the lease as long as the stream is open.
    pub(crate) fn stream_lease(&self) -> Result<StreamLease, CursorError> {
        let mut slots = self.inner.streams.lock().unwrap_or_else(|p| p.into_inner());
        let free = slots
            .iter()
            .find(|s| s.open.load(Ordering::Relaxed) < STREAMS_PER_CONNECTION)
            .cloned();
        let slot = match free {
            Some(s) => s,
            None => {
                let s = Arc::new(Slot {
                    client: agent_stream_client(&self.inner.config)?,
                    open: AtomicUsize::new(0),
                });
                tracing::debug!(
                    connections = slots.len() + 1,
                    "every agent-stream connection is full; opening another"
                );
                slots.push(s.clone());
                s
            }
        };
        // Counted under the lock, so two callers never both take the last place.
        slot.open.fetch_add(1, Ordering::Relaxed);
        Ok(StreamLease { slot })
    }

    /// The endpoints in use.
    pub fn endpoints(&self) -> &Endpoints {
        &self.inner.config.endpoints
    }

    /// The `x-cursor-client-version` in use (and how to re-resolve it).
    pub fn client_version(&self) -> &ClientVersion {
        &self.inner.config.client_version
    }

    /// The configuration in use.
    pub(crate) fn config(&self) -> &HttpConfig {
        &self.inner.config
    }

    /// The HTTP/1.1-only client for the fallback agent transport (`RunSSE`, `BidiAppend`).
    pub(crate) fn http1_client(&self) -> &reqwest::Client {
        &self.inner.http1
    }

    /// Every Cursor header, in one place. `token` is the access JWT (omitted for the
    /// unauthenticated auth endpoints); `request_id` becomes `x-request-id`.
    pub fn headers(&self, token: Option<&str>, request_id: &str) -> HeaderMap {
        let mut h = HeaderMap::with_capacity(10);
        if let Some(t) = token
            && let Ok(mut v) = HeaderValue::from_str(&format!("Bearer {t}"))
        {
            v.set_sensitive(true);
            h.insert(AUTHORIZATION, v);
        }
        h.insert(USER_AGENT, self.inner.user_agent.clone());
        h.insert(
            HeaderName::from_static("connect-protocol-version"),
            HeaderValue::from_static("1"),
        );
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert(HeaderName::from_static("x-request-id"), v);
        }
        h.insert(
            HeaderName::from_static("x-cursor-client-type"),
            HeaderValue::from_static(CLIENT_TYPE),
        );
        if let Ok(v) = HeaderValue::from_str(&self.inner.config.client_version.value()) {
            h.insert(HeaderName::from_static("x-cursor-client-version"), v);
        }
        h.insert(
            HeaderName::from_static("x-ghost-mode"),
            HeaderValue::from_static(if self.inner.config.ghost_mode {
                "true"
            } else {
                "false"
            }),
        );
        if let Some(tz) = &self.inner.time_zone {
            h.insert(HeaderName::from_static("x-cursor-timezone"), tz.clone());
        }
        h
    }

    /// The headers of an agent call: [`CursorHttp::headers`] with the run's request id as
    /// `x-request-id` (reference §2.4: the same id on `RunSSE` and every `BidiAppend`),
    /// plus what the call's wire flavour needs.
    pub(crate) fn agent_headers(
        &self,
        token: &str,
        request_id: &str,
        call: AgentCall,
    ) -> HeaderMap {
        let mut h = self.headers(Some(token), request_id);
        let content_type = match call {
            AgentCall::Run | AgentCall::RunSse => "application/connect+proto",
            AgentCall::BidiAppend => "application/proto",
        };
        h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        if call != AgentCall::BidiAppend {
            h.insert(
                HeaderName::from_static("connect-accept-encoding"),
                HeaderValue::from_static("gzip"),
            );
        }
        if call == AgentCall::Run {
            h.insert(
                HeaderName::from_static("te"),
                HeaderValue::from_static("trailers"),
            );
        } else {
            // What the official CLI adds on its HTTP/1.1 agent transport, so edge proxies
            // treat the call as a stream (reference §2.4).
            h.insert(
                HeaderName::from_static("x-cursor-streaming"),
                HeaderValue::from_static("true"),
            );
        }
        h
    }

    /// One `BidiService/BidiAppend` of the HTTP/1.1 agent transport (Connect unary,
    /// `application/proto`, over the HTTP/1.1 client). Errors map as every unary call's do.
    pub(crate) async fn bidi_append(
        &self,
        token: &str,
        request_id: &str,
        req: &crate::pb::aiserver_v1::BidiAppendRequest,
    ) -> Result<(), CursorError> {
        let headers = self.agent_headers(token, request_id, AgentCall::BidiAppend);
        self.post_unary(
            &self.inner.http1,
            "aiserver.v1.BidiService/BidiAppend",
            headers,
            prost::Message::encode_to_vec(req),
        )
        .await
        .map(drop)
    }

    /// A Connect unary call with a JSON body (`application/json`).
    pub(crate) async fn unary_json<Req: Serialize + ?Sized, Resp: DeserializeOwned>(
        &self,
        rpc_path: &str,
        token: &str,
        req: &Req,
    ) -> Result<Resp, CursorError> {
        let body = serde_json::to_vec(req)
            .map_err(|e| CursorError::Protocol(format!("cannot encode request: {e}")))?;
        let bytes = self
            .unary_raw(rpc_path, token, "application/json", body)
            .await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| CursorError::Protocol(format!("unexpected JSON from {rpc_path}: {e}")))
    }

    /// A Connect unary call with a raw protobuf body (`application/proto`).
    pub(crate) async fn unary_proto<Req: prost::Message, Resp: prost::Message + Default>(
        &self,
        rpc_path: &str,
        token: &str,
        req: &Req,
    ) -> Result<Resp, CursorError> {
        let bytes = self
            .unary_raw(rpc_path, token, "application/proto", req.encode_to_vec())
            .await?;
        super::framing::decode_message(&bytes)
    }

    async fn unary_raw(
        &self,
        rpc_path: &str,
        token: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<bytes::Bytes, CursorError> {
        let headers = self.unary_headers(Some(token), content_type);
        self.post_unary(&self.inner.unary, rpc_path, headers, body)
            .await
    }

    /// A request to an auth endpoint (`<api>/auth/…`, `<api>/oauth/token`) with a JSON
    /// body (`POST`) or none (`GET`), `bearer` as the token when given. The status comes
    /// back with the body: the auth flows read statuses themselves (404 = "not yet", a
    /// 4xx = try the other refresh route) and withhold bodies that echo a secret.
    pub(crate) async fn auth_request(
        &self,
        url: Url,
        bearer: Option<&str>,
        body: Option<String>,
    ) -> Result<(u16, bytes::Bytes), CursorError> {
        let headers = self.unary_headers(bearer, "application/json");
        self.send_unary(
            &self.inner.unary,
            url,
            headers,
            body.map(String::into_bytes),
        )
        .await
    }

    /// [`CursorHttp::headers`] with a fresh request id and the body's content type.
    fn unary_headers(&self, token: Option<&str>, content_type: &'static str) -> HeaderMap {
        let request_id = uuid::Uuid::new_v4().to_string();
        let mut headers = self.headers(token, &request_id);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers
    }

    /// POSTs a Connect unary body with `client`; a non-2xx answer becomes its Connect error.
    async fn post_unary(
        &self,
        client: &reqwest::Client,
        rpc_path: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<bytes::Bytes, CursorError> {
        let url = self.endpoints().api(rpc_path);
        let (status, bytes) = self.send_unary(client, url, headers, Some(body)).await?;
        if !(200..=299).contains(&status) {
            return Err(CursorError::from_http(status, &bytes));
        }
        Ok(bytes)
    }

    /// Where every unary request goes out — Connect calls, `BidiAppend` and the auth
    /// endpoints alike: `POST` with `body`, else `GET`, over `client` (the unary client,
    /// or the HTTP/1.1 one for `BidiAppend`) with the unary timeout. Transport failures
    /// become [`CursorError`]s; any HTTP answer is returned as its status and body, for
    /// the caller's status policy.
    async fn send_unary(
        &self,
        client: &reqwest::Client,
        url: Url,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, bytes::Bytes), CursorError> {
        let request = match body {
            Some(body) => client.post(url).body(body),
            None => client.get(url),
        };
        let resp = request
            .headers(headers)
            .timeout(self.inner.config.unary_timeout)
            .send()
            .await
            .map_err(CursorError::from_reqwest)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(CursorError::from_reqwest)?;
        Ok((status, bytes))
    }
}

/// The IANA time zone, best effort (`TZ`, then `/etc/timezone`); `None` when unknown.
fn local_time_zone() -> Option<String> {
    if let Ok(tz) = std::env::var("TZ") {
        let tz = tz.trim_start_matches(':').to_string();
        if tz.contains('/') {
            return Some(tz);
        }
    }
    std::fs::read_to_string("/etc/timezone")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http() -> CursorHttp {
        CursorHttp::new(HttpConfig {
            endpoints: Endpoints {
                api: Url::parse("http://127.0.0.1:9/prefix/").unwrap(),
                login: Url::parse("https://cursor.com").unwrap(),
            },
            client_version: "cli-2026.01.09-231024f".into(),
            ghost_mode: true,
            connect_timeout: Duration::from_secs(1),
            unary_timeout: Duration::from_secs(1),
            agent_transport: AgentTransport::Http2,
        })
        .unwrap()
    }

    #[test]
    fn joins_paths_under_a_prefix() {
        let h = http();
        assert_eq!(
            h.endpoints().api("/auth/poll").as_str(),
            "http://127.0.0.1:9/prefix/auth/poll"
        );
        assert_eq!(
            h.endpoints().login("loginDeepControl").as_str(),
            "https://cursor.com/loginDeepControl"
        );
    }

    #[test]
    fn headers_are_complete_and_token_is_sensitive() {
        let h = http().headers(Some("tok"), "rid");
        assert_eq!(h["authorization"], "Bearer tok");
        assert!(h["authorization"].is_sensitive());
        assert_eq!(h["x-request-id"], "rid");
        assert_eq!(h["x-cursor-client-type"], "cli");
        assert_eq!(h["x-cursor-client-version"], "cli-2026.01.09-231024f");
        assert_eq!(h["x-ghost-mode"], "true");
        assert_eq!(h["connect-protocol-version"], "1");
        assert!(!http().headers(None, "r").contains_key("authorization"));
    }

    #[test]
    fn agent_headers_add_what_each_call_needs() {
        let h = http();
        let run = h.agent_headers("tok", "rid", AgentCall::Run);
        assert_eq!(run["content-type"], "application/connect+proto");
        assert_eq!(run["te"], "trailers");
        assert!(!run.contains_key("x-cursor-streaming"));
        let sse = h.agent_headers("tok", "rid", AgentCall::RunSse);
        assert_eq!(sse["content-type"], "application/connect+proto");
        assert_eq!(sse["x-cursor-streaming"], "true");
        assert_eq!(sse["x-request-id"], "rid");
        assert!(!sse.contains_key("te"));
        let append = h.agent_headers("tok", "rid", AgentCall::BidiAppend);
        assert_eq!(append["content-type"], "application/proto");
        assert_eq!(append["x-request-id"], "rid");
        assert_eq!(append["authorization"], "Bearer tok");
        assert!(!append.contains_key("connect-accept-encoding"));
    }

    #[test]
    fn agent_transport_parses_its_setting_text() {
        assert_eq!(
            AgentTransport::parse(" HTTP1 "),
            Some(AgentTransport::Http1)
        );
        assert_eq!(AgentTransport::parse("http2"), Some(AgentTransport::Http2));
        assert_eq!(AgentTransport::parse("h2"), None);
        assert_eq!(AgentTransport::Http1.as_str(), "http1");
        assert_eq!(AgentTransport::default(), AgentTransport::Http2);
    }
}
