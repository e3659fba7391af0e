//! `CursorError`: every way a call to Cursor can fail, typed, with Connect error codes
//! mapped exhaustively. Messages are written for a person and never carry a secret
//! (reqwest errors are stripped of their URL, which can hold the login verifier).

use std::time::Duration;

use base64::Engine as _;
use prost::Message as _;
use serde::Deserialize;

use crate::pb::aiserver_v1::{ErrorDetails, error_details::Error as DetailKind};

/// A Connect error code (reference §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// Connect `canceled`.
    Canceled,
    /// Connect `unknown`.
    Unknown,
    /// Connect `invalid_argument`.
    InvalidArgument,
    /// Connect `deadline_exceeded`.
    DeadlineExceeded,
    /// Connect `not_found`.
    NotFound,
    /// Connect `already_exists`.
    AlreadyExists,
    /// Connect `permission_denied`.
    PermissionDenied,
    /// Connect `resource_exhausted`.
    ResourceExhausted,
    /// Connect `failed_precondition`.
    FailedPrecondition,
    /// Connect `aborted`.
    Aborted,
    /// Connect `out_of_range`.
    OutOfRange,
    /// Connect `unimplemented`.
    Unimplemented,
    /// Connect `internal`.
    Internal,
    /// Connect `unavailable`.
    Unavailable,
    /// Connect `data_loss`.
    DataLoss,
    /// Connect `unauthenticated`.
    Unauthenticated,
}

impl Code {
    /// Parses the snake_case Connect code; unknown strings become [`Code::Unknown`].
    pub fn parse(s: &str) -> Code {
        match s {
            "canceled" | "cancelled" => Code::Canceled,
            "invalid_argument" => Code::InvalidArgument,
            "deadline_exceeded" => Code::DeadlineExceeded,
            "not_found" => Code::NotFound,
            "already_exists" => Code::AlreadyExists,
            "permission_denied" => Code::PermissionDenied,
            "resource_exhausted" => Code::ResourceExhausted,
            "failed_precondition" => Code::FailedPrecondition,
            "aborted" => Code::Aborted,
            "out_of_range" => Code::OutOfRange,
            "unimplemented" => Code::Unimplemented,
            "internal" => Code::Internal,
            "unavailable" => Code::Unavailable,
            "data_loss" => Code::DataLoss,
            "unauthenticated" => Code::Unauthenticated,
            _ => Code::Unknown,
        }
    }

    /// The snake_case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Canceled => "canceled",
            Code::Unknown => "unknown",
            Code::InvalidArgument => "invalid_argument",
            Code::DeadlineExceeded => "deadline_exceeded",
            Code::NotFound => "not_found",
            Code::AlreadyExists => "already_exists",
            Code::PermissionDenied => "permission_denied",
            Code::ResourceExhausted => "resource_exhausted",
            Code::FailedPrecondition => "failed_precondition",
            Code::Aborted => "aborted",
            Code::OutOfRange => "out_of_range",
            Code::Unimplemented => "unimplemented",
            Code::Internal => "internal",
            Code::Unavailable => "unavailable",
            Code::DataLoss => "data_loss",
            Code::Unauthenticated => "unauthenticated",
        }
    }

    /// A code that says the request itself is wrong: sending it again cannot help.
    pub(crate) fn is_client_error(self) -> bool {
        matches!(
            self,
            Code::InvalidArgument
                | Code::NotFound
                | Code::AlreadyExists
                | Code::FailedPrecondition
                | Code::OutOfRange
                | Code::Unimplemented
        )
    }

    /// The code a bare HTTP status implies (Connect spec), for errors without a JSON body.
    pub(crate) fn from_http_status(status: u16) -> Code {
        match status {
            400 => Code::InvalidArgument,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 => Code::NotFound,
            408 | 504 => Code::DeadlineExceeded,
            409 => Code::Aborted,
            412 => Code::FailedPrecondition,
            429 => Code::ResourceExhausted,
            499 => Code::Canceled,
            501 => Code::Unimplemented,
            502 | 503 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }
}

