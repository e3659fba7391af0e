//! The request parser: what it takes, and the path every refusal names.

use super::*;
use serde_json::json;

fn parse(v: Value) -> Result<MessagesRequest, ApiError> {
    MessagesRequest::from_value(&v)
}

fn minimal() -> Value {
    json!({"model": "claude-opus-5-5", "max_tokens": 1024,
           "messages": [{"role": "user", "content": "hi"}]})
}

fn param_of(v: Value) -> String {
    parse(v).unwrap_err().param.unwrap_or_default()
}

#[test]
fn a_minimal_request_parses_with_defaults() {
    let r = parse(minimal()).unwrap();
    assert_eq!(r.model, "claude-opus-5-5");
    assert_eq!(r.max_tokens, 1024);
    assert!(!r.stream && !r.thinking && r.tools.is_empty() && r.system.is_empty());
    assert_eq!(r.messages[0].content, vec![Block::Text("hi".into())]);
}

#[test]
fn bad_fields_are_named_by_their_path() {
    let mut v = minimal();
    v["messages"] = json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
        {"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": 5}}]}]);
    let e = parse(v).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages.2.content.0.source.data"));
    assert!(
        e.message.ends_with("expected a string, got 5"),
        "{}",
        e.message
    );
    let mut v = minimal();
    v["system"] = json!({"long": "y".repeat(100)});
    let e = parse(v).unwrap_err();
    assert!(
        e.message.ends_with('…') && e.message.len() < 120,
        "{}",
        e.message
    );
    let mut v = minimal();
    v.as_object_mut().unwrap().remove("max_tokens");
    assert_eq!(param_of(v), "max_tokens");
    for bad in [json!(0), json!(-1), json!(1.5), json!("10")] {
        let mut v = minimal();
        v["max_tokens"] = bad;
        assert_eq!(param_of(v), "max_tokens");
    }
    let mut v = minimal();
    v["messages"][0]["role"] = json!("tool");
    assert_eq!(param_of(v), "messages.0.role");
    let mut v = minimal();
    v["messages"][0] = json!({"role": "system", "content": [{"type": "image", "source": {}}]});
    assert_eq!(param_of(v), "messages.0.content.0.type");
    let mut v = minimal();
    v["messages"][0]["content"] = json!([{"type": "document", "source": {}}]);
    let e = parse(v).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages.0.content.0.type"));
    assert!(e.message.contains("`document`"));
    for (field, value) in [
        ("temperature", json!(2)),
        ("top_p", json!("x")),
        ("top_k", json!(-3)),
        ("stop_sequences", json!(["ok", 1])),
        ("metadata", json!({"user_id": 7})),
        ("stream", json!("yes")),
        ("system", json!([{"type": "image"}])),
        ("tool_choice", json!({"type": "sometimes"})),
        ("thinking", json!({"type": "enabled", "budget_tokens": 10})),
    ] {
        let mut v = minimal();
        v[field] = value;
        assert!(param_of(v).starts_with(field), "{field}");
    }
    assert!(parse(json!([])).is_err());
    assert!(MessagesRequest::parse(b"{").unwrap_err().code == Some("invalid_json"));
}

#[test]
fn url_images_and_server_tools_are_refused_clearly_and_deferred_tools_skipped() {
    let mut v = minimal();
    v["messages"][0]["content"] =
        json!([{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}]);
    let e = parse(v).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages.0.content.0.source.type"));
    assert!(e.message.contains("base64"), "{}", e.message);
    let custom = json!({"name": "Bash", "description": "run", "input_schema": {"type": "object"}});
    let mut v = minimal();
    v["tools"] = json!([custom, {"type": "web_search_20250305", "name": "web_search"}]);
    let e = parse(v).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("tools.1"));
    assert!(e.message.contains("server tool"), "{}", e.message);
    let mut v = minimal();
    v["tools"] = json!([custom, {"name": "DeferredToolPlaceholder", "defer_loading": true},
        {"type": "custom", "name": "Read", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}]);
    let r = parse(v).unwrap();
    let tools: Vec<_> = r
        .tools
        .iter()
        .map(|t| (t.name.as_str(), t.deferred))
        .collect();
    assert_eq!(
        tools,
        [
            ("Bash", false),
            ("DeferredToolPlaceholder", true),
            ("Read", false)
        ]
    );
}

#[test]
fn blocks_of_every_kind_parse_and_unknown_top_level_fields_are_ignored() {
    let v = json!({
        "model": "m", "max_tokens": 4096, "stream": true, "future_field": {"x": 1},
        "system": [{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tool_choice": {"type": "tool", "name": "Bash", "disable_parallel_tool_use": true},
        "metadata": {"user_id": "u"}, "temperature": 0.5, "top_k": 5, "stop_sequences": ["X"],
        "messages": [
            {"role": "user", "content": "list"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hm", "signature": "s"},
                {"type": "redacted_thinking", "data": "d"},
                {"type": "text", "text": "ok"},
                {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "is_error": true,
                 "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                {"type": "text", "text": "<system-reminder>x</system-reminder>"}]}]});
    let r = parse(v).unwrap();
    assert!(r.stream && r.thinking);
    assert_eq!(r.system, ["be brief"]);
    assert_eq!(r.tool_choice, Some(ToolChoice::Tool("Bash".into())));
    assert_eq!(r.messages[1].content.len(), 4);
    assert_eq!(r.messages[1].content[0], Block::Thinking);
    assert_eq!(
        r.messages[2].content[0],
        Block::ToolResult {
            tool_use_id: "t1".into(),
            content: "a\nb".into(),
            is_error: true,
            references: vec![],
        }
    );
    let mut v = minimal();
    v["messages"][0]["content"] =
        json!([{"type": "tool_use", "id": "t", "name": "n", "input": {}}]);
    assert_eq!(
        param_of(v),
        "messages.0.content.0.type",
        "tool_use is the assistant's"
    );
}

#[test]
fn bodies_are_refused_as_chat_refuses_them_a_key_given_twice_or_nesting_too_deep() {
    let body = br#"{"model": "a", "model": "b", "max_tokens": 5,
        "messages": [{"role": "user", "content": "x"}]}"#;
    let e = MessagesRequest::parse(body).unwrap_err();
    assert_eq!(e.code, Some("invalid_request"));
    assert!(e.message.contains("duplicate field `model`"), "{e:?}");
    // Too deep even in a field nobody reads: not JSON this proxy takes, as in chat.
    let deep = format!(
        r#"{{"model": "m", "max_tokens": 5, "messages": [{{"role": "user", "content": "x"}}],
            "x": {}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let e = MessagesRequest::parse(deep.as_bytes()).unwrap_err();
    assert_eq!(e.code, Some("invalid_json"));
    // Unknown fields of any shape pass untouched, and past-the-cap arrays are still
    // counted in full.
    let body = format!(
        r#"{{"model": "m", "max_tokens": 5, "extra": {{"a": [1, {{}}]}},
            "messages": [{}]}}"#,
        vec![r#"{"role": "user", "content": "x"}"#; limits::MESSAGES + 2].join(",")
    );
    let e = MessagesRequest::parse(body.as_bytes()).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("messages"));
    assert!(e.message.contains("10002"), "{}", e.message);
}
