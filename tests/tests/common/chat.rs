//! Reading a `ChatRun` in the tests that drive `CursorClient::chat` directly.

use std::time::Duration;

use cursor_bridge_core::cursor::CursorError;
use cursor_bridge_core::cursor::chat::{ChatEvent, ChatRun};
use futures::StreamExt;

/// How long a run may go without an event before the test fails instead of hanging.
const STALL: Duration = Duration::from_secs(10);

/// Collects events until the run ends; returns the events and the final error, if any.
pub async fn collect(run: &mut ChatRun) -> (Vec<ChatEvent>, Option<CursorError>) {
    let mut events = Vec::new();
    while let Some(item) = tokio::time::timeout(STALL, run.next())
        .await
        .expect("run stalled")
    {
        match item {
            Ok(ev) => events.push(ev),
            Err(e) => return (events, Some(e)),
        }
    }
    (events, None)
}

/// The text the events carried, in order.
pub fn text_of(events: &[ChatEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}
