//! Anthropic Messages (`/v1/messages`) against the real proxy and the fake Cursor, as raw
//! HTTP the way Claude Code sends it (`?beta=true`, `x-api-key`, `anthropic-version`):
//! the message object, the exact SSE event sequence, a tool round trip that continues the
//! same Cursor run (the fake records the result on that run), `is_error` results, images,
//! thinking, `count_tokens`, the models list in Anthropic's shape, model aliases, and
//! hostile input answered in Anthropic's error shape.

use crate::common;

use cursor_bridge_core::config::settings::Paths;
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_tests::{EndError, FakeCursor, FakeModel, HistoryKind, Turn, TurnUsage};
use serde_json::{Value, json};

use common::Harness;
use common::proxy::{Proxy, fake_playing, minted, signed_in};

const VERSION: &str = "2023-06-01";

/// A real 4×3 RGB PNG.
const PNG_4X3: &str = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAEElEQVR4nGP4z8AARww4OQD1MQv1NXv7ggAAAABJRU5ErkJggg==";

/// `POST path` with Claude Code's headers and the proxy's key as `x-api-key`.
async fn post_to(p: &Proxy, path: &str, body: &Value) -> reqwest::Response {
    p.http
        .post(format!("{}{path}", p.base))
        .header("x-api-key", &p.key)
        .header("anthropic-version", VERSION)
        .header(
            "anthropic-beta",
            "claude-code-20250219,some-future-beta-2099",
        )
        .header("user-agent", "claude-cli/2.1.328 (external, cli)")
        .json(body)
        .send()
        .await
        .expect("send")
}

async fn post(p: &Proxy, body: &Value) -> reqwest::Response {
    post_to(p, "/v1/messages?beta=true", body).await
}

/// A non-streaming request that must succeed: the message object.
async fn message(p: &Proxy, body: &Value) -> Value {
    let res = post(p, body).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    res.json().await.expect("json")
}

/// A streamed request read to its end: `(event name, data)` per event, each checked to
/// have both lines and to agree on its type.
async fn events(p: &Proxy, body: &Value) -> Vec<(String, Value)> {
    let res = post(p, body).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    assert_eq!(
        res.headers()["content-type"].to_str().expect("ascii"),
        "text/event-stream"
    );
    let text = res.text().await.expect("the body closes");
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut lines = e.lines();
            let name = lines.next().and_then(|l| l.strip_prefix("event: "));
            let data = lines.next().and_then(|l| l.strip_prefix("data: "));
            let (Some(name), Some(data)) = (name, data) else {
                panic!("an event without its event: and data: lines: {e:?}")
            };
            let data: Value = serde_json::from_str(data).expect("json data");
            assert_eq!(data["type"], name, "{e}");
            (name.to_string(), data)
        })
        .collect()
}

fn names(evs: &[(String, Value)]) -> Vec<&str> {
    evs.iter().map(|(n, _)| n.as_str()).collect()
}

/// The concatenation of one delta field over the events.
fn deltas(evs: &[(String, Value)], kind: &str, field: &str) -> String {
    evs.iter()
        .filter(|(_, d)| d["delta"]["type"] == kind)
        .filter_map(|(_, d)| d["delta"][field].as_str())
        .collect()
}

fn user(text: &str) -> Value {
    json!({"model": "claude-opus-5-5", "max_tokens": 1024,
           "messages": [{"role": "user", "content": text}]})
}

fn bash_tool() -> Value {
    json!({"name": "Bash", "description": "Run a shell command",
           "input_schema": {"type": "object", "properties": {"command": {"type": "string"}},
                            "required": ["command"]}})
}

/// Status and the body of an Anthropic error response, checked to be in that shape.
async fn anthropic_error(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("error json");
    assert_eq!(body["type"], "error", "{body}");
    let e = &body["error"];
    (
        status,
        e["type"].as_str().expect("type").to_string(),
        e["message"].as_str().expect("message").to_string(),
    )
}

