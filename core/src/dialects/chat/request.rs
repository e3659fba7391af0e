//! The `POST /v1/chat/completions` body. Every field clients send is accepted; the ones
//! Cursor has no knob for (`temperature`, `top_p`, `max_tokens`, `stop`, …) are parsed so
//! a wrong type is still a clear 400, then ignored. Unknown fields are ignored, as
//! OpenAI-compatible servers do.

use serde::Deserialize;
use serde_json::Value;

use crate::dialects::{json, limits};

/// Why a body was refused: the field path (`messages[2].role`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    /// The path of the field at fault, OpenAI's `param` (`messages[2].role`); empty when
    /// the body as a whole is wrong.
    pub param: String,
    /// What is wrong, naming the field itself (many clients show only this).
    pub message: String,
    /// The body is not JSON at all (as opposed to JSON with a bad field).
    pub malformed: bool,
}

impl RequestError {
    fn field(param: impl Into<String>, message: impl Into<String>) -> Self {
        RequestError {
            param: param.into(),
            message: message.into(),
            malformed: false,
        }
    }
}

/// A chat completions body, as [`ChatCompletionRequest::parse`] accepts it.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletionRequest {
    /// The model the client asked for: an id, wire id or alias from Cursor's catalogue,
    /// or `auto`; `None` means the `default_model` setting. Must not be blank.
    #[serde(default)]
    pub model: Option<String>,
    /// The conversation, oldest first; at least one message.
    pub messages: Vec<Message>,
    /// `true` answers with SSE `chat.completion.chunk`s ending in `[DONE]`; absent or
    /// `false`, with one `chat.completion` object.
    #[serde(default)]
    pub stream: Option<bool>,
    /// Options of an SSE response; only `include_usage` is read.
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    /// The functions the model may call. They reach Cursor as MCP tool definitions; its
    /// calls come back as `tool_calls` for the client to run.
    #[serde(default)]
    pub tools: Option<Vec<Tool>>,
    /// Whether, or which, tool must be called (see [`ToolChoice`]); absent is `auto`.
    #[serde(default)]
    pub tool_choice: Option<ToolChoice>,
    /// Parsed and ignored: a response always carries every tool call of its step.
    #[serde(default)]
    pub parallel_tool_calls: Option<bool>,
    /// The legacy output cap; parsed and ignored (Cursor has no knob for it).
    #[serde(default)]
    pub max_tokens: Option<u64>,
    /// The output cap, reasoning included; parsed and ignored (Cursor has no knob for it).
    #[serde(default)]
    pub max_completion_tokens: Option<u64>,
    /// Sampling temperature; refused unless finite and >= 0, then ignored.
    #[serde(default)]
    pub temperature: Option<f64>,
    /// Nucleus sampling mass; refused unless finite and >= 0, then ignored.
    #[serde(default)]
    pub top_p: Option<f64>,
    /// How many choices to generate; only 1 is accepted (Cursor returns one).
    #[serde(default)]
    pub n: Option<u32>,
    /// Stop sequences (a string or a list); any JSON is accepted and ignored.
    #[serde(default)]
    pub stop: Option<Value>,
    /// Parsed and ignored (Cursor has no knob for it).
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    /// Parsed and ignored (Cursor has no knob for it).
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    /// Parsed and ignored: Cursor's sampling cannot be seeded.
    #[serde(default)]
    pub seed: Option<i64>,
    /// OpenAI's end-user id for abuse tracking; parsed and ignored.
    #[serde(default)]
    pub user: Option<String>,
    /// OpenAI's `low`/`medium`/`high`; parsed and ignored (Cursor has no knob for it).
    #[serde(default)]
    pub reasoning_effort: Option<String>,
}

