//! What every dialect's handler does with a [`Turn`], whatever its wire format:
//!
//! - [`Started`]: waits for the turn's first event, so an error known before any output is
//!   answered with its HTTP status (429, 503, …) instead of a 200 stream holding an error
//!   event; then hands the events out in order, that first one included.
//! - [`Collected`]: the whole turn gathered for a non-streaming answer.
//! - [`sse`]: the SSE response with a keep-alive, so idle proxies and clients do not
//!   drop a stream while the model thinks.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;

use crate::cursor::chat::ToolCall;
use crate::engine::error::ApiError;
use crate::engine::turn::{Event, Turn};
use crate::engine::usage::Usage;

/// How often an idle stream sends its keep-alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// A turn whose first event has arrived and was not an error.
pub(crate) struct Started {
    turn: Turn,
    first: Option<Event>,
}

impl Started {
    /// Waits for `turn`'s first event; an error there is the `Err`, for the dialect to
    /// answer with its status.
    pub(crate) async fn start(mut turn: Turn) -> Result<Started, ApiError> {
        match turn.next().await {
            Some(Event::Error(e)) => Err(e),
            first => Ok(Started { turn, first }),
        }
    }

    /// The model name as the client asked for it.
    pub(crate) fn model(&self) -> &str {
        self.turn.model()
    }

    /// The next event, the first one included; `None` after the last.
    pub(crate) async fn next(&mut self) -> Option<Event> {
        match self.first.take() {
            Some(ev) => Some(ev),
            None => self.turn.next().await,
        }
    }

    /// The events, the first one included, as a stream; the turn is dropped (ending its
    /// response for the ledger) when the stream is.
    pub(crate) fn into_stream(self) -> impl Stream<Item = Event> + Send {
        futures::stream::unfold(self, |mut s| async move { Some((s.next().await?, s)) })
    }
}

/// A whole turn, for a non-streaming answer.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// The answer text.
    pub(crate) text: String,
    /// The reasoning text.
    pub(crate) reasoning: String,
    /// The step's tool calls (empty when the turn ended without any).
    pub(crate) calls: Vec<ToolCall>,
    /// What the response reports.
    pub(crate) usage: Usage,
}

impl Collected {
    /// Reads `turn` to its end; an error at any point is the `Err` (nothing was sent yet).
    pub(crate) async fn from(mut turn: Turn) -> Result<Collected, ApiError> {
        let mut c = Collected::default();
        while let Some(ev) = turn.next().await {
            match ev {
                Event::Text(t) => c.text.push_str(&t),
                Event::Reasoning(t) => c.reasoning.push_str(&t),
                Event::ToolCalls { calls, usage } => {
                    c.calls = calls;
                    c.usage = usage;
                    return Ok(c);
                }
                Event::End { usage } => {
                    c.usage = usage;
                    return Ok(c);
                }
                Event::Error(e) => return Err(e),
            }
        }
        // A turn always ends with one of the three above.
        Err(ApiError::from(crate::cursor::CursorError::Protocol(
            "the run ended without an answer".into(),
        )))
    }
}

/// The SSE response for `events`, with `keep_alive` sent every 15 s of silence (a
/// comment line unless the dialect has a keep-alive event of its own).
pub(crate) fn sse(
    events: impl Stream<Item = SseEvent> + Send + 'static,
    keep_alive: Option<SseEvent>,
) -> Response {
    use futures::StreamExt as _;
    let mut ka = KeepAlive::new().interval(KEEP_ALIVE);
    if let Some(ev) = keep_alive {
        ka = ka.event(ev);
    }
    Sse::new(events.map(Ok::<_, Infallible>))
        .keep_alive(ka)
        .into_response()
}
