//! The engine's events → OpenAI Responses SSE events and the `response` object; pure.
//!
//! A response streams as OpenAI's does: `response.created`, `response.in_progress`, then
//! per output item `response.output_item.added`, its content events and
//! `response.output_item.done` carrying the whole item (Codex reads only that one: without
//! it the answer is empty and no tool runs), and last `response.completed` with the usage
//! (Codex re-sends the request when it is missing). Every event carries `type` and a
//! `sequence_number` counting up from 0. The items:
//! - reasoning (`rs_…`): `response.reasoning_summary_part.added`,
//!   `response.reasoning_summary_text.delta`/`.done`, `response.reasoning_summary_part.done`;
//! - the answer text (`msg_…`): `response.content_part.added`, `response.output_text.delta`/
//!   `.done`, `response.content_part.done`;
//! - each function call (`fc_…`, `call_id` = the engine's call id): one
//!   `response.function_call_arguments.delta` with the whole arguments, then `.done`;
//!   a call of a custom tool is a `custom_tool_call` item (`ctc_…`) whose `input` is the
//!   function's `input` argument, with `response.custom_tool_call_input.delta`/`.done`.
//!
//! A step that ends in function calls is a `completed` response whose output holds the
//! calls: the engine has parked the run, and the request carrying their outputs continues
//! it. A failure after the start is `response.failed` (the response with `status: failed`
//! and its `error`) followed by an `error` event.
//!
//! Usage: `input_tokens` includes the cached tokens, `output_tokens` the reasoning ones (as
//! the engine counts them); the details are always present because OpenAI's schema requires
//! them — an estimate reports 0 for what it does not know.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::request::{CUSTOM_INPUT, Item, Part, ResponsesRequest, Role, ToolChoice};
use crate::cursor::chat::ToolCall;
use crate::engine::error::ApiError;
use crate::engine::turn::Event;
use crate::engine::usage::Usage;

/// One SSE event: its name (also its `type`) and its JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sse {
    /// The event name.
    pub(crate) event: &'static str,
    /// The payload, with `type` and `sequence_number`.
    pub(crate) data: Value,
}

/// A new id: `prefix` + 32 hex digits.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

/// Where a response stands after an event.
#[derive(Debug, PartialEq)]
pub(crate) enum Fate {
    /// More events follow.
    Open,
    /// `response.completed` was written, reporting this usage.
    Completed(Usage),
    /// `response.failed` was written for this error.
    Failed(ApiError),
}

/// The two items that arrive in pieces: reasoning (a summary part) and the answer (a
/// message with one `output_text` part). Their events differ only in names and in where
/// the part sits, which this says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reasoning,
    Message,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Reasoning => "rs_",
            Kind::Message => "msg_",
        }
    }

    /// `(part added, text delta, text done, part done)`.
    fn events(self) -> [&'static str; 4] {
        match self {
            Kind::Reasoning => [
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
            ],
            Kind::Message => [
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
            ],
        }
    }

    fn part(self, text: &str) -> Value {
        match self {
            Kind::Reasoning => json!({"type": "summary_text", "text": text}),
            Kind::Message => json!({"type": "output_text", "text": text, "annotations": []}),
        }
    }

    /// The item: as added (`None`: no content yet) or done.
    fn item(self, id: &str, text: Option<&str>) -> Value {
        let parts: Vec<Value> = text.map(|t| self.part(t)).into_iter().collect();
        match self {
            Kind::Reasoning => json!({"id": id, "type": "reasoning", "summary": parts}),
            Kind::Message => json!({"id": id, "type": "message", "role": "assistant",
                "status": if text.is_some() { "completed" } else { "in_progress" },
                "content": parts}),
        }
    }

    /// `fields` placed at the part: the item, its output index, the part's index (text
    /// events of a message also carry `logprobs`).
    fn at(self, id: &str, index: usize, mut fields: Value) -> Value {
        fields["item_id"] = json!(id);
        fields["output_index"] = json!(index);
        match self {
            Kind::Reasoning => fields["summary_index"] = json!(0),
            Kind::Message => fields["content_index"] = json!(0),
        }
        fields
    }
}

