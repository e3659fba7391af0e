//! The Anthropic Messages request body, parsed and type-checked by hand so that every
//! error names the field's path the way Anthropic does (`messages.2.content.0.source.data`)
//! and says what was expected.
//!
//! Taken: `model`, `max_tokens` (required, a positive integer), `system` (a string or text
//! blocks), `messages` (user/assistant, content a string or blocks: `text`, `image` with a
//! base64 source, `tool_use`, `tool_result`, `thinking`, `redacted_thinking`), `tools`
//! (custom tools, `defer_loading` ones marked as such; server tools refused),
//! `tool_choice`, `stream`, `thinking`, and the sampling fields and `metadata`, which are
//! checked but have no Cursor counterpart. `cache_control` on any block is ignored (Cursor
//! caches by itself), and so are unknown top-level fields (newer clients add some).

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::dialects::{json, limits};
use crate::engine::error::ApiError;

/// A parsed request.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagesRequest {
    /// The model name as the client asked for it.
    pub model: String,
    /// The output limit the client set (Cursor has no per-request limit; checked only).
    pub max_tokens: u64,
    /// The system prompt's text blocks.
    pub system: Vec<String>,
    /// The conversation.
    pub messages: Vec<Message>,
    /// The client's tools, deferred ones included (the translation decides).
    pub tools: Vec<Tool>,
    /// `tool_choice`, when given.
    pub tool_choice: Option<ToolChoice>,
    /// An SSE response was asked for.
    pub stream: bool,
    /// Extended thinking was asked for (`enabled` or `adaptive`): reasoning is answered as
    /// `thinking` blocks, otherwise left out as Anthropic does.
    pub thinking: bool,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client's side (text, images, tool results).
    User,
    /// The model's side (text, tool calls, thinking).
    Assistant,
    /// Instructions inside the conversation (text only): not Anthropic's API, but Claude
    /// Code sends its environment block this way, after the first user message.
    System,
}

/// One message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Its author.
    pub role: Role,
    /// Its content blocks (a string content is one text block).
    pub content: Vec<Block>,
}

/// One content block.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// Text.
    Text(String),
    /// An inline image, as the data URL its base64 source stands for.
    Image {
        /// The block's path, for an error about it.
        param: String,
        /// `data:<media_type>;base64,<data>`.
        data_url: String,
    },
    /// A tool call the model made.
    ToolUse {
        /// Its id (the engine's call id when the proxy issued it).
        id: String,
        /// The tool's name.
        name: String,
        /// The arguments.
        input: Value,
    },
    /// The result of a tool call.
    ToolResult {
        /// The `tool_use` id it answers.
        tool_use_id: String,
        /// The result as text (text blocks joined; an image reads `[image]`).
        content: String,
        /// The tool failed.
        is_error: bool,
        /// The deferred tools its `tool_reference` blocks load (Claude Code's tool search
        /// answers this way).
        references: Vec<String>,
    },
    /// A `thinking` or `redacted_thinking` block: accepted, not re-sent (Cursor keeps its
    /// own reasoning).
    Thinking,
}

/// A custom tool.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// The JSON schema of its input.
    pub input_schema: Value,
    /// Declared with `defer_loading`: offered only once a `tool_reference` loads it.
    pub deferred: bool,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must call one of the tools.
    Any,
    /// The model must call this tool.
    Tool(String),
    /// No tool may be called.
    None,
}

/// A 400 naming `path`.
fn bad(path: &str, message: impl std::fmt::Display) -> ApiError {
    if path.is_empty() {
        ApiError::invalid("", message.to_string())
    } else {
        ApiError::invalid(path, format!("{path}: {message}"))
    }
}

fn join(path: &str, key: impl std::fmt::Display) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `v` as JSON, cut to 40 characters: what the client sent, quoted back in the error.
fn shown(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

fn expected(path: &str, what: &str, got: &Value) -> ApiError {
    bad(path, format!("expected {what}, got {}", shown(got)))
}

fn object<'a>(path: &str, v: &'a Value) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| expected(path, "an object", v))
}

