//! The `POST /v1/responses` body, parsed and type-checked by hand from JSON: the items of
//! `input` are told apart by their `type`, and every error names the exact path of the
//! field at fault (`input[3].content[0].image_url`), which a derived untagged enum cannot.
//!
//! Fields Cursor has no knob for (`temperature`, `top_p`, `max_output_tokens`, `text`,
//! `truncation`, `user`, `include`, `metadata`, `parallel_tool_calls`, `reasoning`) are
//! type-checked so a wrong type is still a clear 400, then ignored or echoed; unknown
//! fields are ignored, as OpenAI-compatible servers do.
//!
//! **Tools.** Function tools reach Cursor as they are; a custom tool (free-form text
//! input, e.g. the `exec` shell Codex declares for a model name it recognises) reaches it
//! as a function with one string argument `input` (its grammar, if any, in the
//! description), and its calls go back as `custom_tool_call` items. The function and
//! custom tools of a `namespace` tool join the others under their own names (their calls
//! name the namespace; a name already declared is skipped there). A *declared* tool of
//! any other type (OpenAI's built-ins `web_search`, `file_search`,
//! `computer_use_preview`, `code_interpreter`, `image_generation`, `local_shell`, `mcp`)
//! is skipped, not refused: Codex declares `web_search` in every request, and Cursor can
//! run none of them for the client. A `tool_choice` that *forces* such a tool is refused
//! with a 400, since the model could never satisfy it. Tools declared inside `input`
//! (Codex's `additional_tools` item, which for a model name it recognises holds every
//! tool, in namespaces, its shell the custom `exec`) follow the same rules.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::cursor::chat::Image;
use crate::dialects::{json, limits};
use crate::engine::error::ApiError;
use crate::engine::images;

/// A parsed Responses request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResponsesRequest {
    /// The model asked for; `None` takes the `default_model` setting.
    pub(crate) model: Option<String>,
    /// `instructions`: the run's first system message (not carried over by
    /// `previous_response_id`, as OpenAI documents).
    pub(crate) instructions: Option<String>,
    /// `input`, a string read as one user message.
    pub(crate) input: Vec<Item>,
    /// The function tools (from `tools` and `additional_tools` items).
    pub(crate) tools: Vec<FunctionTool>,
    /// The types of the declared tools that were skipped (see the module doc).
    pub(crate) skipped_tools: Vec<String>,
    /// `tool_choice`.
    pub(crate) tool_choice: ToolChoice,
    /// `stream`: SSE events instead of one response object.
    pub(crate) stream: bool,
    /// `store` (OpenAI's default: true): keep the response for `previous_response_id`.
    pub(crate) store: bool,
    /// The response whose input and output come before `input`.
    pub(crate) previous_response_id: Option<String>,
    /// Echoed in the response object (a response always carries every call of a step).
    pub(crate) parallel_tool_calls: bool,
    /// Echoed in the response object.
    pub(crate) metadata: Option<Value>,
    /// Echoed in the response object.
    pub(crate) temperature: Option<f64>,
    /// Echoed in the response object.
    pub(crate) top_p: Option<f64>,
    /// Echoed in the response object.
    pub(crate) max_output_tokens: Option<u64>,
}

/// One item of the conversation, as the request gives it or a stored response kept it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// A message with its content parts.
    Message {
        /// Who wrote it.
        role: Role,
        /// Its parts, in order.
        content: Vec<Part>,
    },
    /// A function call the model made.
    FunctionCall {
        /// The call's id (the engine's call id), which its output names.
        call_id: String,
        /// The function's name.
        name: String,
        /// The arguments as the JSON text the model wrote.
        arguments: String,
    },
    /// The client's result of a function call.
    FunctionCallOutput {
        /// The call it answers.
        call_id: String,
        /// The result text (parts joined, images marked).
        output: String,
    },
}

/// The roles a message item may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// The user.
    User,
    /// The model.
    Assistant,
    /// Instructions (`system` and `developer`).
    System,
}

/// A content part of a message.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Part {
    /// `input_text`, `output_text` or `refusal` (the text a refusal gave).
    Text(String),
    /// `input_image` with a data URL, decoded; `None` once kept in the store (a stored
    /// conversation reads it as `[image]`).
    Image {
        /// Its request path, `input[i].content[j].image_url`.
        param: String,
        /// The decoded image.
        image: Option<Image>,
    },
}

