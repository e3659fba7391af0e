//! Signing in: the PKCE pair and login URL of a browser login, polling `<api>/auth/poll`
//! until the user finishes in the browser, and the API-key login.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::refresh::{TokenPair, exchange, http_error};
use crate::credentials::{Credentials, describe_json_error};
use crate::error::CursorError;
use crate::http::{CursorHttp, Endpoints};

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
    pub(crate) fn delay(&self, n: u32) -> Duration {
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
    /// The caller cancelled the wait.
    #[error("sign-in was cancelled")]
    Cancelled,
    /// The user did not finish in the browser within `max_attempts` polls.
    #[error(
        "the browser sign-in was not completed in time (checked {attempts} times); run login again"
    )]
    TimedOut {
        /// How many polls were made.
        attempts: u32,
    },
    /// Polling failed `max_consecutive_errors` times in a row; the last failure.
    #[error("sign-in failed: {0}")]
    Failed(CursorError),
    /// Cursor's answer held no usable tokens; what was wrong (never the answer's text).
    #[error("sign-in failed: Cursor's answer was not understood ({0})")]
    BadResponse(String),
}

enum PollOutcome {
    Pending,
    Done(bytes::Bytes),
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
    let (status, body) = http.auth_request(url.clone(), None, None).await?;
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
