//! The auth tests: a tiny scripted Cursor and an in-memory store shared by the tests of
//! each file (login, refresh, tokens).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse as _;
use axum::routing::any;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::CONTENT_TYPE;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::refresh::http_error;
use super::*;
use crate::HttpConfig;
use crate::credentials::{CredentialStore, Credentials, StoreError};
use crate::error::CursorError;
use crate::http::{CursorHttp, Endpoints};

// ---- a tiny fake Cursor: three scripted routes that count and record calls ----

enum Reply {
    Now(u16, String),
    /// Never answers.
    Hang,
    /// Answers once the gate is opened.
    After(Arc<Notify>, u16, String),
}

fn json(status: u16, v: serde_json::Value) -> Reply {
    Reply::Now(status, v.to_string())
}

struct Seen {
    query: Option<String>,
    headers: http::HeaderMap,
    body: bytes::Bytes,
}

struct Route {
    script: Box<dyn Fn(usize) -> Reply + Send + Sync>,
    calls: AtomicUsize,
    seen: Mutex<Vec<Seen>>,
    entered: Notify,
}

impl Route {
    fn new(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Arc<Route> {
        Arc::new(Route {
            script: Box::new(script),
            calls: AtomicUsize::new(0),
            seen: Mutex::new(Vec::new()),
            entered: Notify::new(),
        })
    }

    fn missing() -> Arc<Route> {
        Route::new(|_| Reply::Now(404, "404 page not found".into()))
    }

    /// A route that always answers `status` with this JSON body.
    fn answering(status: u16, body: serde_json::Value) -> Arc<Route> {
        Route::new(move |_| json(status, body.clone()))
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn last(&self) -> Seen {
        let seen = self.seen.lock().unwrap();
        let s = seen.last().expect("route was called");
        Seen {
            query: s.query.clone(),
            headers: s.headers.clone(),
            body: s.body.clone(),
        }
    }

    async fn handle(self: Arc<Self>, req: Request) -> axum::response::Response {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let (parts, body) = req.into_parts();
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        self.seen.lock().unwrap().push(Seen {
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body,
        });
        self.entered.notify_one();
        let (status, text) = match (self.script)(n) {
            Reply::Now(s, t) => (s, t),
            Reply::Hang => std::future::pending().await,
            Reply::After(gate, s, t) => {
                gate.notified().await;
                (s, t)
            }
        };
        let status = http::StatusCode::from_u16(status).unwrap();
        (status, [(CONTENT_TYPE, "application/json")], text).into_response()
    }
}

struct Fake {
    poll: Arc<Route>,
    oauth: Arc<Route>,
    exchange: Arc<Route>,
    http: CursorHttp,
}

impl Fake {
    async fn start(poll: Arc<Route>, oauth: Arc<Route>, exchange: Arc<Route>) -> Fake {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let route = |r: &Arc<Route>| {
            let r = r.clone();
            any(move |req: Request| r.clone().handle(req))
        };
        let app = Router::new()
            .route("/auth/poll", route(&poll))
            .route("/oauth/token", route(&oauth))
            .route("/auth/exchange_user_api_key", route(&exchange));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = http_for(&format!("http://{addr}/"));
        Fake {
            poll,
            oauth,
            exchange,
            http,
        }
    }
}

fn http_for(api: &str) -> CursorHttp {
    CursorHttp::new(HttpConfig {
        endpoints: Endpoints {
            api: Url::parse(api).unwrap(),
            login: Url::parse("https://cursor.example").unwrap(),
        },
        client_version: "cli-2026.01.09-231024f".into(),
        ghost_mode: true,
        connect_timeout: Duration::from_secs(2),
        unary_timeout: Duration::from_secs(5),
        agent_transport: crate::http::AgentTransport::Http2,
    })
    .unwrap()
}

fn fast_policy() -> PollPolicy {
    PollPolicy {
        initial: Duration::from_millis(1),
        factor: 1.5,
        max_delay: Duration::from_millis(4),
        max_attempts: 20,
        max_consecutive_errors: 3,
    }
}

/// Polls with the fast test policy and no cancellation.
async fn poll_fast(http: &CursorHttp, pkce: &Pkce) -> Result<Credentials, LoginError> {
    poll_login(http, pkce, &fast_policy(), &CancellationToken::new()).await
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An unsigned JWT expiring at `exp`; `tag` makes tokens distinguishable.
fn jwt(exp: u64, tag: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims =
        serde_json::json!({"sub": "auth0|user_01TEST", "exp": exp, "tag": tag, "type": "session"});
    format!(
        "{header}.{}.sig",
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

// ---- an in-memory store that counts ----

#[derive(Debug, Default)]
struct MemStore {
    creds: Mutex<Option<Credentials>>,
    loads: AtomicUsize,
    saves: AtomicUsize,
    fail_load: bool,
}

impl MemStore {
    fn with(c: Credentials) -> Arc<MemStore> {
        Arc::new(MemStore {
            creds: Mutex::new(Some(c)),
            ..Default::default()
        })
    }
    fn stored(&self) -> Option<Credentials> {
        self.creds.lock().unwrap().clone()
    }
}

impl CredentialStore for MemStore {
    fn load(&self) -> Result<Option<Credentials>, StoreError> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        if self.fail_load {
            return Err(StoreError::NoKeychain {
                detail: "no session bus".into(),
            });
        }
        Ok(self.stored())
    }
    fn save(&self, c: &Credentials) -> Result<(), StoreError> {
        self.saves.fetch_add(1, Ordering::SeqCst);
        *self.creds.lock().unwrap() = Some(c.clone());
        Ok(())
    }
    fn delete(&self) -> Result<(), StoreError> {
        *self.creds.lock().unwrap() = None;
        Ok(())
    }
    fn describe(&self) -> String {
        "memory".into()
    }
}

fn session(access: String, refresh: Option<&str>) -> Credentials {
    Credentials {
        access_token: access,
        refresh_token: refresh.map(str::to_owned),
        api_key: None,
    }
}

/// A manager trying `oauth/token` first, the route most of these tests script.
fn manager(fake: &Fake, store: Arc<MemStore>) -> TokenManager {
    TokenManager::new(fake.http.clone(), store, None, Duration::from_secs(300))
        .with_refresh_route(RefreshRoute::Oauth)
}

mod login;
mod refresh;
mod tokens;
