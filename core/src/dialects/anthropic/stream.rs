//! The response side: the engine's events → Anthropic's SSE events, and the message
//! object of a non-streaming answer. Pure: [`MessageWriter`] only builds events.
//!
//! A stream is `message_start`, then per content block `content_block_start`, its
//! deltas (`text_delta`, `thinking_delta` then `signature_delta`, `input_json_delta`) and
//! `content_block_stop`, then `message_delta` (the `stop_reason` and the usage) and
//! `message_stop`. Claude Code shows an empty answer without the `content_block_stop`s,
//! and the Python SDK ignores events without their `event:` line, so every event is
//! named.
//!
//! **Usage.** Anthropic's `input_tokens` leaves out the prompt tokens read from or written
//! to the cache, which it reports as `cache_read_input_tokens` and
//! `cache_creation_input_tokens`; the engine's `prompt_tokens` includes both, so
//! `input_tokens` = prompt − cache reads − cache writes. The numbers are only known when
//! the step ends, so `message_start` reports zeros and `message_delta` the whole count
//! (clients take the later numbers).

use serde_json::{Value, json};

use crate::cursor::chat::ToolCall;
use crate::engine::error::ApiError;
use crate::engine::usage::Usage;

/// Stands in for the signature Anthropic puts on its thinking blocks: clients store it
/// and send it back with the block, which Cursor does not need (it keeps its own
/// reasoning).
const SIGNATURE: &str = "Y3Vyc29yLWJyaWRnZQ==";

/// How many characters of a tool call's arguments go in one `input_json_delta` (clients
/// reassemble the partial JSON; a long one comes in pieces as Anthropic sends it).
const JSON_PIECE: usize = 64;

/// One SSE event: its `event:` name and its JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct SseOut {
    /// The event's name (`message_start`, …), which is also its data's `type`.
    pub event: &'static str,
    /// The event's data.
    pub data: Value,
}

fn out(event: &'static str, mut data: Value) -> SseOut {
    data["type"] = json!(event);
    SseOut { event, data }
}

/// Anthropic's `usage` object for `u` (the arithmetic is in the module doc).
pub fn usage_json(u: &Usage) -> Value {
    let cache_read = u.cached_tokens.unwrap_or(0);
    let cache_write = u.cache_write_tokens.unwrap_or(0);
    json!({
        "input_tokens": u.prompt_tokens.saturating_sub(cache_read + cache_write),
        "output_tokens": u.completion_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    })
}

/// A new message id, `msg_` + 24 hex digits.
fn message_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("msg_{}", &u[..24])
}

/// The content block a stream has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
}

/// Builds the events of one response.
#[derive(Debug)]
pub struct MessageWriter {
    id: String,
    model: String,
    /// Reasoning is answered as `thinking` blocks (the request enabled thinking).
    thinking: bool,
    open: Option<Open>,
    /// The index of the next content block.
    next_index: usize,
}

impl MessageWriter {
    /// A writer for a response of `model` (echoed as the client asked for it); `thinking`
    /// as the request's `thinking` asked.
    pub fn new(model: &str, thinking: bool) -> Self {
        MessageWriter {
            id: message_id(),
            model: model.to_string(),
            thinking,
            open: None,
            next_index: 0,
        }
    }

