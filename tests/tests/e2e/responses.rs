//! OpenAI Responses (`POST /v1/responses`) end to end: raw HTTP against the real proxy on an
//! ephemeral port in front of the fake Cursor. The event order, sequence numbers and item
//! ids are checked on the wire as OpenAI sends them; a function round trip continues the
//! same Cursor run whether the client re-sends the history or names the previous response;
//! hostile input gets OpenAI errors naming the field.

use crate::common;

use std::time::Duration;

use common::Harness;
use common::proxy::{Proxy, error_of, minted, signed_in};
use cursor_bridge_core::store::ledger::Range;
use cursor_bridge_tests::{EndError, ErrorKind, FakeCursor, HistoryKind, Turn, TurnUsage};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// A real 4×3 RGB PNG.
const PNG_4X3: &str = "iVBORw0KGgoAAAANSUhEUgAAAAQAAAADCAIAAAA7ljmRAAAAEElEQVR4nGP4z8AARww4OQD1MQv1NXv7ggAAAABJRU5ErkJggg==";

/// Codex's shell tool, plus the tool types it declares in every request.
fn codex_tools() -> Value {
    json!([
        {"type": "function", "name": "exec_command", "description": "Runs a command",
            "strict": false,
            "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}},
                "required": ["cmd"]}},
        {"type": "namespace", "name": "mcp__tools", "tools": []},
        {"type": "web_search"}
    ])
}

impl Proxy {
    /// `POST /v1/responses` with the proxy's key.
    async fn responses(&self, body: &Value) -> reqwest::Response {
        self.post_to("/v1/responses", body).await
    }

    /// A non-streamed response object (checked to be a 200).
    async fn response(&self, body: &Value) -> Value {
        let res = self.responses(body).await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        res.json().await.expect("json")
    }

    /// A streamed response read to the end: its `(event name, data)` pairs, each checked
    /// to carry its name as `type` and the next `sequence_number`.
    async fn events(&self, body: &Value) -> Vec<(String, Value)> {
        let res = self.responses(body).await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        assert_eq!(res.headers()["content-type"], "text/event-stream");
        let text = res.text().await.expect("body");
        let mut out = Vec::new();
        for block in text.split("\n\n").filter(|b| !b.trim().is_empty()) {
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_string)
            };
            let (Some(event), Some(data)) = (field("event: "), field("data: ")) else {
                assert!(block.starts_with(':'), "not an event: {block:?}");
                continue;
            };
            let data: Value = serde_json::from_str(&data).expect("json data");
            assert_eq!(data["type"], event.as_str(), "{data}");
            assert_eq!(data["sequence_number"], out.len(), "{data}");
            out.push((event, data));
        }
        out
    }
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(e, _)| e.as_str()).collect()
}

/// The one event named `name`.
fn the<'a>(events: &'a [(String, Value)], name: &str) -> &'a Value {
    let mut found = events.iter().filter(|(e, _)| e == name);
    let first = found.next().map(|(_, d)| d);
    assert!(found.next().is_none(), "more than one {name}");
    first.unwrap_or_else(|| panic!("no {name} in {:?}", names(events)))
}

/// The model calls `exec_command` with `echo CODEX_OK`, then answers.
fn exec_turn() -> Turn {
    Turn::new()
        .request_context()
        .text("Running it.")
        .mcp_call(
            "exec_command",
            "exec_command",
            "call_cx_1",
            json!({"cmd": "echo CODEX_OK"}),
        )
        .text("It printed CODEX_OK.")
        .token_delta(5)
        .checkpoint(300, 200_000)
        .turn_ended_usage(TurnUsage {
            input_tokens: 200,
            output_tokens: 9,
            cache_read_tokens: 100,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
        })
        .end_ok()
}