/// Every failure of a Cursor call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CursorError {
    /// No credentials are stored.
    #[error("not signed in to Cursor: run `cursor-bridge login`")]
    NotSignedIn,
    /// The token was refused and could not be refreshed.
    #[error("your Cursor session has expired: sign in again with `cursor-bridge login`")]
    SessionExpired,
    /// The credential store (OS keychain or file) could not be read or written; the
    /// message says which store and what to do.
    #[error("cannot use the stored Cursor credentials: {message}")]
    CredentialStore {
        /// What went wrong, naming the store and what to do.
        message: String,
    },
    /// Cursor refused the credentials (refresh and retry once, then sign in again).
    #[error("Cursor refused the credentials: {message}")]
    Unauthenticated {
        /// Cursor's message.
        message: String,
    },
    /// Usage quota or rate limit reached.
    #[error("{}: {message}", if *rate_limited { "Cursor rate limit reached" } else { "Cursor usage limit reached" })]
    Quota {
        /// Cursor's message.
        message: String,
        /// A rate limit (retry soon) rather than the plan's usage limit.
        rate_limited: bool,
        /// How long Cursor asks us to wait, when it says.
        retry_after: Option<Duration>,
    },
    /// The conversation does not fit the model's context window.
    #[error("the conversation is too long for the model's context window: {message}")]
    ContextTooLong {
        /// Cursor's message.
        message: String,
    },
    /// The model id is unknown to Cursor.
    #[error("Cursor does not know this model: {message}")]
    BadModel {
        /// Cursor's message.
        message: String,
    },
    /// Cursor considers this client too old (after re-resolving the version and one
    /// retry, see `cursor::version`).
    #[error(
        "Cursor no longer accepts this client version ({message}): update Cursor's CLI (`cursor-agent update`) so Cursor Bridge picks up its version, or set client_version in settings.toml (or CURSOR_BRIDGE_CLIENT_VERSION) to a current one such as cli-2026.07.23-e383d2b"
    )]
    OutdatedClient {
        /// Cursor's message.
        message: String,
    },
    /// The plan or account does not allow this.
    #[error("Cursor refused the request: {message}")]
    PermissionDenied {
        /// Cursor's message.
        message: String,
    },
    /// Cursor is overloaded, down, or timed out on its side.
    #[error("Cursor is unavailable: {message}")]
    Unavailable {
        /// Cursor's message.
        message: String,
    },
    /// The run was cancelled (by us or the user).
    #[error("the request was cancelled")]
    Cancelled,
    /// Any other Connect error. `retryable`: Cursor's `ErrorDetails` marked it so (never
    /// set for a client-side code such as `invalid_argument`).
    #[error("Cursor error ({}): {message}", code.as_str())]
    Upstream {
        /// The Connect code.
        code: Code,
        /// Cursor's message.
        message: String,
        /// Cursor's `ErrorDetails` marked it retryable.
        retryable: bool,
    },
    /// A non-Connect HTTP failure (an edge, a proxy, a page).
    #[error("Cursor answered HTTP {status}: {body}")]
    Http {
        /// The HTTP status.
        status: u16,
        /// The body, as text.
        body: String,
    },
    /// Could not reach Cursor at all.
    #[error("cannot reach Cursor: {0}")]
    Network(String),
    /// A deadline of ours passed (connect, first byte, idle).
    #[error("timed out: {0}")]
    Timeout(String),
    /// Bytes that do not follow the protocol.
    #[error("protocol error talking to Cursor: {0}")]
    Protocol(String),
}