/// A function tool, or a custom one as the function the model sees.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FunctionTool {
    /// Its name, unique in the request.
    pub(crate) name: String,
    /// What it does, for the model.
    pub(crate) description: String,
    /// The JSON Schema of its arguments.
    pub(crate) parameters: Option<Value>,
    /// A custom tool: its one argument is `input` ([`CUSTOM_INPUT`]), its calls are
    /// `custom_tool_call` items.
    pub(crate) custom: bool,
    /// The `namespace` tool it was declared in, which its calls name.
    pub(crate) namespace: Option<String>,
}

/// The argument a custom tool's text travels in.
pub(crate) const CUSTOM_INPUT: &str = "input";

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    /// `auto` (and absent).
    Auto,
    /// `none`.
    None,
    /// `required`.
    Required,
    /// `{"type": "function" | "custom", "name": …}`.
    Function(String),
}

/// A 400 at `param` when an array of `len` items holds more than `max` ([`limits`]).
fn capped(param: &str, len: usize, max: usize) -> Result<(), ApiError> {
    limits::count(len, max).map_err(|e| bad(param, e))
}

/// What every parse error is built from: the path and what is wrong there.
fn bad(param: impl Into<String>, what: impl std::fmt::Display) -> ApiError {
    let param = param.into();
    let message = if param.is_empty() {
        what.to_string()
    } else {
        format!("{param}: {what}")
    };
    ApiError::invalid(param, message)
}

/// A JSON object with the path it sits at, for typed reads that name the field.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

impl<'a> Obj<'a> {
    fn at(v: &'a Value, path: String) -> Result<Self, ApiError> {
        match v {
            Value::Object(map) => Ok(Obj { map, path }),
            _ => Err(bad(path, "must be an object")),
        }
    }

    fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The value of `key`, `None` when absent or `null`.
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn str(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(bad(self.field(key), "must be a string")),
        }
    }

    fn required_str(&self, key: &str) -> Result<&'a str, ApiError> {
        self.str(key)?
            .ok_or_else(|| bad(self.field(key), "is required"))
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(bad(self.field(key), "must be true or false")),
        }
    }

    /// A finite number >= 0.
    fn number(&self, key: &str) -> Result<Option<f64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(n) if n.is_finite() && n >= 0.0 => Ok(Some(n)),
                _ => Err(bad(self.field(key), "must be a number >= 0")),
            },
        }
    }

    fn uint(&self, key: &str) -> Result<Option<u64>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| bad(self.field(key), "must be a whole number >= 0")),
        }
    }

    fn object(&self, key: &str) -> Result<Option<Obj<'a>>, ApiError> {
        self.get(key)
            .map(|v| Obj::at(v, self.field(key)))
            .transpose()
    }

    fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(bad(self.field(key), "must be an array")),
        }
    }
}

/// Every top-level field taken; unknown ones are skipped without being built.
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "instructions",
    "tool_choice",
    "reasoning",
    "text",
    "truncation",
    "user",
    "include",
    "metadata",
    "previous_response_id",
    "stream",
    "store",
    "parallel_tool_calls",
    "temperature",
    "top_p",
    "max_output_tokens",
    "tools",
    "input",
];

/// The fields read one item at a time; the others are read as a whole.
const ARRAYS: &[&str] = &["tools", "input"];

