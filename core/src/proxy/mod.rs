//! INBOUND: the localhost HTTP server. For now it serves `GET /health`; the OpenAI
//! endpoints build on this router. It takes an already-bound listener and a shutdown
//! future, so tests bind port 0 and the tray app owns the lifecycle.
//!
//! Every request must name a loopback host in `Host` (a DNS-rebinding guard: a web page
//! on `evil.example` resolving to 127.0.0.1 still sends `Host: evil.example`).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header::HOST};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use serde_json::json;

use crate::cursor::CursorClient;

/// What handlers share.
#[derive(Clone, Debug)]
pub struct ProxyState {
    pub client: CursorClient,
}

/// The router.
pub fn router(state: Arc<ProxyState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/health", get(health))
        .layer(middleware::from_fn(require_loopback_host))
        .with_state(state)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn health(State(state): State<Arc<ProxyState>>) -> Json<serde_json::Value> {
    let signed_in = matches!(state.client.tokens().current().await, Ok(Some(_)));
    Json(json!({"status": "ok", "version": crate::VERSION, "signed_in": signed_in}))
}

/// True for `localhost`, `127.x.y.z`, `[::1]`, with or without a port.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim();
    let name = if let Some(rest) = h.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        h.rsplit_once(':').map_or(h, |(n, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                n
            } else {
                h
            }
        })
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

async fn require_loopback_host(req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .is_some_and(is_loopback_host);
    if ok {
        next.run(req).await
    } else {
        let body = json!({"error": {
            "message": "Host header must name a loopback address (localhost, 127.0.0.1 or [::1])",
            "type": "invalid_request_error", "param": null, "code": "invalid_host"}});
        (StatusCode::FORBIDDEN, Json(body)).into_response()
    }
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
}
