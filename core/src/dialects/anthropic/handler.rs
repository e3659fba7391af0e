//! `POST /v1/messages` (and `/messages`, `?beta=true` as Claude Code asks) and
//! `POST /v1/messages/count_tokens`: the body → the neutral request
//! ([`super::translate`]) → a [`Turn`] → Anthropic's SSE events or one message object
//! ([`super::stream`]), as the request's `stream` asks.
//!
//! An error before the first output is an HTTP status with Anthropic's error JSON; once the
//! stream has started it is an `error` event, after which Claude Code re-sends the request
//! with `stream: false`. A step that ends in tool calls ends the body after
//! `message_stop`: Claude Code runs the tools only once the body has closed, and its next
//! request, carrying the `tool_result`s, continues the parked Cursor run.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use super::request::MessagesRequest;
use super::stream::{MessageWriter, SseOut};
use super::{error, translate};
use crate::dialects::respond::{Collected, Started, sse};
use crate::dialects::{begin, reject_body};
use crate::engine::Engine;
use crate::engine::error::ApiError;
use crate::engine::request::Dialect;
use crate::engine::turn::{Event, Turn};

/// The messages handler (see the module doc).
pub(crate) async fn handle(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let parsed = body
        .map_err(|e| reject_body(&engine, e))
        .and_then(|b| MessagesRequest::parse(&b))
        .and_then(|r| Ok((translate::neutral(&r)?, r.thinking)));
    let (neutral, thinking) = match parsed {
        Ok((n, t)) => (Ok(n), t),
        Err(e) => (Err(e), false),
    };
    let stream = neutral.as_ref().is_ok_and(|n| n.stream);
    let turn = match begin(&engine, Dialect::Messages, &headers, neutral).await {
        Ok(t) => t,
        Err(res) => return res,
    };
    if stream {
        stream_response(turn, thinking).await
    } else {
        plain_response(turn, thinking).await
    }
}

async fn plain_response(turn: Turn, thinking: bool) -> Response {
    let w = MessageWriter::new(turn.model(), thinking);
    match Collected::from(turn).await {
        Ok(c) => Json(w.whole(&c.text, &c.reasoning, &c.calls, &c.usage)).into_response(),
        Err(e) => error::response(&e),
    }
}

fn event(e: SseOut) -> SseEvent {
    SseEvent::default().event(e.event).data(e.data.to_string())
}

async fn stream_response(turn: Turn, thinking: bool) -> Response {
    let mut turn = match Started::start(turn).await {
        Ok(t) => t,
        Err(e) => return error::response(&e),
    };
    let mut w = MessageWriter::new(turn.model(), thinking);
    let body = async_stream::stream! {
        yield event(w.start());
        while let Some(ev) = turn.next().await {
            let events = match ev {
                Event::Text(t) => w.text(&t),
                Event::Reasoning(t) => w.reasoning(&t),
                Event::ToolCalls { calls, usage } => w.tool_calls(&calls, &usage),
                Event::End { usage } => w.end(&usage),
                Event::Error(e) => vec![w.error(&e)],
            };
            for e in events {
                yield event(e);
            }
        }
    };
    sse(body, Some(event(MessageWriter::ping())))
}

/// `POST /v1/messages/count_tokens`: the body checked as a messages request
/// (`max_tokens` is not part of this one), answered with the estimate of
/// [`translate::estimate_tokens`].
pub(crate) async fn count_tokens(
    State(engine): State<Arc<Engine>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let counted = body.map_err(|e| reject_body(&engine, e)).and_then(|b| {
        MessagesRequest::parse_counted(&b)?;
        // The estimate counts the fields as JSON text; the body is known good by now.
        let v: Value = serde_json::from_slice(&b)
            .map_err(|e| ApiError::malformed(format!("the request body is not valid JSON: {e}")))?;
        Ok(translate::estimate_tokens(&v))
    });
    match counted {
        Ok(n) => Json(json!({"input_tokens": n})).into_response(),
        Err(e) => error::response(&e),
    }
}