impl ResponsesRequest {
    /// Parses and checks a body; the error is a 400 naming the field. No tree of the whole
    /// body is built: the top level is taken raw ([`json::Fields`], after the syntax and
    /// nesting pass every dialect shares), and `tools` and `input` are built and checked
    /// one item at a time.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, ApiError> {
        let top = json::Fields::parse(body, KNOWN_FIELDS)?;
        let small = Value::Object(top.values_except(ARRAYS)?);
        let o = Obj::at(&small, String::new())?;
        let model = o.str("model")?.map(str::to_string);
        if model.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return Err(bad("model", "must not be empty"));
        }
        if let Some(m) = &model {
            limits::model(m).map_err(|e| bad("model", e))?;
        }
        let mut tools = Tools::default();
        if let Some(raw) = top.raw("tools").filter(|v| !json::is_null(v)) {
            let declared =
                json::items(raw, limits::TOOLS).ok_or_else(|| bad("tools", "must be an array"))?;
            capped("tools", declared.len, limits::TOOLS)?;
            for (i, t) in declared.kept.iter().enumerate() {
                tools.declare(&Obj::at(&json::value(t)?, format!("tools[{i}]"))?, None)?;
            }
        }
        let input = match top.raw("input").filter(|v| !json::is_null(v)) {
            None => return Err(bad("input", "is required")),
            Some(raw) => match json::items(raw, limits::MESSAGES) {
                Some(items) => {
                    capped("input", items.len, limits::MESSAGES)?;
                    let mut out = Vec::with_capacity(items.len);
                    // One item's tree at a time.
                    for (i, v) in items.kept.iter().enumerate() {
                        out.extend(parse_item(&json::value(v)?, i, &mut tools)?);
                    }
                    if out.is_empty() {
                        return Err(bad(
                            "input",
                            "must hold at least one message or function call output",
                        ));
                    }
                    out
                }
                None => match json::value(raw)? {
                    Value::String(s) => vec![Item::Message {
                        role: Role::User,
                        content: vec![Part::Text(s)],
                    }],
                    _ => return Err(bad("input", "must be a string or an array of items")),
                },
            },
        };
        let tool_choice = parse_tool_choice(o.get("tool_choice"), &tools)?;
        if let Some(r) = o.object("reasoning")? {
            r.str("effort")?;
            r.str("summary")?;
        }
        if let Some(t) = o.object("text")? {
            t.object("format")?;
            t.str("verbosity")?;
        }
        o.str("truncation")?;
        o.str("user")?;
        if let Some(include) = o.array("include")? {
            for (i, v) in include.iter().enumerate() {
                if !v.is_string() {
                    return Err(bad(format!("include[{i}]"), "must be a string"));
                }
            }
        }
        let metadata = o.object("metadata")?.map(|m| Value::Object(m.map.clone()));
        let previous_response_id = o.str("previous_response_id")?.map(str::to_string);
        if previous_response_id.as_deref().is_some_and(str::is_empty) {
            return Err(bad("previous_response_id", "must not be empty"));
        }
        Ok(ResponsesRequest {
            model,
            instructions: o.str("instructions")?.map(str::to_string),
            input,
            tool_choice,
            stream: o.bool("stream")?.unwrap_or(false),
            store: o.bool("store")?.unwrap_or(true),
            previous_response_id,
            parallel_tool_calls: o.bool("parallel_tool_calls")?.unwrap_or(true),
            metadata,
            temperature: o.number("temperature")?,
            top_p: o.number("top_p")?,
            max_output_tokens: o.uint("max_output_tokens")?,
            tools: tools.functions,
            skipped_tools: tools.skipped,
        })
    }
}

/// The tools declared so far (`tools`, then `additional_tools` items in `input`).
#[derive(Default)]
struct Tools {
    functions: Vec<FunctionTool>,
    skipped: Vec<String>,
    names: HashSet<String>,
}

impl Tools {
    fn declare_all(
        &mut self,
        tools: Option<&Vec<Value>>,
        path: &str,
        namespace: Option<&str>,
    ) -> Result<(), ApiError> {
        for (i, t) in tools.into_iter().flatten().enumerate() {
            self.declare(&Obj::at(t, format!("{path}[{i}]"))?, namespace)?;
        }
        Ok(())
    }