#[tokio::test]
async fn a_plain_answer_is_a_completed_response_object_with_exact_usage() {
    let turn = Turn::new()
        .request_context()
        .text("Hello there.")
        .token_delta(2)
        .checkpoint(1002, 200_000)
        .turn_ended_usage(TurnUsage {
            input_tokens: 1000,
            output_tokens: 2,
            ..TurnUsage::default()
        })
        .end_ok();
    let p = signed_in(vec![turn]).await;
    let r = p
        .response(&json!({"model": "auto", "input": "hi", "instructions": "be brief"}))
        .await;
    assert_eq!(
        (r["object"].as_str(), r["status"].as_str()),
        (Some("response"), Some("completed"))
    );
    assert!(r["id"].as_str().expect("id").starts_with("resp_"));
    assert_eq!(r["model"], "auto");
    assert_eq!(r["instructions"], "be brief");
    let msg = &r["output"][0];
    assert_eq!(
        (msg["type"].as_str(), msg["role"].as_str()),
        (Some("message"), Some("assistant"))
    );
    assert!(msg["id"].as_str().expect("id").starts_with("msg_"));
    assert_eq!(msg["content"][0]["type"], "output_text");
    assert_eq!(msg["content"][0]["text"], "Hello there.");
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 1000, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 1002})
    );
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_eq!(run.user_text(), Some("hi"));
    assert_eq!(
        run.cloud_rules(),
        ["be brief"],
        "instructions travel as the system prompt"
    );
}