impl ChatCompletionRequest {
    /// Parses and validates a body, straight from its bytes into the typed request: no
    /// tree of the whole JSON is built on the way. A first pass ([`json::object`]) checks
    /// it is JSON (the same syntax and nesting limit as `serde_json::Value`) and an object,
    /// allocating nothing, so "not JSON" and "a bad field" stay apart whatever comes first.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        json::object(body).map_err(|e| RequestError {
            param: String::new(),
            message: e.message(),
            malformed: matches!(e, json::NotAnObject::Malformed(_)),
        })?;
        let mut de = serde_json::Deserializer::from_slice(body);
        let req: ChatCompletionRequest =
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                let param = if path == "." { String::new() } else { path };
                let inner = without_position(e.into_inner());
                // Many clients show only the message: it names the field itself.
                let message = if param.is_empty() {
                    inner
                } else {
                    format!("{param}: {inner}")
                };
                RequestError::field(param, message)
            })?;
        req.validate()?;
        Ok(req)
    }

    fn validate(&self) -> Result<(), RequestError> {
        if self.messages.is_empty() {
            return Err(RequestError::field(
                "messages",
                "`messages` must hold at least one message",
            ));
        }
        if self.n.is_some_and(|n| n != 1) {
            return Err(RequestError::field(
                "n",
                "only n = 1 is supported (Cursor returns one choice)",
            ));
        }
        if let Some(m) = &self.model {
            if m.trim().is_empty() {
                return Err(RequestError::field("model", "`model` must not be empty"));
            }
            limits::model(m).map_err(|e| RequestError::field("model", format!("`model` {e}")))?;
        }
        let capped = |param: String, len: usize, max: usize| {
            limits::count(len, max).map_err(|e| {
                let message = format!("`{param}` {e}");
                RequestError::field(param, message)
            })
        };
        capped("messages".into(), self.messages.len(), limits::MESSAGES)?;
        capped(
            "tools".into(),
            self.tools.as_ref().map_or(0, Vec::len),
            limits::TOOLS,
        )?;
        for (i, m) in self.messages.iter().enumerate() {
            if let Some(Content::Parts(parts)) = &m.content {
                capped(format!("messages[{i}].content"), parts.len(), limits::PARTS)?;
            }
        }
        for (name, v) in [("temperature", self.temperature), ("top_p", self.top_p)] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(RequestError::field(name, format!("`{name}` must be >= 0")));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.tools.iter().flatten().enumerate() {
            let n = &t.function.name;
            if n.is_empty()
                || n.len() > 128
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
            {
                return Err(RequestError::field(
                    format!("tools[{i}].function.name"),
                    "tool names must be 1-128 characters of a-z, A-Z, 0-9, _ - . :",
                ));
            }
            if !names.insert(n.as_str()) {
                return Err(RequestError::field(
                    format!("tools[{i}].function.name"),
                    format!("the tool `{n}` is declared twice"),
                ));
            }
            if t.function
                .parameters
                .as_ref()
                .is_some_and(|p| !p.is_object())
            {
                return Err(RequestError::field(
                    format!("tools[{i}].function.parameters"),
                    "`parameters` must be a JSON schema object",
                ));
            }
        }
        if let Some(ToolChoice::Named(n)) = &self.tool_choice {
            let known = self
                .tools
                .iter()
                .flatten()
                .any(|t| t.function.name == n.function.name);
            if !known {
                return Err(RequestError::field(
                    "tool_choice",
                    format!(
                        "`tool_choice` names `{}`, which is not in `tools`",
                        n.function.name
                    ),
                ));
            }
        }
        let mut seen_ids = std::collections::HashSet::new();
        for (i, m) in self.messages.iter().enumerate() {
            match m.role {
                Role::Tool => {
                    let id = m.tool_call_id.as_deref().unwrap_or("");
                    if id.is_empty() {
                        return Err(RequestError::field(
                            format!("messages[{i}].tool_call_id"),
                            "a `tool` message needs the `tool_call_id` it answers",
                        ));
                    }
                    // As OpenAI does: a result must answer a call an earlier assistant
                    // message made. Otherwise it would be fed to the model as the answer
                    // to a call it never made.
                    if !seen_ids.contains(id) {
                        return Err(RequestError::field(
                            format!("messages[{i}].tool_call_id"),
                            format!(
                                "the `tool` message answers `{id}`, but no earlier assistant \
                                 message has a tool call with that id"
                            ),
                        ));
                    }
                }
                Role::Assistant => {
                    for (j, c) in m.tool_calls.iter().flatten().enumerate() {
                        if c.id.is_empty() {
                            return Err(RequestError::field(
                                format!("messages[{i}].tool_calls[{j}].id"),
                                "a tool call needs an id",
                            ));
                        }
                        if !seen_ids.insert(c.id.as_str()) {
                            return Err(RequestError::field(
                                format!("messages[{i}].tool_calls[{j}].id"),
                                format!("the tool call id `{}` is used twice", c.id),
                            ));
                        }
                    }
                }
                _ => {}
            }
            // Every image is checked, not only the newest: a bad one is the client's bug
            // wherever it sits, and it is cheaper to hear now than from Cursor.
            for (j, image_url) in m.image_parts() {
                crate::engine::images::decode(image_url).map_err(|e| {
                    let param = image_param(i, j);
                    let message = format!("{param}: {e}");
                    RequestError::field(param, message)
                })?;
            }
        }
        Ok(())
    }

    /// True for an SSE response.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// True when the final usage chunk was asked for.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }
}

