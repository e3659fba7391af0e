//! Signing in to Cursor and keeping the access token fresh (reference §1).
//!
//! - Browser login: a PKCE pair ([`Pkce`]) and a uuid open
//!   `<login>/loginDeepControl?…`; [`poll_login`] then polls `<api>/auth/poll` until the
//!   user finishes in the browser (404 = not yet), with the official CLI's cadence.
//! - API-key login: [`exchange_api_key`].
//! - Refresh: [`refresh`] (API-key exchange when a key is stored, else the refresh token
//!   on one [`RefreshRoute`] and, after a 4xx, on the other; the route that worked is
//!   tried first from then on).
//! - [`TokenManager`]: the only way the rest of the code gets an access token. It caches
//!   the credentials, refreshes shortly before expiry with one refresh shared by all
//!   concurrent callers, persists rotated tokens, and fails loudly.
//!
//! Secrets (tokens, API key, PKCE verifier) never appear in logs, errors or `Debug`.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use http::header::{CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Deserializer};
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::credentials::{CredentialStore, Credentials, StoreError, describe_json_error};
use super::error::CursorError;
use super::http::{CursorHttp, Endpoints};

/// The OAuth client id Cursor's refresh endpoint expects (reference §1.3 variant A).
pub const OAUTH_CLIENT_ID: &str = "KbZUR41cY7W6zRSdpSUJ7I7mLYBKOCmB";

// ---------------------------------------------------------------------------------------
// PKCE and the login URL
// ---------------------------------------------------------------------------------------

/// One browser-login attempt: the secret verifier, its public challenge, and the uuid
/// that names the attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    /// 32 random bytes, base64url without padding (43 chars). Secret: whoever has it can
    /// collect the tokens from the poll endpoint.
    pub verifier: String,
    /// base64url-no-pad(SHA-256(verifier text)).
    pub challenge: String,
    /// UUIDv4, lowercase, hyphenated.
    pub uuid: String,
}

impl Pkce {
    /// A fresh pair from the OS-seeded CSPRNG.
    pub fn generate() -> Pkce {
        let bytes: [u8; 32] = rand::random();
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        Pkce {
            challenge: challenge_for(&verifier),
            verifier,
            uuid: uuid::Uuid::new_v4().hyphenated().to_string(),
        }
    }
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &format_args!("<redacted>"))
            .field("challenge", &self.challenge)
            .field("uuid", &self.uuid)
            .finish()
    }
}

/// The challenge for a verifier: SHA-256 over the verifier's ASCII text (not its decoded
/// bytes), base64url without padding.
pub fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The page the user opens to sign in:
/// `<login>/loginDeepControl?challenge=…&uuid=…&mode=login&redirectTarget=cli`.
pub fn login_url(endpoints: &Endpoints, pkce: &Pkce) -> Url {
    let mut url = endpoints.login("loginDeepControl");
    url.query_pairs_mut()
        .append_pair("challenge", &pkce.challenge)
        .append_pair("uuid", &pkce.uuid)
        .append_pair("mode", "login")
        .append_pair("redirectTarget", "cli");
    url
}

// ---------------------------------------------------------------------------------------
// Polling for the browser login
// ---------------------------------------------------------------------------------------

/// How often and how long to poll for a finished browser login.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    /// Delay after the first attempt.
    pub initial: Duration,
    /// Growth of the delay per attempt.
    pub factor: f64,
    /// Cap on the delay.
    pub max_delay: Duration,
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// Consecutive errors (anything but 404 "pending" and 200) before giving up.
    pub max_consecutive_errors: u32,
}

impl Default for PollPolicy {
    /// The official CLI's numbers (reference §1.1 step 6): 1 s × 1.2ⁿ capped at 10 s,
    /// 150 attempts (≈ 23.6 minutes), 3 consecutive errors.
    fn default() -> Self {
        PollPolicy {
            initial: Duration::from_millis(1000),
            factor: 1.2,
            max_delay: Duration::from_millis(10_000),
            max_attempts: 150,
            max_consecutive_errors: 3,
        }
    }
}

impl PollPolicy {
    /// The delay after attempt `n` (0-based): `min(initial × factorⁿ, max_delay)`.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        if secs.is_finite() && secs >= 0.0 && secs < self.max_delay.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max_delay
        }
    }
}

/// Why a browser login did not produce credentials.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("sign-in was cancelled")]
    Cancelled,
    #[error(
        "the browser sign-in was not completed in time (checked {attempts} times); run login again"
    )]
    TimedOut { attempts: u32 },
    #[error("sign-in failed: {0}")]
    Failed(CursorError),
    #[error("sign-in failed: Cursor's answer was not understood ({0})")]
    BadResponse(String),
}

enum PollOutcome {
    Pending,
    Done(bytes::Bytes),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenPair {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    refresh_token: Option<String>,
}

/// Polls `<api>/auth/poll?uuid=…&verifier=…` until the user has signed in in the browser.
///
/// 404 means "not yet" and resets the error count; 200 carries the tokens; anything else
/// (or a network failure) is an error, and `max_consecutive_errors` of them in a row end
/// the wait. At most `max_attempts` requests, with [`PollPolicy::delay`] after each.
/// `cancel` is honoured during requests and sleeps alike.
pub async fn poll_login(
    http: &CursorHttp,
    pkce: &Pkce,
    policy: &PollPolicy,
    cancel: &CancellationToken,
) -> Result<Credentials, LoginError> {
    // This URL holds the verifier: it is never logged, and reqwest errors lose their URL.
    let mut url = http.endpoints().api("auth/poll");
    url.query_pairs_mut()
        .append_pair("uuid", &pkce.uuid)
        .append_pair("verifier", &pkce.verifier);
    let mut consecutive_errors = 0u32;
    for attempt in 0..policy.max_attempts {
        let outcome = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(LoginError::Cancelled),
            o = poll_once(http, &url, &pkce.verifier) => o,
        };
        match outcome {
            Ok(PollOutcome::Pending) => consecutive_errors = 0,
            Ok(PollOutcome::Done(body)) => return parse_login_answer(&body),
            Err(e) => {
                consecutive_errors += 1;
                tracing::debug!(attempt, consecutive_errors, error = %e, "login poll failed");
                if consecutive_errors >= policy.max_consecutive_errors {
                    return Err(LoginError::Failed(e));
                }
            }
        }
        if attempt + 1 < policy.max_attempts {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(LoginError::Cancelled),
                _ = tokio::time::sleep(policy.delay(attempt)) => {}
            }
        }
    }
    Err(LoginError::TimedOut {
        attempts: policy.max_attempts,
    })
}

async fn poll_once(
    http: &CursorHttp,
    url: &Url,
    verifier: &str,
) -> Result<PollOutcome, CursorError> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut headers = http.headers(None, &request_id);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let resp = http
        .unary_client()
        .get(url.clone())
        .headers(headers)
        .timeout(http.config().unary_timeout)
        .send()
        .await
        .map_err(CursorError::from_reqwest)?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(CursorError::from_reqwest)?;
    match status {
        404 => Ok(PollOutcome::Pending),
        200..=299 => Ok(PollOutcome::Done(body)),
        _ => Err(http_error(status, &body, verifier)),
    }
}