fn string<'a>(path: &str, v: &'a Value) -> Result<&'a str, ApiError> {
    v.as_str().ok_or_else(|| expected(path, "a string", v))
}

fn array<'a>(path: &str, v: &'a Value) -> Result<&'a [Value], ApiError> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| expected(path, "an array", v))
}

/// [`array`], holding at most `max` items ([`limits`]).
fn capped<'a>(path: &str, v: &'a Value, max: usize) -> Result<&'a [Value], ApiError> {
    let items = array(path, v)?;
    limits::count(items.len(), max).map_err(|e| bad(path, e))?;
    Ok(items)
}

fn boolean(path: &str, v: &Value) -> Result<bool, ApiError> {
    v.as_bool().ok_or_else(|| expected(path, "a boolean", v))
}

/// A field that must be there.
fn required<'a>(path: &str, o: &'a Map<String, Value>, key: &str) -> Result<&'a Value, ApiError> {
    o.get(key)
        .ok_or_else(|| bad(&join(path, key), "Field required"))
}

/// A field that may be absent or null.
fn optional<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    o.get(key).filter(|v| !v.is_null())
}

fn number_in(path: &str, v: &Value, lo: f64, hi: f64) -> Result<(), ApiError> {
    let n = v.as_f64().ok_or_else(|| expected(path, "a number", v))?;
    if !(lo..=hi).contains(&n) {
        return Err(bad(path, format!("must be between {lo} and {hi}, got {n}")));
    }
    Ok(())
}

fn positive_int(path: &str, v: &Value, min: u64) -> Result<u64, ApiError> {
    match v.as_u64() {
        Some(n) if n >= min => Ok(n),
        Some(n) => Err(bad(path, format!("must be at least {min}, got {n}"))),
        None => Err(expected(path, "a non-negative integer", v)),
    }
}

/// Every top-level field taken; unknown ones are skipped without being built.
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "max_tokens",
    "system",
    "tool_choice",
    "stream",
    "thinking",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "metadata",
    "messages",
    "tools",
];

/// The fields read one item at a time; the others are read as a whole.
const ARRAYS: &[&str] = &["messages", "tools"];

/// The checked items of the top-level array `path` (at most `max`), each built as a tree
/// and handed to `f` one at a time, so the largest tree alive is one item's.
fn each<T>(
    path: &str,
    raw: &RawValue,
    max: usize,
    mut f: impl FnMut(String, &Value) -> Result<T, ApiError>,
) -> Result<Vec<T>, ApiError> {
    let Some(items) = json::items(raw, max) else {
        return Err(expected(path, "an array", &json::value(raw)?));
    };
    limits::count(items.len, max).map_err(|e| bad(path, e))?;
    items
        .kept
        .iter()
        .enumerate()
        .map(|(i, item)| f(join(path, i), &json::value(item)?))
        .collect()
}