#[tokio::test]
async fn a_plain_request_answers_the_message_object_with_cursors_usage_split() {
    let p = signed_in(vec![Turn::default_reply()]).await;
    let m = message(&p, &user("hi")).await;
    assert!(m["id"].as_str().unwrap().starts_with("msg_"), "{m}");
    assert_eq!(m["type"], "message");
    assert_eq!(m["role"], "assistant");
    assert_eq!(m["model"], "claude-opus-5-5", "the name as asked");
    assert_eq!(
        m["content"],
        json!([{"type": "text", "text": "Hello from the fake Cursor."}])
    );
    assert_eq!(m["stop_reason"], "end_turn");
    // Cursor's count: 193 input besides the 1000 read from the cache.
    assert_eq!(
        m["usage"],
        json!({"input_tokens": 193, "output_tokens": 7,
               "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 0})
    );
    let runs = p.fake().runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].user_text(), Some("hi"));
    assert_eq!(
        runs[0].model_id(),
        Some("default"),
        "no opus in the catalogue: auto"
    );
}

#[tokio::test]
async fn a_stream_sends_anthropics_events_in_order_with_thinking_when_asked() {
    let turn = Turn::new()
        .thinking("Let me ")
        .thinking("think.")
        .text("Hel")
        .token_delta(1)
        .text("lo.")
        .token_delta(1)
        .checkpoint(500, 200_000)
        .turn_ended_usage(TurnUsage {
            input_tokens: 40,
            output_tokens: 5,
            cache_read_tokens: 400,
            cache_write_tokens: 20,
            reasoning_tokens: 3,
        })
        .end_ok();
    let p = signed_in(vec![turn.clone(), turn]).await;
    let mut body = user("hi");
    body["stream"] = json!(true);
    body["max_tokens"] = json!(4096);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let evs = events(&p, &body).await;
    assert_eq!(
        names(&evs),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let start = &evs[0].1["message"];
    assert!(start["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(start["content"], json!([]));
    assert_eq!(
        evs[1].1["content_block"],
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    assert_eq!(deltas(&evs, "thinking_delta", "thinking"), "Let me think.");
    assert_eq!(evs[4].1["delta"]["type"], "signature_delta");
    assert_eq!(evs[6].1["index"], 1);
    assert_eq!(deltas(&evs, "text_delta", "text"), "Hello.");
    assert_eq!(evs[10].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(
        evs[10].1["usage"],
        json!({"input_tokens": 40, "output_tokens": 5,
               "cache_read_input_tokens": 400, "cache_creation_input_tokens": 20})
    );
    // Without `thinking` the reasoning is left out, as Anthropic does.
    body["thinking"] = json!({"type": "disabled"});
    let evs = events(&p, &body).await;
    assert_eq!(deltas(&evs, "thinking_delta", "thinking"), "");
    assert_eq!(deltas(&evs, "text_delta", "text"), "Hello.");
}

/// A turn that calls `Bash` with a long command as `toolu_e2e_1`, then answers "Done.".
fn bash_turn() -> Turn {
    Turn::new()
        .text("Running it.")
        .mcp_call(
            "Bash",
            "Bash",
            "toolu_e2e_1",
            json!({"command": format!("echo {}", "x".repeat(200)), "description": "Print"}),
        )
        .text("Done.")
        .token_delta(2)
        .checkpoint(900, 200_000)
        .turn_ended()
        .end_ok()
}

/// The first request of a Bash round trip (streamed), and the request that answers it.
fn bash_first() -> Value {
    json!({"model": "claude-opus-5-5", "max_tokens": 1024, "stream": true,
        "tools": [bash_tool()], "messages": [{"role": "user", "content": "print x"}]})
}

/// The request answering [`bash_first`]'s call `id` with `result` (its `tool_use_id` set
/// to `id`).
fn bash_second(id: &str, mut result: Value) -> Value {
    result["tool_use_id"] = json!(id);
    let mut second = bash_first();
    second["messages"] = json!([
        {"role": "user", "content": "print x"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Running it."},
            {"type": "tool_use", "id": id, "name": "Bash",
             "input": {"command": format!("echo {}", "x".repeat(200)), "description": "Print"}}]},
        {"role": "user", "content": [result,
            {"type": "text", "text": "<system-reminder>keep going</system-reminder>"}]}]);
    second
}

#[tokio::test]
async fn a_tool_round_trip_closes_the_body_at_tool_use_and_continues_the_same_run() {
    let p = signed_in(vec![bash_turn()]).await;
    let evs = events(&p, &bash_first()).await;
    assert_eq!(deltas(&evs, "text_delta", "text"), "Running it.");
    let tool_start = evs
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .expect("a tool_use block");
    let id = minted(&tool_start.1["content_block"]["id"], "toolu_e2e_1");
    assert_eq!(
        tool_start.1["content_block"],
        json!({"type": "tool_use", "id": id, "name": "Bash", "input": {}})
    );
    let pieces = evs
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .count();
    assert!(pieces > 1, "a long input streams in pieces");
    let input: Value =
        serde_json::from_str(&deltas(&evs, "input_json_delta", "partial_json")).unwrap();
    assert_eq!(input["command"], format!("echo {}", "x".repeat(200)));
    let delta = evs.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
    assert_eq!(names(&evs).last(), Some(&"message_stop"));
    // The body closed (read to its end above) while the run is parked.
    assert_eq!(p.fake().runs().len(), 1);
    assert!(
        p.fake().runs()[0].end.is_none(),
        "the run waits for the result"
    );

    let second = bash_second(
        &id,
        json!({"type": "tool_result", "content": [{"type": "text", "text": "xxxx"}]}),
    );
    let evs = events(&p, &second).await;
    assert_eq!(deltas(&evs, "text_delta", "text"), "Done.");
    let runs = p.fake().runs();
    assert_eq!(runs.len(), 1, "the result continued the parked run");
    assert_eq!(runs[0].mcp_results.len(), 1);
    let (id, text) = &runs[0].mcp_results[0];
    assert_eq!(id, "toolu_e2e_1", "Cursor gets the result under its own id");
    assert_eq!(
        text, "xxxx\n\n<system-reminder>keep going</system-reminder>",
        "the reminder rides in the last result"
    );
}

#[tokio::test]
async fn an_is_error_result_reaches_cursor_as_a_failure() {
    let p = signed_in(vec![bash_turn()]).await;
    let evs = events(&p, &bash_first()).await;
    let (_, start) = evs
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .expect("a tool_use block");
    let id = minted(&start["content_block"]["id"], "toolu_e2e_1");
    let mut second = bash_second(
        &id,
        json!({"type": "tool_result", "is_error": true, "content": "command not found"}),
    );
    second["stream"] = json!(false);
    let m = message(&p, &second).await;
    assert_eq!(m["content"][0]["text"], "Done.");
    let runs = p.fake().runs();
    assert_eq!(runs.len(), 1);
    let (_, text) = &runs[0].mcp_results[0];
    assert!(text.starts_with("command not found"), "{text}");
    let mcp = runs[0]
        .execs
        .iter()
        .find(|e| e.kind == "mcp")
        .expect("the MCP exec");
    let [pb::exec_client_message::Result::McpResult(r)] = mcp.results.as_slice() else {
        panic!("{:?}", mcp.results)
    };
    let Some(pb::mcp_result::Result::Success(s)) = &r.result else {
        panic!("{r:?}")
    };
    assert!(s.is_error, "Cursor hears that the tool failed");
}

#[tokio::test]
async fn unknown_tool_use_ids_start_a_fresh_run_with_the_history() {
    let p = signed_in(vec![Turn::reply("From the history.")]).await;
    let mut second = bash_second(
        "toolu_e2e_1",
        json!({"type": "tool_result", "content": "xxxx"}),
    );
    second["stream"] = json!(false);
    let m = message(&p, &second).await;
    assert_eq!(m["content"][0]["text"], "From the history.");
    let runs = p.fake().runs();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].history, HistoryKind::Structured);
    let roles: Vec<_> = runs[0]
        .history_messages
        .iter()
        .map(|m| m["role"].clone())
        .collect();
    assert_eq!(roles, [json!("user"), json!("assistant"), json!("tool")]);
}

#[tokio::test]
async fn images_go_to_cursor_and_url_sources_are_refused() {
    let p = signed_in(vec![Turn::reply("A small image.")]).await;
    let image = |source: Value| {
        json!({"model": "claude-sonnet-5", "max_tokens": 100, "messages": [{"role": "user",
            "content": [{"type": "image", "source": source}, {"type": "text", "text": "what?"}]}]})
    };
    let m = message(
        &p,
        &image(json!({"type": "base64", "media_type": "image/png", "data": PNG_4X3})),
    )
    .await;
    assert_eq!(m["content"][0]["text"], "A small image.");
    let runs = p.fake().runs();
    assert_eq!(
        runs[0].model_id(),
        Some("claude-4.5-sonnet"),
        "sonnet → sonnet"
    );
    let images = runs[0].images();
    assert_eq!(images.len(), 1);
    assert_eq!(
        (
            images[0].mime_type.as_str(),
            images[0].width,
            images[0].height
        ),
        ("image/png", 4, 3)
    );
    let res = post(
        &p,
        &image(json!({"type": "url", "url": "https://example.com/a.png"})),
    )
    .await;
    let (status, kind, msg) = anthropic_error(res).await;
    assert_eq!((status, kind.as_str()), (400, "invalid_request_error"));
    assert!(
        msg.starts_with("messages.0.content.0.source.type:"),
        "{msg}"
    );
    let res = post(
        &p,
        &image(json!({"type": "base64", "media_type": "image/png", "data": "bm90IGFuIGltYWdl"})),
    )
    .await;
    let (status, _, msg) = anthropic_error(res).await;
    assert_eq!(status, 400);
    assert!(msg.starts_with("messages.0.content.0.source:"), "{msg}");
    assert_eq!(p.fake().runs().len(), 1, "refused requests reach no run");
}

#[tokio::test]
async fn count_tokens_is_four_characters_of_json_a_token_and_checks_the_body() {
    let p = signed_in(vec![]).await;
    let body = json!({"model": "claude-opus-5-5", "system": "be brief", "tools": [bash_tool()],
        "messages": [{"role": "user", "content": "how many tokens is this?"}]});
    let res = post_to(&p, "/v1/messages/count_tokens?beta=true", &body).await;
    assert_eq!(res.status(), 200);
    let counted: Value = res.json().await.unwrap();
    let chars: usize = ["system", "messages", "tools"]
        .iter()
        .map(|k| body[*k].to_string().chars().count())
        .sum();
    assert_eq!(counted, json!({"input_tokens": chars.div_ceil(4)}));
    let res = post_to(
        &p,
        "/v1/messages/count_tokens",
        &json!({"model": "m", "messages": "hi"}),
    )
    .await;
    let (status, kind, msg) = anthropic_error(res).await;
    assert_eq!((status, kind.as_str()), (400, "invalid_request_error"));
    assert!(msg.starts_with("messages:"), "{msg}");
    assert!(p.fake().runs().is_empty());
}

#[tokio::test]
async fn models_come_in_anthropics_shape_when_the_request_carries_anthropic_version() {
    let p = signed_in(vec![]).await;
    let get = |path: &str, anthropic: bool| {
        let mut r = p
            .http
            .get(format!("{}{path}", p.base))
            .header("x-api-key", &p.key);
        if anthropic {
            r = r.header("anthropic-version", VERSION);
        }
        r.send()
    };
    let list: Value = get("/v1/models", true).await.unwrap().json().await.unwrap();
    assert_eq!(list["has_more"], false);
    let data = list["data"].as_array().unwrap();
    assert_eq!(list["first_id"], data[0]["id"]);
    assert_eq!(list["last_id"], data[data.len() - 1]["id"]);
    let sonnet = data
        .iter()
        .find(|m| m["id"] == "claude-4.5-sonnet")
        .expect("listed");
    assert_eq!(sonnet["type"], "model");
    assert_eq!(sonnet["display_name"], "Claude 4.5 Sonnet");
    let at = sonnet["created_at"].as_str().unwrap();
    assert!(
        at.len() == 20 && at.ends_with('Z') && &at[10..11] == "T",
        "{at}"
    );
    let one: Value = get("/v1/models/claude-4.5-sonnet", true)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["type"], "model");
    let (status, kind, _) = anthropic_error(get("/v1/models/nope", true).await.unwrap()).await;
    assert_eq!((status, kind.as_str()), (404, "not_found_error"));
    let openai: Value = get("/v1/models", false)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        openai["object"], "list",
        "without the header: OpenAI's shape"
    );
}

