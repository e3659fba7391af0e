//! `POST /v1/chat/completions` (and `/chat/completions`): the body → the neutral
//! request ([`super::translate`]) → a [`Turn`] → SSE chunks or one `chat.completion`
//! object ([`super::chunks`]), as the request's `stream` asks.
//!
//! An error before the first output is an HTTP status (429, 503, …) rather than a 200
//! stream holding an error event; once the stream has started, an error becomes an
//! OpenAI error event followed by `[DONE]`. A step that ends in tool calls answers
//! `finish_reason: "tool_calls"`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Json, Response};
use futures::StreamExt;

use super::chunks::ChunkWriter;
use super::request::ChatCompletionRequest;
use super::translate;
use crate::dialects::{client_name, reject_body, sse};
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
    let (req, neutral) = match parsed.and_then(|r| {
        let n = translate::neutral(&r).map_err(|e| ApiError::invalid(e.param, e.message))?;
        Ok((r, n))
    }) {
        Ok(r) => r,
        Err(e) => {
            // Refused bodies are recorded too: they show up in the error chart.
            engine.refused(Dialect::Chat, None, &e);
            return e.into_response();
        }
    };
    let neutral = crate::engine::request::Request {
        client: client_name(&headers),
        ..neutral
    };
    let turn = match engine.turn(neutral).await {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    if req.is_stream() {
        stream_response(turn, req.include_usage()).await
    } else {
        plain_response(turn).await
    }
}

async fn plain_response(mut turn: Turn) -> Response {
    let writer = ChunkWriter::new(turn.model());
    let (mut content, mut reasoning) = (String::new(), String::new());
    while let Some(ev) = turn.next().await {
        match ev {
            Event::Text(t) => content.push_str(&t),
            Event::Reasoning(t) => reasoning.push_str(&t),
            Event::ToolCalls { calls, usage } => {
                return Json(writer.completion(&content, &reasoning, &calls, "tool_calls", &usage))
                    .into_response();
            }
            Event::End { usage } => {
                return Json(writer.completion(&content, &reasoning, &[], "stop", &usage))
                    .into_response();
            }
            Event::Error(e) => return e.into_response(),
        }
    }
    // A turn always ends with one of the three above.
    ApiError::from(crate::cursor::CursorError::Protocol(
        "the run ended without an answer".into(),
    ))
    .into_response()
}

fn event(data: String) -> Result<SseEvent, Infallible> {
    Ok(SseEvent::default().data(data))
}

async fn stream_response(mut turn: Turn, include_usage: bool) -> Response {
    let first = match sse::first_event(&mut turn).await {
        Ok(first) => first,
        Err(e) => return e.into_response(),
    };
    let writer = ChunkWriter::new(turn.model());
    let body = async_stream::stream! {
        yield event(writer.role());
        let mut events = std::pin::pin!(sse::events(first, turn));
        while let Some(ev) = events.next().await {
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
    sse::respond(body)
}
