//! Reading a `ChatRun` in the tests that drive `CursorClient::chat` directly.

use std::time::Duration;

use cursor_bridge_core::cursor::CursorError;
use cursor_bridge_core::cursor::chat::{ChatEvent, ChatRun, ToolCall, ToolDef};
use futures::StreamExt;
use serde_json::json;

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

/// Reads events up to the next tool call; returns the events before it and the call.
pub async fn until_tool_call(run: &mut ChatRun) -> (Vec<ChatEvent>, ToolCall) {
    let mut before = Vec::new();
    loop {
        match tokio::time::timeout(STALL, run.next())
            .await
            .expect("run stalled")
            .expect("run ended before a tool call")
            .expect("run failed before a tool call")
        {
            ChatEvent::ToolCall(c) => return (before, c),
            other => before.push(other),
        }
    }
}

/// The caller's `get_weather(city)` tool.
pub fn weather_tool() -> ToolDef {
    ToolDef {
        name: "get_weather".into(),
        description: "Weather for a city".into(),
        parameters: Some(
            json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}),
        ),
    }
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