fn parse_login_answer(body: &[u8]) -> Result<Credentials, LoginError> {
    let pair: TokenPair = serde_json::from_slice(body)
        .map_err(|e| LoginError::BadResponse(describe_json_error(&e)))?;
    if pair.access_token.is_empty() {
        return Err(LoginError::BadResponse(
            "the answer has no access token".into(),
        ));
    }
    Ok(Credentials {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token.filter(|t| !t.is_empty()),
        api_key: None,
    })
}

// ---------------------------------------------------------------------------------------
// API-key exchange and refresh
// ---------------------------------------------------------------------------------------

/// A failed auth call, classified for the refresh fallbacks.
struct Failure {
    kind: FailKind,
    error: CursorError,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FailKind {
    /// 401/403 (or an OAuth `invalid_grant` / `shouldLogout`): the credential is dead.
    Refused,
    /// 404/405/501: this endpoint is not there.
    Missing,
    /// Any other 4xx: the endpoint did not take this request.
    Rejected,
    /// Network, timeout, or a 2xx we could not read.
    Transport,
    /// 5xx (but 501) and anything stranger: the server is there but failing.
    Server,
}

impl Failure {
    fn transport(error: CursorError) -> Failure {
        Failure {
            kind: FailKind::Transport,
            error,
        }
    }

    fn from_status(status: u16, body: &[u8], secret: &str) -> Failure {
        let kind = match status {
            401 | 403 => FailKind::Refused,
            400 if String::from_utf8_lossy(body).contains("invalid_grant") => FailKind::Refused,
            404 | 405 | 501 => FailKind::Missing,
            400..=499 => FailKind::Rejected,
            _ => FailKind::Server,
        };
        Failure {
            kind,
            error: http_error(status, body, secret),
        }
    }
}

/// The error for a non-2xx answer, withholding the body if it echoes the secret we sent.
fn http_error(status: u16, body: &[u8], secret: &str) -> CursorError {
    let err = CursorError::from_http(status, body);
    if !secret.is_empty() && err.to_string().contains(secret) {
        CursorError::Http {
            status,
            body: "(body withheld: it repeats a secret)".into(),
        }
    } else {
        err
    }
}

/// POSTs JSON to `<api>/<path>` and returns the status and body of any HTTP answer.
async fn post_json(
    http: &CursorHttp,
    path: &str,
    bearer: Option<&str>,
    body: &serde_json::Value,
) -> Result<(u16, bytes::Bytes), CursorError> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut headers = http.headers(bearer, &request_id);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let resp = http
        .unary_client()
        .post(http.endpoints().api(path))
        .headers(headers)
        .timeout(http.config().unary_timeout)
        .body(body.to_string())
        .send()
        .await
        .map_err(CursorError::from_reqwest)?;
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.map_err(CursorError::from_reqwest)?;
    tracing::debug!(path, status, "Cursor auth call");
    Ok((status, bytes))
}

/// `POST <api>/auth/exchange_user_api_key` with `bearer` → `{accessToken, refreshToken?}`.
async fn exchange(http: &CursorHttp, bearer: &str) -> Result<TokenPair, Failure> {
    let (status, body) = post_json(
        http,
        "auth/exchange_user_api_key",
        Some(bearer),
        &serde_json::json!({}),
    )
    .await
    .map_err(Failure::transport)?;
    if !(200..300).contains(&status) {
        return Err(Failure::from_status(status, &body, bearer));
    }
    let pair: TokenPair = serde_json::from_slice(&body).map_err(|e| {
        Failure::transport(CursorError::Protocol(format!(
            "unexpected answer from auth/exchange_user_api_key: {}",
            describe_json_error(&e)
        )))
    })?;
    if pair.access_token.is_empty() {
        return Err(Failure::transport(CursorError::Protocol(
            "auth/exchange_user_api_key answered without an access token".into(),
        )));
    }
    Ok(pair)
}

/// Signs in with a user API key (reference §1.2). The key is kept in the result so the
/// session can be renewed the way the official CLI does it.
pub async fn exchange_api_key(
    http: &CursorHttp,
    api_key: &str,
) -> Result<Credentials, CursorError> {
    let pair = exchange(http, api_key).await.map_err(|f| f.error)?;
    Ok(Credentials {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token.filter(|t| !t.is_empty()),
        api_key: Some(api_key.to_owned()),
    })
}

#[derive(Deserialize)]
struct OAuthAnswer {
    #[serde(default)]
    access_token: String,
    /// Not seen in the wild, but if Cursor ever rotates the refresh token here, keep it.
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default, rename = "shouldLogout")]
    should_logout: bool,
}

/// Variant A: `POST <api>/oauth/token` (reference §1.3).
async fn refresh_oauth(http: &CursorHttp, refresh_token: &str) -> Result<TokenPair, Failure> {
    let body = serde_json::json!({
        "grant_type": "refresh_token",
        "client_id": OAUTH_CLIENT_ID,
        "refresh_token": refresh_token,
    });
    let (status, bytes) = post_json(http, "oauth/token", None, &body)
        .await
        .map_err(Failure::transport)?;
    if !(200..300).contains(&status) {
        return Err(Failure::from_status(status, &bytes, refresh_token));
    }
    let answer: OAuthAnswer = serde_json::from_slice(&bytes).map_err(|e| {
        Failure::transport(CursorError::Protocol(format!(
            "unexpected answer from oauth/token: {}",
            describe_json_error(&e)
        )))
    })?;
    if answer.should_logout || answer.access_token.is_empty() {
        return Err(Failure {
            kind: FailKind::Refused,
            error: CursorError::SessionExpired,
        });
    }
    Ok(TokenPair {
        access_token: answer.access_token,
        refresh_token: answer.refresh_token,
    })
}

/// The two ways to refresh with a refresh token (reference §1.3 A and B, §9.9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefreshRoute {
    /// `POST <api>/auth/exchange_user_api_key` with `Authorization: Bearer <refresh
    /// token>`: what every client signed in through `/auth/poll` uses (§9.9), so first.
    #[default]
    Exchange,
    /// `POST <api>/oauth/token` (`grant_type=refresh_token`): documented by clients that
    /// hold IDE tokens.
    Oauth,
}

impl RefreshRoute {
    /// The setting's text: `exchange` or `oauth`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshRoute::Exchange => "exchange",
            RefreshRoute::Oauth => "oauth",
        }
    }

    /// The other route.
    pub fn other(self) -> RefreshRoute {
        match self {
            RefreshRoute::Exchange => RefreshRoute::Oauth,
            RefreshRoute::Oauth => RefreshRoute::Exchange,
        }
    }

    fn path(self) -> &'static str {
        match self {
            RefreshRoute::Exchange => "auth/exchange_user_api_key",
            RefreshRoute::Oauth => "oauth/token",
        }
    }

    async fn call(self, http: &CursorHttp, refresh_token: &str) -> Result<TokenPair, Failure> {
        match self {
            RefreshRoute::Exchange => exchange(http, refresh_token).await,
            RefreshRoute::Oauth => refresh_oauth(http, refresh_token).await,
        }
    }
}

