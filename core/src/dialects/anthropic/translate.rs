//! Anthropic Messages request → the engine's neutral [`Request`].
//!
//! `system` becomes a system message; user text and assistant text stay text, `tool_use`
//! blocks become the assistant's calls and `tool_result` blocks the tool messages that
//! answer them (`is_error` kept). Thinking blocks are dropped: Cursor keeps its own
//! reasoning. The newest user message's images are decoded (a bad one is a 400 naming
//! its block); earlier ones read as `[image]`.
//!
//! **Text next to tool results.** Claude Code sends its system reminders as text blocks in
//! the same user message as the `tool_result`s. The engine continues a parked run only
//! when the request *ends* with tool messages, so that text is appended to the message's
//! last tool result instead of becoming a user turn after them: the run continues on the
//! same Cursor stream, and the model still reads the text.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::request::{Block, MessagesRequest, Role, ToolChoice};
use crate::cursor::chat::ToolDef;
use crate::engine::error::ApiError;
use crate::engine::history::{Call, Msg};
use crate::engine::images::{self, Attached};
use crate::engine::request::{self as neutral, Dialect, Request};

/// The neutral request for `req`; a bad image is an error naming its block.
pub fn neutral(req: &MessagesRequest) -> Result<Request, ApiError> {
    Ok(Request {
        model: Some(req.model.clone()),
        messages: messages(req),
        images: newest_user_images(req)?,
        tools: offered(req)
            .map(|t| ToolDef {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: Some(t.input_schema.clone()),
            })
            .collect(),
        tool_choice: match &req.tool_choice {
            None | Some(ToolChoice::Auto) => neutral::ToolChoice::Auto,
            Some(ToolChoice::Any) => neutral::ToolChoice::Required,
            Some(ToolChoice::None) => neutral::ToolChoice::None,
            Some(ToolChoice::Tool(n)) => neutral::ToolChoice::Named(n.clone()),
        },
        stream: req.stream,
        ..Request::new(Dialect::Messages)
    })
}

/// The tools to offer: every tool not deferred, and the deferred ones a `tool_reference`
/// in the conversation has loaded.
fn offered(req: &MessagesRequest) -> impl Iterator<Item = &super::request::Tool> {
    let loaded: HashSet<&str> = req
        .messages
        .iter()
        .flat_map(|m| &m.content)
        .flat_map(|b| match b {
            Block::ToolResult { references, .. } => references.as_slice(),
            _ => &[],
        })
        .map(String::as_str)
        .collect();
    req.tools
        .iter()
        .filter(move |t| !t.deferred || loaded.contains(t.name.as_str()))
}

/// The conversation as the neutral history: the system prompt and the system messages
/// first (Claude Code puts one after the first user message; the newest user message must
/// stay last for the engine to send it as the new prompt), then the turns in order.
fn messages(req: &MessagesRequest) -> Vec<Msg> {
    let mut system = Vec::new();
    let mut out = Vec::new();
    let top = req.system.join("\n\n");
    if !top.trim().is_empty() {
        system.push(Msg::System(top));
    }
    // Tool results name only the call's id; the name comes from the call.
    let mut names: HashMap<&str, &str> = HashMap::new();
    for m in &req.messages {
        let mut texts: Vec<&str> = Vec::new();
        match m.role {
            Role::System => {
                let text = m.content.iter().filter_map(|b| match b {
                    Block::Text(t) => Some(t.as_str()),
                    _ => None,
                });
                system.push(Msg::System(text.collect::<Vec<_>>().join("\n\n")));
            }
            Role::Assistant => {
                let mut calls = Vec::new();
                for b in &m.content {
                    match b {
                        Block::Text(t) => texts.push(t),
                        Block::ToolUse { id, name, input } => {
                            names.insert(id, name);
                            calls.push(Call {
                                id: id.clone(),
                                name: name.clone(),
                                args: input.clone(),
                            });
                        }
                        _ => {}
                    }
                }
                out.push(Msg::Assistant {
                    text: texts.concat(),
                    calls,
                });
            }
            Role::User => {
                let mut results = Vec::new();
                for b in &m.content {
                    match b {
                        Block::Text(t) => texts.push(t),
                        Block::Image { .. } => texts.push("[image]"),
                        Block::ToolResult {
                            tool_use_id,
                            content,
                            is_error,
                            ..
                        } => results.push(Msg::Tool {
                            call_id: tool_use_id.clone(),
                            name: names
                                .get(tool_use_id.as_str())
                                .map_or_else(String::new, |n| n.to_string()),
                            result: content.clone(),
                            is_error: *is_error,
                        }),
                        _ => {}
                    }
                }
                let text = texts.join("\n\n");
                match results.last_mut() {
                    Some(Msg::Tool { result, .. }) if !text.is_empty() => {
                        if !result.is_empty() {
                            result.push_str("\n\n");
                        }
                        result.push_str(&text);
                    }
                    Some(_) => {}
                    None => out.push(Msg::User(text)),
                }
                out.append(&mut results);
            }
        }
    }
    system.append(&mut out);
    system
}