/// The item being written.
#[derive(Debug)]
struct Open {
    kind: Kind,
    id: String,
    text: String,
}

/// What the response object echoes from the request.
#[derive(Debug, Clone, Default)]
pub(crate) struct Echo {
    instructions: Option<String>,
    tools: Vec<Value>,
    tool_choice: Value,
    parallel_tool_calls: bool,
    metadata: Value,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_output_tokens: Option<u64>,
    previous_response_id: Option<String>,
    store: bool,
    /// Per tool name: is it custom (its calls are `custom_tool_call` items), and the
    /// namespace its calls name.
    calls: HashMap<String, (bool, Option<String>)>,
}

impl Echo {
    /// What `req`'s response echoes.
    pub(crate) fn of(req: &ResponsesRequest) -> Self {
        Echo {
            instructions: req.instructions.clone(),
            tools: req
                .tools
                .iter()
                .map(|t| match t.custom {
                    true => json!({"type": "custom", "name": t.name, "description": t.description}),
                    false => json!({"type": "function", "name": t.name,
                        "description": t.description, "parameters": t.parameters, "strict": false}),
                })
                .collect(),
            calls: req
                .tools
                .iter()
                .map(|t| (t.name.clone(), (t.custom, t.namespace.clone())))
                .collect(),
            tool_choice: match &req.tool_choice {
                ToolChoice::Auto => json!("auto"),
                ToolChoice::None => json!("none"),
                ToolChoice::Required => json!("required"),
                ToolChoice::Function(name) => json!({"type": "function", "name": name}),
            },
            parallel_tool_calls: req.parallel_tool_calls,
            metadata: req.metadata.clone().unwrap_or_else(|| json!({})),
            temperature: req.temperature,
            top_p: req.top_p,
            max_output_tokens: req.max_output_tokens,
            previous_response_id: req.previous_response_id.clone(),
            store: req.store,
        }
    }
}

/// Writes one response: its events in order and, at any point, the response object.
#[derive(Debug)]
pub(crate) struct ResponseWriter {
    /// `resp_…`: what `previous_response_id` names later.
    pub(crate) id: String,
    created_at: i64,
    model: String,
    echo: Echo,
    seq: u64,
    /// The finished output items, as the response object lists them.
    output: Vec<Value>,
    /// The same as conversation items, for the store (reasoning is not kept).
    items: Vec<Item>,
    open: Option<Open>,
}

/// A call item with the `namespace` its tool was declared in, if any.
fn with_namespace(mut item: Value, namespace: &Option<String>) -> Value {
    if let Some(ns) = namespace {
        item["namespace"] = json!(ns);
    }
    item
}

/// The Responses `usage` object (see the module doc).
fn usage_json(u: &Usage) -> Value {
    let mut input_details = json!({"cached_tokens": u.cached_tokens.unwrap_or(0)});
    if let Some(w) = u.cache_write_tokens {
        input_details["cache_write_tokens"] = json!(w);
    }
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": input_details,
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens.unwrap_or(0)},
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    })
}

impl ResponseWriter {
    /// A writer for a new response to `model` (echoed as asked).
    pub(crate) fn new(model: impl Into<String>, echo: Echo) -> Self {
        ResponseWriter {
            id: new_id("resp_"),
            created_at: crate::dialects::chat::chunks::now_secs(),
            model: model.into(),
            echo,
            seq: 0,
            output: Vec::new(),
            items: Vec::new(),
            open: None,
        }
    }

    fn ev(&mut self, event: &'static str, mut data: Value) -> Sse {
        data["type"] = json!(event);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        Sse { event, data }
    }