/// Renews the credentials (reference §1.3, §9.9):
/// 1. a stored API key → the API-key exchange (what the official CLI does);
/// 2. else the refresh token on `first`, and after any 4xx (or an unreachable, garbled
///    or `shouldLogout` answer) on the other route. A 5xx is the server failing, not the
///    route: it is reported, not papered over.
///
/// Returns the new credentials and the route that produced them (`None` for an API key),
/// so the caller can start there next time. A refused credential on the last route tried,
/// or neither route accepting the token, is [`CursorError::SessionExpired`], as is having
/// nothing to refresh with. A rotated refresh token is kept; an absent one keeps the old.
pub async fn refresh(
    http: &CursorHttp,
    creds: &Credentials,
    first: RefreshRoute,
) -> Result<(Credentials, Option<RefreshRoute>), CursorError> {
    if let Some(key) = creds.api_key.as_deref().filter(|k| !k.is_empty()) {
        return match exchange(http, key).await {
            Ok(pair) => {
                tracing::info!("renewed the Cursor session with the stored API key");
                Ok((merge(creds, pair), None))
            }
            Err(f) if f.kind == FailKind::Refused => Err(CursorError::SessionExpired),
            Err(f) => Err(f.error),
        };
    }
    let Some(refresh_token) = creds.refresh_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(CursorError::SessionExpired);
    };
    let first_failure = match first.call(http, refresh_token).await {
        Ok(pair) => {
            tracing::info!(route = first.path(), "refreshed the Cursor access token");
            return Ok((merge(creds, pair), Some(first)));
        }
        Err(f) if f.kind == FailKind::Server => return Err(f.error),
        Err(f) => f,
    };
    let second = first.other();
    tracing::warn!(
        error = %first_failure.error,
        "refresh through {} failed; trying {}",
        first.path(),
        second.path()
    );
    match second.call(http, refresh_token).await {
        Ok(pair) => {
            tracing::info!(route = second.path(), "refreshed the Cursor access token");
            Ok((merge(creds, pair), Some(second)))
        }
        Err(f) => match (first_failure.kind, f.kind) {
            (_, FailKind::Refused) => Err(CursorError::SessionExpired),
            (FailKind::Transport, FailKind::Missing | FailKind::Rejected) => {
                Err(first_failure.error)
            }
            (_, FailKind::Missing | FailKind::Rejected) => {
                tracing::warn!(
                    "neither Cursor refresh route took the refresh token; a new sign-in is needed"
                );
                Err(CursorError::SessionExpired)
            }
            (_, FailKind::Transport | FailKind::Server) => Err(f.error),
        },
    }
}

fn merge(old: &Credentials, pair: TokenPair) -> Credentials {
    Credentials {
        access_token: pair.access_token,
        refresh_token: pair
            .refresh_token
            .filter(|t| !t.is_empty())
            .or_else(|| old.refresh_token.clone()),
        api_key: old.api_key.clone(),
    }
}

// ---------------------------------------------------------------------------------------
// JWT
// ---------------------------------------------------------------------------------------

/// The claims we read from Cursor's access JWT (reference §1.4). The signature is not
/// checked: we only need to know when to refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct JwtClaims {
    /// `<idp>|user_<id>`, e.g. `auth0|user_01ABC`.
    #[serde(default)]
    pub sub: Option<String>,
    /// Expiry, unix seconds.
    #[serde(default, deserialize_with = "unix_seconds")]
    pub exp: Option<u64>,
    #[serde(default)]
    pub iss: Option<String>,
    /// `session` or `web`.
    #[serde(default, rename = "type")]
    pub token_type: Option<String>,
}

impl JwtClaims {
    /// The user id: the part of `sub` after `|`.
    pub fn user_id(&self) -> Option<&str> {
        let sub = self.sub.as_deref()?;
        Some(sub.split_once('|').map_or(sub, |(_, id)| id))
    }
}

fn unix_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    })
}

/// Decodes the claims (middle segment, base64url with or without padding). `None` when
/// the token is not a JWT.
pub fn decode_jwt(token: &str) -> Option<JwtClaims> {
    let mut parts = token.trim().split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    let payload = payload.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .or_else(|_| STANDARD_NO_PAD.decode(payload))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// When the token expires; `None` (treat as expired) when it cannot be read.
pub fn expires_at(token: &str) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(decode_jwt(token)?.exp?))
}

// ---------------------------------------------------------------------------------------
// TokenManager
// ---------------------------------------------------------------------------------------

/// After a failed refresh, callers get the same answer for this long instead of each
/// trying again (a dead network would otherwise cost every request a full timeout).
const REFRESH_RETRY_AFTER: Duration = Duration::from_secs(15);

/// The only way the rest of the code gets an access token. Cheap to clone.
///
/// Lock choice: one `tokio::sync::Mutex` guards the cached credentials and is held across
/// the store I/O and the refresh call, so a refresh is single-flight: concurrent callers
/// queue on the lock, re-check the token when they get it, and find the fresh one. The
/// fast path (token good for longer than the margin) holds it only to clone a string.
/// Refreshes run in a spawned task, so a caller that goes away (a client disconnects)
/// cannot abort a refresh halfway and lose a rotated refresh token.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

struct Inner {
    http: CursorHttp,
    store: Arc<dyn CredentialStore>,
    env_token: Option<String>,
    margin: Duration,
    /// The refresh route tried first: the setting at start, then the last one that
    /// worked. In memory only: after a restart re-learning it costs one 4xx.
    route: std::sync::Mutex<RefreshRoute>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The store has been read (its answer, possibly "nothing", is in `creds`).
    loaded: bool,
    creds: Option<Credentials>,
    /// `exp` of `creds.access_token`; `None` = unreadable = expired.
    expires: Option<SystemTime>,
    /// The last failed refresh, replayed for [`REFRESH_RETRY_AFTER`].
    failure: Option<(Instant, CursorError)>,
}

impl State {
    fn set(&mut self, creds: Option<Credentials>) {
        self.expires = creds.as_ref().and_then(|c| expires_at(&c.access_token));
        self.creds = creds;
        self.loaded = true;
        self.failure = None;
    }

    /// The token if it is good for at least `margin` more.
    fn fresh_token(&self, margin: Duration, now: SystemTime) -> Option<String> {
        let left = self.expires?.duration_since(now).ok()?;
        (left >= margin)
            .then(|| self.creds.as_ref().map(|c| c.access_token.clone()))
            .flatten()
    }

    fn recent_failure(&self) -> Option<&CursorError> {
        self.failure
            .as_ref()
            .filter(|(at, _)| at.elapsed() < REFRESH_RETRY_AFTER)
            .map(|(_, e)| e)
    }
}

enum Trigger {
    /// The token is (nearly) expired.
    Expiring,
    /// Cursor answered 401 for this token.
    Rejected(String),
}

impl From<StoreError> for CursorError {
    fn from(e: StoreError) -> Self {
        CursorError::CredentialStore {
            message: e.to_string(),
        }
    }
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("store", &self.inner.store)
            .field(
                "env_token",
                &self.inner.env_token.as_ref().map(|_| "<redacted>"),
            )
            .field("margin", &self.inner.margin)
            .finish()
    }
}

