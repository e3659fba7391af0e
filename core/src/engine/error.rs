//! `ApiError`: the one error type of the inbound boundary, whatever the dialect. Each owns
//! its HTTP status, a category (`kind`, named as OpenAI's error `type`s are), a stable
//! `code`, the field at fault and a message; each dialect renders it in its own error
//! shape (`crate::dialects`), so every client shows the message instead of a parse
//! failure. Messages never carry a secret: Cursor errors are already scrubbed, and we
//! never echo headers.

use std::time::Duration;

use axum::http::StatusCode;

use crate::cursor::CursorError;

/// An error answered to an OpenAI client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status answered before the first byte (an error mid-stream is an SSE event
    /// instead, whose status line was already 200).
    pub status: StatusCode,
    /// OpenAI's `message`: what went wrong and, where there is one, what to do about it.
    pub message: String,
    /// OpenAI's `type`: `invalid_request_error`, `authentication_error`, …
    pub kind: &'static str,
    /// OpenAI's `code`: a stable machine-readable name.
    pub code: Option<&'static str>,
    /// The request field at fault.
    pub param: Option<String>,
    /// Sent as a `Retry-After` header in whole seconds (at least 1); set from Cursor's rate
    /// limit.
    pub retry_after: Option<Duration>,
    /// What the ledger records instead of `code` (the guard's rule behind `guard_tripped`).
    pub recorded_as: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: String) -> Self {
        ApiError {
            status,
            message,
            kind,
            code: Some(code),
            param: None,
            retry_after: None,
            recorded_as: None,
        }
    }

    /// 400 for a request field that is wrong; says which.
    pub(crate) fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            param: Some(param.into()),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_request",
                message.into(),
            )
        }
    }

    /// 400 for a body that is not JSON at all.
    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "invalid_json",
            message.into(),
        )
    }

    /// 401 for a missing or wrong local key.
    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_api_key",
            message.into(),
        )
    }

    /// 403 for a request that must not come from where it came from.
    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            code,
            message.into(),
        )
    }

    /// 404 for a model Cursor does not offer; lists a few that exist.
    pub(crate) fn unknown_model(requested: &str, valid: &[&str]) -> Self {
        let mut sample: Vec<&str> = valid.iter().copied().take(8).collect();
        sample.sort_unstable();
        ApiError {
            param: Some("model".into()),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "model_not_found",
                format!(
                    "the model `{requested}` does not exist or your Cursor plan does not offer it; \
                     valid ids include: {} (GET /v1/models lists all)",
                    sample.join(", ")
                ),
            )
        }
    }

    /// 400 for images sent to a model Cursor's catalogue says cannot read them.
    pub(crate) fn images_not_supported(model: &str, param: &str) -> Self {
        ApiError {
            param: Some(param.into()),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "images_not_supported",
                format!(
                    "{param}: the model `{model}` does not accept images (GET /v1/models shows \
                     `supports_images` per model); pick one that does or send text only"
                ),
            )
        }
    }

    /// 404 for a path we do not serve.
    pub(crate) fn not_found_path(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "unknown_url",
            format!(
                "unknown path {path}: this server offers /v1/chat/completions, /v1/messages, \
                 /v1/responses, /v1/models and /health"
            ),
        )
    }

    /// 405 for a path we serve, asked with a method it does not take.
    pub(crate) fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            format!(
                "{method} is not allowed on {path}: chat completions, messages and responses \
                 take POST, models and health take GET"
            ),
        )
    }

    /// 415 for a body that says it is not JSON.
    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            "unsupported_media_type",
            format!(
                "the request body must be JSON (Content-Type: application/json), not \
                 {content_type:?}"
            ),
        )
    }

    /// 413 for a body over the limit.
    /// 503 when `max_concurrent_runs` fresh runs are already streaming: retry shortly.
    pub(crate) fn too_many_runs(limit: u32) -> Self {
        ApiError {
            retry_after: Some(Duration::from_secs(1)),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "too_many_runs",
                format!(
                    "{limit} requests are already running (setting max_concurrent_runs); \
                     retry in a moment"
                ),
            )
        }
    }

    pub(crate) fn too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "request_too_large",
            format!("the request body is larger than {limit} bytes (setting max_body_bytes)"),
        )
    }

    /// 503 while the user has the proxy stopped: the app keeps its port (so nobody else can
    /// take it and pose as the proxy), answering this until it is started again.
    pub(crate) fn proxy_stopped() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "proxy_stopped",
            "the Cursor Bridge proxy is stopped: start it from the Cursor Bridge tray menu \
             (Start proxy), then try again"
                .to_string(),
        )
    }

    /// The stable name recorded in the ledger.
    pub(crate) fn code_str(&self) -> &'static str {
        self.recorded_as.unwrap_or(self.wire_code())
    }

    /// The code a client sees (`guard_tripped`, not the rule the ledger records).
    pub(crate) fn wire_code(&self) -> &'static str {
        self.code.unwrap_or(self.kind)
    }
}