/// `stream_options`: what an SSE response adds.
#[derive(Debug, Clone, Deserialize)]
pub struct StreamOptions {
    /// `true` adds a last chunk with the `usage` object and no choices, before `[DONE]`.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// Who wrote a message; it decides where the message goes in the Cursor run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions: with `developer` messages, joined into the run's system prompt
    /// (Cursor's `cloud_rule`).
    System,
    /// OpenAI's newer name for `system`; treated the same.
    Developer,
    /// The user's turn; the newest one's images travel as images.
    User,
    /// A turn the model wrote earlier: its text and the tool calls it made.
    Assistant,
    /// The result of a tool call, answering an earlier assistant call by its id.
    Tool,
    /// The legacy `function` role: its content is shown as a tool result.
    Function,
}

/// One entry of `messages`.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// Its text or content parts; `None` (absent or `null`, as on an assistant message
    /// that only calls tools) reads as empty text.
    #[serde(default)]
    pub content: Option<Content>,
    /// Read on `tool` and `function` messages only: the tool's name when no earlier
    /// assistant call with the same id names it.
    #[serde(default)]
    pub name: Option<String>,
    /// The calls an assistant message made; each id is unique in the request.
    #[serde(default)]
    pub tool_calls: Option<Vec<MessageToolCall>>,
    /// On a `tool` message, the id of the call it answers; that call must be in an
    /// earlier assistant message. A request that ends with such results continues the
    /// run parked on those ids.
    #[serde(default)]
    pub tool_call_id: Option<String>,
    /// Some clients echo the reasoning back; it is not re-sent to the model.
    #[serde(default)]
    pub reasoning_content: Option<String>,
}

impl Message {
    /// The `image_url` parts of the message with their positions in `content`.
    pub(crate) fn image_parts(&self) -> impl Iterator<Item = (usize, &Value)> {
        let parts = match &self.content {
            Some(Content::Parts(p)) => p.as_slice(),
            _ => &[],
        };
        parts.iter().enumerate().filter_map(|(j, p)| match p {
            Part::ImageUrl { image_url } => Some((j, image_url)),
            _ => None,
        })
    }
}

/// A message's `content`: a string, or an array of typed parts.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// The plain-string form.
    Text(String),
    /// The array form, in order.
    Parts(Vec<Part>),
}

impl Content {
    /// The text of the content: text parts joined by newlines; other parts are noted.
    pub fn text(&self) -> String {
        match self {
            Content::Text(t) => t.clone(),
            Content::Parts(parts) => {
                let mut out = String::new();
                for (i, p) in parts.iter().enumerate() {
                    let piece = match p {
                        Part::Text { text } => text.as_str(),
                        // The newest user message's images travel as images (`openai::images`).
                        Part::ImageUrl { .. } => "[image]",
                        Part::InputAudio { .. } => "[audio omitted]",
                        Part::File { .. } => "[file omitted]",
                        Part::Refusal { refusal } => refusal.as_str(),
                    };
                    // By position, not by "is `out` empty": an empty first part must not
                    // swallow the newline before the second.
                    if i > 0 {
                        out.push('\n');
                    }
                    out.push_str(piece);
                }
                out
            }
        }
    }
}

/// One element of an array `content`, tagged by its `type`. [`Content::text`] turns the
/// parts into text; only the newest user message's images reach Cursor as images.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    /// Text, joined to the parts around it by newlines.
    Text {
        /// The text itself.
        text: String,
    },
    /// An image; only `data:` URLs are accepted ([`super::images`]).
    ImageUrl {
        /// `{"url": …, "detail": …}` or a bare URL string, as sent; read by
        /// [`crate::engine::images::decode`].
        image_url: Value,
    },
    /// Audio, which Cursor does not take: it reads as `[audio omitted]`.
    InputAudio {
        /// The `input_audio` object as sent; not read.
        input_audio: Value,
    },
    /// A file, which Cursor does not take here: it reads as `[file omitted]`.
    File {
        /// The `file` object as sent; not read.
        file: Value,
    },
    /// An earlier assistant refusal, kept as text.
    Refusal {
        /// What the model said in refusing.
        refusal: String,
    },
}