impl TokenManager {
    /// `env_token` is `CURSOR_ACCESS_TOKEN`: when set it always wins and is never stored
    /// or refreshed. `refresh_margin`: refresh when less than this remains (300 s).
    pub fn new(
        http: CursorHttp,
        store: Arc<dyn CredentialStore>,
        env_token: Option<String>,
        refresh_margin: Duration,
    ) -> TokenManager {
        TokenManager {
            inner: Arc::new(Inner {
                http,
                store,
                env_token: env_token.filter(|t| !t.trim().is_empty()),
                margin: refresh_margin,
                route: std::sync::Mutex::new(RefreshRoute::default()),
                state: tokio::sync::Mutex::new(State::default()),
            }),
        }
    }

    /// Tries `route` first when refreshing with a refresh token (setting `refresh_route`).
    pub fn with_refresh_route(self, route: RefreshRoute) -> TokenManager {
        *self.inner.route.lock().unwrap_or_else(|p| p.into_inner()) = route;
        self
    }

    /// The refresh route tried first next time: the setting, or the last one that worked.
    pub fn refresh_route(&self) -> RefreshRoute {
        *self.inner.route.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when `CURSOR_ACCESS_TOKEN` is in use.
    pub fn uses_env_token(&self) -> bool {
        self.inner.env_token.is_some()
    }

    /// Where credentials are stored, for status output.
    pub fn store_description(&self) -> String {
        self.inner.store.describe()
    }

    /// A usable access token, refreshed first when it expires within the margin.
    ///
    /// Errors: [`CursorError::NotSignedIn`], [`CursorError::SessionExpired`] (sign in
    /// again; the stored credentials are kept), [`CursorError::CredentialStore`], or the
    /// refresh call's error when the current token has already expired. When a refresh
    /// fails for a transient reason while the current token is still valid, the current
    /// token is returned and the failure logged.
    pub async fn access_token(&self) -> Result<String, CursorError> {
        if let Some(t) = &self.inner.env_token {
            return Ok(t.clone());
        }
        {
            let mut st = self.inner.state.lock().await;
            self.inner.ensure_loaded(&mut st).await?;
            if st.creds.is_none() {
                return Err(CursorError::NotSignedIn);
            }
            if let Some(token) = st.fresh_token(self.inner.margin, SystemTime::now()) {
                return Ok(token);
            }
        }
        self.refresh_in_task(Trigger::Expiring).await
    }

    /// Cursor answered 401 for `rejected`: returns the current token if someone already
    /// replaced it, else forces one (shared) refresh.
    pub async fn refresh_after_rejection(&self, rejected: &str) -> Result<String, CursorError> {
        if self.inner.env_token.is_some() {
            return Err(CursorError::Unauthenticated {
                message: "the token in CURSOR_ACCESS_TOKEN was refused; replace it, or unset it \
                          to use the stored sign-in"
                    .into(),
            });
        }
        self.refresh_in_task(Trigger::Rejected(rejected.to_owned()))
            .await
    }

    /// Stores new credentials (after a login) and uses them from now on.
    pub async fn sign_in(&self, creds: Credentials) -> Result<(), StoreError> {
        let mut st = self.inner.state.lock().await;
        self.inner.save(creds.clone()).await?;
        st.set(Some(creds));
        Ok(())
    }

    /// Deletes the stored credentials. The in-memory copy is dropped even when the store
    /// fails (the error is returned so the user learns the store still holds them).
    pub async fn sign_out(&self) -> Result<(), StoreError> {
        let mut st = self.inner.state.lock().await;
        st.set(None);
        let store = self.inner.store.clone();
        run_blocking(move || store.delete()).await
    }

    /// The credentials in use, for status display: the `CURSOR_ACCESS_TOKEN` override
    /// (as an access token alone) or what is stored.
    pub async fn current(&self) -> Result<Option<Credentials>, StoreError> {
        if let Some(t) = &self.inner.env_token {
            return Ok(Some(Credentials {
                access_token: t.clone(),
                refresh_token: None,
                api_key: None,
            }));
        }
        let mut st = self.inner.state.lock().await;
        self.inner.ensure_loaded(&mut st).await?;
        Ok(st.creds.clone())
    }

    async fn refresh_in_task(&self, trigger: Trigger) -> Result<String, CursorError> {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.refresh_single_flight(trigger).await })
            .await
            .unwrap_or_else(|e| {
                Err(CursorError::Protocol(format!(
                    "the token refresh task failed: {e}"
                )))
            })
    }
}

impl Inner {
    async fn ensure_loaded(&self, st: &mut State) -> Result<(), StoreError> {
        if !st.loaded {
            let store = self.store.clone();
            let creds = run_blocking(move || store.load()).await?;
            st.set(creds);
        }
        Ok(())
    }

    async fn save(&self, creds: Credentials) -> Result<(), StoreError> {
        let store = self.store.clone();
        run_blocking(move || store.save(&creds)).await
    }

    async fn refresh_single_flight(&self, trigger: Trigger) -> Result<String, CursorError> {
        let mut st = self.state.lock().await;
        self.ensure_loaded(&mut st).await?;
        let Some(creds) = st.creds.clone() else {
            return Err(CursorError::NotSignedIn);
        };
        let now = SystemTime::now();
        // Someone may have refreshed while we waited for the lock.
        let still_valid = match &trigger {
            Trigger::Expiring => {
                if let Some(token) = st.fresh_token(self.margin, now) {
                    return Ok(token);
                }
                st.expires.is_some_and(|exp| exp > now)
            }
            Trigger::Rejected(rejected) => {
                if creds.access_token != *rejected {
                    return Ok(creds.access_token);
                }
                false
            }
        };
        let renewable = creds
            .refresh_token
            .as_deref()
            .is_some_and(|t| !t.is_empty())
            || creds.api_key.as_deref().is_some_and(|k| !k.is_empty());
        if !renewable && still_valid {
            // Nothing to refresh with (e.g. a bare imported token): use it until it expires.
            return Ok(creds.access_token);
        }
        if let Some(err) = st.recent_failure() {
            return match err {
                CursorError::SessionExpired => Err(CursorError::SessionExpired),
                _ if still_valid => Ok(creds.access_token),
                err => Err(err.clone()),
            };
        }
        let first = *self.route.lock().unwrap_or_else(|p| p.into_inner());
        match refresh(&self.http, &creds, first).await {
            Ok((new, route)) => {
                if let Some(route) = route {
                    *self.route.lock().unwrap_or_else(|p| p.into_inner()) = route;
                }
                let token = new.access_token.clone();
                if let Err(e) = self.save(new.clone()).await {
                    // The new token works; keep it in memory. If the refresh token rotated,
                    // the next start will need a new sign-in — say so loudly.
                    tracing::error!(
                        error = %e,
                        "refreshed the Cursor token but could not store it; after a restart you may have to sign in again"
                    );
                }
                st.set(Some(new));
                Ok(token)
            }
            Err(e) => {
                st.failure = Some((Instant::now(), e.clone()));
                match e {
                    CursorError::SessionExpired => {
                        tracing::warn!("the Cursor session has expired; a new sign-in is needed");
                        Err(e)
                    }
                    e if still_valid => {
                        tracing::warn!(error = %e, "token refresh failed; using the current token until it expires");
                        Ok(creds.access_token)
                    }
                    e => {
                        tracing::error!(error = %e, "token refresh failed");
                        Err(e)
                    }
                }
            }
        }
    }
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::Request;
    use axum::response::IntoResponse as _;
    use axum::routing::any;
    use tokio::sync::Notify;