impl CursorError {
    /// A short stable name, for logs, the ledger and error JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            CursorError::NotSignedIn => "not_signed_in",
            CursorError::SessionExpired => "session_expired",
            CursorError::CredentialStore { .. } => "credential_store",
            CursorError::Unauthenticated { .. } => "unauthenticated",
            CursorError::Quota {
                rate_limited: true, ..
            } => "rate_limited",
            CursorError::Quota { .. } => "quota_exceeded",
            CursorError::ContextTooLong { .. } => "context_length_exceeded",
            CursorError::BadModel { .. } => "model_not_found",
            CursorError::OutdatedClient { .. } => "outdated_client",
            CursorError::PermissionDenied { .. } => "permission_denied",
            CursorError::Unavailable { .. } => "unavailable",
            CursorError::Cancelled => "cancelled",
            CursorError::Upstream { .. } => "upstream",
            CursorError::Http { .. } => "http",
            CursorError::Network(_) => "network",
            CursorError::Timeout(_) => "timeout",
            CursorError::Protocol(_) => "protocol",
        }
    }

    /// True when Cursor could not be reached or answered as unavailable.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            CursorError::Network(_) | CursorError::Timeout(_) | CursorError::Unavailable { .. }
        )
    }

    /// True when starting the same request again, unchanged, may succeed: Cursor could
    /// not be reached or timed out (connect, response headers), answered as unavailable
    /// (Connect `unavailable`/`deadline_exceeded`, HTTP 502/503/504) or marked the error
    /// retryable. Never for auth, quota, a bad request, the context length or a protocol
    /// error: those fail the same way again.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            CursorError::Network(_) | CursorError::Timeout(_) | CursorError::Unavailable { .. } => {
                true
            }
            CursorError::Http { status, .. } => matches!(status, 502..=504),
            CursorError::Upstream { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// The service could not find a blob the run's `conversation_state` names (it reports
    /// `internal` "Blob not found", reference §5): the state needs rebuilding.
    pub fn is_missing_blob(&self) -> bool {
        matches!(self, CursorError::Upstream { code: Code::Internal, message, .. }
            if message.to_ascii_lowercase().contains("blob not found"))
    }

    /// True when a token refresh and one retry may fix it.
    pub fn is_auth(&self) -> bool {
        matches!(self, CursorError::Unauthenticated { .. })
    }

    /// Maps a reqwest error without its URL (the login poll URL carries the verifier).
    pub(crate) fn from_reqwest(e: reqwest::Error) -> CursorError {
        let e = e.without_url();
        if e.is_timeout() {
            CursorError::Timeout(e.to_string())
        } else {
            // Show the root cause: reqwest's top-level text alone says little.
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg = format!("{msg}: {s}");
                src = s.source();
            }
            CursorError::Network(msg)
        }
    }

    /// Builds the error for a failed unary call from its HTTP status and body.
    pub(crate) fn from_http(status: u16, body: &[u8]) -> CursorError {
        match ConnectError::from_json(body) {
            Some(ce) => ce.into_cursor_error(),
            None => {
                let text = redact_credentials(&String::from_utf8_lossy(body));
                let snippet: String = text.chars().take(200).collect();
                match Code::from_http_status(status) {
                    Code::Unknown | Code::NotFound => CursorError::Http {
                        status,
                        body: snippet.trim().to_string(),
                    },
                    code => ConnectError {
                        code,
                        message: format!("HTTP {status}"),
                        details: None,
                        retry_after: None,
                    }
                    .into_cursor_error(),
                }
            }
        }
    }
}

/// A decoded Connect error: `{code, message, details[]}` (reference §2.3, §6.1).
#[derive(Debug, Clone)]
pub(crate) struct ConnectError {
    /// The Connect code.
    pub code: Code,
    /// Its message.
    pub message: String,
    /// Cursor's `ErrorDetails`, when `details[]` carried one.
    pub details: Option<ErrorDetails>,
    /// How long to wait before retrying, when the error says.
    pub retry_after: Option<Duration>,
}

