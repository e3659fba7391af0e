//! The security middleware in front of every route, in this order:
//! 1. `Host` must name a loopback address — a DNS-rebinding guard: a page on
//!    `evil.example` resolving to 127.0.0.1 still sends `Host: evil.example`.
//! 2. A browser `Origin` that is not loopback is refused — a web page must not drive the
//!    proxy with the user's Cursor account. We also never send CORS headers, so browsers
//!    block cross-origin reads anyway; this stops the *writes* (simple POSTs) too.
//! 3. The per-install key as `Authorization: Bearer …` (or `x-api-key`), unless the
//!    settings turn the check off. `/health` is open (liveness only, no secrets).
//! 4. A POST whose `Content-Type` is not JSON is refused (415): the form and text types a
//!    page may send cross-site without a preflight never reach a handler.
//!
//! Every refused request, here or behind (unknown path, body over the limit, bad field),
//! is logged in summary by [`super::refusals`].
//!
//! When the user opted in to a non-loopback bind address, the `Host` check accepts that
//! address too; the key check is what protects that setup.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, ORIGIN};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::{ProxyState, refusals};
use crate::dialects;
use crate::engine::error::ApiError;

/// True for `localhost`, `127.x.y.z`, `[::1]`, with or without a port (what the guard's
/// `Host` check accepts, as one function its tests can call).
#[cfg(test)]
fn is_loopback_host(host: &str) -> bool {
    host_name(host).is_some_and(is_loopback_name)
}

fn host_name(host: &str) -> Option<&str> {
    let h = host.trim();
    if h.is_empty() {
        return None;
    }
    Some(if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        h.rsplit_once(':').map_or(h, |(n, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                n
            } else {
                h
            }
        })
    })
}

fn is_loopback_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// True for an `Origin` whose host is loopback (`http://localhost:3000`, …).
pub(crate) fn is_loopback_origin(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https") && crate::config::settings::is_loopback_url(&url)
}

fn host_allowed(state: &ProxyState, host: &str) -> bool {
    match host_name(host) {
        Some(name) if is_loopback_name(name) => true,
        // The user exposed the proxy on purpose: its own address is a valid Host.
        Some(name) => {
            state.settings().allow_non_loopback
                && name.parse::<std::net::IpAddr>().is_ok_and(|ip| {
                    ip == state.settings().host || state.settings().host.is_unspecified()
                })
        }
        None => false,
    }
}

/// Compares keys through their digests, so the time taken says nothing about the key.
fn same_key(given: &str, expected: &str) -> bool {
    Sha256::digest(given.as_bytes()) == Sha256::digest(expected.as_bytes())
}

fn presented_key(req: &Request) -> Option<&str> {
    if let Some(v) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some(rest.trim());
        }
        return None;
    }
    req.headers()
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The middleware.
pub(crate) async fn check(
    State(state): State<Arc<ProxyState>>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let res = match verdict(&state, &req) {
        Ok(()) => next.run(req).await,
        Err(e) => {
            let res = dialects::error_response(dialects::dialect_of_path(&path), e);
            // An uploading client must see the refusal, not a broken pipe.
            dialects::body::refuse_unread(&state.engine, req, res)
        }
    };
    if refusals::is_refusal(res.status()) {
        let code = res
            .extensions()
            .get::<dialects::ErrorCode>()
            .map_or("-", |c| c.0);
        state.refusals.note(&method, &path, res.status(), code);
    }
    res
}

fn verdict(state: &ProxyState, req: &Request) -> Result<(), ApiError> {
    let host = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    if !host.is_some_and(|h| host_allowed(state, h)) {
        return Err(ApiError::forbidden(
            "invalid_host",
            "Host header must name a loopback address (localhost, 127.0.0.1 or [::1])",
        ));
    }
    if let Some(origin) = req.headers().get(ORIGIN) {
        let ok = origin.to_str().is_ok_and(is_loopback_origin);
        if !ok {
            return Err(ApiError::forbidden(
                "origin_not_allowed",
                "requests from web pages are not accepted: the Origin is not a loopback address",
            ));
        }
    }
    let path = req.uri().path();
    if path == "/health" || path == "/v1/health" {
        return Ok(());
    }
    if let Some(expected) = &state.api_key {
        match presented_key(req) {
            None | Some("") => {
                return Err(ApiError::unauthorized(
                    "missing API key: send the local key as `Authorization: Bearer <key>` \
                     (`cursor-bridge opencode-config` prints it)",
                ));
            }
            Some(k) if !same_key(k, expected) => {
                return Err(ApiError::unauthorized(
                    "wrong API key: use the local key that `cursor-bridge opencode-config` prints",
                ));
            }
            Some(_) => {}
        }
    }
    // A browser may POST `text/plain`, a form or multipart to any site without asking
    // first (a "simple request"); only JSON is ever meant for us. A missing type is
    // accepted: hand-written clients often leave it out.
    if req.method() == Method::POST
        && let Some(ct) = req.headers().get(CONTENT_TYPE)
    {
        let text = ct.to_str().unwrap_or("");
        if !is_json_media_type(text) {
            return Err(ApiError::unsupported_media_type(text));
        }
    }
    Ok(())
}

/// `application/json` or any `…+json`, parameters (`; charset=utf-8`) allowed.
fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:18741",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]:18741",
            "[::1]",
            "LOCALHOST:1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.example",
            "evil.example:18741",
            "10.0.0.1:18741",
            "127.0.0.1.evil.example",
            "[::2]:1",
            "",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    #[test]
    fn loopback_origins() {
        for o in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "https://[::1]:8443",
        ] {
            assert!(is_loopback_origin(o), "{o}");
        }
        for o in [
            "null",
            "https://evil.example",
            "http://localhost.evil.example",
            "file:///tmp/x.html",
            "http://10.0.0.2",
        ] {
            assert!(!is_loopback_origin(o), "{o}");
        }
    }

    #[test]
    fn json_media_types() {
        for t in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(is_json_media_type(t), "{t}");
        }
        for t in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "text/json+xml",
            "",
        ] {
            assert!(!is_json_media_type(t), "{t}");
        }
    }

    #[test]
    fn key_comparison() {
        assert!(same_key("cb-abc", "cb-abc"));
        assert!(!same_key("cb-abd", "cb-abc"));
        assert!(!same_key("", "cb-abc"));
    }
}
