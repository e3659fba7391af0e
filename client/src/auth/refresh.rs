//! Renewing a session: the API-key exchange and the refresh token on one of two routes
//! (`/auth/exchange_user_api_key`, `/oauth/token`), each failure classified for the
//! fallback to the other.

use serde::Deserialize;

use crate::credentials::{Credentials, describe_json_error};
use crate::error::CursorError;
use crate::http::CursorHttp;

/// The OAuth client id Cursor's refresh endpoint expects (reference §1.3 variant A).
pub const OAUTH_CLIENT_ID: &str = "KbZUR41cY7W6zRSdpSUJ7I7mLYBKOCmB";

/// What the poll and the exchange answer: `{accessToken, refreshToken?}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TokenPair {
    #[serde(default)]
    pub(super) access_token: String,
    #[serde(default)]
    pub(super) refresh_token: Option<String>,
}

/// A failed auth call, classified for the refresh fallbacks.
pub(super) struct Failure {
    pub(super) kind: FailKind,
    pub(super) error: CursorError,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FailKind {
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
pub(super) fn http_error(status: u16, body: &[u8], secret: &str) -> CursorError {
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
    let (status, bytes) = http
        .auth_request(http.endpoints().api(path), bearer, Some(body.to_string()))
        .await?;
    tracing::debug!(path, status, "Cursor auth call");
    Ok((status, bytes))
}

/// `POST <api>/auth/exchange_user_api_key` with `bearer` → `{accessToken, refreshToken?}`.
pub(super) async fn exchange(http: &CursorHttp, bearer: &str) -> Result<TokenPair, Failure> {
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
    pub(crate) fn other(self) -> RefreshRoute {
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