#[tokio::test]
async fn anthropic_names_map_to_the_newest_claude_of_their_family_and_user_aliases_win() {
    let mut models = FakeModel::default_catalogue();
    models.push(FakeModel::new("claude-4.1-opus").display("claude-4.1-opus", "Opus 4.1", "O"));
    models.push(FakeModel::new("claude-4.6-opus").display("claude-4.6-opus", "Opus 4.6", "O"));
    let fake = FakeCursor::builder().models(models).start().await;
    let h = Harness::signed_in(fake).await;
    let p = Proxy::start_with(h, |s| {
        s.model_aliases = [
            ("claude-*haiku*".to_string(), "gpt-5.1".to_string()),
            ("claude-3-*".to_string(), "no-such-model".to_string()),
        ]
        .into();
    })
    .await;
    for (asked, wire) in [
        ("claude-opus-5-5", "claude-4.6-opus"),
        ("claude-sonnet-5", "claude-4.5-sonnet"),
        ("claude-haiku-4-5-20251001", "gpt-5.1"),
        ("claude-instant-9", "default"),
        ("claude-4.1-opus", "claude-4.1-opus"),
    ] {
        let mut body = user("hi");
        body["model"] = json!(asked);
        let m = message(&p, &body).await;
        assert_eq!(m["model"], asked);
        let runs = p.fake().runs();
        assert_eq!(runs.last().unwrap().model_id(), Some(wire), "{asked}");
    }
    let mut body = user("hi");
    body["model"] = json!("claude-3-opus");
    let (status, kind, msg) = anthropic_error(post(&p, &body).await).await;
    assert_eq!((status, kind.as_str()), (404, "not_found_error"));
    assert!(
        msg.contains("model_aliases") && msg.contains("no-such-model"),
        "{msg}"
    );
    body["model"] = json!("gpt-9");
    let (status, _, _) = anthropic_error(post(&p, &body).await).await;
    assert_eq!(status, 404, "no default for other names");
}