impl MessagesRequest {
    /// Parses and checks a body, without a tree of the whole of it: the top level is
    /// taken raw ([`json::Fields`], after the syntax and nesting pass every dialect
    /// shares), and `messages` and `tools` are built and checked one item at a time.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        Self::parse_with(body, None)
    }

    /// Parses and checks a `count_tokens` body, where `max_tokens` may be left out (it is
    /// not part of that request): then it is taken as `u32::MAX`.
    pub(crate) fn parse_counted(body: &[u8]) -> Result<Self, ApiError> {
        Self::parse_with(body, Some(u64::from(u32::MAX)))
    }

    fn parse_with(body: &[u8], default_max_tokens: Option<u64>) -> Result<Self, ApiError> {
        let top = json::Fields::parse(body, KNOWN_FIELDS)?;
        let o = &top.values_except(ARRAYS)?;
        let model = string("model", required("", o, "model")?)?.to_string();
        if model.trim().is_empty() {
            return Err(bad("model", "must not be empty"));
        }
        limits::model(&model).map_err(|e| bad("model", e))?;
        let max_tokens = match (o.get("max_tokens"), default_max_tokens) {
            (None, Some(n)) => n,
            _ => positive_int("max_tokens", required("", o, "max_tokens")?, 1)?,
        };
        let system = match optional(o, "system") {
            None => Vec::new(),
            Some(v) => system(v)?,
        };
        let list = top
            .raw("messages")
            .ok_or_else(|| bad("messages", "Field required"))?;
        let messages = each("messages", list, limits::MESSAGES, |path, m| {
            message(&path, m)
        })?;
        if messages.is_empty() {
            return Err(bad("messages", "must hold at least one message"));
        }
        let tools = match top.raw("tools").filter(|v| !json::is_null(v)) {
            None => Vec::new(),
            Some(v) => each("tools", v, limits::TOOLS, |path, t| tool(&path, t))?,
        };
        let tool_choice = optional(o, "tool_choice").map(tool_choice).transpose()?;
        let stream = optional(o, "stream")
            .map(|v| boolean("stream", v))
            .transpose()?
            .unwrap_or(false);
        let thinking = optional(o, "thinking")
            .map(|v| thinking(v, max_tokens))
            .transpose()?
            .unwrap_or(false);
        check_sampling(o)?;
        Ok(MessagesRequest {
            model,
            max_tokens,
            system,
            messages,
            tools,
            tool_choice,
            stream,
            thinking,
        })
    }

    /// Checks an already-parsed body.
    #[cfg(test)]
    pub(crate) fn from_value(value: &Value) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(value)
            .map_err(|e| ApiError::malformed(format!("the request body is not valid JSON: {e}")))?;
        Self::parse(&body)
    }
}

/// `system`: a string, or text blocks.
fn system(v: &Value) -> Result<Vec<String>, ApiError> {
    if let Value::String(s) = v {
        return Ok(vec![s.clone()]);
    }
    array("system", v)?
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let path = join("system", i);
            let o = object(&path, b)?;
            match string(&join(&path, "type"), required(&path, o, "type")?)? {
                "text" => {
                    Ok(string(&join(&path, "text"), required(&path, o, "text")?)?.to_string())
                }
                other => Err(bad(
                    &join(&path, "type"),
                    format!("system blocks must be `text`, not `{other}`"),
                )),
            }
        })
        .collect()
}

fn message(path: &str, v: &Value) -> Result<Message, ApiError> {
    let o = object(path, v)?;
    let role = match string(&join(path, "role"), required(path, o, "role")?)? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" => Role::System,
        other => {
            return Err(bad(
                &join(path, "role"),
                format!("must be `user`, `assistant` or `system`, not `{other}`"),
            ));
        }
    };
    let cpath = join(path, "content");
    let content = match required(path, o, "content")? {
        Value::String(s) => vec![Block::Text(s.clone())],
        v => capped(&cpath, v, limits::PARTS)?
            .iter()
            .enumerate()
            .map(|(j, b)| block(&join(&cpath, j), b, role))
            .collect::<Result<Vec<_>, _>>()?,
    };
    Ok(Message { role, content })
}

fn block(path: &str, v: &Value, role: Role) -> Result<Block, ApiError> {
    let o = object(path, v)?;
    let tpath = join(path, "type");
    let ty = string(&tpath, required(path, o, "type")?)?;
    let text_of = |key: &str| -> Result<String, ApiError> {
        Ok(string(&join(path, key), required(path, o, key)?)?.to_string())
    };
    let only = |want: Role| -> Result<(), ApiError> {
        if role == want {
            Ok(())
        } else {
            let side = match want {
                Role::User => "user",
                Role::Assistant => "assistant",
                Role::System => "system",
            };
            Err(bad(
                &tpath,
                format!("`{ty}` blocks belong in {side} messages"),
            ))
        }
    };
    if role == Role::System && ty != "text" {
        return Err(bad(
            &tpath,
            format!("system messages hold text blocks, not `{ty}`"),
        ));
    }
    Ok(match ty {
        "text" => Block::Text(text_of("text")?),
        "image" => {
            only(Role::User)?;
            image(path, o)?
        }
        "tool_use" => {
            only(Role::Assistant)?;
            let input = required(path, o, "input")?;
            object(&join(path, "input"), input)?;
            Block::ToolUse {
                id: text_of("id")?,
                name: text_of("name")?,
                input: input.clone(),
            }
        }
        "tool_result" => {
            only(Role::User)?;
            tool_result(path, o)?
        }
        "thinking" | "redacted_thinking" => {
            only(Role::Assistant)?;
            Block::Thinking
        }
        other => {
            return Err(bad(
                &tpath,
                format!(
                    "unsupported content block type `{other}`; Cursor Bridge takes text, \
                     image, tool_use, tool_result, thinking and redacted_thinking"
                ),
            ));
        }
    })
}