    fn declare(&mut self, t: &Obj<'_>, namespace: Option<&str>) -> Result<(), ApiError> {
        let kind = t.required_str("type")?;
        if kind == "namespace" && namespace.is_none() {
            let ns = t.required_str("name")?;
            return self.declare_all(t.array("tools")?, &t.field("tools"), Some(ns));
        }
        if kind != "function" && kind != "custom" {
            if !self.skipped.iter().any(|k| k == kind) {
                self.skipped.push(kind.to_string());
            }
            return Ok(());
        }
        let name = t.required_str("name")?;
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        {
            return Err(bad(
                t.field("name"),
                "tool names must be 1-128 characters of a-z, A-Z, 0-9, _ - . :",
            ));
        }
        if namespace.is_some() && self.names.contains(name) {
            // Cursor sees one flat list; the first of two same-named tools wins.
            return Ok(());
        }
        if !self.names.insert(name.to_string()) {
            return Err(bad(
                t.field("name"),
                format!("the tool `{name}` is declared twice"),
            ));
        }
        let mut description = t.str("description")?.unwrap_or_default().to_string();
        let custom = kind == "custom";
        let parameters = if custom {
            if let Some(grammar) = custom_grammar(t)? {
                description.push_str(&grammar);
            }
            Some(serde_json::json!({
                "type": "object",
                "properties": {CUSTOM_INPUT: {"type": "string",
                    "description": "The tool's whole input, as free-form text."}},
                "required": [CUSTOM_INPUT],
            }))
        } else {
            t.bool("strict")?;
            t.object("parameters")?
                .map(|p| Value::Object(p.map.clone()))
        };
        self.functions.push(FunctionTool {
            name: name.to_string(),
            description,
            parameters,
            custom,
            namespace: namespace.map(str::to_string),
        });
        Ok(())
    }
}

/// What a custom tool's `format` adds to its description: the grammar its input follows.
fn custom_grammar(t: &Obj<'_>) -> Result<Option<String>, ApiError> {
    let Some(f) = t.object("format")? else {
        return Ok(None);
    };
    match f.required_str("type")? {
        "text" => Ok(None),
        "grammar" => Ok(Some(format!(
            "\n\nThe input must follow this {} grammar:\n{}",
            f.str("syntax")?.unwrap_or("lark"),
            f.required_str("definition")?
        ))),
        other => Err(bad(
            f.field("type"),
            format!("unknown format `{other}` (text or grammar)"),
        )),
    }
}

/// One `input[i]`; `None` for what is accepted but not re-sent (reasoning, tool
/// declarations).
fn parse_item(v: &Value, i: usize, tools: &mut Tools) -> Result<Option<Item>, ApiError> {
    let o = Obj::at(v, format!("input[{i}]"))?;
    // An item without a `type` is a message (OpenAI's "easy input message").
    let kind = o.str("type")?.unwrap_or("message");
    if matches!(kind, "function_call" | "custom_tool_call") {
        // Which namespace the tool is in: the name alone identifies it here.
        o.str("namespace")?;
    }
    match kind {
        "message" => parse_message(&o).map(Some),
        "function_call" => Ok(Some(Item::FunctionCall {
            call_id: non_empty(&o, "call_id")?,
            name: o.required_str("name")?.to_string(),
            arguments: o.str("arguments")?.unwrap_or("{}").to_string(),
        })),
        // A custom tool's call is the call of the function the model saw.
        "custom_tool_call" => Ok(Some(Item::FunctionCall {
            call_id: non_empty(&o, "call_id")?,
            name: o.required_str("name")?.to_string(),
            arguments: serde_json::json!({CUSTOM_INPUT: o.required_str("input")?}).to_string(),
        })),
        "function_call_output" | "custom_tool_call_output" => Ok(Some(Item::FunctionCallOutput {
            call_id: non_empty(&o, "call_id")?,
            output: match o.get("output") {
                None => return Err(bad(o.field("output"), "is required")),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(parts)) => output_parts(parts, &o.field("output"))?,
                Some(_) => {
                    return Err(bad(
                        o.field("output"),
                        "must be a string or an array of parts",
                    ));
                }
            },
        })),
        // Our own reasoning echoed back: Cursor keeps its reasoning, nothing to re-send.
        "reasoning" => Ok(None),
        "additional_tools" => {
            tools.declare_all(o.array("tools")?, &o.field("tools"), None)?;
            Ok(None)
        }
        other => Err(bad(
            o.field("type"),
            format!(
                "unsupported input item type `{other}` (this server takes message, \
                 function_call, function_call_output, custom_tool_call, \
                 custom_tool_call_output, reasoning and additional_tools)"
            ),
        )),
    }
}