#[tokio::test]
async fn hostile_requests_get_anthropic_errors_naming_the_field_and_reach_no_run() {
    let fake = fake_playing(vec![]).await;
    let p = Proxy::start_with(Harness::signed_in(fake).await, |s| s.max_body_bytes = 4096).await;
    let bad = |f: &dyn Fn(&mut Value)| {
        let mut v = user("hi");
        f(&mut v);
        v
    };
    let rows: Vec<(Value, &str)> = vec![
        (bad(&|v| v["max_tokens"] = json!(0)), "max_tokens:"),
        (
            bad(&|v| {
                v.as_object_mut().unwrap().remove("model");
            }),
            "model:",
        ),
        (
            bad(&|v| {
                v["messages"][0]["content"] = json!([{"type": "image", "source":
            {"type": "base64", "media_type": "image/png", "data": 7}}])
            }),
            "messages.0.content.0.source.data:",
        ),
        (
            bad(&|v| v["messages"][0]["content"] = json!([{"type": "document"}])),
            "messages.0.content.0.type:",
        ),
        (
            bad(&|v| {
                v["tools"] =
                    json!([bash_tool(), {"type": "web_search_20250305", "name": "web_search"}])
            }),
            "tools.1:",
        ),
        (
            bad(&|v| v["tools"] = json!([{"type": "bash_20250124", "name": "bash"}])),
            "tools.0:",
        ),
        (
            bad(&|v| v["tool_choice"] = json!({"type": "tool"})),
            "tool_choice.name:",
        ),
        (bad(&|v| v["temperature"] = json!("hot")), "temperature:"),
        (
            bad(&|v| v["metadata"] = json!({"user_id": 1})),
            "metadata.user_id:",
        ),
        (
            bad(&|v| v["thinking"] = json!({"type": "enabled", "budget_tokens": 5})),
            "thinking.budget_tokens:",
        ),
    ];
    for (body, field) in rows {
        let (status, kind, msg) = anthropic_error(post(&p, &body).await).await;
        assert_eq!(
            (status, kind.as_str()),
            (400, "invalid_request_error"),
            "{body}"
        );
        assert!(msg.starts_with(field), "{field}: {msg}");
    }
    let res = p
        .http
        .post(format!("{}/v1/messages", p.base))
        .header("x-api-key", &p.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(anthropic_error(res).await.0, 400);
    // Auth: a wrong or missing key is Anthropic's 401; Bearer is taken too.
    for key in [Some("cb-wrong"), None] {
        let mut r = p.http.post(format!("{}/v1/messages?beta=true", p.base));
        if let Some(k) = key {
            r = r.header("x-api-key", k);
        }
        let res = r.json(&user("hi")).send().await.unwrap();
        let (status, kind, _) = anthropic_error(res).await;
        assert_eq!(
            (status, kind.as_str()),
            (401, "authentication_error"),
            "{key:?}"
        );
    }
    let mut huge = user("hi");
    huge["messages"][0]["content"] = json!("x".repeat(8000));
    let (status, kind, _) = anthropic_error(post(&p, &huge).await).await;
    assert_eq!((status, kind.as_str()), (413, "request_too_large"));
    assert!(p.fake().runs().is_empty(), "nothing refused reached Cursor");
    let res = p
        .http
        .post(format!("{}/v1/messages", p.base))
        .bearer_auth(&p.key)
        .json(&user("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "Bearer works as well as x-api-key");
}

#[tokio::test]
async fn the_ledger_records_answered_and_refused_messages_requests() {
    let mut p = signed_in(vec![Turn::default_reply()]).await;
    message(&p, &user("hi")).await;
    let mut bad = user("hi");
    bad["max_tokens"] = json!(-1);
    assert_eq!(post(&p, &bad).await.status(), 400);
    p.stop().await;
    let path = Paths::resolve(&p.h.env).expect("paths").ledger_file();
    let conn = rusqlite::Connection::open(path).expect("open ledger");
    type Row = (String, i64, String, Option<String>);
    let rows: Vec<Row> = conn
        .prepare("SELECT model, status, dialect, client FROM requests ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let client = Some("claude-cli".to_string());
    assert_eq!(
        rows,
        [
            (
                "claude-opus-5-5".into(),
                200,
                "messages".into(),
                client.clone()
            ),
            ("-".into(), 400, "messages".into(), client),
        ]
    );
}

#[tokio::test]
async fn cursor_errors_take_anthropic_statuses_before_output_and_an_error_event_after() {
    let limit = EndError::usage_limit;
    let rate = Turn::new().end_with(EndError::rate_limited());
    let context = Turn::new().end_with(EndError::conversation_too_long());
    let p = signed_in(vec![
        rate,
        Turn::new().end_with(limit()),
        context,
        Turn::new().text("partial").end_with(limit()),
        Turn::default_reply(),
    ])
    .await;
    let mut body = user("hi");
    body["stream"] = json!(true);
    let (status, kind, _) = anthropic_error(post(&p, &body).await).await;
    assert_eq!((status, kind.as_str()), (429, "rate_limit_error"));
    // A usage limit does not lift by retrying: not a 429 Claude Code would retry.
    let (status, kind, msg) = anthropic_error(post(&p, &body).await).await;
    assert_eq!((status, kind.as_str()), (402, "billing_error"));
    assert!(msg.contains("usage limit"), "{msg}");
    // Claude Code compacts its conversation on this wording.
    let (status, kind, msg) = anthropic_error(post(&p, &body).await).await;
    assert_eq!((status, kind.as_str()), (400, "invalid_request_error"));
    assert!(msg.starts_with("prompt is too long"), "{msg}");
    // After the first output, the error is an event and the stream ends.
    let evs = events(&p, &body).await;
    assert_eq!(deltas(&evs, "text_delta", "text"), "partial");
    let (name, data) = evs.last().expect("events");
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "billing_error");
    assert!(!names(&evs).contains(&"message_stop"));
    // Claude Code then re-sends the body with `stream: false`.
    body["stream"] = json!(false);
    let m = message(&p, &body).await;
    assert_eq!(m["content"][0]["text"], "Hello from the fake Cursor.");
}

#[tokio::test]
async fn a_wrong_method_or_path_under_messages_answers_in_anthropics_shape() {
    let p = signed_in(vec![]).await;
    let res = p
        .http
        .get(format!("{}/v1/messages", p.base))
        .header("x-api-key", &p.key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "POST");
    let (status, kind, _) = anthropic_error(res).await;
    assert_eq!((status, kind.as_str()), (405, "invalid_request_error"));
    let res = post_to(&p, "/v1/messages/batches", &user("hi")).await;
    let (status, kind, _) = anthropic_error(res).await;
    assert_eq!((status, kind.as_str()), (404, "not_found_error"));
}
