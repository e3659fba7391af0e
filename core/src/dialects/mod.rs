//! The wire dialects the proxy speaks, each a translation over the one engine
//! ([`crate::engine`]): its request → the neutral [`crate::engine::request::Request`],
//! the engine's [`crate::engine::turn::Event`]s → its wire events, [`ApiError`] → its
//! error shape, plus a small handler the router mounts.
//!
//! - [`chat`]: OpenAI Chat Completions (`/v1/chat/completions`).
//! - [`anthropic`]: Anthropic Messages (`/v1/messages`).
//! - [`responses`]: OpenAI Responses (`/v1/responses`).
//!
//! A fourth dialect is one more module here, its lines in [`routes`] and one arm in
//! [`error_response`].

pub mod anthropic;
pub(crate) mod body;
pub mod chat;
pub(crate) mod json;
pub(crate) mod limits;
pub(crate) mod openai_error;
pub(crate) mod respond;
pub mod responses;

use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::http::header::USER_AGENT;
use axum::response::{IntoResponse, Response};

use std::sync::Arc;

use crate::engine::Engine;
use crate::engine::error::ApiError;
use crate::engine::request::{Dialect, Request};
use crate::engine::turn::Turn;

pub(crate) use openai_error::ErrorCode;

/// Every dialect's routes, each reading its body through [`body::limit`] (the 413 a
/// client sees while still uploading); `proxy::router` adds the guard and the fallbacks
/// around them.
pub(crate) fn routes(engine: &Arc<Engine>) -> axum::Router<Arc<Engine>> {
    use axum::routing::post;
    axum::Router::new()
        .route("/v1/chat/completions", post(chat::handle))
        .route("/chat/completions", post(chat::handle))
        .route("/v1/messages", post(anthropic::handle))
        .route("/messages", post(anthropic::handle))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/messages/count_tokens", post(anthropic::count_tokens))
        .merge(responses::routes(engine.clone()))
        .route_layer(axum::middleware::from_fn_with_state(
            engine.clone(),
            body::limit,
        ))
}

/// The dialect whose paths `path` is under (OpenAI Chat Completions for the rest: the
/// shape every other path answers errors in).
pub(crate) fn dialect_of_path(path: &str) -> Dialect {
    let p = path.strip_prefix("/v1").unwrap_or(path);
    if p == "/messages" || p.starts_with("/messages/") {
        Dialect::Messages
    } else if p == "/responses" || p.starts_with("/responses/") {
        Dialect::Responses
    } else {
        Dialect::Chat
    }
}

/// `e` in the error shape of `dialect`.
pub(crate) fn error_response(dialect: Dialect, e: ApiError) -> Response {
    match dialect {
        Dialect::Chat | Dialect::Responses => e.into_response(),
        Dialect::Messages => anthropic::error::response(&e),
    }
}

/// The error for a body the server could not read: over `max_body_bytes`, or cut off.
pub(crate) fn reject_body(engine: &Engine, e: BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(engine.settings.max_body_bytes)
    } else {
        ApiError::malformed(format!("cannot read the request body: {e}"))
    }
}

/// The turn for a request the dialect parsed into `parsed`, or the response that ends it
/// in `dialect`'s error shape: a refused body (recorded in the ledger, so it shows in the
/// error chart) or a turn that could not start. The client's name comes from `headers`.
pub(crate) async fn begin(
    engine: &Arc<Engine>,
    dialect: Dialect,
    headers: &HeaderMap,
    parsed: Result<Request, ApiError>,
) -> Result<Turn, Response> {
    let req = parsed.map_err(|e| {
        engine.refused(dialect, client_name(headers), &e);
        error_response(dialect, e)
    })?;
    let req = Request {
        client: client_name(headers),
        ..req
    };
    engine
        .turn(req)
        .await
        .map_err(|e| error_response(dialect, e))
}

/// The client's name as the first product of its `User-Agent` (`claude-cli`,
/// `codex_exec`, `opencode`, `OpenAI`, …): letters, digits, `.`, `_` and `-` only, at most
/// 32 characters, so what reaches the ledger and the logs is a name, not a payload.
pub(crate) fn client_name(headers: &HeaderMap) -> Option<String> {
    let ua = headers.get(USER_AGENT)?.to_str().ok()?;
    let product = ua.split(['/', ' ']).next()?;
    let name: String = product
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(32)
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_their_dialect() {
        for (path, want) in [
            ("/v1/messages", Dialect::Messages),
            ("/v1/messages/count_tokens", Dialect::Messages),
            ("/messages", Dialect::Messages),
            ("/v1/responses", Dialect::Responses),
            ("/v1/responses/resp_1", Dialect::Responses),
            ("/v1/chat/completions", Dialect::Chat),
            ("/v1/messagesx", Dialect::Chat),
            ("/health", Dialect::Chat),
        ] {
            assert_eq!(dialect_of_path(path), want, "{path}");
        }
    }

    #[test]
    fn the_client_name_is_the_first_product_of_the_user_agent_and_nothing_else() {
        let name = |ua: &str| {
            let mut h = HeaderMap::new();
            h.insert(USER_AGENT, ua.parse().unwrap());
            client_name(&h)
        };
        assert_eq!(
            name("claude-cli/2.1.328 (external, cli)").as_deref(),
            Some("claude-cli")
        );
        assert_eq!(
            name("codex_exec/0.169.0 (Debian 13)").as_deref(),
            Some("codex_exec")
        );
        assert_eq!(name("<script>/1").as_deref(), Some("script"));
        assert_eq!(name(&"a".repeat(100)).map(|n| n.len()), Some(32));
        assert_eq!(name("/1.0"), None);
        assert_eq!(client_name(&HeaderMap::new()), None);
    }
}
