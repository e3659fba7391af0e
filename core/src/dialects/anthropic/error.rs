//! [`ApiError`] in Anthropic's error shape:
//! `{"type": "error", "error": {"type": …, "message": …}}`, with the status Anthropic
//! uses for that type, and as the `error` event of a stream.

use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use crate::dialects::openai_error::with_retry_after;
use crate::engine::error::ApiError;

/// Anthropic's error `type` for `e`.
pub(crate) fn error_type(e: &ApiError) -> &'static str {
    match (e.status.as_u16(), e.kind) {
        (404, _) => "not_found_error",
        (413, _) => "request_too_large",
        (_, "authentication_error") if e.status.as_u16() == 401 => "authentication_error",
        (_, "permission_error") => "permission_error",
        (_, "rate_limit_error") => "rate_limit_error",
        (_, "insufficient_quota") => "rate_limit_error",
        (400..=499, _) => "invalid_request_error",
        (503, _) => "overloaded_error",
        _ => "api_error",
    }
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
    json!({"type": "error", "error": {"type": error_type(e), "message": message(e)}})
}

/// The HTTP response for `e`.
pub(crate) fn response(e: &ApiError) -> Response {
    with_retry_after(e, (e.status, Json(body(e))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::CursorError;

    #[test]
    fn errors_take_anthropic_types_and_a_full_context_says_prompt_is_too_long() {
        assert_eq!(
            error_type(&ApiError::invalid("messages", "x")),
            "invalid_request_error"
        );
        assert_eq!(
            error_type(&ApiError::unauthorized("x")),
            "authentication_error"
        );
        assert_eq!(
            error_type(&ApiError::unknown_model("m", &[])),
            "not_found_error"
        );
        assert_eq!(error_type(&ApiError::too_large(1)), "request_too_large");
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