fn image(path: &str, o: &Map<String, Value>) -> Result<Block, ApiError> {
    let spath = join(path, "source");
    let source = object(&spath, required(path, o, "source")?)?;
    let ty = string(&join(&spath, "type"), required(&spath, source, "type")?)?;
    if ty != "base64" {
        return Err(bad(
            &join(&spath, "type"),
            format!(
                "only base64 image sources are supported, not `{ty}`: Cursor Bridge does not \
                 fetch images on a client's behalf; send the bytes as \
                 {{\"type\": \"base64\", \"media_type\": …, \"data\": …}}"
            ),
        ));
    }
    let media_type = string(
        &join(&spath, "media_type"),
        required(&spath, source, "media_type")?,
    )?;
    let data = string(&join(&spath, "data"), required(&spath, source, "data")?)?;
    Ok(Block::Image {
        param: spath,
        data_url: format!("data:{media_type};base64,{data}"),
    })
}

fn tool_result(path: &str, o: &Map<String, Value>) -> Result<Block, ApiError> {
    let tool_use_id = string(
        &join(path, "tool_use_id"),
        required(path, o, "tool_use_id")?,
    )?
    .to_string();
    let is_error = optional(o, "is_error")
        .map(|v| boolean(&join(path, "is_error"), v))
        .transpose()?
        .unwrap_or(false);
    let cpath = join(path, "content");
    let mut references = Vec::new();
    let content = match optional(o, "content") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => {
            let mut parts = Vec::new();
            for (k, b) in array(&cpath, v)?.iter().enumerate() {
                let bpath = join(&cpath, k);
                let bo = object(&bpath, b)?;
                let tpath = join(&bpath, "type");
                match string(&tpath, required(&bpath, bo, "type")?)? {
                    "text" => parts.push(
                        string(&join(&bpath, "text"), required(&bpath, bo, "text")?)?.to_string(),
                    ),
                    // A fresh Cursor run has no place for a result's image.
                    "image" => {
                        image(&bpath, bo)?;
                        parts.push("[image]".to_string());
                    }
                    "tool_reference" => {
                        let name = string(
                            &join(&bpath, "tool_name"),
                            required(&bpath, bo, "tool_name")?,
                        )?;
                        parts.push(format!("Tool `{name}` is now available."));
                        references.push(name.to_string());
                    }
                    other => {
                        return Err(bad(
                            &tpath,
                            format!(
                                "tool results hold text, image and tool_reference blocks, \
                                 not `{other}`"
                            ),
                        ));
                    }
                }
            }
            parts.join("\n")
        }
    };
    Ok(Block::ToolResult {
        tool_use_id,
        content,
        is_error,
        references,
    })
}

/// The types of Anthropic's server tools (run by Anthropic, which Cursor cannot do), by
/// prefix: `web_search_20250305`, `bash_20250124`, `text_editor_20250728`, ….
const SERVER_TOOLS: &[&str] = &[
    "web_search_",
    "web_fetch_",
    "bash_",
    "text_editor_",
    "computer_",
    "code_execution_",
    "memory_",
    "tool_search_",
];