/// A tool call of an earlier assistant message, as the client echoes it back.
#[derive(Debug, Clone, Deserialize)]
pub struct MessageToolCall {
    /// The call's id (Cursor's tool call id, as this proxy handed it out); a `tool`
    /// message answers it by this id.
    pub id: String,
    /// OpenAI's `type` (`"function"`); not checked.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// Which function was called, with what.
    pub function: FunctionCall,
}

/// The `function` of a [`MessageToolCall`].
#[derive(Debug, Clone, Deserialize)]
pub struct FunctionCall {
    /// The tool's name as declared in `tools`.
    pub name: String,
    /// The arguments as a JSON text, kept as the text itself when it is not JSON; empty
    /// when absent.
    #[serde(default)]
    pub arguments: String,
}

/// One entry of `tools`: a function the model may call.
#[derive(Debug, Clone, Deserialize)]
pub struct Tool {
    /// OpenAI's `type`; `"function"` is the only one.
    #[serde(rename = "type")]
    pub kind: ToolKind,
    /// The function's name, description and argument schema.
    pub function: FunctionDef,
}

/// The `type` of a tool or of a named tool choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolKind {
    /// `"function"`, the only kind OpenAI defines for chat completions.
    Function,
}

/// A declared function; it reaches Cursor as an MCP tool definition.
#[derive(Debug, Clone, Deserialize)]
pub struct FunctionDef {
    /// The name the model calls it by: 1-128 characters of `a-z A-Z 0-9 _ - . :`, unique
    /// in `tools`.
    pub name: String,
    /// What the tool does, for the model; `None` sends an empty description.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON Schema of the arguments (must be an object); `None` declares an object with
    /// no fields.
    #[serde(default)]
    pub parameters: Option<Value>,
    /// OpenAI's strict schema adherence; parsed and ignored.
    #[serde(default)]
    pub strict: Option<bool>,
}

/// `tool_choice`: a mode string, or one named function.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ToolChoice {
    /// `"none"`, `"auto"` or `"required"`.
    Mode(ToolChoiceMode),
    /// `{"type": "function", "function": {"name": …}}`: that tool must be called; it
    /// must be one of `tools`.
    Named(NamedToolChoice),
}

/// The string forms of `tool_choice`. Cursor has no such switch: `none` withholds the
/// tools, `required` is asked for in the system prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceMode {
    /// No tools are offered to the model at all.
    None,
    /// The model decides whether to call a tool (what an absent `tool_choice` means).
    Auto,
    /// The model must call at least one tool; said in the system prompt when tools are
    /// offered.
    Required,
}

/// A `tool_choice` naming the one function the model must call (said in the system
/// prompt).
#[derive(Debug, Clone, Deserialize)]
pub struct NamedToolChoice {
    /// OpenAI's `type`; `"function"` is the only one.
    #[serde(rename = "type")]
    pub kind: ToolKind,
    /// Which function.
    pub function: NamedFunction,
}

/// The function a [`NamedToolChoice`] names.
#[derive(Debug, Clone, Deserialize)]
pub struct NamedFunction {
    /// Its name; a request whose `tools` do not declare it is refused.
    pub name: String,
}

/// The request path of an image part.
pub(crate) fn image_param(message: usize, part: usize) -> String {
    format!("messages[{message}].content[{part}].image_url")
}

