//! The error mapping: Connect codes, end-of-stream JSON, `ErrorDetails`, HTTP statuses.

use super::*;
use crate::pb::aiserver_v1::CustomErrorDetails;

fn end_stream(code: &str, kind: Option<DetailKind>, detail: &str) -> Vec<u8> {
    let details: Vec<serde_json::Value> = kind
        .map(|k| {
            let d = ErrorDetails {
                error: k as i32,
                details: Some(CustomErrorDetails {
                    title: "Title".into(),
                    detail: detail.into(),
                    ..Default::default()
                }),
                is_expected: Some(true),
            };
            serde_json::json!({"type": "aiserver.v1.ErrorDetails", "value": encode_error_details(&d)})
        })
        .into_iter()
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "error": {"code": code, "message": "Error", "details": details}
    }))
    .unwrap()
}

#[test]
fn credentials_in_upstream_text_are_redacted() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXBhcnQ";
    let cases = [
        (format!("bad token {jwt}."), "bad token <redacted>."),
        (
            format!("Authorization: Bearer {jwt}"),
            "Authorization: Bearer <redacted>",
        ),
        (
            "bearer opaque-token-1234, retry".into(),
            "bearer <redacted>, retry",
        ),
        (
            "key key_0123456789abcdef0123 refused".into(),
            "key <redacted> refused",
        ),
        (
            "local cb-AbCdEfGhIjKlMnOpQrStUvWx".into(),
            "local <redacted>",
        ),
        // Ordinary text is left alone.
        (
            "You have hit your usage limit (e.g. 500 requests). Bearer token missing".into(),
            "You have hit your usage limit (e.g. 500 requests). Bearer token missing",
        ),
        (
            "api_key_format is wrong; héllo".into(),
            "api_key_format is wrong; héllo",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(redact_credentials(&input), want, "{input}");
    }
    let e = parse_end_stream(&end_stream(
        "internal",
        Some(DetailKind::Unspecified),
        &format!("echo {jwt}"),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        !e.contains("c2lnbmF0dXJl") && e.contains("<redacted>"),
        "{e}"
    );
    let e = CursorError::from_http(502, format!("<html>Bearer {jwt}</html>").as_bytes());
    assert!(!e.to_string().contains("c2lnbmF0dXJl"), "{e}");
}

#[test]
fn success_end_stream() {
    assert!(parse_end_stream(b"{}").is_ok());
    assert!(parse_end_stream(b"{\"metadata\":{\"x\":[\"1\"]}}").is_ok());
}

#[test]
fn not_json_is_protocol_error() {
    assert!(matches!(
        parse_end_stream(b"nope"),
        Err(CursorError::Protocol(_))
    ));
}

#[test]
fn usage_limit_maps_to_quota_with_detail_text() {
    let e = parse_end_stream(&end_stream(
        "resource_exhausted",
        Some(DetailKind::ProUserUsageLimit),
        "You've hit your usage limit",
    ))
    .unwrap_err();
    match e {
        CursorError::Quota {
            message,
            rate_limited: false,
            ..
        } => {
            assert_eq!(message, "Title: You've hit your usage limit")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rate_limit_and_retry_after() {
    let mut v: serde_json::Value = serde_json::from_slice(&end_stream(
        "resource_exhausted",
        Some(DetailKind::RateLimited),
        "slow down",
    ))
    .unwrap();
    v["metadata"] = serde_json::json!({"retry-after": ["17"]});
    let e = parse_end_stream(&serde_json::to_vec(&v).unwrap()).unwrap_err();
    assert!(matches!(
        e,
        CursorError::Quota { rate_limited: true, retry_after: Some(d), .. } if d == Duration::from_secs(17)
    ));
    assert_eq!(e.kind(), "rate_limited");
}

#[test]
fn auth_context_model_outdated() {
    let cases = [
        ("unauthenticated", None, "unauthenticated"),
        (
            "permission_denied",
            Some(DetailKind::AuthTokenExpired),
            "unauthenticated",
        ),
        (
            "invalid_argument",
            Some(DetailKind::ConversationTooLong),
            "context_length_exceeded",
        ),
        (
            "invalid_argument",
            Some(DetailKind::BadModelName),
            "model_not_found",
        ),
        (
            "failed_precondition",
            Some(DetailKind::OutdatedClient),
            "outdated_client",
        ),
        ("canceled", None, "cancelled"),
        ("unavailable", None, "unavailable"),
        ("internal", None, "upstream"),
        ("something_new", None, "upstream"),
    ];
    for (code, kind, want) in cases {
        let e = parse_end_stream(&end_stream(code, kind, "d")).unwrap_err();
        assert_eq!(e.kind(), want, "{code} {kind:?}");
    }
}

/// Regression: June 2026's refusal of old clients is `resource_exhausted`, which read
/// as a usage limit; April's said "Update Required" in the details (§9.10).
#[test]
fn outdated_client_shapes_are_not_quota() {
    let june = CursorError::from_http(
        429,
        br#"{"code":"resource_exhausted","message":"Your version of Cursor is no longer supported. Please update to the latest version."}"#,
    );
    assert_eq!(june.kind(), "outdated_client", "{june:?}");
    let april = parse_end_stream(&end_stream(
        "failed_precondition",
        Some(DetailKind::Unspecified),
        "Update Required",
    ))
    .unwrap_err();
    assert_eq!(april.kind(), "outdated_client", "{april:?}");
    let quota = CursorError::from_http(
        429,
        br#"{"code":"resource_exhausted","message":"You've hit your usage limit"}"#,
    );
    assert_eq!(quota.kind(), "quota_exceeded");
    assert!(june.to_string().contains("cursor-agent update"));
    assert!(june.to_string().contains("CURSOR_BRIDGE_CLIENT_VERSION"));
}

/// What a retry may fix: unreachable, timed out, unavailable, 502–504, or marked
/// retryable by Cursor; never auth, quota, bad requests or the context length, even
/// when Cursor marks them retryable.
#[test]
fn transient_errors_are_the_ones_a_retry_may_fix() {
    let retryable = |code: &str, kind: DetailKind| {
        let d = ErrorDetails {
            error: kind as i32,
            details: Some(CustomErrorDetails {
                title: "T".into(),
                detail: "d".into(),
                is_retryable: Some(true),
                ..Default::default()
            }),
            is_expected: Some(true),
        };
        let body = serde_json::json!({"error": {"code": code, "message": "Error", "details": [
            {"type": "aiserver.v1.ErrorDetails", "value": encode_error_details(&d)}]}});
        parse_end_stream(&serde_json::to_vec(&body).unwrap()).unwrap_err()
    };
    let transient = [
        CursorError::Network("refused".into()),
        CursorError::Timeout("connect".into()),
        CursorError::from_http(503, b""),
        CursorError::from_http(502, b"<html>bad gateway</html>"),
        CursorError::from_http(504, b""),
        CursorError::from_http(503, br#"{"code":"unavailable","message":"busy"}"#),
        parse_end_stream(&end_stream("unavailable", None, "d")).unwrap_err(),
        retryable("internal", DetailKind::Unspecified),
    ];
    for e in &transient {
        assert!(e.is_transient(), "{e:?}");
    }
    let permanent = [
        CursorError::from_http(401, b""),
        CursorError::from_http(429, b""),
        CursorError::from_http(400, b""),
        CursorError::from_http(500, b"<html>oops</html>"),
        parse_end_stream(&end_stream("internal", None, "d")).unwrap_err(),
        retryable("invalid_argument", DetailKind::Unspecified),
        retryable("invalid_argument", DetailKind::ConversationTooLong),
        retryable("resource_exhausted", DetailKind::RateLimited),
        retryable("unauthenticated", DetailKind::Unspecified),
        CursorError::Protocol("bad frame".into()),
        CursorError::SessionExpired,
        CursorError::NotSignedIn,
        CursorError::Cancelled,
    ];
    for e in &permanent {
        assert!(!e.is_transient(), "{e:?}");
    }
}

#[test]
fn unary_http_errors() {
    let body = br#"{"code":"unauthenticated","message":"bad token"}"#;
    assert!(CursorError::from_http(401, body).is_auth());
    assert_eq!(
        CursorError::from_http(429, b"slow").kind(),
        "quota_exceeded"
    );
    assert!(matches!(
        CursorError::from_http(500, b"<html>oops</html>"),
        CursorError::Http { status: 500, .. }
    ));
    assert!(CursorError::from_http(401, b"").is_auth());
}