#[derive(Deserialize)]
struct EndStreamJson {
    error: Option<ErrorJson>,
    #[serde(default)]
    metadata: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct ErrorJson {
    code: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<DetailJson>,
}

#[derive(Deserialize)]
struct DetailJson {
    #[serde(rename = "type", default)]
    type_: String,
    #[serde(default)]
    value: String,
}

/// The outcome of a Connect end-of-stream frame.
pub fn parse_end_stream(payload: &[u8]) -> Result<(), CursorError> {
    let parsed: EndStreamJson = serde_json::from_slice(payload)
        .map_err(|e| CursorError::Protocol(format!("end-of-stream frame is not JSON: {e}")))?;
    match parsed.error {
        None => Ok(()),
        Some(err) => {
            let mut ce = ConnectError::from_error_json(err);
            ce.retry_after = retry_after_from_metadata(&parsed.metadata);
            Err(ce.into_cursor_error())
        }
    }
}

fn retry_after_from_metadata(
    meta: &serde_json::Map<String, serde_json::Value>,
) -> Option<Duration> {
    let v = meta
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))?
        .1;
    let s = match v {
        serde_json::Value::Array(a) => a.first()?.as_str()?.to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => return None,
    };
    s.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl ConnectError {
    /// Parses a unary error body; `None` when it is not Connect error JSON.
    pub(crate) fn from_json(body: &[u8]) -> Option<ConnectError> {
        let err: ErrorJson = serde_json::from_slice(body).ok()?;
        err.code.as_ref()?;
        Some(ConnectError::from_error_json(err))
    }

    fn from_error_json(err: ErrorJson) -> ConnectError {
        let details = err
            .details
            .iter()
            .filter(|d| d.type_.ends_with("ErrorDetails"))
            .find_map(|d| decode_b64(&d.value).and_then(|b| ErrorDetails::decode(&b[..]).ok()));
        ConnectError {
            code: Code::parse(err.code.as_deref().unwrap_or("unknown")),
            message: err.message,
            details,
            retry_after: None,
        }
    }

    /// The most useful human text: Cursor's detail/title over the bare message, which is
    /// usually just "Error".
    pub(crate) fn human_message(&self) -> String {
        let d = self.details.as_ref().and_then(|d| d.details.as_ref());
        let detail = d.map(|d| d.detail.trim()).filter(|s| !s.is_empty());
        let title = d.map(|d| d.title.trim()).filter(|s| !s.is_empty());
        let msg = Some(self.message.trim()).filter(|s| !s.is_empty() && *s != "Error");
        match (title, detail, msg) {
            (Some(t), Some(d), _) if t != d => format!("{t}: {d}"),
            (_, Some(d), _) => d.to_string(),
            (Some(t), None, _) => t.to_string(),
            (None, None, Some(m)) => m.to_string(),
            (None, None, None) => self.code.as_str().to_string(),
        }
    }

    /// Maps a Connect error (code + Cursor's own error kind) to the typed error.
    pub(crate) fn into_cursor_error(self) -> CursorError {
        let message = redact_credentials(&self.human_message());
        let kind = self.details.as_ref().map(|d| d.error());
        let retryable = self
            .details
            .as_ref()
            .and_then(|d| d.details.as_ref())
            .and_then(|d| d.is_retryable)
            .unwrap_or(false);
        let lower = message.to_ascii_lowercase();
        use DetailKind as K;
        let rate = matches!(
            kind,
            Some(
                K::FreeUserRateLimitExceeded
                    | K::ProUserRateLimitExceeded
                    | K::OpenaiRateLimitExceeded
                    | K::GenericRateLimitExceeded
                    | K::Gpt4VisionPreviewRateLimit
                    | K::ApiKeyRateLimit
                    | K::RateLimited
                    | K::RateLimitedChangeable
            )
        );
        let usage = matches!(
            kind,
            Some(
                K::FreeUserUsageLimit
                    | K::ProUserUsageLimit
                    | K::OpenaiAccountLimitExceeded
                    | K::ResourceExhausted
                    | K::UsagePricingRequired
                    | K::UsagePricingRequiredChangeable
            )
        ) || lower.contains("monthly limit")
            || lower.contains("usage limit");
        let auth = matches!(
            kind,
            Some(
                K::BadApiKey
                    | K::NotLoggedIn
                    | K::InvalidAuthId
                    | K::AuthTokenNotFound
                    | K::AuthTokenExpired
                    | K::Unauthorized
                    | K::BadUserApiKey
                    | K::AgentRequiresLogin
            )
        );
        // Before quota: in June 2026 Cursor refused old clients with `resource_exhausted`
        // "Your version of Cursor is no longer supported" (reference §9.10), which is no
        // usage limit; in April it said "Update Required".
        if matches!(kind, Some(K::OutdatedClient | K::Deprecated))
            || lower.contains("no longer supported")
            || lower.contains("update required")
        {
            return CursorError::OutdatedClient { message };
        }
        if auth || self.code == Code::Unauthenticated {
            return CursorError::Unauthenticated { message };
        }
        if rate || usage || self.code == Code::ResourceExhausted {
            return CursorError::Quota {
                message,
                rate_limited: rate,
                retry_after: self.retry_after,
            };
        }
        if kind == Some(K::ConversationTooLong)
            || lower.contains("context length")
            || lower.contains("too long")
            || lower.contains("context window")
        {
            return CursorError::ContextTooLong { message };
        }
        if kind == Some(K::BadModelName) {
            return CursorError::BadModel { message };
        }
        if kind == Some(K::UserAbortedRequest) {
            return CursorError::Cancelled;
        }
        if matches!(kind, Some(K::ProUserOnly | K::NotHighEnoughPermissions)) {
            return CursorError::PermissionDenied { message };
        }
        if kind == Some(K::Timeout) {
            return CursorError::Unavailable { message };
        }
        match self.code {
            Code::Canceled => CursorError::Cancelled,
            Code::PermissionDenied => CursorError::PermissionDenied { message },
            Code::Unavailable | Code::DeadlineExceeded => CursorError::Unavailable { message },
            Code::Unauthenticated | Code::ResourceExhausted => unreachable!("handled above"),
            code @ (Code::Unknown
            | Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Internal
            | Code::DataLoss) => CursorError::Upstream {
                code,
                message,
                retryable: retryable && !code.is_client_error(),
            },
        }
    }
}

