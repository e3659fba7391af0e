//! A conversation's history as Cursor's own structure (reference §9.5), built without
//! I/O: each earlier message becomes one JSON blob stored under its SHA-256, the ids are
//! listed in `ConversationStateStructure.root_prompt_messages_json` (field 1), and the
//! service fetches the blobs through the KV get flow (§3.7). Only the newest user message
//! travels in the action; a history ending with tool results has no new user text and is
//! sent with `resume_action`.
//!
//! The JSON shapes (AI-SDK-like, as the service writes its own) live here and nowhere
//! else:
//! - system: `{"role":"system","content":"…"}`
//! - user: `{"role":"user","content":[{"type":"text","text":"…"}]}`
//! - assistant: `{"role":"assistant","content":[{"type":"text","text":"…"},
//!   {"type":"tool-call","toolCallId":"…","toolName":"…","args":{…}}]}` (text part only
//!   when there is text)
//! - tool result: `{"role":"tool","content":[{"type":"tool-result","toolCallId":"…",
//!   "toolName":"…","result":"…"}]}`
//!
//! [`prefix_key`] names a message list for the conversation store: the hash of the
//! normalized messages, so the next request of the same conversation (its messages minus
//! the newest user message) finds the checkpoint that answered them.

use bytes::Bytes;
use prost::Message as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cursor::blobs::BlobStore;
use crate::pb::agent_v1 as pb;

/// One message of a conversation, whatever dialect it came in.
#[derive(Debug, Clone, PartialEq)]
pub enum Msg {
    /// Instructions (OpenAI's system and developer messages), with their text.
    System(String),
    /// A user turn's text (an OpenAI image part reads as `[image]` here).
    User(String),
    /// A turn the model wrote.
    Assistant {
        /// Its answer text; empty when it only called tools.
        text: String,
        /// The tool calls it made, in order.
        calls: Vec<Call>,
    },
    /// The result of one tool call.
    Tool {
        /// The id of the [`Call`] it answers.
        call_id: String,
        /// The tool's name (not part of [`prefix_key`]: clients disagree on sending it).
        name: String,
        /// The result text as the client's tool produced it.
        result: String,
        /// The client marked the result as a failure (Anthropic's `is_error`; not part
        /// of [`prefix_key`], nor of the blob: Cursor's shape has no place for it).
        is_error: bool,
    },
}

/// A tool call the assistant made.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The call's id (Cursor's tool call id), which the [`Msg::Tool`] answering it names.
    pub id: String,
    /// The tool's name as the caller declared it.
    pub name: String,
    /// The arguments as JSON (a string when the caller's text was not JSON).
    pub args: Value,
}

impl Msg {
    /// The message as the JSON Cursor stores (see the module doc).
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Msg::System(t) => json!({"role": "system", "content": t}),
            Msg::User(t) => json!({"role": "user", "content": [{"type": "text", "text": t}]}),
            Msg::Assistant { text, calls } => {
                let mut content = Vec::new();
                if !text.is_empty() {
                    content.push(json!({"type": "text", "text": text}));
                }
                content.extend(calls.iter().map(|c| {
                    json!({"type": "tool-call", "toolCallId": c.id, "toolName": c.name, "args": c.args})
                }));
                json!({"role": "assistant", "content": content})
            }
            Msg::Tool {
                call_id,
                name,
                result,
                ..
            } => json!({"role": "tool", "content": [{
                "type": "tool-result", "toolCallId": call_id, "toolName": name, "result": result
            }]}),
        }
    }

    /// The blob Cursor fetches for this message: its JSON, compact.
    pub(crate) fn blob(&self) -> Bytes {
        Bytes::from(self.to_json().to_string())
    }

    /// Feeds what identifies the message across requests to `h`: clients echo the
    /// assistant's text and calls back with whitespace trimmed and arguments
    /// re-serialized, so the key ignores surrounding whitespace and compares arguments
    /// as JSON values (written with sorted keys). Every field is length-prefixed, so no
    /// two different messages feed the same bytes. Written straight into the hasher: a
    /// prompt can be megabytes.
    fn hash_into(&self, h: &mut Sha256) {
        let mut field = |b: &[u8]| {
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        };
        match self {
            Msg::System(t) => {
                field(b"system");
                field(t.trim().as_bytes());
            }
            Msg::User(t) => {
                field(b"user");
                field(t.trim().as_bytes());
            }
            Msg::Assistant { text, calls } => {
                field(b"assistant");
                field(text.trim().as_bytes());
                for c in calls {
                    field(c.id.as_bytes());
                    field(c.name.as_bytes());
                    field(c.args.to_string().as_bytes());
                }
            }
            // Clients disagree on whether a tool message carries the tool's name.
            Msg::Tool {
                call_id, result, ..
            } => {
                field(b"tool");
                field(call_id.as_bytes());
                field(result.trim().as_bytes());
            }
        }
    }
}

/// Parses tool-call arguments as the caller wrote them: JSON when they are JSON.
pub(crate) fn parse_args(text: &str) -> Value {
    match serde_json::from_str(text) {
        // A JSON string (`"\"\""`) stays its text, quotes and all: as a bare `Value::String`
        // it would read back as the unparsed text it decodes to, and the transcript would
        // show `` where the client sent `""`.
        Ok(Value::String(_)) | Err(_) => Value::String(text.to_string()),
        Ok(v) => v,
    }
}