    fn message(&self, content: Vec<Value>, stop_reason: Option<&str>, usage: Value) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": usage,
        })
    }

    /// `message_start`.
    pub fn start(&self) -> SseOut {
        let usage = json!({"input_tokens": 0, "output_tokens": 0,
                           "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0});
        out(
            "message_start",
            json!({"message": self.message(Vec::new(), None, usage)}),
        )
    }

    /// Closes the open block, if any.
    fn close(&mut self, events: &mut Vec<SseOut>) {
        let Some(open) = self.open.take() else {
            return;
        };
        let index = self.next_index - 1;
        if open == Open::Thinking {
            events.push(out(
                "content_block_delta",
                json!({"index": index, "delta": {"type": "signature_delta", "signature": SIGNATURE}}),
            ));
        }
        events.push(out("content_block_stop", json!({"index": index})));
    }

    /// Opens a block of `kind` unless one is open, closing another kind first.
    fn open(&mut self, kind: Open, block: Value, events: &mut Vec<SseOut>) -> usize {
        if self.open != Some(kind) {
            self.close(events);
            events.push(out(
                "content_block_start",
                json!({"index": self.next_index, "content_block": block}),
            ));
            self.next_index += 1;
            self.open = Some(kind);
        }
        self.next_index - 1
    }

    /// Answer text.
    pub fn text(&mut self, t: &str) -> Vec<SseOut> {
        let mut events = Vec::new();
        let index = self.open(Open::Text, json!({"type": "text", "text": ""}), &mut events);
        events.push(out(
            "content_block_delta",
            json!({"index": index, "delta": {"type": "text_delta", "text": t}}),
        ));
        events
    }

    /// Reasoning text (nothing unless the request enabled thinking).
    pub fn reasoning(&mut self, t: &str) -> Vec<SseOut> {
        if !self.thinking {
            return Vec::new();
        }
        let mut events = Vec::new();
        let block = json!({"type": "thinking", "thinking": "", "signature": ""});
        let index = self.open(Open::Thinking, block, &mut events);
        events.push(out(
            "content_block_delta",
            json!({"index": index, "delta": {"type": "thinking_delta", "thinking": t}}),
        ));
        events
    }

    /// The step's tool calls, then the end of the message (`stop_reason: "tool_use"`).
    pub fn tool_calls(&mut self, calls: &[ToolCall], usage: &Usage) -> Vec<SseOut> {
        let mut events = Vec::new();
        self.close(&mut events);
        for c in calls {
            let index = self.next_index;
            self.next_index += 1;
            events.push(out(
                "content_block_start",
                json!({"index": index, "content_block":
                    {"type": "tool_use", "id": c.call_id, "name": c.name, "input": {}}}),
            ));
            for piece in pieces(&c.arguments.to_string(), JSON_PIECE) {
                events.push(out(
                    "content_block_delta",
                    json!({"index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}),
                ));
            }
            events.push(out("content_block_stop", json!({"index": index})));
        }
        events.extend(self.finish("tool_use", usage));
        events
    }

    /// The end of a turn (`stop_reason: "end_turn"`).
    pub fn end(&mut self, usage: &Usage) -> Vec<SseOut> {
        self.finish("end_turn", usage)
    }

    fn finish(&mut self, stop_reason: &str, usage: &Usage) -> Vec<SseOut> {
        let mut events = Vec::new();
        self.close(&mut events);
        events.push(out(
            "message_delta",
            json!({"delta": {"stop_reason": stop_reason, "stop_sequence": null},
                   "usage": usage_json(usage)}),
        ));
        events.push(out("message_stop", json!({})));
        events
    }

    /// An `error` event (the stream ends after it).
    pub fn error(&self, e: &ApiError) -> SseOut {
        out("error", super::error::body(e))
    }

    /// The `ping` a stream sends while idle.
    pub fn ping() -> SseOut {
        out("ping", json!({}))
    }

    /// The message object of a non-streaming answer.
    pub fn whole(&self, text: &str, reasoning: &str, calls: &[ToolCall], usage: &Usage) -> Value {
        let mut content = Vec::new();
        if self.thinking && !reasoning.is_empty() {
            content
                .push(json!({"type": "thinking", "thinking": reasoning, "signature": SIGNATURE}));
        }
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
        for c in calls {
            content.push(
                json!({"type": "tool_use", "id": c.call_id, "name": c.name, "input": c.arguments}),
            );
        }
        let stop = if calls.is_empty() {
            "end_turn"
        } else {
            "tool_use"
        };
        self.message(content, Some(stop), usage_json(usage))
    }
}

/// `s` in pieces of at most `n` characters.
fn pieces(s: &str, n: usize) -> Vec<&str> {
    let mut v = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let cut = rest.char_indices().nth(n).map_or(rest.len(), |(i, _)| i);
        let (piece, tail) = rest.split_at(cut);
        v.push(piece);
        rest = tail;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, args: Value) -> ToolCall {
        ToolCall {
            call_id: id.into(),
            name: "Bash".into(),
            arguments: args,
        }
    }

    #[test]
    fn input_tokens_leave_out_cache_reads_and_writes() {
        let u = Usage {
            prompt_tokens: 1350,
            completion_tokens: 6,
            cached_tokens: Some(900),
            cache_write_tokens: Some(40),
            reasoning_tokens: Some(2),
            exact: true,
            prompt_deferred: false,
        };
        assert_eq!(
            usage_json(&u),
            json!({"input_tokens": 410, "output_tokens": 6,
                   "cache_read_input_tokens": 900, "cache_creation_input_tokens": 40})
        );
        let estimated = Usage {
            prompt_tokens: 12,
            completion_tokens: 3,
            ..Usage::default()
        };
        assert_eq!(usage_json(&estimated)["input_tokens"], 12);
        assert_eq!(usage_json(&estimated)["cache_read_input_tokens"], 0);
    }

    #[test]
    fn a_stream_opens_and_closes_each_block_in_order() {
        let mut w = MessageWriter::new("claude-opus-5-5", true);
        let start = w.start();
        assert_eq!(start.event, "message_start");
        assert!(
            start.data["message"]["id"]
                .as_str()
                .unwrap()
                .starts_with("msg_")
        );
        assert_eq!(start.data["message"]["model"], "claude-opus-5-5");
        // Text, then reasoning, then text again: each change of kind is a new block.
        let mut events = Vec::new();
        events.extend(w.text("Hel"));
        events.extend(w.reasoning("hm"));
        events.extend(w.reasoning("m"));
        events.extend(w.text("lo"));
        events.extend(w.end(&Usage::default()));
        let shape: Vec<String> = events
            .iter()
            .map(|e| {
                let d = &e.data;
                match e.event {
                    "content_block_start" => {
                        format!("start {} {}", d["index"], d["content_block"]["type"])
                    }
                    "content_block_delta" => format!("delta {} {}", d["index"], d["delta"]["type"]),
                    "content_block_stop" => format!("stop {}", d["index"]),
                    other => other.to_string(),
                }
            })
            .collect();
        assert_eq!(
            shape,
            [
                r#"start 0 "text""#,
                r#"delta 0 "text_delta""#,
                "stop 0",
                r#"start 1 "thinking""#,
                r#"delta 1 "thinking_delta""#,
                r#"delta 1 "thinking_delta""#,
                r#"delta 1 "signature_delta""#,
                "stop 1",
                r#"start 2 "text""#,
                r#"delta 2 "text_delta""#,
                "stop 2",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(
            events[1].data["delta"],
            json!({"type": "text_delta", "text": "Hel"})
        );
        assert_eq!(events[11].data["delta"]["stop_reason"], "end_turn");
        assert!(events.iter().all(|e| e.data["type"] == e.event));
    }

    #[test]
    fn tool_calls_stream_their_arguments_in_pieces_and_stop_for_tool_use() {
        let mut w = MessageWriter::new("m", false);
        let mut events = w.reasoning("hidden without thinking");
        assert!(events.is_empty());
        events.extend(w.text("Running."));
        let long = json!({"command": "x".repeat(150)});
        events.extend(w.tool_calls(
            &[call("t1", long.clone()), call("t2", json!({}))],
            &Usage::default(),
        ));
        let starts: Vec<_> = events
            .iter()
            .filter(|e| e.event == "content_block_start")
            .map(|e| {
                (
                    e.data["index"].clone(),
                    e.data["content_block"]["type"].clone(),
                )
            })
            .collect();
        assert_eq!(
            starts,
            [
                (json!(0), json!("text")),
                (json!(1), json!("tool_use")),
                (json!(2), json!("tool_use"))
            ]
        );
        let json_of = |index: u64| -> String {
            events
                .iter()
                .filter(|e| {
                    e.data["index"] == index && e.data["delta"]["type"] == "input_json_delta"
                })
                .map(|e| e.data["delta"]["partial_json"].as_str().unwrap())
                .collect()
        };
        let pieces = events
            .iter()
            .filter(|e| e.data["index"] == 1 && e.data["delta"]["type"] == "input_json_delta")
            .count();
        assert!(pieces > 1, "a long argument comes in pieces");
        assert_eq!(serde_json::from_str::<Value>(&json_of(1)).unwrap(), long);
        assert_eq!(json_of(2), "{}");
        let delta = events.iter().find(|e| e.event == "message_delta").unwrap();
        assert_eq!(delta.data["delta"]["stop_reason"], "tool_use");
        assert_eq!(events.last().unwrap().event, "message_stop");
    }

    #[test]
    fn the_whole_message_holds_every_block() {
        let w = MessageWriter::new("m", true);
        let m = w.whole(
            "ok",
            "why",
            &[call("t1", json!({"a": 1}))],
            &Usage::default(),
        );
        assert_eq!(m["type"], "message");
        assert_eq!(m["stop_reason"], "tool_use");
        let types: Vec<_> = m["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["type"].clone())
            .collect();
        assert_eq!(types, [json!("thinking"), json!("text"), json!("tool_use")]);
        assert_eq!(m["content"][2]["input"], json!({"a": 1}));
        let plain = MessageWriter::new("m", false).whole("hi", "why", &[], &Usage::default());
        assert_eq!(plain["stop_reason"], "end_turn");
        assert_eq!(plain["content"], json!([{"type": "text", "text": "hi"}]));
    }

    #[test]
    fn pieces_cut_at_character_boundaries() {
        assert_eq!(pieces("ééé", 2), ["éé", "é"]);
        assert!(pieces("", 4).is_empty());
    }
}
