//! The response side: `chat.completion` objects and `chat.completion.chunk` SSE payloads.
//! Chunks are serialized from borrowed structs straight to a `String` — this is the
//! proxy's per-token hot path.

use serde::Serialize;
use serde_json::{Value, json};

use crate::cursor::chat::ToolCall;

/// Token counts for the `usage` object. Completion tokens are Cursor's exact count;
/// prompt tokens are inferred from the checkpoint (context − completion), so `estimated`
/// says when they are a guess or missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageOut {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub prompt_exact: bool,
}

impl UsageOut {
    fn json(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        })
    }
}

/// Builds the chunks of one response (same id, created and model on every chunk).
#[derive(Debug, Clone)]
pub struct ChunkWriter {
    pub id: String,
    pub created: i64,
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
pub fn completion_id() -> String {
    let u = uuid::Uuid::new_v4().simple().to_string();
    format!("chatcmpl-{}", &u[..24])
}

/// Seconds since the epoch.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl ChunkWriter {
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
    pub fn role(&self) -> String {
        self.chunk(
            RoleDelta {
                role: "assistant",
                content: "",
            },
            None,
        )
    }

    pub fn content(&self, text: &str) -> String {
        self.chunk(ContentDelta { content: text }, None)
    }

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

    pub fn finish(&self, reason: &'static str) -> String {
        self.chunk(Empty {}, Some(reason))
    }

    /// The trailing usage chunk (`stream_options.include_usage`): no choices.
    pub fn usage(&self, usage: &UsageOut) -> String {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage.json(),
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
        usage: &UsageOut,
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
            "usage": usage.json(),
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
        let u: Value = serde_json::from_str(&w.usage(&UsageOut {
            prompt_tokens: 5,
            completion_tokens: 3,
            prompt_exact: false,
        }))
        .unwrap();
        assert_eq!(u["choices"], json!([]));
        assert_eq!(u["usage"]["total_tokens"], 8);
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
        let whole = w.completion("", "", &calls, "tool_calls", &UsageOut::default());
        assert!(whole["choices"][0]["message"]["content"].is_null());
        assert_eq!(whole["choices"][0]["finish_reason"], "tool_calls");
    }
}
