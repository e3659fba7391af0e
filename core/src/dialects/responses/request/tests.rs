//! The request parser's rules: field paths in errors, which tools are skipped or refused.

use super::*;
use serde_json::json;

fn parse(v: Value) -> Result<ResponsesRequest, ApiError> {
    ResponsesRequest::parse(v.to_string().as_bytes())
}

fn param_of(v: Value) -> String {
    parse(v).unwrap_err().param.unwrap_or_default()
}

#[test]
fn a_string_input_is_one_user_message_and_defaults_are_openais() {
    let r = parse(json!({"model": "auto", "input": "hi"})).unwrap();
    assert_eq!(
        r.input,
        [Item::Message {
            role: Role::User,
            content: vec![Part::Text("hi".into())]
        }]
    );
    assert!(r.store && r.parallel_tool_calls && !r.stream);
    assert_eq!(r.tool_choice, ToolChoice::Auto);
}

#[test]
fn errors_name_the_field_path() {
    assert_eq!(
        ResponsesRequest::parse(b"{nope").unwrap_err().code,
        Some("invalid_json")
    );
    assert_eq!(param_of(json!({})), "input");
    assert_eq!(param_of(json!({"input": 5})), "input");
    assert_eq!(param_of(json!({"input": []})), "input");
    assert_eq!(
        param_of(json!({"input": [{"type": "reasoning", "summary": []}]})),
        "input"
    );
    assert_eq!(param_of(json!({"input": "x", "model": " "})), "model");
    assert_eq!(param_of(json!({"input": "x", "stream": "yes"})), "stream");
    assert_eq!(
        param_of(json!({"input": "x", "temperature": -1})),
        "temperature"
    );
    assert_eq!(
        param_of(json!({"input": "x", "max_output_tokens": 1.5})),
        "max_output_tokens"
    );
    assert_eq!(
        param_of(json!({"input": "x", "reasoning": {"effort": 3}})),
        "reasoning.effort"
    );
    assert_eq!(
        param_of(json!({"input": "x", "include": ["a", 1]})),
        "include[1]"
    );
    assert_eq!(param_of(json!({"input": "x", "metadata": []})), "metadata");
    assert_eq!(
        param_of(json!({"input": [{"role": "wizard", "content": "x"}]})),
        "input[0].role"
    );
    assert_eq!(
        param_of(json!({"input": ["x", {"role": "user", "content": [{"type": "input_text"}]}]})),
        "input[0]"
    );
    assert_eq!(
        param_of(json!({"input": [{"role": "user", "content": "x"},
            {"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text"}]}]})),
        "input[1].content[1].text"
    );
    assert_eq!(
        param_of(json!({"input": [{"type": "function_call", "name": "f"}]})),
        "input[0].call_id"
    );
    assert_eq!(
        param_of(json!({"input": [{"type": "function_call_output", "call_id": "c", "output": 3}]})),
        "input[0].output"
    );
    assert_eq!(
        param_of(json!({"input": [{"type": "web_search_call"}]})),
        "input[0].type"
    );
    let e = parse(json!({"input": "x", "tools": [{"type": "function", "name": "bad name"}]}))
        .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("tools[0].name"));
    assert!(e.message.starts_with("tools[0].name: "), "{}", e.message);
    assert_eq!(
        param_of(
            json!({"input": "x", "tools": [{"type": "function", "name": "f"},
            {"type": "function", "name": "f"}]})
        ),
        "tools[1].name"
    );
}

#[test]
fn images_must_be_data_urls_and_name_their_part() {
    let e = parse(
        json!({"input": [{"role": "user", "content": "x"}, {"role": "user", "content": [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "https://example.com/cat.png"}]}]}),
    )
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("input[1].content[1].image_url"));
    assert!(e.message.contains("data URL"), "{}", e.message);
    let e = parse(json!({"input": [{"role": "user", "content": [
        {"type": "input_image", "file_id": "file_1"}]}]}))
    .unwrap_err();
    assert!(e.message.contains("file_id"), "{}", e.message);
}