/// The images of the newest user message, which a fresh run sends as images.
fn newest_user_images(req: &MessagesRequest) -> Result<Vec<Attached>, ApiError> {
    let Some(m) = req.messages.iter().rev().find(|m| m.role == Role::User) else {
        return Ok(Vec::new());
    };
    m.content
        .iter()
        .filter_map(|b| match b {
            Block::Image { param, data_url } => Some((param, data_url)),
            _ => None,
        })
        .map(
            |(param, url)| match images::decode(&Value::String(url.clone())) {
                Ok(image) => Ok(Attached {
                    param: param.clone(),
                    image,
                }),
                Err(e) => Err(ApiError::invalid(param.clone(), format!("{param}: {e}"))),
            },
        )
        .collect()
}

/// `count_tokens`' answer: an estimate, ≈ 4 characters of JSON per token over the system
/// prompt, the messages and the tools as the client sent them (Cursor counts only the
/// turns it runs, and its tokenizer is not ours to run). Good enough for a client that
/// decides when to compact; it is not a bill.
pub fn estimate_tokens(body: &Value) -> u64 {
    let chars: usize = ["system", "messages", "tools"]
        .iter()
        .filter_map(|k| body.get(*k))
        .map(|v| v.to_string().chars().count())
        .sum();
    (chars as u64).div_ceil(4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::chat::ToolResult;
    use serde_json::json;

    fn req(v: Value) -> Request {
        neutral(&MessagesRequest::from_value(&v).unwrap()).unwrap()
    }

    /// A real 4×3 RGB PNG.
    const PNG_4X3: &str = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAEElEQVR4nGP4z8AARww4OQD1MQv1NXv7ggAAAABJRU5ErkJggg==";

    #[test]
    fn a_tool_round_trip_ends_in_tool_messages_with_the_reminder_in_the_last_result() {
        let r = req(json!({"model": "m", "max_tokens": 10,
            "system": [{"type": "text", "text": "You are Claude Code"}],
            "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}},
                      {"name": "WebFetch", "defer_loading": true, "input_schema": {"type": "object"}},
                      {"name": "NotebookEdit", "defer_loading": true, "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "run it"}]},
                {"role": "system", "content": "env: linux"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "…", "signature": "s"},
                    {"type": "text", "text": "Running."},
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}},
                    {"type": "tool_use", "id": "t2", "name": "Bash", "input": {"command": "pwd"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t1", "content": [
                        {"type": "text", "text": "a.txt"},
                        {"type": "tool_reference", "tool_name": "WebFetch"}]},
                    {"type": "tool_result", "tool_use_id": "t2", "is_error": true, "content": "no"},
                    {"type": "text", "text": "<system-reminder>todo</system-reminder>"}]}]}));
        assert_eq!(r.dialect, Dialect::Messages);
        assert_eq!(r.model.as_deref(), Some("m"));
        assert_eq!(r.tool_choice, neutral::ToolChoice::Required);
        assert_eq!(r.tools[0].parameters, Some(json!({"type": "object"})));
        let names: Vec<_> = r.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["Bash", "WebFetch"],
            "a deferred tool is offered once loaded"
        );
        assert_eq!(r.messages[0], Msg::System("You are Claude Code".into()));
        assert_eq!(
            r.messages[1],
            Msg::System("env: linux".into()),
            "system messages first"
        );
        assert_eq!(r.messages[2], Msg::User("run it".into()));
        assert_eq!(
            r.system_prompt(&[]).as_deref(),
            Some("You are Claude Code\n\nenv: linux")
        );
        let Msg::Assistant { text, calls } = &r.messages[3] else {
            panic!("{:?}", r.messages[3])
        };
        assert_eq!(text, "Running.");
        assert_eq!(calls[1].args, json!({"command": "pwd"}));
        assert_eq!(
            r.trailing_tool_results(),
            vec![
                (
                    "t1".to_string(),
                    ToolResult {
                        content: "a.txt\nTool `WebFetch` is now available.".into(),
                        is_error: false
                    }
                ),
                (
                    "t2".to_string(),
                    ToolResult {
                        content: "no\n\n<system-reminder>todo</system-reminder>".into(),
                        is_error: true
                    }
                ),
            ]
        );
        let Msg::Tool { name, .. } = &r.messages[5] else {
            panic!()
        };
        assert_eq!(name, "Bash", "the name comes from the call");
    }

    #[test]
    fn the_claude_code_recording_ends_in_the_result_of_its_bash_call() {
        // Claude Code 2.1.328's second request of `claude -p "print a marker with bash"`.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/claude-code-request.json"
        );
        let parsed = MessagesRequest::parse(&std::fs::read(path).unwrap()).unwrap();
        assert!(
            parsed.stream && parsed.thinking,
            "adaptive thinking, streamed"
        );
        let r = neutral(&parsed).unwrap();
        let tools = r.offered_tools();
        assert_eq!(tools.len(), 11, "all but the deferred placeholder");
        assert!(tools.iter().any(|t| t.name == "Bash"));
        assert!(!tools.iter().any(|t| t.name == "DeferredToolPlaceholder"));
        let system = r.system_prompt(&tools).unwrap();
        assert!(system.contains("Claude Agent SDK"), "the system blocks");
        assert!(
            system.contains("# Environment"),
            "the system message inside messages"
        );
        let t = r.transcript();
        assert!(t.contains("print a marker with bash"), "{t}");
        assert!(
            t.contains(r#"<tool_call id="toolu_rec_1" name="Bash">"#),
            "{t}"
        );
        assert_eq!(
            r.trailing_tool_results(),
            vec![(
                "toolu_rec_1".to_string(),
                ToolResult {
                    content: "BRIDGE_TOOL_OK".into(),
                    is_error: false
                }
            )]
        );
    }

    #[test]
    fn the_newest_user_images_are_decoded_and_earlier_ones_read_as_marks() {
        let image = json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_4X3}});
        let r = req(json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": [image.clone(), {"type": "text", "text": "what is it?"}]},
            {"role": "assistant", "content": "a dot"},
            {"role": "user", "content": [{"type": "text", "text": "and this?"}, image]}]}));
        assert_eq!(r.messages[0], Msg::User("[image]\n\nwhat is it?".into()));
        assert_eq!(r.images.len(), 1);
        assert_eq!(r.images[0].param, "messages.2.content.1.source");
        assert_eq!((r.images[0].image.width, r.images[0].image.height), (4, 3));
        let bad =
            MessagesRequest::from_value(&json!({"model": "m", "max_tokens": 10, "messages": [
            {"role": "user", "content": [{"type": "image", "source":
                {"type": "base64", "media_type": "image/png", "data": "bm90IGFuIGltYWdl"}}]}]}))
            .unwrap();
        let e = neutral(&bad).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("messages.0.content.0.source"));
        assert!(
            e.message.starts_with("messages.0.content.0.source: "),
            "{}",
            e.message
        );
    }

    #[test]
    fn count_tokens_is_four_characters_of_json_a_token() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "abcd"}]});
        let json_chars = body["messages"].to_string().len() as u64;
        assert_eq!(estimate_tokens(&body), json_chars.div_ceil(4));
        assert_eq!(estimate_tokens(&json!({})), 0);
    }
}
