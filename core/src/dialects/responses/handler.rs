//! `POST /v1/responses` (and `/responses`): the body ([`super::request`]) after the stored
//! response it continues ([`super::store`]) → the neutral request ([`super::translate`]) →
//! a [`Turn`] → SSE events or one response object ([`super::stream`]), as `stream` asks.
//!
//! An error before the first output is an HTTP status, except the two OpenAI reports as
//! a failed response, which is how Codex tells them apart: the usage limit
//! (`insufficient_quota`: Codex shows "Quota exceeded" and does not retry, where a 429 it
//! would retry) and a context too long (`context_length_exceeded`). A completed response
//! is kept for `previous_response_id` unless the request says `store: false`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event as SseEvent;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::post;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::request::{Item, ResponsesRequest};
use super::store::ResponseStore;
use super::stream::{Echo, Fate, ResponseWriter, Sse};
use super::translate;
use crate::dialects::respond::{Started, sse};
use crate::dialects::{client_name, reject_body};
use crate::engine::Engine;
use crate::engine::error::ApiError;
use crate::engine::request::{Dialect, Request};
use crate::engine::turn::Event;

/// What the handler shares: the engine and the kept responses.
#[derive(Debug)]
struct Responses {
    engine: Arc<Engine>,
    store: ResponseStore,
}

/// The dialect's routes, with their own state (the store lives as long as the router).
pub(crate) fn routes<S: Clone + Send + Sync + 'static>(engine: Arc<Engine>) -> Router<S> {
    let state = Arc::new(Responses {
        engine,
        store: ResponseStore::new(),
    });
    Router::new()
        .route("/v1/responses", post(handle))
        .route("/responses", post(handle))
        .with_state(state)
}

/// Errors OpenAI reports inside a failed response rather than as a status (module doc).
fn in_band(e: &ApiError) -> bool {
    matches!(
        e.code,
        Some("insufficient_quota" | "context_length_exceeded")
    )
}

fn previous_not_found(id: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!(
            "previous_response_id: no response `{id}` is kept (unknown, expired, stored with \
             `store: false`, or kept by a proxy that has since restarted); send the whole \
             conversation in `input` instead"
        ),
        kind: "invalid_request_error",
        code: Some("previous_response_not_found"),
        param: Some("previous_response_id".into()),
        retry_after: None,
        recorded_as: None,
    }
}

/// The handler (see the module doc).
async fn handle(
    State(r): State<Arc<Responses>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let engine = &r.engine;
    let parsed = body
        .map_err(|e| reject_body(engine, e))
        .and_then(|b| ResponsesRequest::parse(&b))
        .and_then(|req| {
            let earlier = match &req.previous_response_id {
                Some(id) => r.store.get(id).ok_or_else(|| previous_not_found(id))?,
                None => Arc::default(),
            };
            Ok((req, earlier))
        });
    let (req, earlier) = match parsed {
        Ok(p) => p,
        Err(e) => {
            // Refused bodies are recorded too: they show up in the error chart.
            engine.refused(Dialect::Responses, client_name(&headers), &e);
            return e.into_response();
        }
    };
    for kind in &req.skipped_tools {
        if r.store.first_skip(kind) {
            tracing::info!(
                "skipping the declared `{kind}` tools: only function tools reach Cursor \
                 (logged once)"
            );
        }
    }
    let neutral = Request {
        client: client_name(&headers),
        ..translate::neutral(&req, &earlier)
    };
    let kept = req.store.then(|| translate::conversation(&req, &earlier));
    // Echoed as asked, as the engine does (`Turn::model`).
    let model = req
        .model
        .clone()
        .unwrap_or_else(|| engine.settings.default_model.clone());
    let events = match start(engine, neutral).await {
        Ok(started) => started.into_stream().boxed(),
        Err(e) if req.stream && in_band(&e) => futures::stream::iter([Event::Error(e)]).boxed(),
        Err(e) => return e.into_response(),
    };
    let w = ResponseWriter::new(model, Echo::of(&req));
    let done = Done { r: r.clone(), kept };
    if req.stream {
        stream_response(events, w, done)
    } else {
        plain_response(events, w, done).await
    }
}

/// The turn once its first event has come, or the error it starts with.
async fn start(engine: &Arc<Engine>, req: Request) -> Result<Started, ApiError> {
    Started::start(engine.turn(req).await?).await
}

/// What to do once the response completed: keep it for `previous_response_id`.
struct Done {
    r: Arc<Responses>,
    kept: Option<Vec<Item>>,
}

impl Done {
    fn completed(self, w: &ResponseWriter) {
        if let Some(mut items) = self.kept {
            items.extend_from_slice(w.items());
            self.r.store.put(w.id.clone(), items);
        }
    }
}

fn sse_event(e: Sse) -> SseEvent {
    SseEvent::default().event(e.event).data(e.data.to_string())
}

fn stream_response(
    mut events: BoxStream<'static, Event>,
    mut w: ResponseWriter,
    done: Done,
) -> Response {
    let body = async_stream::stream! {
        for e in w.start() {
            yield sse_event(e);
        }
        let mut done = Some(done);
        while let Some(ev) = events.next().await {
            let (out, fate) = w.on(ev);
            for e in out {
                yield sse_event(e);
            }
            match fate {
                Fate::Open => {}
                Fate::Completed(_) => {
                    if let Some(d) = done.take() {
                        d.completed(&w);
                    }
                    break;
                }
                Fate::Failed(_) => break,
            }
        }
    };
    sse(body, None)
}

async fn plain_response(
    mut events: BoxStream<'static, Event>,
    mut w: ResponseWriter,
    done: Done,
) -> Response {
    while let Some(ev) = events.next().await {
        match w.on(ev).1 {
            Fate::Open => {}
            Fate::Completed(usage) => {
                done.completed(&w);
                return Json(w.response("completed", Some(&usage), None)).into_response();
            }
            Fate::Failed(e) => return e.into_response(),
        }
    }
    // A turn always ends with a completion or an error.
    ApiError::from(crate::cursor::CursorError::Protocol(
        "the run ended without an answer".into(),
    ))
    .into_response()
}