    use crate::cursor::HttpConfig;

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
            agent_transport: crate::cursor::http::AgentTransport::Http2,
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
        let claims = serde_json::json!({"sub": "auth0|user_01TEST", "exp": exp, "tag": tag, "type": "session"});
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

    // ---- PKCE, URL, cadence, JWT ----

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        // The value printed in RFC 7636 appendix B (also what Python's hashlib gives).
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_shape() {
        let url_safe = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let a = Pkce::generate();
        let b = Pkce::generate();
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(a.uuid, b.uuid);
        assert_eq!(a.verifier.len(), 43);
        assert_eq!(a.challenge.len(), 43);
        assert!(url_safe(&a.verifier) && url_safe(&a.challenge));
        assert_eq!(a.challenge, challenge_for(&a.verifier));
        let u = uuid::Uuid::parse_str(&a.uuid).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(a.uuid, a.uuid.to_lowercase());
        assert_eq!(a.uuid.len(), 36);
    }

    #[test]
    fn pkce_debug_hides_the_verifier() {
        let p = Pkce::generate();
        let text = format!("{p:?}");
        assert!(!text.contains(&p.verifier), "{text}");
        assert!(text.contains(&p.uuid));
    }

    #[test]
    fn login_url_carries_every_parameter() {
        let p = Pkce::generate();
        let endpoints = Endpoints {
            api: Url::parse("https://api2.cursor.sh").unwrap(),
            login: Url::parse("https://cursor.com").unwrap(),
        };
        let url = login_url(&endpoints, &p);
        assert_eq!(
            url.as_str(),
            format!(
                "https://cursor.com/loginDeepControl?challenge={}&uuid={}&mode=login&redirectTarget=cli",
                p.challenge, p.uuid
            )
        );
        assert!(!url.as_str().contains(&p.verifier));
    }

