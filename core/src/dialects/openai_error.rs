//! [`ApiError`] in OpenAI's error shape, `{"error": {message, type, param, code}}`, for
//! both OpenAI dialects and for every path that is no dialect's (the guard, unknown
//! paths), with a `Retry-After` header when Cursor gave one.

use axum::http::{HeaderValue, header::RETRY_AFTER};
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use crate::engine::error::ApiError;

/// The `{"error": …}` object (also sent as an SSE event mid-stream).
pub(crate) fn body(e: &ApiError) -> Value {
    json!({"error": {
        "message": e.message,
        "type": e.kind,
        "param": e.param,
        "code": e.code,
    }})
}

/// The error's stable name (`ApiError::code_str`), carried on every error response as an
/// extension so the proxy can log refusals in summary without reading bodies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorCode(pub(crate) &'static str);

/// What every error response carries besides its body, in any shape: `Retry-After` in
/// whole seconds (at least 1) when the error has one, and its [`ErrorCode`].
pub(crate) fn finish(e: &ApiError, mut res: Response) -> Response {
    res.extensions_mut().insert(ErrorCode(e.code_str()));
    if let Some(after) = e.retry_after {
        let secs = after.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            res.headers_mut().insert(RETRY_AFTER, v);
        }
    }
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let res = (self.status, Json(body(&self))).into_response();
        finish(&self, res)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::StatusCode;

    use super::*;
    use crate::cursor::CursorError;

    #[test]
    fn retry_after_becomes_a_header_in_whole_seconds() {
        let a = ApiError::from(CursorError::Quota {
            message: "slow down".into(),
            rate_limited: true,
            retry_after: Some(Duration::from_millis(1500)),
        });
        let res = a.into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[RETRY_AFTER], "2");
    }
}
