//! End-to-end tests of the OpenAI-compatible proxy: a real `async-openai` client (and raw
//! HTTP where a client library would hide what we check) → the proxy on an ephemeral
//! port → the fake Cursor server speaking the real wire protocol.

use crate::common;

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{CreateChatCompletionRequest, CreateChatCompletionResponse};
use common::Harness;
use common::proxy::{
    Proxy, delta_text, error_of, minted, signed_in, signed_in_over, tool_call_deltas,
};
use common::wire::assert_wire;
use cursor_bridge_core::config::settings::AgentTransport;
use cursor_bridge_core::store::ledger::Range;
use cursor_bridge_tests::{EndError, FakeCursor, Turn};
use futures::StreamExt;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

both!(
    streamed_text_reasoning_and_usage_chunk,
    multi_step_tool_loop_continues_the_same_cursor_run,
);

fn req(v: Value) -> CreateChatCompletionRequest {
    serde_json::from_value(v).expect("request")
}

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
        {"type": "function", "function": {"name": "get_time", "description": "Time in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    ])
}

/// One plain step of a tool loop through async-openai: `messages` with [`weather_tools`]
/// on offer; `step` names it in the failure.
async fn tool_step(
    client: &Client<OpenAIConfig>,
    messages: &[Value],
    step: &str,
) -> CreateChatCompletionResponse {
    client
        .chat()
        .create(req(
            json!({"model": "auto", "messages": messages, "tools": weather_tools()}),
        ))
        .await
        .expect(step)
}

fn text_turn() -> Turn {
    Turn::new()
        .thinking("Let me think.")
        .text("Hello")
        .token_delta(1)
        .text(", world")
        .token_delta(2)
        .checkpoint(120, 200_000)
        .turn_ended()
        .end_ok()
}

#[tokio::test]
async fn plain_text_through_async_openai_with_usage() {
    let p = signed_in(vec![text_turn()]).await;
    let res: CreateChatCompletionResponse = p
        .openai()
        .chat()
        .create(req(json!({
            "model": "auto",
            "messages": [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hi"}]
        })))
        .await
        .expect("completion");
    let choice = &res.choices[0];
    assert_eq!(choice.message.content.as_deref(), Some("Hello, world"));
    assert_eq!(format!("{:?}", choice.finish_reason), "Some(Stop)");
    let usage = res.usage.expect("usage");
    // completion = Σ token_delta (exact); prompt = checkpoint used − completion.
    assert_eq!((usage.completion_tokens, usage.prompt_tokens), (3, 117));
    let run = &p.fake().runs()[0];
    assert_eq!(run.user_text(), Some("hi"));
    assert_eq!(
        run.model_id(),
        Some("default"),
        "auto goes out as Cursor's `default`"
    );
}

async fn streamed_text_reasoning_and_usage_chunk(transport: AgentTransport) {
    let p = signed_in_over(vec![text_turn(), text_turn()], transport).await;
    // With async-openai: content deltas and the usage chunk parse.
    let mut stream = p
        .openai()
        .chat()
        .create_stream(req(json!({
            "model": "auto", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "hi"}]
        })))
        .await
        .expect("stream");
    let (mut text, mut usage, mut finish) = (String::new(), None, None);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("chunk");
        for c in &chunk.choices {
            text.push_str(c.delta.content.as_deref().unwrap_or(""));
            if c.finish_reason.is_some() {
                finish = c.finish_reason;
            }
        }
        if chunk.usage.is_some() {
            usage = chunk.usage;
        }
    }
    assert_eq!(text, "Hello, world");
    assert_eq!(format!("{finish:?}"), "Some(Stop)");
    assert_eq!(usage.expect("usage chunk").completion_tokens, 3);

    // Raw: reasoning arrives as `reasoning_content`, apart from `content`, and [DONE] ends it.
    let chunks = p
        .sse(&json!({"model": "auto", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(delta_text(&chunks, "reasoning_content"), "Let me think.");
    assert!(
        chunks
            .iter()
            .all(|c| c["choices"][0]["delta"]["content"] != "Let me think."),
        "reasoning must not leak into content"
    );
    assert!(
        chunks.iter().all(|c| c.get("usage").is_none()),
        "no usage chunk unless asked"
    );
    assert_eq!(p.fake().run_count(), 2, "one Cursor run per request");
    for i in 0..2 {
        let run = p.fake().wait_for_run_end(i, WAIT).await;
        assert_wire(p.fake(), &run, transport).await;
    }
}

/// The model calls a tool twice (two steps, the second step with two parallel calls), and
/// every continuation goes onto the same Cursor run.
async fn multi_step_tool_loop_continues_the_same_cursor_run(transport: AgentTransport) {
    let turn = Turn::new()
        .text("Checking.")
        .mcp_call(
            "get_weather",
            "get_weather",
            "call_w1",
            json!({"city": "Paris"}),
        )
        .text("Paris is sunny. ")
        .parallel_mcp_calls(&[
            ("get_time", "call_t1", json!({"city": "Paris"})),
            ("get_weather", "call_w2", json!({"city": "Oslo"})),
        ])
        .text("Done.")
        .token_delta(4)
        .checkpoint(500, 200_000)
        .turn_ended()
        .end_ok();
    let p = signed_in_over(vec![turn], transport).await;
    let client = p.openai();
    let mut messages = vec![json!({"role": "user", "content": "weather and time?"})];

    // Step 1: one call.
    let r1 = tool_step(&client, &messages, "step 1").await;
    let m1 = serde_json::to_value(&r1.choices[0].message).expect("json");
    assert_eq!(
        format!("{:?}", r1.choices[0].finish_reason),
        "Some(ToolCalls)"
    );
    let w1 = minted(&m1["tool_calls"][0]["id"], "call_w1");
    assert_eq!(m1["tool_calls"][0]["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(
        m1["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .expect("args"),
    )
    .expect("args json");
    assert_eq!(args, json!({"city": "Paris"}));
    messages.push(m1);
    messages.push(json!({"role": "tool", "tool_call_id": w1, "content": "18C sunny"}));

    // Step 2 (streamed): both parallel calls in ONE response.
    let chunks = p
        .sse(&json!({"model": "auto", "stream": true, "messages": messages, "tools": weather_tools()}))
        .await;
    let calls = tool_call_deltas(&chunks);
    let ids: Vec<&Value> = calls
        .iter()
        .map(|c| &c["id"])
        .filter(|id| !id.is_null())
        .collect();
    assert_eq!(ids.len(), 2, "{calls:?}");
    let (t1, w2) = (minted(ids[0], "call_t1"), minted(ids[1], "call_w2"));
    assert_ne!(t1, w2);
    assert_eq!(calls[0]["function"]["name"], "get_time");
    let text = delta_text(&chunks, "content");
    assert_eq!(text, "Paris is sunny. ");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );
    messages.push(
        json!({"role": "assistant", "content": text, "tool_calls": calls.iter().map(|c| json!({
        "id": c["id"], "type": "function", "function": c["function"]})).collect::<Vec<_>>()}),
    );
    messages.push(json!({"role": "tool", "tool_call_id": w2, "content": "-3C snow"}));
    messages.push(json!({"role": "tool", "tool_call_id": t1, "content": "noon"}));

    // Step 3: the answer.
    let r3 = tool_step(&client, &messages, "step 3").await;
    assert_eq!(r3.choices[0].message.content.as_deref(), Some("Done."));
    assert_eq!(format!("{:?}", r3.choices[0].finish_reason), "Some(Stop)");

    assert_eq!(
        p.fake().run_count(),
        1,
        "every step ran on the same Cursor stream"
    );
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_eq!(
        run.mcp_results,
        vec![
            ("call_w1".to_string(), "18C sunny".to_string()),
            ("call_t1".to_string(), "noon".to_string()),
            ("call_w2".to_string(), "-3C snow".to_string()),
        ]
    );
    assert_wire(p.fake(), &run, transport).await;
}

#[tokio::test]
async fn tool_results_nobody_waits_for_resume_from_the_structured_history() {
    let turn = Turn::new()
        .request_context()
        .text("Based on that: 18C.")
        .turn_ended()
        .end_ok();
    let p = signed_in(vec![turn]).await;
    let res: Value = p
        .post(&json!({"model": "auto", "tools": weather_tools(), "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "call_old", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "call_old", "content": "18C"}
        ]}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        res["choices"][0]["message"]["content"],
        "Based on that: 18C."
    );
    // No new user text: `resume_action`, every message a blob the fake fetched (§9.5).
    let run = &p.fake().runs()[0];
    assert!(
        run.is_resume(),
        "resume_action, not a flattened user message"
    );
    assert_eq!(run.history, cursor_bridge_tests::HistoryKind::Structured);
    let roles: Vec<&str> = run
        .history_messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool"]);
    assert_eq!(
        run.history_messages[2]["content"][0],
        json!({"type": "tool-call", "toolCallId": "call_old", "toolName": "get_weather",
            "args": {"city": "Paris"}})
    );
    assert_eq!(run.history_messages[3]["content"][0]["result"], "18C");
    assert!(
        run.request_contexts
            .iter()
            .any(|c| c.cloud_rule.as_deref() == Some("You are terse.")),
        "the system prompt travels as the cloud rule"
    );
}

#[tokio::test]
async fn native_read_is_redirected_to_the_clients_read_tool() {
    use cursor_bridge_tests::NativeExec;
    let turn = Turn::new()
        .native_exec(NativeExec::Read {
            path: "/src/main.rs".into(),
        })
        .text("It prints hello.")
        .turn_ended()
        .end_ok();
    let p = signed_in(vec![turn]).await;
    let sample: Value =
        serde_json::from_str(include_str!("../../data/opencode-request.json")).expect("sample");
    let tools = sample["tools"].clone();
    let r1: Value = p
        .post(&json!({"model": "auto", "tools": tools, "messages": [{"role": "user", "content": "what does main do?"}]}))
        .await
        .json()
        .await
        .expect("json");
    let call = &r1["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "read");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().expect("args"))
        .expect("args json");
    assert_eq!(args["filePath"], "/src/main.rs");
    let id = call["id"].as_str().expect("id");
    let r2: Value = p
        .post(&json!({"model": "auto", "tools": tools, "messages": [
            {"role": "user", "content": "what does main do?"},
            r1["choices"][0]["message"],
            {"role": "tool", "tool_call_id": id, "content": "fn main() { println!(\"hello\"); }"}
        ]}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r2["choices"][0]["message"]["content"], "It prints hello.");
    assert_eq!(p.fake().run_count(), 1);
    let run = &p.fake().runs()[0];
    let read = run
        .execs
        .iter()
        .find(|e| e.kind == "read")
        .expect("the read exec was answered");
    assert!(
        format!("{:?}", read.results).contains("println"),
        "{:?}",
        read.results
    );
}

#[tokio::test]
async fn bad_requests_get_openai_errors_naming_the_field() {
    let p = signed_in(vec![]).await;
    let url = format!("{}/v1/chat/completions", p.base);
    let raw = |body: &'static str| {
        p.http
            .post(&url)
            .bearer_auth(&p.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let (s, e, _) = error_of(raw("{oops").await.expect("send")).await;
    assert_eq!((s, e["code"].as_str()), (400, Some("invalid_json")));
    let (s, e, _) = error_of(
        raw(r#"{"model": "auto", "messages": [{"role": "robot", "content": "x"}]}"#)
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((s, e["param"].as_str()), (400, Some("messages[0].role")));
    assert_eq!(e["type"], "invalid_request_error");
    let (s, e, _) = error_of(
        raw(r#"{"model": "gpt-99", "messages": [{"role": "user", "content": "x"}]}"#)
            .await
            .expect("send"),
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (404, Some("model_not_found")));
    assert!(e["message"].as_str().expect("msg").contains("auto"), "{e}");
    // Through async-openai too: the client surfaces our message.
    let err = p
        .openai()
        .chat()
        .create(req(
            json!({"model": "gpt-99", "messages": [{"role": "user", "content": "x"}]}),
        ))
        .await
        .expect_err("unknown model");
    match err {
        OpenAIError::ApiError(a) => {
            assert_eq!(a.api_error.code.as_deref(), Some("model_not_found"))
        }
        other => panic!("unexpected {other:?}"),
    }
    // Unknown paths are OpenAI errors too.
    assert_eq!(error_of(p.get("/v1/embeddings").await).await.0, 404);
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let h = Harness::signed_in(FakeCursor::builder().start().await).await;
    let p = Proxy::start_with(h, |s| s.max_body_bytes = 4096).await;
    let big = "x".repeat(10_000);
    let (s, e, _) = error_of(
        p.post(&json!({"messages": [{"role": "user", "content": big}]}))
            .await,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (413, Some("request_too_large")));
}

#[tokio::test]
async fn cursor_failures_before_the_first_byte_get_their_http_status() {
    let quota = Turn::new().end_with(EndError::rate_limited());
    let context = Turn::new().end_with(EndError::conversation_too_long());
    let upstream = Turn::new().end_with(EndError::new("internal", "boom"));
    let p = signed_in(vec![quota, context, upstream]).await;
    let body =
        json!({"model": "auto", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let (s, e, _) = error_of(p.post(&body).await).await;
    assert_eq!(
        (s, e["type"].as_str()),
        (429, Some("rate_limit_error")),
        "{e}"
    );
    let (s, e, _) = error_of(p.post(&body).await).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("context_length_exceeded"))
    );
    let (s, e, _) = error_of(p.post(&body).await).await;
    assert_eq!((s, e["code"].as_str()), (502, Some("upstream_error")));
}

#[tokio::test]
async fn not_signed_in_is_503_saying_how_to_sign_in() {
    let p = Proxy::start(Harness::new(FakeCursor::builder().start().await).await).await;
    let (s, e, _) = error_of(
        p.post(&json!({"messages": [{"role": "user", "content": "x"}]}))
            .await,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (503, Some("not_signed_in")));
    assert!(
        e["message"]
            .as_str()
            .expect("msg")
            .contains("cursor-bridge login")
    );
}

/// Sends a hand-built request (one a client library would not build) to the proxy.
async fn send(req: reqwest::RequestBuilder) -> reqwest::Response {
    req.send().await.expect("send")
}

#[tokio::test]
async fn the_local_key_host_and_origin_are_enforced_and_no_cors_is_sent() {
    let p = signed_in(vec![]).await;
    let models = format!("{}/v1/models", p.base);
    let with_key = || p.http.get(&models).bearer_auth(&p.key);
    // No key, wrong key.
    let res = send(p.http.get(&models)).await;
    assert_eq!(error_of(res).await.0, 401);
    let (s, e, _) = error_of(send(p.http.get(&models).bearer_auth("cb-wrong")).await).await;
    assert_eq!((s, e["type"].as_str()), (401, Some("authentication_error")));
    // DNS rebinding: a foreign Host.
    let res = send(with_key().header("host", "evil.example:18741")).await;
    assert_eq!(error_of(res).await.0, 403);
    // A web page's Origin.
    let res = send(
        p.http
            .post(format!("{}/v1/chat/completions", p.base))
            .bearer_auth(&p.key)
            .header("origin", "https://evil.example")
            .json(&json!({"messages": [{"role": "user", "content": "x"}]})),
    )
    .await;
    assert_eq!(error_of(res).await.0, 403);
    // A preflight gets no CORS allowance.
    let res = send(
        p.http
            .request(reqwest::Method::OPTIONS, &models)
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", "POST"),
    )
    .await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // The right key works; health is open and says we are signed in.
    let res = send(with_key()).await;
    assert_eq!(res.status(), 200);
    let list: Value = res.json().await.expect("json");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(ids.contains(&"auto"), "{ids:?}");
    assert!(
        list["data"]
            .as_array()
            .expect("data")
            .iter()
            .all(|m| m["context_length"].as_u64() > Some(0))
    );
    let health = p.health().await;
    assert_eq!(health["signed_in"], true);
    assert_eq!(health["upstream"]["reachable"], true);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_the_cursor_run() {
    let turn = Turn::new().text("first words").wait_for_cancel();
    let p = signed_in(vec![turn]).await;
    let mut res = p
        .post(&json!({"model": "auto", "stream": true, "messages": [{"role": "user", "content": "x"}]}))
        .await;
    // Read until the first content arrives, then hang up.
    let mut seen = String::new();
    while !seen.contains("first words") {
        let chunk = res.chunk().await.expect("chunk").expect("more");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(res);
    let run = p.fake().wait_for_run_end(0, Duration::from_secs(5)).await;
    assert_eq!(
        run.cancelled,
        Some(cursor_bridge_tests::CancelledBy::Action),
        "cancel_action reached Cursor: {:?}",
        run.end
    );
}

#[tokio::test]
async fn the_ledger_records_requests_and_survives_a_restart() {
    let fake = FakeCursor::builder()
        .turn(text_turn())
        .turn(text_turn())
        .start()
        .await;
    let h = Harness::signed_in(fake).await;
    let mut p = Proxy::start(h).await;
    let body = json!({"model": "auto", "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(p.post(&body).await.status(), 200);
    assert_eq!(
        p.post(&json!({"model": "nope", "messages": [{"role": "user", "content": "x"}]}))
            .await
            .status(),
        404
    );
    p.stop().await;
    // A new proxy on the same data dir: the rows are there and more are added.
    let Proxy { h, .. } = p;
    let p = Proxy::start(h).await;
    assert_eq!(p.post(&body).await.status(), 200);
    let mut q = p;
    q.stop().await;
    let report = q
        .ledger()
        .report(Range::Day, cursor_bridge_core::store::ledger::unix_now_ms())
        .await
        .expect("report");
    assert_eq!(report.totals.requests, 3, "{report:?}");
    assert_eq!(report.totals.errors, 1);
    assert_eq!(report.totals.completion_tokens, 6);
    assert!(
        !report.tokens_exact,
        "prompt tokens are inferred, so not exact"
    );
}

/// Parked runs are bounded (oldest cancelled first) and expire; a continuation that finds
/// nothing parked falls back to a fresh run instead of failing.
#[tokio::test]
async fn parked_streams_are_bounded_and_expire_into_fresh_runs() {
    let call = |id: &str| {
        Turn::new()
            .mcp_call("get_weather", "get_weather", id, json!({"city": "Rome"}))
            .text("after the tool")
            .turn_ended()
            .end_ok()
    };
    let fake = FakeCursor::builder()
        .turn(call("call_a"))
        .turn(call("call_b"))
        .turn(Turn::reply("fresh answer for a"))
        .turn(call("call_c"))
        .turn(Turn::reply("fresh answer for c"))
        .start()
        .await;
    let h = Harness::signed_in(fake).await;
    let p = Proxy::start_with(h, |s| {
        s.max_parked_streams = 1;
        s.parked_ttl_secs = 1;
    })
    .await;
    let ask = || json!({"model": "auto", "tools": weather_tools(), "messages": [{"role": "user", "content": "weather?"}]});
    let answer = |id: &str| {
        json!({"model": "auto", "tools": weather_tools(), "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
            {"role": "tool", "tool_call_id": id, "content": "25C"}]})
    };
    let content = |v: Value| v["choices"][0]["message"]["content"].clone();
    let call_id = |r: &Value, cursor_id: &str| {
        assert_eq!(r["choices"][0]["finish_reason"], "tool_calls");
        minted(
            &r["choices"][0]["message"]["tool_calls"][0]["id"],
            cursor_id,
        )
    };
    // Two conversations park; the bound of one evicts (cancels) the first.
    let mut ids = Vec::new();
    for cursor_id in ["call_a", "call_b"] {
        let r: Value = p.post(&ask()).await.json().await.expect("json");
        ids.push(call_id(&r, cursor_id));
    }
    let first = p.fake().wait_for_run_end(0, Duration::from_secs(5)).await;
    assert!(
        first.cancelled.is_some(),
        "the evicted run was cancelled: {:?}",
        first.end
    );
    // Its results now start a fresh run (run 3) …
    let r: Value = p.post(&answer(&ids[0])).await.json().await.expect("json");
    assert_eq!(content(r), "fresh answer for a");
    // … while the one still parked continues in place.
    let r: Value = p.post(&answer(&ids[1])).await.json().await.expect("json");
    assert_eq!(content(r), "after the tool");
    assert_eq!(p.fake().run_count(), 3);
    // A parked run past its TTL is cancelled and its results start a fresh run.
    let r: Value = p.post(&ask()).await.json().await.expect("json");
    let c = call_id(&r, "call_c");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r: Value = p.post(&answer(&c)).await.json().await.expect("json");
    assert_eq!(content(r), "fresh answer for c");
    assert_eq!(p.fake().run_count(), 5);
}