    #[test]
    fn poll_delays_follow_the_official_cadence() {
        let p = PollPolicy::default();
        let ms: Vec<u128> = (0..15).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(
            ms,
            [
                1000, 1200, 1440, 1728, 2073, 2488, 2985, 3583, 4299, 5159, 6191, 7430, 8916,
                10000, 10000
            ]
        );
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(10));
        let first13: f64 = (0..13).map(|n| p.delay(n).as_secs_f64()).sum();
        assert!((first13 - 48.5).abs() < 0.1, "{first13}");
        let total: f64 = (0..p.max_attempts).map(|n| p.delay(n).as_secs_f64()).sum();
        assert!((total / 60.0 - 23.6).abs() < 0.1, "{total}");
    }

    #[test]
    fn jwt_decoding() {
        let t = jwt(1_900_000_000, "a");
        let c = decode_jwt(&t).unwrap();
        assert_eq!(c.exp, Some(1_900_000_000));
        assert_eq!(c.sub.as_deref(), Some("auth0|user_01TEST"));
        assert_eq!(c.user_id(), Some("user_01TEST"));
        assert_eq!(c.token_type.as_deref(), Some("session"));
        assert_eq!(
            expires_at(&t),
            Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000))
        );

        // Padded payloads and float expiries are tolerated.
        let padded_payload = base64::engine::general_purpose::URL_SAFE.encode(br#"{"exp":1.5e9}"#);
        assert_eq!(
            decode_jwt(&format!("h.{padded_payload}.s")).unwrap().exp,
            Some(1_500_000_000)
        );

        for garbage in ["", "abc", "a.b.c", "a.!!!.c", "a.e30", "a.bnVsbA.c"] {
            assert_eq!(expires_at(garbage), None, "{garbage}");
        }
        assert_eq!(
            decode_jwt("a.e30.c"),
            Some(JwtClaims::default()),
            "{{}} has no exp"
        );
    }

    // ---- browser-login polling ----

    #[tokio::test]
    async fn poll_waits_through_404_then_returns_tokens() {
        let poll = Route::new(|n| {
            if n < 2 {
                Reply::Now(404, String::new())
            } else {
                json(
                    200,
                    serde_json::json!({"accessToken": "at", "refreshToken": "rt", "authId": "auth0|user_1"}),
                )
            }
        });
        let fake = Fake::start(poll, Route::missing(), Route::missing()).await;
        let pkce = Pkce::generate();
        let creds = poll_fast(&fake.http, &pkce).await.unwrap();
        assert_eq!(creds, session("at".into(), Some("rt")));
        assert_eq!(fake.poll.calls(), 3);
        let seen = fake.poll.last();
        let query = seen.query.unwrap();
        assert!(query.contains(&format!("uuid={}", pkce.uuid)), "{query}");
        assert!(
            query.contains(&format!("verifier={}", pkce.verifier)),
            "{query}"
        );
        assert!(!seen.headers.contains_key("authorization"));
        assert_eq!(seen.headers["content-type"], "application/json");
        assert_eq!(seen.headers["x-cursor-client-type"], "cli");
    }

    #[tokio::test]
    async fn poll_gives_up_after_consecutive_errors() {
        let fake = Fake::start(
            Route::new(|_| Reply::Now(500, "boom".into())),
            Route::missing(),
            Route::missing(),
        )
        .await;
        let err = poll_fast(&fake.http, &Pkce::generate()).await.unwrap_err();
        assert!(
            matches!(
                err,
                LoginError::Failed(CursorError::Http { status: 500, .. })
            ),
            "{err:?}"
        );
        assert_eq!(fake.poll.calls(), 3);
    }

    #[tokio::test]
    async fn poll_404_resets_the_error_count() {
        let poll = Route::new(|n| match n {
            0 | 1 | 3 | 4 => Reply::Now(502, String::new()),
            2 => Reply::Now(404, String::new()),
            _ => json(
                200,
                serde_json::json!({"accessToken": "at", "refreshToken": "rt"}),
            ),
        });
        let fake = Fake::start(poll, Route::missing(), Route::missing()).await;
        let creds = poll_fast(&fake.http, &Pkce::generate()).await;
        assert_eq!(creds.unwrap().access_token, "at");
        assert_eq!(fake.poll.calls(), 6);
    }

    #[tokio::test]
    async fn poll_times_out_after_max_attempts() {
        let fake = Fake::start(
            Route::new(|_| Reply::Now(404, String::new())),
            Route::missing(),
            Route::missing(),
        )
        .await;
        let policy = PollPolicy {
            max_attempts: 5,
            ..fast_policy()
        };
        let err = poll_login(
            &fake.http,
            &Pkce::generate(),
            &policy,
            &CancellationToken::new(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(err, LoginError::TimedOut { attempts: 5 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("run login again"));
        assert_eq!(fake.poll.calls(), 5);
    }

    #[tokio::test]
    async fn poll_cancels_during_a_request() {
        let fake = Fake::start(
            Route::new(|_| Reply::Hang),
            Route::missing(),
            Route::missing(),
        )
        .await;
        let cancel = CancellationToken::new();
        let pkce = Pkce::generate();
        let task = {
            let (http, cancel) = (fake.http.clone(), cancel.clone());
            tokio::spawn(async move { poll_login(&http, &pkce, &fast_policy(), &cancel).await })
        };
        fake.poll.entered.notified().await;
        cancel.cancel();
        assert!(matches!(task.await.unwrap(), Err(LoginError::Cancelled)));
    }

    #[tokio::test]
    async fn poll_cancels_during_a_sleep() {
        let fake = Fake::start(
            Route::new(|_| Reply::Now(404, String::new())),
            Route::missing(),
            Route::missing(),
        )
        .await;
        let cancel = CancellationToken::new();
        let policy = PollPolicy {
            initial: Duration::from_secs(3600),
            max_delay: Duration::from_secs(3600),
            ..fast_policy()
        };
        let task = {
            let (http, cancel) = (fake.http.clone(), cancel.clone());
            tokio::spawn(
                async move { poll_login(&http, &Pkce::generate(), &policy, &cancel).await },
            )
        };
        fake.poll.entered.notified().await;
        cancel.cancel();
        assert!(matches!(task.await.unwrap(), Err(LoginError::Cancelled)));
        assert_eq!(fake.poll.calls(), 1);
    }

    #[tokio::test]
    async fn poll_rejects_a_200_without_tokens() {
        let fake = Fake::start(
            Route::new(|_| json(200, serde_json::json!({"uuid": "x"}))),
            Route::missing(),
            Route::missing(),
        )
        .await;
        let err = poll_fast(&fake.http, &Pkce::generate()).await.unwrap_err();
        assert!(matches!(err, LoginError::BadResponse(_)), "{err:?}");
    }

    #[tokio::test]
    async fn poll_errors_never_reveal_the_verifier() {
        // A port nobody listens on: the network error must not carry the poll URL.
        let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let http = http_for(&format!("http://{addr}/"));
        let pkce = Pkce::generate();
        let err = poll_fast(&http, &pkce).await.unwrap_err();
        assert!(
            matches!(err, LoginError::Failed(CursorError::Network(_))),
            "{err:?}"
        );
        assert!(!format!("{err} {err:?}").contains(&pkce.verifier));

        // An error page that echoes the request is withheld.
        let echoed = format!("bad request for verifier={}", pkce.verifier);
        let err = http_error(500, echoed.as_bytes(), &pkce.verifier);
        assert!(!err.to_string().contains(&pkce.verifier), "{err}");
    }

    // ---- API key and refresh variants ----

    #[tokio::test]
    async fn api_key_exchange_keeps_the_key() {
        let exchange = Route::new(|_| {
            json(
                200,
                serde_json::json!({"accessToken": "at", "refreshToken": "rt"}),
            )
        });
        let fake = Fake::start(Route::missing(), Route::missing(), exchange).await;
        let creds = exchange_api_key(&fake.http, "key_123").await.unwrap();
        assert_eq!(creds.api_key.as_deref(), Some("key_123"));
        assert_eq!(creds.access_token, "at");
        let seen = fake.exchange.last();
        assert_eq!(seen.headers["authorization"], "Bearer key_123");
        assert_eq!(&seen.body[..], b"{}");
    }

    #[tokio::test]
    async fn bad_api_key_is_an_auth_error() {
        let exchange = Route::new(|_| {
            json(
                401,
                serde_json::json!({"code": "unauthenticated", "message": "bad key"}),
            )
        });
        let fake = Fake::start(Route::missing(), Route::missing(), exchange).await;
        assert!(
            exchange_api_key(&fake.http, "key_bad")
                .await
                .unwrap_err()
                .is_auth()
        );
    }

    /// `refresh` starting at `first`, keeping only the credentials.
    async fn refresh_from(
        http: &CursorHttp,
        creds: &Credentials,
        first: RefreshRoute,
    ) -> Result<Credentials, CursorError> {
        refresh(http, creds, first).await.map(|(c, _)| c)
    }

    fn oauth_ok() -> Arc<Route> {
        Route::new(|_| {
            json(
                200,
                serde_json::json!({"access_token": "new", "id_token": "id", "shouldLogout": false}),
            )
        })
    }

    #[tokio::test]
    async fn refresh_starts_with_the_exchange_for_browser_logins() {
        let exchange = Route::new(|_| json(200, serde_json::json!({"accessToken": "new"})));
        let fake = Fake::start(Route::missing(), oauth_ok(), exchange).await;
        let (new, route) = refresh(
            &fake.http,
            &session("old".into(), Some("r1")),
            RefreshRoute::default(),
        )
        .await
        .unwrap();
        assert_eq!(new, session("new".into(), Some("r1")));
        assert_eq!(route, Some(RefreshRoute::Exchange));
        assert_eq!(fake.exchange.last().headers["authorization"], "Bearer r1");
        assert_eq!(fake.oauth.calls(), 0);
    }

    #[tokio::test]
    async fn refresh_through_oauth_token_sends_the_documented_body() {
        let fake = Fake::start(Route::missing(), oauth_ok(), Route::missing()).await;
        let (new, route) = refresh(
            &fake.http,
            &session("old".into(), Some("r1")),
            RefreshRoute::Oauth,
        )
        .await
        .unwrap();
        assert_eq!(new, session("new".into(), Some("r1")));
        assert_eq!(route, Some(RefreshRoute::Oauth));
        let seen = fake.oauth.last();
        let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"grant_type": "refresh_token", "client_id": OAUTH_CLIENT_ID, "refresh_token": "r1"})
        );
        assert!(!seen.headers.contains_key("authorization"));
        assert_eq!(fake.exchange.calls(), 0);
    }

    #[tokio::test]
    async fn any_4xx_from_the_exchange_falls_back_to_oauth_token() {
        for status in [400, 401, 403, 404, 422, 429] {
            let exchange = Route::new(move |_| Reply::Now(status, "{}".into()));
            let fake = Fake::start(Route::missing(), oauth_ok(), exchange).await;
            let (new, route) = refresh(
                &fake.http,
                &session("old".into(), Some("r1")),
                RefreshRoute::Exchange,
            )
            .await
            .unwrap_or_else(|e| panic!("{status}: {e:?}"));
            assert_eq!(new.access_token, "new", "{status}");
            assert_eq!(route, Some(RefreshRoute::Oauth), "{status}");
            assert_eq!((fake.exchange.calls(), fake.oauth.calls()), (1, 1));
        }
    }

    #[tokio::test]
    async fn should_logout_falls_back_then_means_session_expired() {
        let oauth = Route::new(|_| {
            json(
                200,
                serde_json::json!({"access_token": "", "id_token": "", "shouldLogout": true}),
            )
        });
        let fake = Fake::start(Route::missing(), oauth, Route::missing()).await;
        let err = refresh_from(
            &fake.http,
            &session("old".into(), Some("r1")),
            RefreshRoute::Oauth,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CursorError::SessionExpired));
        assert_eq!(fake.exchange.calls(), 1, "the other route was tried");
    }

    #[tokio::test]
    async fn refresh_falls_back_to_exchange_when_oauth_is_missing() {
        let exchange = Route::new(|_| {
            json(
                200,
                serde_json::json!({"accessToken": "new", "refreshToken": "r2"}),
            )
        });
        let fake = Fake::start(Route::missing(), Route::missing(), exchange).await;
        let new = refresh_from(
            &fake.http,
            &session("old".into(), Some("r1")),
            RefreshRoute::Oauth,
        )
        .await
        .unwrap();
        assert_eq!(
            new,
            session("new".into(), Some("r2")),
            "a rotated refresh token is kept"
        );
        assert_eq!(fake.oauth.calls(), 1);
        assert_eq!(fake.exchange.last().headers["authorization"], "Bearer r1");
    }

    #[tokio::test]
    async fn refresh_falls_back_when_oauth_answers_garbage_and_keeps_old_refresh_token() {
        let oauth = Route::new(|_| Reply::Now(200, "<html>".into()));
        let exchange = Route::new(|_| json(200, serde_json::json!({"accessToken": "new"})));
        let fake = Fake::start(Route::missing(), oauth, exchange).await;
        let new = refresh_from(
            &fake.http,
            &session("old".into(), Some("r1")),
            RefreshRoute::Oauth,
        )
        .await
        .unwrap();
        assert_eq!(new, session("new".into(), Some("r1")));
    }

    #[tokio::test]
    async fn refused_on_both_routes_is_session_expired() {
        for first in [RefreshRoute::Exchange, RefreshRoute::Oauth] {
            for status in [401, 403] {
                let refuse = move || Route::new(move |_| Reply::Now(status, "{}".into()));
                let fake = Fake::start(Route::missing(), refuse(), refuse()).await;
                let err = refresh_from(&fake.http, &session("old".into(), Some("r1")), first)
                    .await
                    .unwrap_err();
                assert!(
                    matches!(err, CursorError::SessionExpired),
                    "{first:?} {status}: {err:?}"
                );
                assert_eq!((fake.exchange.calls(), fake.oauth.calls()), (1, 1));
            }
        }
    }

    #[tokio::test]
    async fn no_refresh_endpoint_at_all_is_session_expired() {
        let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
        let err = refresh_from(
            &fake.http,
            &session("old".into(), Some("r1")),
            RefreshRoute::Exchange,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CursorError::SessionExpired), "{err:?}");
    }

    #[tokio::test]
    async fn server_trouble_is_reported_not_papered_over() {
        let oauth = Route::new(|_| Reply::Now(503, "overloaded".into()));
        let fake = Fake::start(Route::missing(), oauth, Route::missing()).await;
        let err = refresh_from(
            &fake.http,
            &session("old".into(), Some("r1")),
            RefreshRoute::Oauth,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), "unavailable", "{err:?}");
        assert_eq!(fake.exchange.calls(), 0);
    }

    #[tokio::test]
    async fn stored_api_key_renews_through_the_exchange() {
        let exchange = Route::new(|_| {
            json(
                200,
                serde_json::json!({"accessToken": "new", "refreshToken": "r2"}),
            )
        });
        let fake = Fake::start(Route::missing(), Route::missing(), exchange).await;
        let creds = Credentials {
            api_key: Some("key_1".into()),
            ..session("old".into(), Some("r1"))
        };
        let (new, route) = refresh(&fake.http, &creds, RefreshRoute::Oauth)
            .await
            .unwrap();
        assert_eq!(route, None, "an API key is not a refresh route");
        assert_eq!(new.api_key.as_deref(), Some("key_1"));
        assert_eq!(new.refresh_token.as_deref(), Some("r2"));
        assert_eq!(
            fake.exchange.last().headers["authorization"],
            "Bearer key_1"
        );
        assert_eq!(fake.oauth.calls(), 0);
    }

    #[tokio::test]
    async fn nothing_to_refresh_with_is_session_expired() {
        let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
        let err = refresh_from(
            &fake.http,
            &session("old".into(), None),
            RefreshRoute::Exchange,
        )
        .await
        .unwrap_err();
        assert!(matches!(err, CursorError::SessionExpired));
        assert_eq!(fake.oauth.calls() + fake.exchange.calls(), 0);
    }

    // ---- TokenManager ----

    fn oauth_issuing(token: String) -> Arc<Route> {
        Route::new(move |_| {
            json(
                200,
                serde_json::json!({"access_token": token, "shouldLogout": false}),
            )
        })
    }

    #[tokio::test]
    async fn fresh_token_is_served_from_cache_without_refresh() {
        let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
        let token = jwt(now_secs() + 3600, "fresh");
        let store = MemStore::with(session(token.clone(), Some("r1")));
        let tm = manager(&fake, store.clone());
        for _ in 0..5 {
            assert_eq!(tm.access_token().await.unwrap(), token);
        }
        assert_eq!(store.loads.load(Ordering::SeqCst), 1);
        assert_eq!(fake.oauth.calls(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn twenty_concurrent_callers_share_one_refresh() {
        let new = jwt(now_secs() + 3600, "new");
        let gate = Arc::new(Notify::new());
        let oauth = {
            let (gate, new) = (gate.clone(), new.clone());
            Route::new(move |_| {
                Reply::After(
                    gate.clone(),
                    200,
                    serde_json::json!({"access_token": new, "shouldLogout": false}).to_string(),
                )
            })
        };
        let fake = Fake::start(Route::missing(), oauth, Route::missing()).await;
        let store = MemStore::with(session(jwt(now_secs() + 10, "expiring"), Some("r1")));
        let tm = manager(&fake, store.clone());
        let callers: Vec<_> = (0..20)
            .map(|_| {
                let tm = tm.clone();
                tokio::spawn(async move { tm.access_token().await })
            })
            .collect();
        // Hold the one refresh open until it has started, so the others pile up behind it.
        fake.oauth.entered.notified().await;
        gate.notify_one();
        for c in callers {
            assert_eq!(c.await.unwrap().unwrap(), new);
        }
        assert_eq!(fake.oauth.calls(), 1);
        assert_eq!(store.saves.load(Ordering::SeqCst), 1);
        assert_eq!(store.stored().unwrap(), session(new, Some("r1")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_rejections_share_one_refresh() {
        let new = jwt(now_secs() + 3600, "new");
        let fake = Fake::start(
            Route::missing(),
            oauth_issuing(new.clone()),
            Route::missing(),
        )
        .await;
        let old = jwt(now_secs() + 3600, "old-but-revoked");
        let tm = manager(&fake, MemStore::with(session(old.clone(), Some("r1"))));
        assert_eq!(tm.access_token().await.unwrap(), old);
        let callers: Vec<_> = (0..20)
            .map(|_| {
                let (tm, old) = (tm.clone(), old.clone());
                tokio::spawn(async move { tm.refresh_after_rejection(&old).await })
            })
            .collect();
        for c in callers {
            assert_eq!(c.await.unwrap().unwrap(), new);
        }
        assert_eq!(fake.oauth.calls(), 1);
        // A rejection of a token we no longer use just returns the current one.
        assert_eq!(tm.refresh_after_rejection("stale").await.unwrap(), new);
        assert_eq!(fake.oauth.calls(), 1);
    }

    #[tokio::test]
    async fn unreadable_token_counts_as_expired() {
        let new = jwt(now_secs() + 3600, "new");
        let fake = Fake::start(
            Route::missing(),
            oauth_issuing(new.clone()),
            Route::missing(),
        )
        .await;
        let tm = manager(
            &fake,
            MemStore::with(session("not-a-jwt".into(), Some("r1"))),
        );
        assert_eq!(tm.access_token().await.unwrap(), new);
        assert_eq!(fake.oauth.calls(), 1);
    }

    #[tokio::test]
    async fn session_expired_keeps_the_credentials() {
        let oauth = Route::new(|_| {
            json(
                200,
                serde_json::json!({"access_token": "", "shouldLogout": true}),
            )
        });
        let fake = Fake::start(Route::missing(), oauth, Route::missing()).await;
        let old = session(jwt(now_secs().saturating_sub(60), "expired"), Some("r1"));
        let store = MemStore::with(old.clone());
        let tm = manager(&fake, store.clone());
        assert!(matches!(
            tm.access_token().await,
            Err(CursorError::SessionExpired)
        ));
        assert!(matches!(
            tm.access_token().await,
            Err(CursorError::SessionExpired)
        ));
        assert_eq!(
            fake.oauth.calls(),
            1,
            "the answer is remembered for a while"
        );
        assert_eq!(tm.current().await.unwrap(), Some(old.clone()));
        assert_eq!(store.stored(), Some(old));
    }

    #[tokio::test]
    async fn a_token_without_refresh_means_is_used_until_it_expires() {
        let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
        let valid = jwt(now_secs() + 60, "bare");
        let tm = manager(&fake, MemStore::with(session(valid.clone(), None)));
        assert_eq!(tm.access_token().await.unwrap(), valid);
        let expired = jwt(now_secs().saturating_sub(1), "bare-expired");
        tm.sign_in(session(expired.clone(), None)).await.unwrap();
        assert!(matches!(
            tm.access_token().await,
            Err(CursorError::SessionExpired)
        ));
        assert!(matches!(
            tm.refresh_after_rejection(&expired).await,
            Err(CursorError::SessionExpired)
        ));
        assert_eq!(fake.oauth.calls() + fake.exchange.calls(), 0);
    }

    #[tokio::test]
    async fn transient_failure_keeps_a_still_valid_token() {
        let fake = Fake::start(
            Route::missing(),
            Route::new(|_| Reply::Now(503, String::new())),
            Route::missing(),
        )
        .await;
        let old = jwt(now_secs() + 60, "valid-for-a-minute");
        let tm = manager(&fake, MemStore::with(session(old.clone(), Some("r1"))));
        assert_eq!(tm.access_token().await.unwrap(), old);
        assert_eq!(tm.access_token().await.unwrap(), old);
        assert_eq!(
            fake.oauth.calls(),
            1,
            "no retry storm while the network is down"
        );
    }

    #[tokio::test]
    async fn transient_failure_with_an_expired_token_is_an_error() {
        let fake = Fake::start(
            Route::missing(),
            Route::new(|_| Reply::Now(503, String::new())),
            Route::missing(),
        )
        .await;
        let tm = manager(
            &fake,
            MemStore::with(session(
                jwt(now_secs().saturating_sub(1), "dead"),
                Some("r1"),
            )),
        );
        assert_eq!(tm.access_token().await.unwrap_err().kind(), "unavailable");
        assert_eq!(tm.access_token().await.unwrap_err().kind(), "unavailable");
        assert_eq!(fake.oauth.calls(), 1);
    }

    #[tokio::test]
    async fn env_token_wins_and_is_never_stored_or_refreshed() {
        let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
        let store = Arc::new(MemStore::default());
        let tm = TokenManager::new(
            fake.http.clone(),
            store.clone(),
            Some("env-token".into()),
            Duration::from_secs(300),
        );
        assert!(tm.uses_env_token());
        assert_eq!(tm.access_token().await.unwrap(), "env-token");
        assert!(
            tm.refresh_after_rejection("env-token")
                .await
                .unwrap_err()
                .is_auth()
        );
        assert_eq!(
            tm.current().await.unwrap().unwrap().access_token,
            "env-token"
        );
        assert_eq!(store.loads.load(Ordering::SeqCst), 0);
        assert_eq!(store.saves.load(Ordering::SeqCst), 0);
        assert_eq!(fake.oauth.calls() + fake.exchange.calls(), 0);
        assert!(!format!("{tm:?}").contains("env-token"));
    }

    #[tokio::test]
    async fn sign_in_status_and_sign_out() {
        let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
        let store = Arc::new(MemStore::default());
        let tm = manager(&fake, store.clone());
        assert!(matches!(
            tm.access_token().await,
            Err(CursorError::NotSignedIn)
        ));
        assert_eq!(tm.current().await.unwrap(), None);

        let creds = session(jwt(now_secs() + 3600, "a"), Some("r1"));
        tm.sign_in(creds.clone()).await.unwrap();
        assert_eq!(store.stored(), Some(creds.clone()));
        assert_eq!(tm.access_token().await.unwrap(), creds.access_token);

        tm.sign_out().await.unwrap();
        assert_eq!(store.stored(), None);
        assert!(matches!(
            tm.access_token().await,
            Err(CursorError::NotSignedIn)
        ));
    }

    #[tokio::test]
    async fn store_failure_is_reported_with_its_advice() {
        let fake = Fake::start(Route::missing(), Route::missing(), Route::missing()).await;
        let store = Arc::new(MemStore {
            fail_load: true,
            ..Default::default()
        });
        let tm = manager(&fake, store);
        let err = tm.access_token().await.unwrap_err();
        assert_eq!(err.kind(), "credential_store");
        assert!(
            err.to_string().contains("CURSOR_BRIDGE_CREDENTIALS_FILE"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn refreshed_credentials_are_persisted_with_the_rotated_refresh_token() {
        let new = jwt(now_secs() + 3600, "new");
        let exchange = {
            let new = new.clone();
            Route::new(move |_| {
                json(
                    200,
                    serde_json::json!({"accessToken": new, "refreshToken": "r2"}),
                )
            })
        };
        let fake = Fake::start(Route::missing(), Route::missing(), exchange).await;
        let store = MemStore::with(session(jwt(now_secs() + 5, "old"), Some("r1")));
        let tm = manager(&fake, store.clone());
        assert_eq!(tm.access_token().await.unwrap(), new);
        assert_eq!(store.stored(), Some(session(new, Some("r2"))));
    }

    #[tokio::test]
    async fn the_route_that_worked_is_tried_first_next_time() {
        let fake = Fake::start(
            Route::missing(),
            Route::new(|_| {
                json(
                    200,
                    serde_json::json!({"access_token": jwt(now_secs() + 3600, "n"), "shouldLogout": false}),
                )
            }),
            Route::new(|_| Reply::Now(401, "{}".into())),
        )
        .await;
        let tm = TokenManager::new(
            fake.http.clone(),
            MemStore::with(session(jwt(now_secs() + 5, "old"), Some("r1"))),
            None,
            Duration::from_secs(300),
        );
        assert_eq!(tm.refresh_route(), RefreshRoute::Exchange);
        let first = tm.access_token().await.unwrap();
        assert_eq!((fake.exchange.calls(), fake.oauth.calls()), (1, 1));
        assert_eq!(tm.refresh_route(), RefreshRoute::Oauth);
        tm.refresh_after_rejection(&first).await.unwrap();
        assert_eq!(
            (fake.exchange.calls(), fake.oauth.calls()),
            (1, 2),
            "the second refresh goes straight to oauth/token"
        );
    }
}