/// `text` from Cursor (or whatever answered in its place) with anything credential-shaped
/// replaced by `<redacted>`: JWTs (access and refresh tokens), Cursor user API keys
/// (`key_…`), our local keys (`cb-…`) and whatever follows `Bearer `. Upstream text reaches
/// clients, logs and the UI, and a server or middlebox that echoes the request's
/// `Authorization` header must not turn that into a leak.
pub(crate) fn redact_credentials(text: &str) -> String {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || "-_.~+/=".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut after_bearer = false;
    let mut rest = text;
    while !rest.is_empty() {
        let end = rest.find(|c| !is_token_char(c)).unwrap_or(rest.len());
        if end == 0 {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let word = &rest[..end];
        let core = word.trim_end_matches(['.', ',']);
        let secret = (after_bearer && core.len() >= 8)
            || (core.starts_with("eyJ") && core.split('.').filter(|p| !p.is_empty()).count() >= 3)
            || (core.starts_with("key_") && core.len() >= 20)
            || (core.starts_with("cb-") && core.len() >= 24);
        if secret {
            out.push_str("<redacted>");
            out.push_str(&word[core.len()..]);
        } else {
            out.push_str(word);
        }
        after_bearer = word.eq_ignore_ascii_case("bearer") && rest[end..].starts_with(' ');
        rest = &rest[end..];
        if after_bearer {
            out.push(' ');
            rest = &rest[1..];
        }
    }
    out
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD_NO_PAD, STANDARD, URL_SAFE_NO_PAD, URL_SAFE]
        .iter()
        .find_map(|e| e.decode(s).ok())
}

/// Encodes an `ErrorDetails` the way Cursor puts it in a Connect error (base64, no
/// padding). Public so the fake server and tests produce the same wire form.
pub fn encode_error_details(details: &ErrorDetails) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(details.encode_to_vec())
}

#[cfg(test)]
mod tests;