#[tokio::test]
async fn a_stream_has_openais_event_order_sequence_numbers_and_item_ids() {
    let turn = Turn::new()
        .thinking("The user ")
        .thinking("greets me.")
        .text_with_tokens("Hello", 1)
        .text_with_tokens(" from Cursor.", 3)
        .checkpoint(40, 200_000)
        .turn_ended_usage(TurnUsage {
            input_tokens: 8,
            output_tokens: 4,
            cache_read_tokens: 40,
            cache_write_tokens: 3,
            reasoning_tokens: 2,
        })
        .end_ok();
    let p = signed_in(vec![turn]).await;
    let ev = p
        .events(&json!({"model": "auto", "input": "hi", "stream": true, "tools": codex_tools()}))
        .await;
    assert_eq!(
        names(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.reasoning_summary_part.added",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.delta",
            "response.reasoning_summary_text.done",
            "response.reasoning_summary_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let id = ev[0].1["response"]["id"].clone();
    assert_eq!(ev[0].1["response"]["status"], "in_progress");
    let done = the(&ev, "response.completed");
    assert_eq!(done["response"]["id"], id);
    assert_eq!(done["response"]["status"], "completed");
    // Every event of an item names it; added and done carry the same id.
    let (rs, msg) = (&ev[2].1["item"]["id"], &ev[9].1["item"]["id"]);
    assert!(rs.as_str().expect("rs").starts_with("rs_"));
    assert!(msg.as_str().expect("msg").starts_with("msg_"));
    for (_, d) in &ev[3..8] {
        assert_eq!((&d["item_id"], &d["output_index"]), (rs, &json!(0)), "{d}");
    }
    for (_, d) in &ev[10..15] {
        assert_eq!((&d["item_id"], &d["output_index"]), (msg, &json!(1)), "{d}");
    }
    assert_eq!(ev[8].1["item"]["id"], *rs);
    assert_eq!(ev[8].1["item"]["summary"][0]["text"], "The user greets me.");
    assert_eq!(ev[15].1["item"]["id"], *msg);
    assert_eq!(ev[15].1["item"]["content"][0]["text"], "Hello from Cursor.");
    assert_eq!(
        the(&ev, "response.output_text.done")["text"],
        "Hello from Cursor."
    );
    // Cursor's exact count: input includes the cache read and write, output the reasoning.
    assert_eq!(
        done["response"]["usage"],
        json!({"input_tokens": 51, "input_tokens_details": {"cached_tokens": 40, "cache_write_tokens": 3},
            "output_tokens": 4, "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 55})
    );
    assert_eq!(done["response"]["output"].as_array().map(Vec::len), Some(2));
    // The built-in tool types Codex declares are skipped, the function reaches Cursor.
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    let tools: Vec<String> = run
        .run_request
        .as_ref()
        .and_then(|r| r.mcp_tools.as_ref())
        .map(|t| t.mcp_tools.iter().map(|t| t.tool_name.clone()).collect())
        .unwrap_or_default();
    assert_eq!(tools, ["exec_command"]);
}

/// Step one of a function round trip: the call, as a completed streamed response. Returns
/// the response id, its output and the call's (minted) `call_id`.
async fn call_step(p: &Proxy) -> (String, Vec<Value>, String) {
    let ev = p
        .events(
            &json!({"model": "auto", "stream": true, "tools": codex_tools(),
            "input": [{"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "print a marker"}]}]}),
        )
        .await;
    let done = the(&ev, "response.completed");
    let output = done["response"]["output"]
        .as_array()
        .expect("output")
        .clone();
    assert_eq!(output.len(), 2, "{output:?}");
    assert_eq!(output[0]["content"][0]["text"], "Running it.");
    let call = &output[1];
    let call_id = minted(&call["call_id"], "call_cx_1");
    assert_eq!(
        (call["type"].as_str(), call["name"].as_str()),
        (Some("function_call"), Some("exec_command"))
    );
    assert!(call["id"].as_str().expect("fc id").starts_with("fc_"));
    let args: Value =
        serde_json::from_str(call["arguments"].as_str().expect("args")).expect("json");
    assert_eq!(args, json!({"cmd": "echo CODEX_OK"}));
    // Codex reads the item from output_item.done, the whole of it.
    let item_done: Vec<&Value> = ev
        .iter()
        .filter(|(e, _)| e == "response.output_item.done")
        .map(|(_, d)| &d["item"])
        .collect();
    assert_eq!(item_done[1], call);
    assert_eq!(
        the(&ev, "response.function_call_arguments.done")["arguments"],
        call["arguments"]
    );
    (
        done["response"]["id"].as_str().expect("id").to_string(),
        output,
        call_id,
    )
}

/// The fake saw one run, whose tool result arrived on its stream.
async fn assert_one_run_with_the_result(p: &Proxy) {
    assert_eq!(
        p.fake().run_count(),
        1,
        "the result continued the same Cursor run"
    );
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_eq!(
        run.mcp_results,
        [("call_cx_1".to_string(), "CODEX_OK\n".to_string())]
    );
}

#[tokio::test]
async fn a_function_round_trip_with_the_whole_history_continues_the_same_cursor_run() {
    let p = signed_in(vec![exec_turn(), Turn::reply("Again.")]).await;
    let (_, output, call_id) = call_step(&p).await;
    let mut input = vec![json!({"type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "print a marker"}]})];
    // Codex re-sends the items it got, ids and all, then the output.
    input.extend(output);
    input.push(json!({"type": "function_call_output", "call_id": call_id, "output": "CODEX_OK\n"}));
    let ev = p
        .events(&json!({"model": "auto", "stream": true, "tools": codex_tools(), "input": input}))
        .await;
    let done = the(&ev, "response.completed");
    assert_eq!(
        done["response"]["output"][0]["content"][0]["text"],
        "It printed CODEX_OK."
    );
    // The turn ended here: Cursor's count, exact, less what the call step reported.
    let usage = &done["response"]["usage"];
    assert_eq!(
        usage["input_tokens_details"]["cached_tokens"], 100,
        "{usage}"
    );
    assert_one_run_with_the_result(&p).await;
    // The next user turn re-sends it all, with the answer and a reasoning item: the items
    // read as the conversation the turn's checkpoint was kept under.
    input.extend(
        done["response"]["output"]
            .as_array()
            .expect("output")
            .clone(),
    );
    input
        .push(json!({"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": null}));
    input.push(json!({"role": "user", "content": "once more"}));
    let r = p
        .response(&json!({"model": "auto", "tools": codex_tools(), "input": input}))
        .await;
    assert_eq!(r["output"][0]["content"][0]["text"], "Again.");
    let run = p.fake().wait_for_run_end(1, WAIT).await;
    assert_eq!(run.history, HistoryKind::Checkpoint, "{:?}", run.history);
}

#[tokio::test]
async fn a_function_round_trip_by_previous_response_id_continues_the_same_cursor_run() {
    let p = signed_in(vec![exec_turn(), Turn::reply("Again.")]).await;
    let (id, _, call_id) = call_step(&p).await;
    let r = p
        .response(
            &json!({"model": "auto", "previous_response_id": id, "tools": codex_tools(),
            "input": [{"type": "function_call_output", "call_id": call_id,
                "output": [{"type": "input_text", "text": "CODEX_OK\n"}]}]}),
        )
        .await;
    assert_eq!(r["previous_response_id"], id.as_str());
    assert_eq!(r["output"][0]["content"][0]["text"], "It printed CODEX_OK.");
    assert_one_run_with_the_result(&p).await;
    // The chain goes on: the answer's response holds the whole conversation, so the next
    // turn continues from Cursor's checkpoint of it.
    let next = p
        .response(
            &json!({"model": "auto", "previous_response_id": r["id"], "tools": codex_tools(),
            "input": "once more"}),
        )
        .await;
    assert_eq!(next["output"][0]["content"][0]["text"], "Again.");
    let run = p.fake().wait_for_run_end(1, WAIT).await;
    assert_eq!(run.history, HistoryKind::Checkpoint, "{:?}", run.history);
    assert_eq!(run.user_text(), Some("once more"));
}

#[tokio::test]
async fn unknown_previous_response_ids_and_store_false_are_404_in_openais_shape() {
    let p = signed_in(vec![Turn::reply("Kept nowhere.")]).await;
    let (s, e, _) = error_of(
        p.responses(&json!({"previous_response_id": "resp_nope", "input": "x"}))
            .await,
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(e["code"], "previous_response_not_found");
    assert_eq!(e["param"], "previous_response_id");
    assert_eq!(e["type"], "invalid_request_error");
    let r = p.response(&json!({"input": "x", "store": false})).await;
    assert_eq!(r["store"], false);
    let (s, e, _) = error_of(
        p.responses(&json!({"previous_response_id": r["id"], "input": "y"}))
            .await,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (404, Some("previous_response_not_found"))
    );
    assert_eq!(p.fake().run_count(), 1, "a refused request starts no run");
}

#[tokio::test]
async fn an_input_image_reaches_cursor_and_a_remote_one_is_refused_naming_its_part() {
    let p = signed_in(vec![]).await;
    let r = p
        .response(&json!({"model": "auto", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG_4X3}"), "detail": "auto"}]}]}))
        .await;
    assert_eq!(r["status"], "completed");
    let images: Vec<_> = p.fake().runs()[0]
        .images()
        .into_iter()
        .map(|i| (i.mime_type, i.width, i.height))
        .collect();
    assert_eq!(images, [("image/png".to_string(), 4, 3)]);
    let (s, e, _) = error_of(
        p.responses(
            &json!({"input": [{"role": "user", "content": "a"}, {"role": "user", "content": [
            {"type": "input_image", "image_url": "https://example.com/cat.png"}]}]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (s, e["param"].as_str()),
        (400, Some("input[1].content[0].image_url"))
    );
    assert!(
        e["message"].as_str().expect("msg").contains("data URL"),
        "{e}"
    );
}

#[tokio::test]
async fn hostile_input_gets_openai_errors_naming_the_field() {
    let h = Harness::signed_in(FakeCursor::builder().start().await).await;
    let p = Proxy::start_with(h, |s| s.max_body_bytes = 8192).await;
    let url = format!("{}/v1/responses", p.base);
    let raw = |body: String| {
        p.http
            .post(&url)
            .bearer_auth(&p.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (s, e, _) = error_of(raw("{oops".into()).await.expect("send")).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("invalid_json")));
    // Nesting deeper than the JSON parser goes is refused, not a stack overflow.
    let deep = format!(r#"{{"input": {}{}}}"#, "[".repeat(3000), "]".repeat(3000));
    let (s, e, _) = error_of(raw(deep).await.expect("send")).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("invalid_json")), "{e}");
    for (body, param) in [
        (json!({"model": "auto"}), "input"),
        (
            json!({"input": [{"role": "user", "content": "x"}, {"role": "robot", "content": "x"}]}),
            "input[1].role",
        ),
        (
            json!({"input": [{"type": "function_call_output", "call_id": "c"}]}),
            "input[0].output",
        ),
        (
            json!({"input": "x", "tools": [{"type": "function"}]}),
            "tools[0].name",
        ),
        (json!({"input": "x", "stream": 1}), "stream"),
        (json!({"input": "x", "top_p": "high"}), "top_p"),
        // A forced built-in can never be satisfied: refused, while a declared one is skipped.
        (
            json!({"input": "x", "tools": codex_tools(), "tool_choice": {"type": "web_search"}}),
            "tool_choice",
        ),
    ] {
        let (s, e, _) = error_of(p.responses(&body).await).await;
        assert_eq!((s, e["param"].as_str()), (400, Some(param)), "{body}: {e}");
        assert_eq!(e["type"], "invalid_request_error");
        assert!(
            e["message"].as_str().expect("msg").starts_with(param),
            "{e}"
        );
    }
    // Wrong and missing keys: 401 in OpenAI's shape, on both paths.
    for path in ["/v1/responses", "/responses"] {
        let req = p
            .http
            .post(format!("{}{path}", p.base))
            .json(&json!({"input": "x"}));
        let (s, e, _) = error_of(req.bearer_auth("cb-wrong").send().await.expect("send")).await;
        assert_eq!(
            (s, e["type"].as_str()),
            (401, Some("authentication_error")),
            "{path}"
        );
        let req = p
            .http
            .post(format!("{}{path}", p.base))
            .json(&json!({"input": "x"}));
        assert_eq!(
            error_of(req.send().await.expect("send")).await.0,
            401,
            "{path}"
        );
    }
    let (s, e, _) = error_of(p.responses(&json!({"input": "x".repeat(20_000)})).await).await;
    assert_eq!((s, e["code"].as_str()), (413, Some("request_too_large")));
    assert_eq!(p.fake().run_count(), 0, "nothing refused reached Cursor");
}

#[tokio::test]
async fn outputs_for_calls_nobody_waits_for_start_a_fresh_run_from_the_history() {
    let p = signed_in(vec![
        Turn::new()
            .request_context()
            .text("Based on that: ok.")
            .turn_ended()
            .end_ok(),
    ])
    .await;
    let r = p
        .response(&json!({"model": "auto", "tools": codex_tools(), "input": [
            {"role": "user", "content": "run it"},
            {"type": "function_call", "call_id": "call_gone", "name": "exec_command", "arguments": "{\"cmd\":\"ls\"}"},
            {"type": "function_call_output", "call_id": "call_gone", "output": "a.txt"}]}))
        .await;
    assert_eq!(r["output"][0]["content"][0]["text"], "Based on that: ok.");
    let run = &p.fake().runs()[0];
    assert!(run.is_resume(), "resume_action from the rebuilt history");
    assert_eq!(run.history, HistoryKind::Structured);
    let roles: Vec<&str> = run
        .history_messages
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);
    assert_eq!(run.history_messages[2]["content"][0]["result"], "a.txt");
}

fn usage_limit() -> Turn {
    Turn::new().end_with(
        EndError::new("resource_exhausted", "You've hit your usage limit").detail(
            ErrorKind::ProUserUsageLimit,
            "Usage limit",
            "upgrade your plan",
        ),
    )
}

#[tokio::test]
async fn the_usage_limit_is_insufficient_quota_in_a_failed_response() {
    let p = signed_in(vec![usage_limit(), usage_limit()]).await;
    let ev = p
        .events(&json!({"model": "auto", "input": "x", "stream": true}))
        .await;
    assert_eq!(
        names(&ev),
        [
            "response.created",
            "response.in_progress",
            "response.failed",
            "error"
        ]
    );
    let failed = the(&ev, "response.failed");
    assert_eq!(failed["response"]["status"], "failed");
    assert_eq!(failed["response"]["error"]["code"], "insufficient_quota");
    assert_eq!(the(&ev, "error")["code"], "insufficient_quota");
    // Not streamed: the status, as for any OpenAI error.
    let (s, e, _) = error_of(p.responses(&json!({"model": "auto", "input": "x"})).await).await;
    assert_eq!((s, e["code"].as_str()), (429, Some("insufficient_quota")));
}

#[tokio::test]
async fn every_request_leaves_a_ledger_row() {
    let h = Harness::signed_in(FakeCursor::builder().turn(Turn::reply("one")).start().await).await;
    let mut p = Proxy::start(h).await;
    assert_eq!(p.responses(&json!({"input": "x"})).await.status(), 200);
    assert_eq!(p.responses(&json!({"input": 3})).await.status(), 400);
    p.stop().await;
    let report = p
        .ledger()
        .report(Range::Day, cursor_bridge_core::store::ledger::unix_now_ms())
        .await
        .expect("report");
    assert_eq!(
        (report.totals.requests, report.totals.errors),
        (2, 1),
        "{report:?}"
    );
    assert_eq!(report.totals.completion_tokens, 1);
    let dialects: Vec<_> = report
        .by_dialect
        .iter()
        .map(|d| (d.key.as_deref(), d.requests, d.errors))
        .collect();
    assert_eq!(
        dialects,
        [(Some("responses"), 2, 1)],
        "both rows, the refused one too"
    );
}

/// Codex's shape for a model name it recognises (as it sends it): no `tools` array, the
/// tools in namespaces inside an `additional_tools` item, the shell a custom `exec` tool
/// whose input is free text.
#[tokio::test]
async fn a_custom_tool_from_additional_tools_round_trips_on_the_same_cursor_run() {
    let turn = Turn::new()
        .request_context()
        .mcp_call(
            "exec",
            "exec",
            "call_cx_2",
            json!({"input": "echo CUSTOM_OK"}),
        )
        .text("It printed CUSTOM_OK.")
        .turn_ended()
        .end_ok();
    let p = signed_in(vec![turn]).await;
    let user = json!({"role": "user", "content": "print a marker"});
    let tools = json!({"type": "additional_tools", "role": "developer", "tools": [
        {"type": "namespace", "name": "functions", "description": "", "tools": [
            {"type": "custom", "name": "exec", "description": "Runs JavaScript",
                "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
            {"type": "function", "name": "wait", "description": "Waits", "strict": false,
                "parameters": {"type": "object", "properties": {}}}]},
        {"type": "web_search"}]});
    let ev = p
        .events(&json!({"model": "auto", "stream": true, "input": [tools, user]}))
        .await;
    let call = the(&ev, "response.output_item.done")["item"].clone();
    let call_id = minted(&call["call_id"], "call_cx_2");
    assert_eq!(
        (call["type"].as_str(), call["input"].as_str()),
        (Some("custom_tool_call"), Some("echo CUSTOM_OK"))
    );
    assert_eq!(
        call["namespace"], "functions",
        "the call names its tool's namespace"
    );
    assert_eq!(
        the(&ev, "response.custom_tool_call_input.done")["input"],
        "echo CUSTOM_OK"
    );
    let run = p.fake().runs()[0].clone();
    let offered: Vec<(String, String)> = run
        .run_request
        .and_then(|r| r.mcp_tools)
        .map(|t| {
            t.mcp_tools
                .into_iter()
                .map(|t| (t.tool_name, t.description))
                .collect()
        })
        .unwrap_or_default();
    let names: Vec<&str> = offered.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["exec", "wait"], "the namespace's tools, flattened");
    assert!(
        offered[0].1.contains("start: /.+/"),
        "the grammar is in the description"
    );
    let r = p
        .response(&json!({"model": "auto", "input": [tools, user, call,
            {"type": "custom_tool_call_output", "call_id": call_id, "output": "CUSTOM_OK"}]}))
        .await;
    assert_eq!(
        r["output"][0]["content"][0]["text"],
        "It printed CUSTOM_OK."
    );
    assert_eq!(
        p.fake().run_count(),
        1,
        "the output continued the same Cursor run"
    );
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_eq!(
        run.mcp_results,
        [("call_cx_2".to_string(), "CUSTOM_OK".to_string())]
    );
}