/// A serde_json error's message without its " at line L column C" (the body is one line
/// to most clients; the field path says where).
fn without_position(e: serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix)
        .map_or(text.clone(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> RequestError {
        ChatCompletionRequest::parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn the_real_opencode_body_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/opencode-request.json"
        );
        let body = std::fs::read(path).unwrap();
        let r = ChatCompletionRequest::parse(&body).unwrap();
        assert!(r.is_stream() && r.include_usage());
        assert_eq!(r.tools.as_ref().unwrap().len(), 10);
        assert_eq!(r.messages.last().unwrap().role, Role::Tool);
    }

    #[test]
    fn errors_name_the_field() {
        assert!(err("{not json").malformed);
        assert_eq!(err("[]").param, "");
        assert_eq!(err(r#"{"messages": []}"#).param, "messages");
        let e = err(r#"{"messages": [{"role": "wizard", "content": "x"}]}"#);
        assert_eq!(e.param, "messages[0].role");
        assert!(e.message.contains("wizard"), "{}", e.message);
        let e = err(r#"{"messages": [{"role": "user", "content": 5}]}"#);
        assert_eq!(e.param, "messages[0].content");
        let e = err(r#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": "many"}"#);
        assert_eq!(e.param, "max_tokens");
        let e = err(r#"{"messages": [{"role": "tool", "content": "x"}]}"#);
        assert_eq!(e.param, "messages[0].tool_call_id");
        let e = err(r#"{"messages": [{"role": "tool", "tool_call_id": "c1", "content": "x"}]}"#);
        assert_eq!(e.param, "messages[0].tool_call_id");
        assert!(e.message.contains("c1"), "{}", e.message);
        let e = err(r#"{"messages": [{"role": "user", "content": "x"}], "n": 2}"#);
        assert_eq!(e.param, "n");
    }

    #[test]
    fn parsing_from_bytes_keeps_json_errors_apart_from_field_errors() {
        // Not JSON even though a field is wrong first: malformed, as with a Value tree.
        assert!(err(r#"{"messages": "x", oops"#).malformed);
        // Nested past serde_json's limit anywhere, even in an unknown field: malformed.
        let deep = format!(r#"{{"x": {}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(err(&deep).malformed);
        // Messages carry no " at line 1 column N": the path says where.
        let e = err(r#"{"messages": "hello"}"#);
        assert!(!e.message.contains("line"), "{}", e.message);
        // A key given twice is refused, naming it, instead of the last one winning.
        let e =
            err(r#"{"model": "a", "model": "b", "messages": [{"role": "user", "content": "x"}]}"#);
        assert!(!e.malformed && e.message.contains("model"), "{e:?}");
    }

    #[test]
    fn duplicated_tool_call_ids_and_tools_are_refused() {
        let e = err(r#"{"messages": [
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]}"#);
        assert_eq!(e.param, "messages[0].tool_calls[1].id");
        let e = err(
            r#"{"messages": [{"role": "user", "content": "x"}], "tools": [
            {"type": "function", "function": {"name": "f"}},
            {"type": "function", "function": {"name": "f"}}]}"#,
        );
        assert_eq!(e.param, "tools[1].function.name");
    }

    #[test]
    fn content_parts_keep_text_and_mark_images() {
        // A 1×1 PNG's signature and header.
        let r = ChatCompletionRequest::parse(
            br#"{"messages": [{"role": "user", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url":
                    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"}}]}]}"#,
        )
        .unwrap();
        let t = r.messages[0].content.as_ref().unwrap().text();
        assert_eq!(t, "look\n[image]");
    }

    #[test]
    fn a_bad_image_anywhere_names_its_part() {
        let e = err(r#"{"messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "again"}]}"#);
        assert_eq!(e.param, "messages[0].content[0].image_url");
        assert!(e.message.contains("data URL"), "{}", e.message);
    }

    /// Found by `core/tests/properties.rs`: an empty first part swallowed the newline
    /// before the next one, so `["", "x"]` read as `"x"` but `["a", "", "x"]` kept its blank.
    #[test]
    fn empty_text_parts_keep_their_place() {
        let r = ChatCompletionRequest::parse(
            br#"{"messages": [{"role": "user", "content": [
                {"type": "text", "text": ""}, {"type": "text", "text": "x"}]}]}"#,
        )
        .unwrap();
        assert_eq!(r.messages[0].content.as_ref().unwrap().text(), "\nx");
    }

    #[test]
    fn tool_choice_forms() {
        for tc in [r#""auto""#, r#""none""#, r#""required""#] {
            let body = format!(
                r#"{{"messages": [{{"role": "user", "content": "x"}}], "tool_choice": {tc}}}"#
            );
            ChatCompletionRequest::parse(body.as_bytes()).unwrap();
        }
        let e = err(r#"{"messages": [{"role": "user", "content": "x"}],
            "tool_choice": {"type": "function", "function": {"name": "nope"}}}"#);
        assert_eq!(e.param, "tool_choice");
    }
}
