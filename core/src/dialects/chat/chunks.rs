//! The response side: `chat.completion` objects and `chat.completion.chunk` SSE payloads.
//! Chunks are serialized from borrowed structs straight to a `String` — this is the
//! proxy's per-token hot path.

use serde::Serialize;
use serde_json::{Value, json};

use crate::cursor::chat::ToolCall;
use crate::engine::usage::Usage;

/// The OpenAI `usage` object.
fn usage_json(u: &Usage) -> Value {
    let mut v = json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    });
    if let Some(c) = u.cached_tokens {
        v["prompt_tokens_details"] = json!({"cached_tokens": c});
    }
    if let Some(r) = u.reasoning_tokens {
        v["completion_tokens_details"] = json!({"reasoning_tokens": r});
    }
    v
}

/// Builds the chunks of one response (same id, created and model on every chunk).
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    /// The completion id, `chatcmpl-…` ([`completion_id`]).
    pub id: String,
    /// When the response started, in seconds since the epoch.
    pub created: i64,
    /// The model name as the client asked for it (echoed, not Cursor's wire id).
    pub model: String,
}

#[derive(Serialize)]
struct Chunk<'a, D: Serialize> {
    id: &'a str,
    object: &'static str,
    created: i64,
    model: &'a str,
    choices: [ChunkChoice<D>; 1],
}

#[derive(Serialize)]
struct ChunkChoice<D: Serialize> {
    index: u32,
    delta: D,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize)]
struct ContentDelta<'a> {
    content: &'a str,
}

#[derive(Serialize)]
struct ReasoningDelta<'a> {
    reasoning_content: &'a str,
}

#[derive(Serialize)]
struct RoleDelta {
    role: &'static str,
    content: &'static str,
}

#[derive(Serialize)]
struct Empty {}

/// A new completion id, `chatcmpl-` + 24 hex digits.
pub(crate) fn completion_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("chatcmpl-{}", &u[..24])
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl ChunkWriter {
    /// A writer for a new response: a fresh id, the time now, and `model` echoed.
    pub fn new(model: impl Into<String>) -> Self {
        ChunkWriter {
            id: completion_id(),
            created: now_secs(),
            model: model.into(),
        }
    }

    fn chunk<D: Serialize>(&self, delta: D, finish_reason: Option<&'static str>) -> String {
        serde_json::to_string(&Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: [ChunkChoice {
                index: 0,
                delta,
                finish_reason,
            }],
        })
        .unwrap_or_default()
    }

    /// The first chunk: the assistant role.
    pub(crate) fn role(&self) -> String {
        self.chunk(
            RoleDelta {
                role: "assistant",
                content: "",
            },
            None,
        )
    }

    /// A chunk of answer text (`delta.content`).
    pub fn content(&self, text: &str) -> String {
        self.chunk(ContentDelta { content: text }, None)
    }

    /// A chunk of reasoning (`delta.reasoning_content`), never mixed into `content`.
    pub fn reasoning(&self, text: &str) -> String {
        self.chunk(
            ReasoningDelta {
                reasoning_content: text,
            },
            None,
        )
    }

    /// One chunk carrying every tool call of the step, complete (name and arguments).
    pub fn tool_calls(&self, calls: &[ToolCall]) -> String {
        let calls: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({
                    "index": i,
                    "id": c.call_id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments.to_string()},
                })
            })
            .collect();
        self.chunk(json!({"tool_calls": calls}), None)
    }

    /// The last chunk of choices: an empty delta with `finish_reason` (`"stop"` or
    /// `"tool_calls"`).
    pub(crate) fn finish(&self, reason: &'static str) -> String {
        self.chunk(Empty {}, Some(reason))
    }

    /// The trailing usage chunk (`stream_options.include_usage`): no choices.
    pub(crate) fn usage(&self, usage: &Usage) -> String {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage_json(usage),
        })
        .to_string()
    }

    /// A whole non-streamed response.
    pub fn completion(
        &self,
        content: &str,
        reasoning: &str,
        calls: &[ToolCall],
        finish_reason: &str,
        usage: &Usage,
    ) -> Value {
        let mut message = json!({
            "role": "assistant",
            "content": if content.is_empty() && !calls.is_empty() { Value::Null } else { json!(content) },
        });
        if !reasoning.is_empty() {
            message["reasoning_content"] = json!(reasoning);
        }
        if !calls.is_empty() {
            message["tool_calls"] = calls
                .iter()
                .map(|c| {
                    json!({
                        "id": c.call_id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments.to_string()},
                    })
                })
                .collect();
        }
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": usage_json(usage),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_have_the_openai_shape() {
        let w = ChunkWriter::new("auto");
        let c: Value = serde_json::from_str(&w.content("hé \"x\"")).unwrap();
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["choices"][0]["delta"]["content"], "hé \"x\"");
        assert!(c["choices"][0]["finish_reason"].is_null());
        assert!(c["id"].as_str().unwrap().starts_with("chatcmpl-"));
        let r: Value = serde_json::from_str(&w.reasoning("hmm")).unwrap();
        assert_eq!(r["choices"][0]["delta"]["reasoning_content"], "hmm");
        let f: Value = serde_json::from_str(&w.finish("stop")).unwrap();
        assert_eq!(f["choices"][0]["finish_reason"], "stop");
        assert_eq!(f["choices"][0]["delta"], json!({}));
        let u: Value = serde_json::from_str(&w.usage(&Usage {
            prompt_tokens: 5,
            completion_tokens: 3,
            ..Usage::default()
        }))
        .unwrap();
        assert_eq!(u["choices"], json!([]));
        assert_eq!(u["usage"]["total_tokens"], 8);
        // An estimate claims no details it does not know.
        assert!(u["usage"].get("prompt_tokens_details").is_none(), "{u}");
        assert!(u["usage"].get("completion_tokens_details").is_none(), "{u}");
    }

    #[test]
    fn exact_usage_carries_cached_and_reasoning_details() {
        let usage = Usage {
            prompt_tokens: 120,
            completion_tokens: 30,
            cached_tokens: Some(100),
            cache_write_tokens: Some(5),
            reasoning_tokens: Some(12),
            exact: true,
            prompt_deferred: false,
        };
        let w = ChunkWriter::new("m");
        let whole = w.completion("hi", "", &[], "stop", &usage);
        assert_eq!(
            whole["usage"],
            json!({
                "prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
                "prompt_tokens_details": {"cached_tokens": 100},
                "completion_tokens_details": {"reasoning_tokens": 12},
            })
        );
        let sum = usage.plus(&Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            ..Usage::default()
        });
        assert_eq!(
            (sum.prompt_tokens, sum.cached_tokens, sum.exact),
            (121, Some(100), false)
        );
    }

    #[test]
    fn tool_call_arguments_are_a_json_string() {
        let w = ChunkWriter::new("m");
        let calls = [ToolCall {
            call_id: "c1".into(),
            name: "bash".into(),
            arguments: json!({"command": "ls"}),
        }];
        let c: Value = serde_json::from_str(&w.tool_calls(&calls)).unwrap();
        let tc = &c["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(tc["function"]["arguments"], r#"{"command":"ls"}"#);
        assert_eq!(
            (tc["index"].clone(), tc["id"].clone()),
            (json!(0), json!("c1"))
        );
        let whole = w.completion("", "", &calls, "tool_calls", &Usage::default());
        assert!(whole["choices"][0]["message"]["content"].is_null());
        assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
    }
}
