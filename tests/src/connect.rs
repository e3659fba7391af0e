//! Small Connect helpers shared by the handlers: error bodies and end-of-stream frames.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use cursor_bridge_core::cursor::error::encode_error_details;
use cursor_bridge_core::cursor::framing::{FLAG_END_STREAM, encode_gzip, encode_with_flags};
use cursor_bridge_core::pb::aiserver_v1::{CustomErrorDetails, ErrorDetails};

use crate::script::EndError;

/// A Connect unary error: `status` + JSON `{"code","message"}`.
pub(crate) fn error_response(status: u16, code: &str, message: &str) -> Response {
    json_response(
        status,
        &serde_json::json!({"code": code, "message": message}),
    )
}

/// Any JSON body.
pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// A Connect unary error carrying the same `{code, message, details}` as
/// [`end_error_json`]'s `error` (reference §6.1).
pub(crate) fn unary_error_response(status: u16, err: &EndError) -> Response {
    json_response(status, &end_error_json(err)["error"])
}

/// The end-of-stream JSON for an error (reference §2.3, §6.1).
pub(crate) fn end_error_json(err: &EndError) -> serde_json::Value {
    let mut error = serde_json::json!({"code": err.code, "message": err.message});
    if let Some(d) = &err.detail {
        let details = ErrorDetails {
            error: d.kind as i32,
            details: Some(CustomErrorDetails {
                title: d.title.clone(),
                detail: d.detail.clone(),
                is_retryable: d.is_retryable,
                ..Default::default()
            }),
            is_expected: Some(true),
        };
        let mut debug_details = serde_json::json!({"title": d.title, "detail": d.detail});
        if let Some(r) = d.is_retryable {
            debug_details["isRetryable"] = r.into();
        }
        error["details"] = serde_json::json!([{
            "type": "aiserver.v1.ErrorDetails",
            "value": encode_error_details(&details),
            "debug": {
                "error": d.kind.as_str_name(),
                "details": debug_details,
                "isExpected": true,
            }
        }]);
    }
    serde_json::json!({"error": error})
}

/// The end-of-stream frame for an error.
pub(crate) fn end_error_frame(err: &EndError) -> Bytes {
    let json = end_error_json(err).to_string();
    if err.gzip {
        encode_gzip(FLAG_END_STREAM, json.as_bytes())
    } else {
        encode_with_flags(FLAG_END_STREAM, json.as_bytes())
    }
}

/// The successful end-of-stream frame `{}`.
pub(crate) fn end_ok_frame() -> Bytes {
    encode_with_flags(FLAG_END_STREAM, b"{}")
}

/// The answer to a run that an injected failure refuses (see `FakeCursor::fail_next_runs`).
pub(crate) fn run_failure_response(f: &crate::state::RunFailure) -> Response {
    if f.status != 200 {
        return error_response(f.status, &f.error.code, &f.error.message);
    }
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/connect+proto")
        .body(Body::from(end_error_frame(&f.error)))
        .unwrap_or_default()
}