fn tool(path: &str, t: &Value) -> Result<Tool, ApiError> {
    let o = object(path, t)?;
    let ty = optional(o, "type")
        .map(|v| string(&join(path, "type"), v))
        .transpose()?
        .unwrap_or("custom");
    if ty != "custom" {
        let what = if SERVER_TOOLS.iter().any(|p| ty.starts_with(p)) {
            "is an Anthropic server tool, which Cursor cannot run"
        } else {
            "is not a tool type Cursor Bridge knows"
        };
        return Err(bad(
            path,
            format!("`{ty}` {what}; declare it as a custom tool with an `input_schema`"),
        ));
    }
    let name = string(&join(path, "name"), required(path, o, "name")?)?;
    // Claude Code declares tools it loads later this way (and a placeholder without a
    // schema): offered once a tool result references them.
    let deferred = optional(o, "defer_loading")
        .map(|d| boolean(&join(path, "defer_loading"), d))
        .transpose()?
        .unwrap_or(false);
    let schema = match o.get("input_schema") {
        None if deferred => &Value::Null,
        _ => required(path, o, "input_schema")?,
    };
    if !(deferred && schema.is_null()) {
        object(&join(path, "input_schema"), schema)?;
    }
    let schema = if schema.is_null() {
        serde_json::json!({"type": "object"})
    } else {
        schema.clone()
    };
    let description = optional(o, "description")
        .map(|v| string(&join(path, "description"), v))
        .transpose()?
        .unwrap_or("");
    Ok(Tool {
        name: name.to_string(),
        description: description.to_string(),
        input_schema: schema,
        deferred,
    })
}

fn tool_choice(v: &Value) -> Result<ToolChoice, ApiError> {
    let o = object("tool_choice", v)?;
    if let Some(p) = optional(o, "disable_parallel_tool_use") {
        boolean("tool_choice.disable_parallel_tool_use", p)?;
    }
    Ok(
        match string("tool_choice.type", required("tool_choice", o, "type")?)? {
            "auto" => ToolChoice::Auto,
            "any" => ToolChoice::Any,
            "none" => ToolChoice::None,
            "tool" => ToolChoice::Tool(
                string("tool_choice.name", required("tool_choice", o, "name")?)?.to_string(),
            ),
            other => {
                return Err(bad(
                    "tool_choice.type",
                    format!("must be `auto`, `any`, `tool` or `none`, not `{other}`"),
                ));
            }
        },
    )
}

/// `thinking`: whether reasoning is answered.
fn thinking(v: &Value, max_tokens: u64) -> Result<bool, ApiError> {
    let o = object("thinking", v)?;
    match string("thinking.type", required("thinking", o, "type")?)? {
        "enabled" => {
            let budget = positive_int(
                "thinking.budget_tokens",
                required("thinking", o, "budget_tokens")?,
                1024,
            )?;
            if budget >= max_tokens {
                return Err(bad(
                    "thinking.budget_tokens",
                    format!("must be less than max_tokens ({max_tokens})"),
                ));
            }
            Ok(true)
        }
        "adaptive" => Ok(true),
        "disabled" => Ok(false),
        other => Err(bad(
            "thinking.type",
            format!("must be `enabled`, `adaptive` or `disabled`, not `{other}`"),
        )),
    }
}

/// The fields Cursor has no counterpart for, checked so a client's mistake is still heard.
fn check_sampling(o: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(v) = optional(o, "stop_sequences") {
        for (i, s) in array("stop_sequences", v)?.iter().enumerate() {
            string(&join("stop_sequences", i), s)?;
        }
    }
    if let Some(v) = optional(o, "temperature") {
        number_in("temperature", v, 0.0, 1.0)?;
    }
    if let Some(v) = optional(o, "top_p") {
        number_in("top_p", v, 0.0, 1.0)?;
    }
    if let Some(v) = optional(o, "top_k") {
        positive_int("top_k", v, 0)?;
    }
    if let Some(v) = optional(o, "metadata") {
        let m = object("metadata", v)?;
        if let Some(u) = optional(m, "user_id") {
            string("metadata.user_id", u)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