impl From<CursorError> for ApiError {
    fn from(e: CursorError) -> Self {
        use StatusCode as S;
        // The client's user may run the tray app or the CLI: name both ways to sign in.
        let message = match &e {
            CursorError::NotSignedIn => "Cursor Bridge is not signed in to Cursor: sign in \
                                         from the Cursor Bridge app (Sign in…) or run \
                                         `cursor-bridge login`"
                .to_string(),
            CursorError::SessionExpired => "your Cursor session has expired: sign in again \
                                            from the Cursor Bridge app (Sign in…) or run \
                                            `cursor-bridge login`"
                .to_string(),
            CursorError::Unauthenticated { .. } => format!(
                "{e}; sign in again from the Cursor Bridge app (Sign in…) or run \
                 `cursor-bridge login`"
            ),
            _ => e.to_string(),
        };
        let (status, kind, code) = match &e {
            CursorError::NotSignedIn => (
                S::SERVICE_UNAVAILABLE,
                "authentication_error",
                "not_signed_in",
            ),
            CursorError::SessionExpired | CursorError::Unauthenticated { .. } => (
                S::SERVICE_UNAVAILABLE,
                "authentication_error",
                "session_expired",
            ),
            CursorError::CredentialStore { .. } => {
                (S::SERVICE_UNAVAILABLE, "server_error", "credential_store")
            }
            CursorError::Quota {
                rate_limited: true, ..
            } => (
                S::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limit_exceeded",
            ),
            CursorError::Quota { .. } => (
                S::TOO_MANY_REQUESTS,
                "insufficient_quota",
                "insufficient_quota",
            ),
            CursorError::ContextTooLong { .. } => (
                S::BAD_REQUEST,
                "invalid_request_error",
                "context_length_exceeded",
            ),
            CursorError::BadModel { .. } => {
                (S::NOT_FOUND, "invalid_request_error", "model_not_found")
            }
            CursorError::PermissionDenied { .. } => {
                (S::FORBIDDEN, "permission_error", "permission_denied")
            }
            CursorError::Timeout(_) => (S::GATEWAY_TIMEOUT, "server_error", "upstream_timeout"),
            CursorError::Cancelled => (S::BAD_GATEWAY, "server_error", "cancelled"),
            CursorError::OutdatedClient { .. } => {
                (S::BAD_GATEWAY, "server_error", "outdated_client")
            }
            CursorError::Unavailable { .. }
            | CursorError::Upstream { .. }
            | CursorError::Http { .. }
            | CursorError::Network(_)
            | CursorError::Protocol(_) => (S::BAD_GATEWAY, "server_error", "upstream_error"),
        };
        let retry_after = match &e {
            CursorError::Quota { retry_after, .. } => *retry_after,
            _ => None,
        };
        ApiError {
            retry_after,
            ..ApiError::new(status, kind, code, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_errors_map_to_the_documented_statuses() {
        let cases = [
            (CursorError::NotSignedIn, 503, "not_signed_in"),
            (CursorError::SessionExpired, 503, "session_expired"),
            (
                CursorError::Quota {
                    message: "m".into(),
                    rate_limited: false,
                    retry_after: None,
                },
                429,
                "insufficient_quota",
            ),
            (
                CursorError::ContextTooLong {
                    message: "m".into(),
                },
                400,
                "context_length_exceeded",
            ),
            (
                CursorError::BadModel {
                    message: "m".into(),
                },
                404,
                "model_not_found",
            ),
            (CursorError::Timeout("t".into()), 504, "upstream_timeout"),
            (CursorError::Network("n".into()), 502, "upstream_error"),
        ];
        for (e, status, code) in cases {
            let a = ApiError::from(e);
            assert_eq!((a.status.as_u16(), a.code), (status, Some(code)));
        }
    }

    #[test]
    fn unknown_model_lists_valid_ids() {
        let a = ApiError::unknown_model("gpt-9", &["auto", "sonnet-4.5"]);
        assert!(a.message.contains("auto, sonnet-4.5"), "{}", a.message);
        assert_eq!(a.param.as_deref(), Some("model"));
    }
}