fn non_empty(o: &Obj<'_>, key: &str) -> Result<String, ApiError> {
    let s = o.required_str(key)?;
    if s.is_empty() {
        return Err(bad(o.field(key), "must not be empty"));
    }
    Ok(s.to_string())
}

fn parse_message(o: &Obj<'_>) -> Result<Item, ApiError> {
    let role = match o.required_str("role")? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" | "developer" => Role::System,
        other => {
            return Err(bad(
                o.field("role"),
                format!("unknown role `{other}` (user, assistant, system or developer)"),
            ));
        }
    };
    let content = match o.get("content") {
        None => return Err(bad(o.field("content"), "is required")),
        Some(Value::String(s)) => vec![Part::Text(s.clone())],
        Some(Value::Array(parts)) => {
            let path = o.field("content");
            capped(&path, parts.len(), limits::PARTS)?;
            let mut out = Vec::with_capacity(parts.len());
            for (j, p) in parts.iter().enumerate() {
                out.push(parse_part(&Obj::at(p, format!("{path}[{j}]"))?)?);
            }
            out
        }
        Some(_) => {
            return Err(bad(
                o.field("content"),
                "must be a string or an array of parts",
            ));
        }
    };
    Ok(Item::Message { role, content })
}

fn parse_part(p: &Obj<'_>) -> Result<Part, ApiError> {
    match p.required_str("type")? {
        "input_text" | "output_text" | "text" => Ok(Part::Text(p.required_str("text")?.into())),
        "refusal" => Ok(Part::Text(p.required_str("refusal")?.into())),
        "input_image" => {
            let param = p.field("image_url");
            let Some(url) = p.get("image_url") else {
                let why = if p.get("file_id").is_some() {
                    "uploaded files (`file_id`) are not supported; send the image inline as a \
                     data URL"
                } else {
                    "is required (a data URL such as `data:image/png;base64,…`)"
                };
                return Err(bad(param, why));
            };
            let image = images::decode(url).map_err(|e| bad(param.clone(), e))?;
            Ok(Part::Image {
                param,
                image: Some(image),
            })
        }
        other => Err(bad(
            p.field("type"),
            format!(
                "unsupported content part type `{other}` (input_text, input_image, \
                 output_text or refusal)"
            ),
        )),
    }
}

/// A `function_call_output` given as parts: the text parts joined, images marked.
fn output_parts(parts: &[Value], path: &str) -> Result<String, ApiError> {
    let mut text = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        match parse_part(&Obj::at(p, format!("{path}[{j}]"))?)? {
            Part::Text(t) => text.push(t),
            // A tool's image cannot reach Cursor as a tool result; the model learns there was one.
            Part::Image { .. } => text.push("[image]".into()),
        }
    }
    Ok(text.join("\n"))
}

fn parse_tool_choice(v: Option<&Value>, tools: &Tools) -> Result<ToolChoice, ApiError> {
    let Some(v) = v else {
        return Ok(ToolChoice::Auto);
    };
    match v {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(bad(
                "tool_choice",
                format!("unknown mode `{other}` (auto, none or required)"),
            )),
        },
        Value::Object(_) => {
            let o = Obj::at(v, "tool_choice".into())?;
            match o.required_str("type")? {
                kind @ ("function" | "custom") => {
                    let name = o.required_str("name")?;
                    let custom = kind == "custom";
                    if !tools
                        .functions
                        .iter()
                        .any(|t| t.name == name && t.custom == custom)
                    {
                        return Err(bad(
                            "tool_choice",
                            format!("`tool_choice` names `{name}`, which is not in `tools`"),
                        ));
                    }
                    Ok(ToolChoice::Function(name.to_string()))
                }
                "allowed_tools" => Err(bad(
                    "tool_choice",
                    "`allowed_tools` is not supported: declare only the tools the model may \
                     call, with auto, none, required or a function",
                )),
                other => Err(bad(
                    "tool_choice",
                    format!(
                        "`tool_choice` forces the `{other}` tool, which Cursor Bridge cannot \
                         run (only function and custom tools reach the model); use auto, \
                         none, required or a function"
                    ),
                )),
            }
        }
        _ => Err(bad("tool_choice", "must be a string or an object")),
    }
}

#[cfg(test)]
mod tests;