/// The conversation-store key of a message list (see the module doc).
pub(crate) fn prefix_key(msgs: &[Msg]) -> [u8; 32] {
    let mut h = Sha256::new();
    for m in msgs {
        m.hash_into(&mut h);
    }
    h.finalize().into()
}

/// How a history is split for a run: what goes into blobs, what into the action.
pub fn split_newest_user(msgs: &[Msg]) -> (&[Msg], Option<&str>) {
    match msgs.split_last() {
        Some((Msg::User(t), earlier)) => (earlier, Some(t.as_str())),
        _ => (msgs, None),
    }
}

/// A history rebuilt as Cursor's structure.
#[derive(Debug, Clone)]
pub struct Structured {
    /// A serialized `ConversationStateStructure` listing the message blobs.
    pub state: Bytes,
    /// Every message blob the state names, in order.
    pub blobs: Vec<Bytes>,
    /// The newest user message; empty when the history ends otherwise (→ `resume_action`).
    pub user_text: String,
}

impl Structured {
    /// Bytes of all the blobs (what the service will fetch).
    pub(crate) fn blob_bytes(&self) -> usize {
        self.blobs.iter().map(Bytes::len).sum()
    }

    /// Puts the blobs where the run's KV answers come from.
    pub fn fill(&self, store: &BlobStore) {
        for b in &self.blobs {
            store.put_content(b.clone());
        }
    }
}

/// Builds the structure for `msgs`: every message but a trailing user message becomes
/// a blob listed in `root_prompt_messages_json`.
pub fn build(msgs: &[Msg]) -> Structured {
    let (earlier, newest) = split_newest_user(msgs);
    let blobs: Vec<Bytes> = earlier.iter().map(Msg::blob).collect();
    let state = pb::ConversationStateStructure {
        root_prompt_messages_json: blobs
            .iter()
            .map(|b| Bytes::copy_from_slice(&crate::cursor::blobs::blob_id(b)))
            .collect(),
        ..Default::default()
    };
    Structured {
        state: state.encode_to_vec().into(),
        blobs,
        user_text: newest.unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convo() -> Vec<Msg> {
        vec![
            Msg::System("be brief".into()),
            Msg::User("list files".into()),
            Msg::Assistant {
                text: String::new(),
                calls: vec![Call {
                    id: "c1".into(),
                    name: "bash".into(),
                    args: json!({"command": "ls"}),
                }],
            },
            Msg::Tool {
                call_id: "c1".into(),
                name: "bash".into(),
                result: "a.txt".into(),
                is_error: false,
            },
            Msg::Assistant {
                text: "One file.".into(),
                calls: vec![],
            },
            Msg::User("thanks".into()),
        ]
    }

    #[test]
    fn earlier_messages_become_blobs_and_the_newest_user_text_the_action() {
        let s = build(&convo());
        assert_eq!(s.user_text, "thanks");
        assert_eq!(s.blobs.len(), 5);
        let state = pb::ConversationStateStructure::decode(s.state.as_ref()).unwrap();
        assert_eq!(state.root_prompt_messages_json.len(), 5);
        for (id, blob) in state.root_prompt_messages_json.iter().zip(&s.blobs) {
            assert_eq!(id.as_ref(), crate::cursor::blobs::blob_id(blob));
        }
        let json: Vec<Value> = s
            .blobs
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap())
            .collect();
        assert_eq!(json[0], json!({"role": "system", "content": "be brief"}));
        assert_eq!(
            json[1],
            json!({"role": "user", "content": [{"type": "text", "text": "list files"}]})
        );
        assert_eq!(
            json[2]["content"][0],
            json!({"type": "tool-call", "toolCallId": "c1", "toolName": "bash", "args": {"command": "ls"}})
        );
        assert_eq!(json[3]["role"], "tool");
        assert_eq!(json[3]["content"][0]["type"], "tool-result");
        assert_eq!(json[3]["content"][0]["result"], "a.txt");
        assert_eq!(json[4]["content"][0]["text"], "One file.");
    }

    #[test]
    fn a_history_ending_in_tool_results_has_no_user_text() {
        let msgs = &convo()[..4];
        let s = build(msgs);
        assert_eq!(s.user_text, "");
        assert_eq!(s.blobs.len(), 4);
    }

    #[test]
    fn the_key_ignores_whitespace_tool_names_and_argument_formatting() {
        let mut echoed = convo();
        if let Msg::Assistant { text, .. } = &mut echoed[4] {
            *text = "One file.\n".into();
        }
        if let Msg::Tool { name, .. } = &mut echoed[3] {
            name.clear();
        }
        assert_eq!(prefix_key(&convo()[..5]), prefix_key(&echoed[..5]));
        assert_ne!(prefix_key(&convo()[..5]), prefix_key(&convo()[..4]));
        let mut other = convo();
        other[1] = Msg::User("list dirs".into());
        assert_ne!(prefix_key(&convo()[..5]), prefix_key(&other[..5]));
        assert_eq!(parse_args(r#"{ "a" : 1 }"#), json!({"a": 1}));
        assert_eq!(parse_args("not json"), json!("not json"));
        assert_eq!(parse_args(r#""""#), json!(r#""""#));
        assert_eq!(parse_args(r#""ls""#), json!(r#""ls""#));
    }
}
