//! What every streaming dialect does the same way around its own events: the turn's first
//! event decides between an HTTP error status and a 200 stream, and the stream is an SSE
//! body with keep-alive comments.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;

use crate::engine::error::ApiError;
use crate::engine::turn::{Event, Turn};

/// How often an idle stream (a model thinking, a slow tool step) sends a comment line, so
/// no proxy or client in between times the connection out.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The turn's first event, or the error it starts with: an error before any output is
/// the dialect's HTTP status (429, 503, …), not a 200 stream holding an error event, so
/// clients retry or report it as they do for any HTTP error.
pub(crate) async fn first_event(turn: &mut Turn) -> Result<Option<Event>, ApiError> {
    match turn.next().await {
        Some(Event::Error(e)) => Err(e),
        first => Ok(first),
    }
}

/// The turn's events from `first` (what [`first_event`] returned) on, as a stream; the
/// turn is dropped (ending its response for the ledger) when the stream is.
pub(crate) fn events(first: Option<Event>, turn: Turn) -> impl Stream<Item = Event> + Send {
    futures::stream::unfold((first, turn), |(pending, mut turn)| async move {
        let ev = match pending {
            Some(ev) => ev,
            None => turn.next().await?,
        };
        Some((ev, (None, turn)))
    })
}

/// `events` as an SSE response with keep-alive comments.
pub(crate) fn respond(
    events: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
) -> Response {
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}