    /// The response object as it stands, with `status`.
    pub(crate) fn response(
        &self,
        status: &str,
        usage: Option<&Usage>,
        error: Option<&ApiError>,
    ) -> Value {
        let e = &self.echo;
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": error.map(|e| json!({"code": e.wire_code(), "message": e.message})),
            "incomplete_details": null,
            "instructions": e.instructions,
            "max_output_tokens": e.max_output_tokens,
            "model": self.model,
            "output": self.output,
            "parallel_tool_calls": e.parallel_tool_calls,
            "previous_response_id": e.previous_response_id,
            "reasoning": {"effort": null, "summary": null},
            "store": e.store,
            "temperature": e.temperature,
            "text": {"format": {"type": "text"}},
            "tool_choice": e.tool_choice,
            "tools": e.tools,
            "top_p": e.top_p,
            "truncation": "disabled",
            "usage": usage.map(usage_json),
            "user": null,
            "metadata": e.metadata,
        })
    }

    /// The output so far as conversation items (what the store keeps after the input).
    pub(crate) fn items(&self) -> &[Item] {
        &self.items
    }

    /// `response.created` and `response.in_progress`.
    pub(crate) fn start(&mut self) -> Vec<Sse> {
        let r = self.response("in_progress", None, None);
        vec![
            self.ev("response.created", json!({"response": r})),
            self.ev("response.in_progress", json!({"response": r})),
        ]
    }

    /// A piece of reasoning.
    pub(crate) fn reasoning(&mut self, delta: &str) -> Vec<Sse> {
        self.piece(Kind::Reasoning, delta)
    }

    /// A piece of the answer.
    pub(crate) fn text(&mut self, delta: &str) -> Vec<Sse> {
        self.piece(Kind::Message, delta)
    }

    /// A piece of `kind`'s text: opens its item first unless it is the open one.
    fn piece(&mut self, kind: Kind, delta: &str) -> Vec<Sse> {
        let [part_added, text_delta, ..] = kind.events();
        let mut out = Vec::new();
        if self.open.as_ref().map(|o| o.kind) != Some(kind) {
            out.extend(self.close());
            let (id, index) = (new_id(kind.prefix()), self.output.len());
            out.push(self.ev(
                "response.output_item.added",
                json!({"output_index": index, "item": kind.item(&id, None)}),
            ));
            out.push(self.ev(
                part_added,
                kind.at(&id, index, json!({"part": kind.part("")})),
            ));
            self.open = Some(Open {
                kind,
                id,
                text: String::new(),
            });
        }
        let index = self.output.len();
        let Some(open) = &mut self.open else {
            return out;
        };
        open.text.push_str(delta);
        let mut fields = kind.at(&open.id, index, json!({"delta": delta}));
        if kind == Kind::Message {
            fields["logprobs"] = json!([]);
        }
        out.push(self.ev(text_delta, fields));
        out
    }

    /// Finishes the open item, if any.
    fn close(&mut self) -> Vec<Sse> {
        let Some(Open { kind, id, text }) = self.open.take() else {
            return Vec::new();
        };
        let [_, _, text_done, part_done] = kind.events();
        let index = self.output.len();
        let item = kind.item(&id, Some(&text));
        let mut done = kind.at(&id, index, json!({"text": text}));
        if kind == Kind::Message {
            done["logprobs"] = json!([]);
        }
        let out = vec![
            self.ev(text_done, done),
            self.ev(
                part_done,
                kind.at(&id, index, json!({"part": kind.part(&text)})),
            ),
            self.ev(
                "response.output_item.done",
                json!({"output_index": index, "item": item}),
            ),
        ];
        self.output.push(item);
        if kind == Kind::Message {
            self.items.push(Item::Message {
                role: Role::Assistant,
                content: vec![Part::Text(text)],
            });
        }
        out
    }

    /// The step's calls, then `response.completed`.
    pub(crate) fn tool_calls(&mut self, calls: &[ToolCall], usage: &Usage) -> Vec<Sse> {
        let mut out = self.close();
        for c in calls {
            out.extend(self.call(c));
        }
        out.extend(self.end(usage));
        out
    }

    /// One call: a `function_call` item with its JSON arguments, or for a custom tool a
    /// `custom_tool_call` whose `input` is the function's `input` argument.
    fn call(&mut self, c: &ToolCall) -> Vec<Sse> {
        let (custom, namespace) = self.echo.calls.get(&c.name).cloned().unwrap_or_default();
        let (prefix, kind, field, [delta_event, done_event]) = if custom {
            let events = [
                "response.custom_tool_call_input.delta",
                "response.custom_tool_call_input.done",
            ];
            ("ctc_", "custom_tool_call", CUSTOM_INPUT, events)
        } else {
            let events = [
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
            ];
            ("fc_", "function_call", "arguments", events)
        };
        let value = match c.arguments.get(CUSTOM_INPUT) {
            Some(Value::String(s)) if custom => s.clone(),
            // Not custom, or the model ignored the schema: what it wrote, as JSON text.
            _ => c.arguments.to_string(),
        };
        let (id, index) = (new_id(prefix), self.output.len());
        let item = |status: &str, v: &str| {
            let mut item = json!({"id": id, "type": kind, "status": status, "call_id": c.call_id,
                "name": c.name});
            item[field] = json!(v);
            with_namespace(item, &namespace)
        };
        let (added, done) = (item("in_progress", ""), item("completed", &value));
        let mut finished = json!({"item_id": id, "output_index": index});
        finished[field] = json!(value);
        if !custom {
            finished["name"] = json!(c.name);
        }
        let out = vec![
            self.ev(
                "response.output_item.added",
                json!({"output_index": index, "item": added}),
            ),
            self.ev(
                delta_event,
                json!({"item_id": id, "output_index": index, "delta": value}),
            ),
            self.ev(done_event, finished),
            self.ev(
                "response.output_item.done",
                json!({"output_index": index, "item": done}),
            ),
        ];
        self.output.push(done);
        self.items.push(Item::FunctionCall {
            call_id: c.call_id.clone(),
            name: c.name.clone(),
            arguments: c.arguments.to_string(),
        });
        out
    }

    /// `response.completed` (after finishing the open item).
    pub(crate) fn end(&mut self, usage: &Usage) -> Vec<Sse> {
        let mut out = self.close();
        let r = self.response("completed", Some(usage), None);
        out.push(self.ev("response.completed", json!({"response": r})));
        out
    }

    /// The events for the engine's `ev`, and whether the response is over.
    pub(crate) fn on(&mut self, ev: Event) -> (Vec<Sse>, Fate) {
        match ev {
            Event::Reasoning(t) => (self.reasoning(&t), Fate::Open),
            Event::Text(t) => (self.text(&t), Fate::Open),
            Event::ToolCalls { calls, usage } => {
                (self.tool_calls(&calls, &usage), Fate::Completed(usage))
            }
            Event::End { usage } => (self.end(&usage), Fate::Completed(usage)),
            Event::Error(e) => (self.fail(&e), Fate::Failed(e)),
        }
    }

    /// `response.failed`, then the `error` event.
    pub(crate) fn fail(&mut self, e: &ApiError) -> Vec<Sse> {
        let mut out = self.close();
        let r = self.response("failed", None, Some(e));
        out.push(self.ev("response.failed", json!({"response": r})));
        out.push(self.ev(
            "error",
            json!({"code": e.wire_code(), "message": e.message, "param": e.param}),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::CursorError;

    fn writer() -> ResponseWriter {
        ResponseWriter::new("auto", Echo::default())
    }

    fn types(events: &[Sse]) -> Vec<&str> {
        events.iter().map(|e| e.event).collect()
    }

    #[test]
    fn a_text_answer_streams_as_openai_does_with_counting_sequence_numbers() {
        let mut w = writer();
        let mut all = w.start();
        all.extend(w.reasoning("Hmm"));
        all.extend(w.reasoning(" ok"));
        all.extend(w.text("Hel"));
        all.extend(w.text("lo"));
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 4,
            cached_tokens: Some(6),
            reasoning_tokens: Some(2),
            exact: true,
            ..Usage::default()
        };
        all.extend(w.end(&usage));
        assert_eq!(
            types(&all),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.delta",
                "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, e) in all.iter().enumerate() {
            assert_eq!(e.data["sequence_number"], i as u64);
            assert_eq!(e.data["type"], e.event);
        }
        let done = &all[15].data["item"];
        assert_eq!(done["content"][0]["text"], "Hello");
        assert_eq!(done["status"], "completed");
        assert!(done["id"].as_str().unwrap().starts_with("msg_"));
        assert_eq!(all[8].data["item"]["summary"][0]["text"], "Hmm ok");
        let r = &all[16].data["response"];
        assert_eq!(r["status"], "completed");
        assert!(r["id"].as_str().unwrap().starts_with("resp_"));
        assert_eq!(r["id"], all[0].data["response"]["id"]);
        assert_eq!(r["output"].as_array().unwrap().len(), 2);
        assert_eq!(
            r["usage"],
            json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 6},
                "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 2},
                "total_tokens": 14})
        );
        assert_eq!(
            w.items(),
            [Item::Message {
                role: Role::Assistant,
                content: vec![Part::Text("Hello".into())]
            }]
        );
    }

    #[test]
    fn function_calls_are_whole_items_and_complete_the_response() {
        let mut w = writer();
        w.start();
        w.text("Running it.");
        let calls = [ToolCall {
            call_id: "call_1".into(),
            name: "exec_command".into(),
            arguments: json!({"cmd": "ls"}),
        }];
        let ev = w.tool_calls(&calls, &Usage::default());
        assert_eq!(
            types(&ev),
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let item = &ev[6].data["item"];
        assert_eq!(item["call_id"], "call_1");
        assert_eq!(item["arguments"], r#"{"cmd":"ls"}"#);
        assert!(item["id"].as_str().unwrap().starts_with("fc_"));
        assert_eq!(ev[6].data["output_index"], 1);
        let r = &ev[7].data["response"];
        assert_eq!(r["status"], "completed");
        assert_eq!(r["output"][1]["type"], "function_call");
        assert_eq!(w.items().len(), 2);
    }

    #[test]
    fn a_custom_tools_call_is_a_custom_tool_call_item_with_its_input() {
        let req = ResponsesRequest::parse(
            json!({"input": "x", "tools": [{"type": "namespace", "name": "functions", "tools": [
                {"type": "custom", "name": "exec",
                "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}}]}]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        assert!(req.tools[0].description.contains("start: /.+/"));
        let mut w = ResponseWriter::new("auto", Echo::of(&req));
        w.start();
        let calls = [ToolCall {
            call_id: "call_2".into(),
            name: "exec".into(),
            arguments: json!({"input": "ls -la"}),
        }];
        let ev = w.tool_calls(&calls, &Usage::default());
        assert_eq!(
            types(&ev),
            [
                "response.output_item.added",
                "response.custom_tool_call_input.delta",
                "response.custom_tool_call_input.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let item = &ev[3].data["item"];
        assert_eq!(
            (&item["type"], &item["call_id"], &item["input"]),
            (
                &json!("custom_tool_call"),
                &json!("call_2"),
                &json!("ls -la")
            )
        );
        assert!(item["id"].as_str().unwrap().starts_with("ctc_"));
        assert_eq!(item["namespace"], "functions");
        assert_eq!(ev[4].data["response"]["tools"][0]["type"], "custom");
    }

    #[test]
    fn a_failure_is_response_failed_then_an_error_event() {
        let mut w = writer();
        w.start();
        w.text("partial");
        let e = ApiError::from(CursorError::Quota {
            message: "out of requests".into(),
            rate_limited: false,
            retry_after: None,
        });
        let ev = w.fail(&e);
        let n = ev.len();
        assert_eq!(types(&ev[n - 2..]), ["response.failed", "error"]);
        let r = &ev[n - 2].data["response"];
        assert_eq!(r["status"], "failed");
        assert_eq!(r["error"]["code"], "insufficient_quota");
        assert_eq!(ev[n - 1].data["code"], "insufficient_quota");
    }
}
