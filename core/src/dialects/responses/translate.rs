//! A Responses request → the engine's neutral [`Request`]; pure.
//!
//! `instructions` comes first as a system message, then the items of the stored response
//! `previous_response_id` names (its input and output), then `input`. Messages keep their
//! roles (`developer` reads as system); an assistant message and the function calls after
//! it are one assistant turn, as the engine's history has them (a response writes its text
//! item before its call items, and Codex re-sends them in that order); each
//! `function_call_output` is a tool result named after the call it answers. A request that
//! ends with outputs for the calls of a parked run continues that run; outputs for calls
//! nobody waits for (an expired run, another proxy) start a fresh run from the history.
//! The newest user message's images travel as images, earlier ones as `[image]`.

use std::collections::HashMap;

use super::request::{Item, Part, ResponsesRequest, Role, ToolChoice};
use crate::cursor::chat::ToolDef;
use crate::engine::history::{Call, Msg, parse_args};
use crate::engine::images::Attached;
use crate::engine::request::{self as neutral, Dialect, Request};

/// The neutral request for `req` after the `earlier` items of its previous response.
pub(crate) fn neutral(req: &ResponsesRequest, earlier: &[Item]) -> Request {
    let mut messages = Vec::new();
    if let Some(i) = req.instructions.as_deref().filter(|i| !i.trim().is_empty()) {
        messages.push(Msg::System(i.to_string()));
    }
    messages.extend(history(earlier.iter().chain(&req.input)));
    Request {
        model: req.model.clone(),
        messages,
        images: newest_user_images(&req.input),
        tools: req
            .tools
            .iter()
            .map(|t| ToolDef {
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.parameters.clone(),
            })
            .collect(),
        tool_choice: match &req.tool_choice {
            ToolChoice::Auto => neutral::ToolChoice::Auto,
            ToolChoice::None => neutral::ToolChoice::None,
            ToolChoice::Required => neutral::ToolChoice::Required,
            ToolChoice::Function(name) => neutral::ToolChoice::Named(name.clone()),
        },
        stream: req.stream,
        ..Request::new(Dialect::Responses)
    }
}

/// The items a stored response keeps as its conversation: the earlier items and this
/// request's input, without image bytes (they read as `[image]` later, as in any
/// conversation Cursor continues).
pub(crate) fn conversation(req: &ResponsesRequest, earlier: &[Item]) -> Vec<Item> {
    earlier
        .iter()
        .chain(&req.input)
        .map(|item| match item {
            Item::Message { role, content } => Item::Message {
                role: *role,
                content: content
                    .iter()
                    .map(|p| match p {
                        Part::Image { param, .. } => Part::Image {
                            param: param.clone(),
                            image: None,
                        },
                        text => text.clone(),
                    })
                    .collect(),
            },
            other => other.clone(),
        })
        .collect()
}

fn text_of(content: &[Part]) -> String {
    content
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.as_str(),
            Part::Image { .. } => "[image]",
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The items as the engine's messages (see the module doc).
fn history<'a>(items: impl Iterator<Item = &'a Item>) -> Vec<Msg> {
    let mut out: Vec<Msg> = Vec::new();
    let mut names: HashMap<&str, &str> = HashMap::new();
    for item in items {
        match item {
            Item::Message { role, content } => out.push(match role {
                Role::System => Msg::System(text_of(content)),
                Role::User => Msg::User(text_of(content)),
                Role::Assistant => Msg::Assistant {
                    text: text_of(content),
                    calls: Vec::new(),
                },
            }),
            Item::FunctionCall {
                call_id,
                name,
                arguments,
            } => {
                names.insert(call_id, name);
                let call = Call {
                    id: call_id.clone(),
                    name: name.clone(),
                    args: parse_args(arguments),
                };
                // Calls join the assistant turn they follow; a call after anything else
                // opens one.
                match out.last_mut() {
                    Some(Msg::Assistant { calls, .. }) => calls.push(call),
                    _ => out.push(Msg::Assistant {
                        text: String::new(),
                        calls: vec![call],
                    }),
                }
            }
            Item::FunctionCallOutput { call_id, output } => out.push(Msg::Tool {
                call_id: call_id.clone(),
                name: names.get(call_id.as_str()).unwrap_or(&"tool").to_string(),
                result: output.clone(),
                is_error: false,
            }),
        }
    }
    out
}

