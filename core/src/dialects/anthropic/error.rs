//! [`ApiError`] in Anthropic's error shape:
//! `{"type": "error", "error": {"type": …, "message": …}}`, with the status Anthropic
//! uses for that type, and as the `error` event of a stream.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use crate::dialects::openai_error::finish;
use crate::engine::error::ApiError;

/// Anthropic's status and error `type` for `e`. Anthropic's own statuses where the
/// clients act on them: Claude Code and the SDKs retry 429, 529 and other 5xx, and give up
/// at once on the rest.
/// - Cursor's usage limit (`insufficient_quota`) is a 402 `billing_error`: waiting does not
///   lift it, so a 429 would only make Claude Code retry for minutes.
/// - The proxy stopping is a 529 `overloaded_error` (retry in a moment); a Cursor timeout
///   is a 504 `timeout_error`; other upstream failures keep their 5xx as `api_error`.
pub(crate) fn status_and_type(e: &ApiError) -> (StatusCode, &'static str) {
    let status = e.status;
    let kind = match (status.as_u16(), e.kind, e.code) {
        (_, "insufficient_quota", _) => return (StatusCode::PAYMENT_REQUIRED, "billing_error"),
        (_, "rate_limit_error", _) => return (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
        (_, _, Some("proxy_stopping" | "too_many_runs")) => {
            return (overloaded(), "overloaded_error");
        }
        (_, _, Some("upstream_timeout")) => "timeout_error",
        (401, _, _) => "authentication_error",
        (403, _, _) => "permission_error",
        (404, _, _) => "not_found_error",
        (413, _, _) => "request_too_large",
        (400..=499, _, _) => "invalid_request_error",
        _ => "api_error",
    };
    (status, kind)
}

/// 529, Anthropic's "overloaded" (not a registered HTTP status).
fn overloaded() -> StatusCode {
    StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
}

/// The message, worded the way Claude Code recognises a full context window (it
/// compacts the conversation on "prompt is too long").
fn message(e: &ApiError) -> String {
    if e.code == Some("context_length_exceeded") {
        format!("prompt is too long: {}", e.message)
    } else {
        e.message.clone()
    }
}

/// The error object (the body of an error response, and the data of an `error` event).
pub(crate) fn body(e: &ApiError) -> Value {
    json!({"type": "error", "error": {"type": status_and_type(e).1, "message": message(e)}})
}

/// The HTTP response for `e`.
pub(crate) fn response(e: &ApiError) -> Response {
    finish(e, (status_and_type(e).0, Json(body(e))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::CursorError;

    fn typed(e: ApiError) -> (u16, &'static str) {
        let (status, kind) = status_and_type(&e);
        (status.as_u16(), kind)
    }

    #[test]
    fn errors_take_anthropic_statuses_and_types() {
        let quota = |rate_limited| CursorError::Quota {
            message: "m".into(),
            rate_limited,
            retry_after: None,
        };
        let stopping = ApiError {
            code: Some("proxy_stopping"),
            ..ApiError::from(CursorError::NotSignedIn)
        };
        for (e, want) in [
            (
                ApiError::invalid("messages", "x"),
                (400, "invalid_request_error"),
            ),
            (ApiError::malformed("x"), (400, "invalid_request_error")),
            (ApiError::unauthorized("x"), (401, "authentication_error")),
            (ApiError::forbidden("c", "x"), (403, "permission_error")),
            (ApiError::unknown_model("m", &[]), (404, "not_found_error")),
            (ApiError::too_large(1), (413, "request_too_large")),
            (ApiError::from(quota(true)), (429, "rate_limit_error")),
            (ApiError::from(quota(false)), (402, "billing_error")),
            (
                ApiError::from(CursorError::Timeout("t".into())),
                (504, "timeout_error"),
            ),
            (
                ApiError::from(CursorError::Network("n".into())),
                (502, "api_error"),
            ),
            (ApiError::from(CursorError::NotSignedIn), (503, "api_error")),
            (stopping, (529, "overloaded_error")),
        ] {
            assert_eq!(typed(e.clone()), want, "{e:?}");
        }
    }

    #[test]
    fn a_full_context_says_prompt_is_too_long() {
        let ctx = ApiError::from(CursorError::ContextTooLong {
            message: "m".into(),
        });
        let b = body(&ctx);
        assert_eq!(b["type"], "error");
        assert_eq!(b["error"]["type"], "invalid_request_error");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("prompt is too long")
        );
    }
}