#[test]
fn declared_built_in_tools_are_skipped_but_forcing_one_is_refused() {
    let codex_like = json!({"input": [
        {"type": "additional_tools", "tools": [
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {"type": "custom", "name": "apply_patch"}]},
        {"role": "user", "content": "hi"}],
        "tools": [{"type": "namespace", "name": "mcp"}, {"type": "web_search"},
            {"type": "function", "name": "view_image"}]});
    let r = parse(codex_like).unwrap();
    let names: Vec<&str> = r.tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["view_image", "exec_command", "apply_patch"]);
    assert!(r.tools[2].custom && !r.tools[1].custom);
    assert_eq!(r.skipped_tools, ["web_search"]);
    assert_eq!(r.input.len(), 1, "the tool declaration is no message");
    let e = parse(json!({"input": "x", "tools": [{"type": "web_search"}],
        "tool_choice": {"type": "web_search"}}))
    .unwrap_err();
    assert_eq!(e.param.as_deref(), Some("tool_choice"));
    assert!(e.message.contains("web_search"), "{}", e.message);
    assert_eq!(
        param_of(json!({"input": "x", "tool_choice": {"type": "function", "name": "nope"}})),
        "tool_choice"
    );
    assert_eq!(
        param_of(json!({"input": "x", "tool_choice": "sometimes"})),
        "tool_choice"
    );
    let e = parse(
        json!({"input": "x", "tool_choice": {"type": "allowed_tools", "mode": "auto",
        "tools": []}}),
    )
    .unwrap_err();
    assert!(
        e.message.contains("`allowed_tools` is not supported"),
        "{}",
        e.message
    );
}

#[test]
fn custom_tool_calls_and_outputs_are_function_calls_and_outputs() {
    let r = parse(json!({"tools": [{"type": "custom", "name": "exec"}],
        "tool_choice": {"type": "custom", "name": "exec"},
        "input": [
        {"type": "custom_tool_call", "call_id": "c1", "name": "exec", "input": "ls"},
        {"type": "custom_tool_call_output", "call_id": "c1", "output": "a.txt"}]}))
    .unwrap();
    assert_eq!(
        r.input,
        [
            Item::FunctionCall {
                call_id: "c1".into(),
                name: "exec".into(),
                arguments: r#"{"input":"ls"}"#.into()
            },
            Item::FunctionCallOutput {
                call_id: "c1".into(),
                output: "a.txt".into()
            }
        ]
    );
    assert_eq!(r.tool_choice, ToolChoice::Function("exec".into()));
    assert_eq!(
        param_of(
            json!({"input": "x", "tools": [{"type": "function", "name": "exec"}],
            "tool_choice": {"type": "custom", "name": "exec"}})
        ),
        "tool_choice"
    );
    assert_eq!(
        param_of(
            json!({"input": "x", "tools": [{"type": "custom", "name": "exec",
            "format": {"type": "regex"}}]})
        ),
        "tools[0].format.type"
    );
}

#[test]
fn reasoning_items_are_accepted_and_not_kept_and_unknown_fields_are_ignored() {
    let r = parse(json!({"input": [
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "x"},
        {"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "a", "annotations": []},
            {"type": "refusal", "refusal": "no"}]}],
        "prompt_cache_key": "k", "client_metadata": {"x": 1}}))
    .unwrap();
    assert_eq!(
        r.input,
        [Item::Message {
            role: Role::Assistant,
            content: vec![Part::Text("a".into()), Part::Text("no".into())]
        }]
    );
}

#[test]
fn a_namespaces_tools_join_the_others_and_a_name_taken_is_skipped_there() {
    let r = parse(json!({"input": "x", "tools": [
        {"type": "function", "name": "wait"},
        {"type": "namespace", "name": "functions", "tools": [
            {"type": "function", "name": "wait"},
            {"type": "custom", "name": "exec"},
            {"type": "web_search"}]}]}))
    .unwrap();
    let tools: Vec<(&str, Option<&str>)> = r
        .tools
        .iter()
        .map(|t| (t.name.as_str(), t.namespace.as_deref()))
        .collect();
    assert_eq!(tools, [("wait", None), ("exec", Some("functions"))]);
    assert_eq!(r.skipped_tools, ["web_search"]);
    assert_eq!(
        param_of(
            json!({"input": [{"type": "function_call", "call_id": "c", "name": "f",
            "namespace": 3}]})
        ),
        "input[0].namespace"
    );
}

#[test]
fn bodies_are_refused_as_chat_refuses_them_a_key_given_twice_or_nesting_too_deep() {
    let e = ResponsesRequest::parse(br#"{"input": "a", "input": "b"}"#).unwrap_err();
    assert_eq!(e.code, Some("invalid_request"));
    assert!(e.message.contains("duplicate field `input`"), "{e:?}");
    // Too deep even in a field nobody reads: not JSON this proxy takes, as in chat.
    let deep = format!(
        r#"{{"input": "hi", "x": {}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let e = ResponsesRequest::parse(deep.as_bytes()).unwrap_err();
    assert_eq!(e.code, Some("invalid_json"));
    let e = ResponsesRequest::parse(b"[1]").unwrap_err();
    assert_eq!(
        (e.code, e.param.as_deref()),
        (Some("invalid_request"), Some(""))
    );
    let body = format!(
        r#"{{"input": [{}]}}"#,
        vec![r#"{"role": "user", "content": "x"}"#; limits::MESSAGES + 2].join(",")
    );
    let e = ResponsesRequest::parse(body.as_bytes()).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("input"));
    assert!(e.message.contains("10002"), "{}", e.message);
}
