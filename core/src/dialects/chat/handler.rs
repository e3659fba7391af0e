//! `POST /v1/chat/completions` (and `/chat/completions`): the body → the neutral
//! request ([`super::translate`]) → a [`Turn`] → SSE chunks or one `chat.completion`
//! object ([`super::chunks`]), as the request's `stream` asks.
//!
//! An error before the first output is an HTTP status (429, 503, …) rather than a 200
//! stream holding an error event; once the stream has started, an error becomes an
//! OpenAI error event followed by `[DONE]`. A step that ends in tool calls answers
//! `finish_reason: "tool_calls"`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Json, Response};

use super::chunks::ChunkWriter;
use super::request::ChatCompletionRequest;
use super::translate;
use crate::dialects::respond::{Collected, Started, sse};
use crate::dialects::{begin, reject_body};
use crate::engine::Engine;
use crate::engine::error::ApiError;
use crate::engine::request::Dialect;
use crate::engine::turn::{Event, Turn};

/// The handler (see the module doc).
pub(crate) async fn handle(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let parsed = match body {
        Ok(b) => ChatCompletionRequest::parse(&b).map_err(|e| {
            if e.malformed {
                ApiError::malformed(e.message)
            } else {
                ApiError::invalid(e.param, e.message)
            }
        }),
        Err(e) => Err(reject_body(&engine, e)),
    };
    let (stream, include_usage) = match &parsed {
        Ok(r) => (r.is_stream(), r.include_usage()),
        Err(_) => (false, false),
    };
    let neutral = parsed
        .and_then(|r| translate::neutral(&r).map_err(|e| ApiError::invalid(e.param, e.message)));
    let turn = match begin(&engine, Dialect::Chat, &headers, neutral).await {
        Ok(t) => t,
        Err(res) => return res,
    };
    if stream {
        stream_response(turn, include_usage).await
    } else {
        plain_response(turn).await
    }
}

async fn plain_response(turn: Turn) -> Response {
    let writer = ChunkWriter::new(turn.model());
    match Collected::from(turn).await {
        Ok(c) => {
            let finish = if c.calls.is_empty() {
                "stop"
            } else {
                "tool_calls"
            };
            Json(writer.completion(&c.text, &c.reasoning, &c.calls, finish, &c.usage))
                .into_response()
        }
        Err(e) => e.into_response(),
    }
}

fn event(data: String) -> SseEvent {
    SseEvent::default().data(data)
}

async fn stream_response(turn: Turn, include_usage: bool) -> Response {
    let mut turn = match Started::start(turn).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let writer = ChunkWriter::new(turn.model());
    let body = async_stream::stream! {
        yield event(writer.role());
        while let Some(ev) = turn.next().await {
            match ev {
                Event::Text(t) => yield event(writer.content(&t)),
                Event::Reasoning(t) => yield event(writer.reasoning(&t)),
                Event::ToolCalls { calls, usage } => {
                    yield event(writer.tool_calls(&calls));
                    yield event(writer.finish("tool_calls"));
                    if include_usage {
                        yield event(writer.usage(&usage));
                    }
                    break;
                }
                Event::End { usage } => {
                    yield event(writer.finish("stop"));
                    if include_usage {
                        yield event(writer.usage(&usage));
                    }
                    break;
                }
                Event::Error(e) => {
                    yield event(super::super::openai_error::body(&e).to_string());
                    break;
                }
            }
        }
        yield event("[DONE]".to_string());
    };
    sse(body, None)
}