/// The images of the newest user message of `input` (decoded when parsed).
fn newest_user_images(input: &[Item]) -> Vec<Attached> {
    let newest = input.iter().rev().find_map(|item| match item {
        Item::Message {
            role: Role::User,
            content,
        } => Some(content),
        _ => None,
    });
    newest
        .into_iter()
        .flatten()
        .filter_map(|p| match p {
            Part::Image {
                param,
                image: Some(image),
            } => Some(Attached {
                param: param.clone(),
                image: image.clone(),
            }),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::chat::ToolResult;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> ResponsesRequest {
        ResponsesRequest::parse(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn instructions_and_developer_messages_become_the_system_prompt() {
        let r = parse(json!({"instructions": "be brief", "input": [
            {"type": "message", "role": "developer", "content": "use metric"},
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}]}]}));
        let n = neutral(&r, &[]);
        assert_eq!(n.dialect, Dialect::Responses);
        assert_eq!(
            n.system_prompt(&[]).as_deref(),
            Some("be brief\n\nuse metric")
        );
        assert_eq!(n.transcript(), "hi");
    }

    #[test]
    fn a_message_and_its_calls_are_one_assistant_turn_and_outputs_continue_it() {
        let r = parse(json!({"input": [
            {"role": "user", "content": "list files"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running it."}]},
            {"type": "function_call", "call_id": "c1", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
            {"type": "function_call", "call_id": "c2", "name": "exec_command", "arguments": "not json"},
            {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "b"}]}]}));
        let n = neutral(&r, &[]);
        assert_eq!(
            n.messages,
            vec![
                Msg::User("list files".into()),
                Msg::Assistant {
                    text: "Running it.".into(),
                    calls: vec![
                        Call {
                            id: "c1".into(),
                            name: "exec_command".into(),
                            args: json!({"cmd": "ls"})
                        },
                        Call {
                            id: "c2".into(),
                            name: "exec_command".into(),
                            args: json!("not json")
                        },
                    ],
                },
                Msg::Tool {
                    call_id: "c1".into(),
                    name: "exec_command".into(),
                    result: "a.txt".into(),
                    is_error: false
                },
                Msg::Tool {
                    call_id: "c2".into(),
                    name: "exec_command".into(),
                    result: "b".into(),
                    is_error: false
                },
            ]
        );
        let results: Vec<(String, ToolResult)> = n.trailing_tool_results();
        assert_eq!(
            results
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>(),
            ["c1", "c2"]
        );
    }

    #[test]
    fn the_previous_response_comes_before_the_input_and_outputs_name_its_calls() {
        let first = parse(json!({"instructions": "terse", "input": "weather?"}));
        let mut kept = conversation(&first, &[]);
        kept.push(Item::FunctionCall {
            call_id: "c1".into(),
            name: "get_weather".into(),
            arguments: "{}".into(),
        });
        let next = parse(json!({"previous_response_id": "resp_1", "input": [
            {"type": "function_call_output", "call_id": "c1", "output": "18C"}]}));
        let n = neutral(&next, &kept);
        // Instructions are not carried over (OpenAI's rule); the history is.
        assert_eq!(n.system_prompt(&[]), None);
        assert_eq!(n.messages[0], Msg::User("weather?".into()));
        assert!(matches!(&n.messages[2], Msg::Tool { name, .. } if name == "get_weather"));
        assert_eq!(n.trailing_tool_results().len(), 1);
    }

    #[test]
    fn only_the_newest_user_message_brings_its_images_and_the_store_keeps_none() {
        let png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAIAAAADCAYAAAAfFcSJ";
        let r = parse(json!({"input": [
            {"role": "user", "content": [{"type": "input_image", "image_url": png}]},
            {"role": "assistant", "content": "a cat"},
            {"role": "user", "content": [{"type": "input_text", "text": "and this?"},
                {"type": "input_image", "image_url": png, "detail": "auto"}]}]}));
        let n = neutral(&r, &[]);
        assert_eq!(n.images.len(), 1);
        assert_eq!(n.images[0].param, "input[2].content[1].image_url");
        assert_eq!(n.messages[0], Msg::User("[image]".into()));
        assert_eq!(n.messages[2], Msg::User("and this?\n[image]".into()));
        let kept = conversation(&r, &[]);
        assert!(kept.iter().all(|i| {
            match i {
                Item::Message { content, .. } => content
                    .iter()
                    .all(|p| !matches!(p, Part::Image { image: Some(_), .. })),
                _ => true,
            }
        }));
        assert!(
            neutral(&parse(json!({"input": "x"})), &kept)
                .images
                .is_empty()
        );
    }

    #[test]
    fn tools_and_tool_choice_map_to_the_neutral_ones() {
        let r = parse(
            json!({"input": "x", "tool_choice": {"type": "function", "name": "f"},
            "tools": [{"type": "function", "name": "f", "description": "d",
                "parameters": {"type": "object"}, "strict": true},
                {"type": "web_search"}, {"type": "namespace", "name": "mcp"}]}),
        );
        let n = neutral(&r, &[]);
        assert_eq!(n.tools.len(), 1);
        assert_eq!(n.tools[0].description, "d");
        assert_eq!(n.tool_choice, neutral::ToolChoice::Named("f".into()));
        assert_eq!(r.skipped_tools, ["web_search"]);
    }
}
