//! The two agent transports end to end: every scenario in [`both!`] runs once over the
//! HTTP/2 `Run` stream and once over the HTTP/1.1 fallback (`RunSSE` + `BidiAppend`,
//! setting `agent_transport = "http1"`), through `CursorClient` built from settings
//! against the fake Cursor. Then what only the HTTP/1.1 transport has (refused appends,
//! the fake's own append checks, `RunSSE` before the first append) and the proxy over
//! HTTP/1.1.

use crate::common;

use std::time::{Duration, Instant};

use common::Harness;
use common::chat::{collect, text_of, until_tool_call, weather_tool};
use common::proxy::{Proxy, delta_text, tool_call_deltas};
use cursor_bridge_core::config::settings::AgentTransport;
use cursor_bridge_core::cursor::chat::{ChatEvent, ChatRequest, ToolResult};
use cursor_bridge_core::cursor::framing::{self, Decoder, Frame};
use cursor_bridge_core::cursor::{CursorClient, CursorError};
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_core::pb::aiserver_v1 as bidi;
use cursor_bridge_tests::{
    CancelledBy, FakeCursor, Malformed, McpCall, RecordedRun, RunEnd, RunTransport, Step, Turn,
    TurnUsage,
};
use futures::StreamExt;
use prost::Message as _;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const APPEND_PATH: &str = "/aiserver.v1.BidiService/BidiAppend";

both!(
    plain_text_turn,
    tool_call_answered_later_on_the_same_run,
    kv_blobs_are_set_and_served_back,
    cancel_is_sent_and_the_run_ends,
    broken_streams_are_typed_errors_not_silence,
    a_refused_token_is_refreshed_once_and_retried,
    exact_usage_reaches_the_client,
);

// ---- helpers ------------------------------------------------------------------------

async fn signed_in(fake: FakeCursor, transport: AgentTransport) -> Harness {
    Harness::signed_in_over(fake, transport).await
}

/// The run's events and final error; an error from `chat()` itself counts as the error.
async fn chat_to_end(
    client: &CursorClient,
    req: ChatRequest,
) -> (Vec<ChatEvent>, Option<CursorError>) {
    match tokio::time::timeout(WAIT, client.chat(req))
        .await
        .expect("chat() stalled")
    {
        Ok(mut run) => collect(&mut run).await,
        Err(e) => (Vec::new(), Some(e)),
    }
}

/// The `BidiAppendRequest`s of run `run` as the fake answered them, in order.
fn appends_of(fake: &FakeCursor, run: &RecordedRun) -> Vec<(u16, bidi::BidiAppendRequest)> {
    let id = run
        .request_id
        .as_deref()
        .expect("an HTTP/1.1 run has a request id");
    fake.unary_calls()
        .into_iter()
        .filter(|c| c.path == APPEND_PATH && c.header("x-request-id") == Some(id))
        .map(|c| {
            let req = bidi::BidiAppendRequest::decode(c.body.clone()).expect("append body");
            (c.status, req)
        })
        .collect()
}

/// What must hold for any run over `transport`: the RPC, HTTP version and headers, and
/// for HTTP/1.1 that every recorded client message came as its own in-order append.
async fn assert_wire(fake: &FakeCursor, run: &RecordedRun, transport: AgentTransport) {
    assert_eq!(run.header("x-cursor-client-type"), Some("cli"));
    assert!(run.bearer().is_some());
    match transport {
        AgentTransport::Http2 => {
            assert_eq!(run.transport, RunTransport::Http2);
            assert_eq!(run.version, http::Version::HTTP_2);
            assert_eq!(run.appends, 0);
        }
        AgentTransport::Http1 => {
            assert_eq!(run.transport, RunTransport::Http1);
            assert_eq!(run.version, http::Version::HTTP_11, "RunSSE over HTTP/1.1");
            assert_eq!(
                run.header("x-request-id"),
                run.request_id.as_deref(),
                "RunSSE's x-request-id is the run's request id"
            );
            assert_eq!(run.header("x-cursor-streaming"), Some("true"));
            assert_eq!(
                run.header("content-type"),
                Some("application/connect+proto")
            );
            assert!(run.append_error.is_none(), "{:?}", run.append_error);
            assert_eq!(run.appends, run.messages.len());
            // A call is recorded just after its handler answered: let the last one land.
            fake.wait_until(WAIT, |f| appends_of(f, run).len() >= run.appends)
                .await;
            let appends = appends_of(fake, run);
            assert!(
                appends.len() >= run.appends,
                "every message came as an append"
            );
            for (i, (status, req)) in appends.iter().enumerate() {
                assert_eq!(*status, 200);
                assert_eq!(req.append_seqno, i as i64, "seqno from 0, +1 per append");
                assert_eq!(
                    req.request_id.as_ref().map(|r| r.request_id.as_str()),
                    run.request_id.as_deref()
                );
            }
            for ((_, req), msg) in appends.iter().zip(&run.messages) {
                assert_eq!(req.data, hex::encode(msg.encode_to_vec()));
            }
            for call in fake.unary_calls().iter().filter(|c| {
                c.path == APPEND_PATH && c.header("x-request-id") == run.request_id.as_deref()
            }) {
                assert_eq!(call.version, http::Version::HTTP_11);
                assert_eq!(call.header("content-type"), Some("application/proto"));
                assert_eq!(
                    call.bearer(),
                    run.bearer(),
                    "the run's token on every append"
                );
            }
        }
    }
}

// ---- scenarios on both transports -----------------------------------------------------

async fn plain_text_turn(transport: AgentTransport) {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .thinking("Hmm.")
                .text("Hello")
                .token_delta(2)
                .text(", world")
                .checkpoint(1_500, 200_000)
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    let mut run = h
        .client
        .chat(ChatRequest::new("claude-4.5-sonnet", "Say hello"))
        .await
        .expect("run starts");
    let handle = run.handle();
    let (events, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events,
        [
            ChatEvent::Thinking("Hmm.".into()),
            ChatEvent::Text("Hello".into()),
            ChatEvent::Tokens(2),
            ChatEvent::Text(", world".into()),
            ChatEvent::Checkpoint {
                used_tokens: 1_500,
                max_tokens: 200_000
            },
            ChatEvent::TurnEnded,
        ]
    );
    assert_eq!(handle.usage().prompt_tokens(), Some(1_498));
    let run = h.fake.wait_for_run_end(0, WAIT).await;
    assert_eq!(run.end, Some(RunEnd::Ok));
    assert_eq!(run.user_text(), Some("Say hello"));
    assert_eq!(run.model_id(), Some("claude-4.5-sonnet"));
    assert!(matches!(
        run.messages[0].message,
        Some(pb::agent_client_message::Message::RunRequest(_))
    ));
    assert_wire(&h.fake, &run, transport).await;
}

async fn tool_call_answered_later_on_the_same_run(transport: AgentTransport) {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .request_context()
                .text("Checking.")
                .step(Step::McpCall(
                    McpCall::new(
                        "get_weather",
                        "get_weather",
                        "call_1",
                        json!({"city": "Paris"}),
                    )
                    .announce(),
                ))
                .text("Sunny.")
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    let mut req = ChatRequest::new("default", "Weather in Paris?");
    req.tools = vec![weather_tool()];
    let mut run = h.client.chat(req).await.expect("run starts");
    let handle = run.handle();
    let (_, call) = until_tool_call(&mut run).await;
    assert_eq!(
        (call.call_id.as_str(), call.name.as_str()),
        ("call_1", "get_weather")
    );
    assert_eq!(call.arguments, json!({"city": "Paris"}));
    // The caller takes a few heartbeat periods: the run stays parked, not idle.
    tokio::time::sleep(Duration::from_millis(350)).await;
    handle
        .send_tool_result(
            "call_1",
            ToolResult {
                content: "24°C".into(),
                is_error: false,
            },
        )
        .await
        .expect("result sent");
    let (after, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&after), "Sunny.");

    assert_eq!(h.fake.run_count(), 1, "the result continued the same run");
    let run = h.fake.wait_for_run_end(0, WAIT).await;
    assert_eq!(run.end, Some(RunEnd::Ok));
    assert_eq!(
        run.mcp_results,
        [("call_1".to_string(), "24°C".to_string())]
    );
    assert_eq!(run.request_contexts[0].tools[0].tool_name, "get_weather");
    assert!(run.execs.iter().all(|e| e.stream_closed));
    assert!(run.client_heartbeats() >= 2, "heartbeats while parked");
    assert_wire(&h.fake, &run, transport).await;
}

async fn kv_blobs_are_set_and_served_back(transport: AgentTransport) {
    let doc = br#"{"role":"user","content":"remember me"}"#;
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .kv_set(&doc[..])
                .kv_get_data(doc)
                .kv_get(vec![7u8; 32])
                .text("ok")
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    let (events, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "ok");
    let run = h.fake.wait_for_run_end(0, WAIT).await;
    assert_eq!(run.end, Some(RunEnd::Ok));
    assert_eq!(run.kv_get_results[0].1.as_deref(), Some(&doc[..]));
    assert_eq!(run.kv_get_results[1].1, None, "unknown blob: no data");
    assert_wire(&h.fake, &run, transport).await;
}

async fn cancel_is_sent_and_the_run_ends(transport: AgentTransport) {
    let fake = FakeCursor::builder()
        .turn(Turn::new().text("working").wait_for_cancel())
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    let mut run = h
        .client
        .chat(ChatRequest::new("default", "hi"))
        .await
        .expect("run starts");
    assert_eq!(
        run.next().await.expect("an event").expect("not an error"),
        ChatEvent::Text("working".into())
    );
    let handle = run.handle();
    handle.cancel();
    let (_, err) = collect(&mut run).await;
    assert!(matches!(err, Some(CursorError::Cancelled)), "{err:?}");
    assert!(handle.is_finished());
    let recorded = h.fake.wait_for_run_end(0, WAIT).await;
    assert_eq!(recorded.cancelled, Some(CancelledBy::Action));
    let last = recorded.messages.last().and_then(|m| m.message.as_ref());
    assert!(
        matches!(
            last,
            Some(pb::agent_client_message::Message::ConversationAction(_))
        ),
        "the cancel action was the last message: {last:?}"
    );
    if transport == AgentTransport::Http1 {
        // The appender delivered everything queued (the cancel included) in order.
        let n = recorded.appends;
        assert!(
            h.fake
                .wait_until(WAIT, |f| appends_of(f, &recorded).len() == n)
                .await
        );
    }
}

async fn broken_streams_are_typed_errors_not_silence(transport: AgentTransport) {
    let fake = FakeCursor::builder()
        .turn(Turn::new().text("half").drop_stream())
        .turn(
            Turn::new()
                .text("x")
                .malformed(Malformed::UndecodableMessage),
        )
        .turn(Turn::new().malformed(Malformed::Truncated))
        .turn(Turn::new().malformed(Malformed::BadGzip))
        .turn(Turn::new().text("y").reset())
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    for case in ["drop", "undecodable", "truncated", "gzip"] {
        let (_, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
        assert!(
            matches!(err, Some(CursorError::Protocol(_))),
            "{case}: {err:?}"
        );
    }
    // A reset may overtake the text before it: only the typed error is certain.
    let (_, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
    assert!(
        matches!(err, Some(CursorError::Network(_))),
        "reset: {err:?}"
    );
    assert_eq!(h.fake.run_count(), 5);
}

async fn a_refused_token_is_refreshed_once_and_retried(transport: AgentTransport) {
    let fake = FakeCursor::builder()
        .turn(Turn::reply("after refresh"))
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    // Cursor stops accepting the (unexpired-looking) token: the run and its first append
    // are refused; the client refreshes and retries before the caller sees anything.
    h.fake.revoke_access_tokens();
    let (events, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "after refresh");
    assert_eq!(h.fake.refresh_calls(), 1);
    let runs = h.fake.runs();
    assert_eq!(runs.len(), 2);
    assert!(!runs[0].authorized && runs[1].authorized);
    assert_ne!(runs[0].bearer(), runs[1].bearer());
    let run = h.fake.wait_for_run_end(1, WAIT).await;
    assert_wire(&h.fake, &run, transport).await;
}

// ---- HTTP/1.1 only ----------------------------------------------------------------------

#[tokio::test]
async fn a_refused_append_ends_the_run_with_its_typed_error_quickly() {
    // Append 2 is a heartbeat or a reply, whichever comes first; the server refuses it.
    let fake = FakeCursor::builder()
        .fail_append(2, 503, "unavailable", "append store is down")
        .turn(Turn::new().text("before").wait_for_cancel())
        .start()
        .await;
    let h = signed_in(fake, AgentTransport::Http1).await;
    let started = Instant::now();
    let (events, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
    assert_eq!(text_of(&events), "before");
    assert!(
        matches!(&err, Some(CursorError::Unavailable { .. })),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the failure ended the run in {:?}",
        started.elapsed()
    );
    // The client hung up; the fake's script (waiting 60 s for a cancel) sees it at once.
    let run = h.fake.wait_for_run_end(0, WAIT).await;
    assert_eq!(run.end, Some(RunEnd::ClientGone));
    assert_eq!(run.appends, 2);
    assert!(
        run.append_error
            .as_deref()
            .is_some_and(|e| e.contains("append 2")),
        "{:?}",
        run.append_error
    );
    let appends = appends_of(&h.fake, &run);
    let seqnos: Vec<i64> = appends.iter().map(|(_, r)| r.append_seqno).collect();
    assert_eq!(
        seqnos,
        [0, 1, 2],
        "nothing was sent after the refused append"
    );
    assert_eq!(appends[2].0, 503);
}

/// Regression: append 0 went out without waiting for `RunSSE`'s response headers; when
/// the service had not seen the request id yet, the run request was lost (reference
/// §9.8). The fake takes 300 ms to see each `RunSSE` and refuses earlier appends.
#[tokio::test]
async fn regression_run_sse_reaches_the_service_before_the_first_append() {
    let fake = FakeCursor::builder()
        .run_sse_delay(Duration::from_millis(300))
        .turn(Turn::reply("in order"))
        .start()
        .await;
    let h = signed_in(fake, AgentTransport::Http1).await;
    let (events, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "in order");
    assert!(
        h.fake.appends_before_run_sse().is_empty(),
        "{:?}",
        h.fake.appends_before_run_sse()
    );
    let run = h.fake.wait_for_run_end(0, WAIT).await;
    assert_wire(&h.fake, &run, AgentTransport::Http1).await;
}

#[tokio::test]
async fn a_refused_first_append_fails_the_start_with_its_typed_error() {
    let fake = FakeCursor::builder()
        .fail_append(0, 429, "resource_exhausted", "slow down")
        .start()
        .await;
    let h = signed_in(fake, AgentTransport::Http1).await;
    let started = Instant::now();
    let (events, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
    assert!(events.is_empty(), "{events:?}");
    assert!(matches!(&err, Some(CursorError::Quota { .. })), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let appends: Vec<u16> = h
        .fake
        .unary_calls()
        .iter()
        .filter(|c| c.path == APPEND_PATH)
        .map(|c| c.status)
        .collect();
    assert_eq!(appends, [429], "one append, refused; nothing after it");
}

#[tokio::test]
async fn the_proxy_streams_a_chat_over_http1() {
    let fake = FakeCursor::builder()
        .turn(Turn::reply("Hello over HTTP/1.1"))
        .start()
        .await;
    let h = signed_in(fake, AgentTransport::Http1).await;
    let p = Proxy::start_with(h, |s| {
        // The proxy's settings agree with the client's (read from the same environment).
        assert_eq!(s.agent_transport, AgentTransport::Http1);
    })
    .await;
    let chunks = p
        .sse(&json!({"model": "auto", "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(delta_text(&chunks, "content"), "Hello over HTTP/1.1");
    assert_eq!(p.fake().run_count(), 1);
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_eq!(run.transport, RunTransport::Http1);
    assert_wire(p.fake(), &run, AgentTransport::Http1).await;
}

#[tokio::test]
async fn a_two_step_tool_loop_through_the_proxy_stays_on_one_http1_run() {
    let turn = Turn::new()
        .text("Checking.")
        .mcp_call(
            "get_weather",
            "get_weather",
            "call_w1",
            json!({"city": "Paris"}),
        )
        .text("Paris is sunny.")
        .turn_ended()
        .end_ok();
    let fake = FakeCursor::builder().turn(turn).start().await;
    let h = signed_in(fake, AgentTransport::Http1).await;
    let p = Proxy::start(h).await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let mut messages = vec![json!({"role": "user", "content": "weather?"})];

    let chunks = p
        .sse(&json!({"model": "auto", "stream": true, "messages": messages, "tools": tools}))
        .await;
    let calls = tool_call_deltas(&chunks);
    assert_eq!(calls[0]["id"], "call_w1");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );
    messages.push(
        json!({"role": "assistant", "content": delta_text(&chunks, "content"),
        "tool_calls": [{"id": "call_w1", "type": "function", "function": calls[0]["function"]}]}),
    );
    messages.push(json!({"role": "tool", "tool_call_id": "call_w1", "content": "18C sunny"}));

    let res = p
        .post(&json!({"model": "auto", "messages": messages, "tools": tools}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["choices"][0]["message"]["content"], "Paris is sunny.");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");

    assert_eq!(p.fake().run_count(), 1, "both steps on one Cursor run");
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_eq!(run.transport, RunTransport::Http1);
    assert_eq!(
        run.mcp_results,
        [("call_w1".to_string(), "18C sunny".to_string())]
    );
    assert_wire(p.fake(), &run, AgentTransport::Http1).await;
}

/// Cursor's count at turn end (reference §9.4) arrives over either transport and becomes
/// the client's `usage`, cache and reasoning details included.
async fn exact_usage_reaches_the_client(transport: AgentTransport) {
    let turn = Turn::new()
        .text("Counted.")
        .token_delta(2)
        .checkpoint(900, 200_000)
        .turn_ended_usage(TurnUsage {
            input_tokens: 40,
            output_tokens: 2,
            cache_read_tokens: 800,
            cache_write_tokens: 10,
            reasoning_tokens: 1,
        })
        .end_ok();
    let fake = FakeCursor::builder().turn(turn).start().await;
    let p = Proxy::start(signed_in(fake, transport).await).await;
    let chunks = p
        .sse(&json!({"model": "auto", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "count me"}]}))
        .await;
    assert_eq!(delta_text(&chunks, "content"), "Counted.");
    assert_eq!(
        chunks.last().expect("chunks")["usage"],
        json!({
            "prompt_tokens": 850, "completion_tokens": 2, "total_tokens": 852,
            "prompt_tokens_details": {"cached_tokens": 800},
            "completion_tokens_details": {"reasoning_tokens": 1},
        })
    );
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_wire(p.fake(), &run, transport).await;
}

// ---- the fake's HTTP/1.1 endpoints, with a raw client -------------------------------

/// A bare HTTP/1.1 client speaking RunSSE / BidiAppend by hand.
struct Raw {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Raw {
    fn new(fake: &FakeCursor) -> Raw {
        Raw {
            http: reqwest::Client::builder()
                .http1_only()
                .build()
                .expect("client"),
            base: fake.url(),
            token: fake.mint_access_token(Duration::from_secs(600)),
        }
    }

    fn run_sse(&self, id: &str) -> reqwest::RequestBuilder {
        self.run_sse_as(id, id)
    }

    /// RunSSE for request id `id`, with header `x-request-id: header_id`.
    fn run_sse_as(&self, header_id: &str, id: &str) -> reqwest::RequestBuilder {
        let body = framing::encode_message(&bidi::BidiRequestId {
            request_id: id.into(),
        });
        self.http
            .post(format!("{}/agent.v1.AgentService/RunSSE", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/connect+proto")
            .header("x-request-id", header_id)
            .body(body)
    }

    async fn append(&self, header_id: &str, id: &str, seqno: i64, data: String) -> u16 {
        let req = bidi::BidiAppendRequest {
            data,
            request_id: Some(bidi::BidiRequestId {
                request_id: id.into(),
            }),
            append_seqno: seqno,
        };
        self.http
            .post(format!("{}{APPEND_PATH}", self.base))
            .bearer_auth(&self.token)
            .header("content-type", "application/proto")
            .header("x-request-id", header_id)
            .body(req.encode_to_vec())
            .send()
            .await
            .expect("append")
            .status()
            .as_u16()
    }
}

fn hex_of(m: pb::agent_client_message::Message) -> String {
    hex::encode(pb::AgentClientMessage { message: Some(m) }.encode_to_vec())
}

fn run_request_hex() -> String {
    hex_of(pb::agent_client_message::Message::RunRequest(
        cursor_bridge_core::cursor::chat::build_run_request(&ChatRequest::new("default", "hi")),
    ))
}

fn heartbeat_hex() -> String {
    hex_of(pb::agent_client_message::Message::ClientHeartbeat(
        pb::ClientHeartbeat {},
    ))
}

/// Reads a RunSSE body to its end: the text deltas and the end-of-stream JSON.
async fn read_stream(resp: reqwest::Response) -> (String, String) {
    let mut dec = Decoder::default();
    let mut body = resp.bytes_stream();
    let (mut text, mut end) = (String::new(), String::new());
    while let Some(chunk) = tokio::time::timeout(WAIT, body.next())
        .await
        .expect("stalled")
    {
        dec.push(&chunk.expect("body"));
        while let Some(frame) = dec.next_frame().expect("frame") {
            match frame {
                Frame::Message(p) => {
                    let m = pb::AgentServerMessage::decode(p).expect("message");
                    if let Some(pb::agent_server_message::Message::InteractionUpdate(u)) = m.message
                        && let Some(t) = u.text_delta
                    {
                        text.push_str(&t.text);
                    }
                }
                Frame::EndStream(j) => end = String::from_utf8_lossy(&j).into_owned(),
            }
        }
    }
    (text, end)
}

/// Reference §9.8: the service answers `RunSSE`'s headers at once, and an append for a
/// request id it has not seen yet may be lost: the fake refuses it (`not_found`) and
/// records it, so a client that appends before `RunSSE` fails visibly.
#[tokio::test]
async fn fake_refuses_an_append_before_its_run_sse_and_answers_run_sse_at_once() {
    let fake = FakeCursor::builder()
        // No checkpoint: this raw client does not answer the KV writes one brings.
        .turn(Turn::reply_without_checkpoint("early bird"))
        .start()
        .await;
    let raw = Raw::new(&fake);

    // An append for a request id no RunSSE has opened: refused, recorded.
    assert_eq!(raw.append("r0", "r0", 0, run_request_hex()).await, 404);
    assert_eq!(fake.appends_before_run_sse(), [("r0".to_string(), 0)]);

    // RunSSE first: its headers come before any append.
    let resp = tokio::time::timeout(Duration::from_secs(2), raw.run_sse("r1").send())
        .await
        .expect("RunSSE's headers come without waiting for an append")
        .expect("RunSSE");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_11);
    assert_eq!(raw.append("r1", "r1", 0, run_request_hex()).await, 200);
    assert_eq!(raw.append("r1", "r1", 1, heartbeat_hex()).await, 200);
    let (text, end) = read_stream(resp).await;
    assert_eq!(text, "early bird");
    assert_eq!(end, "{}");
    let runs = fake.runs();
    let run = runs
        .iter()
        .find(|r| r.request_id.as_deref() == Some("r1"))
        .unwrap();
    assert_eq!(run.appends, 2);
    assert_eq!(run.client_heartbeats(), 1);
    assert_eq!(fake.appends_before_run_sse().len(), 1);
}

#[tokio::test]
async fn fake_refuses_seqno_gaps_and_repeats_and_fails_the_run() {
    let fake = FakeCursor::builder()
        .turn(Turn::new().text("a").wait_for_cancel())
        .turn(Turn::new().text("b").wait_for_cancel())
        .start()
        .await;
    let raw = Raw::new(&fake);
    for (id, second, why) in [("gap", 2, "a gap"), ("repeat", 0, "a repeat")] {
        let resp = raw.run_sse(id).send().await.expect("RunSSE");
        assert_eq!(raw.append(id, id, 0, run_request_hex()).await, 200);
        assert_eq!(
            raw.append(id, id, second, heartbeat_hex()).await,
            400,
            "{why}"
        );
        // Once failed, the run refuses even a correct next append.
        assert_eq!(raw.append(id, id, 1, heartbeat_hex()).await, 400);
        let (_, end) = read_stream(resp).await;
        assert!(end.contains("invalid_argument"), "{why}: {end}");
        let runs = fake.runs();
        let run = runs
            .iter()
            .find(|r| r.request_id.as_deref() == Some(id))
            .unwrap();
        assert!(
            run.append_error.as_deref().is_some_and(|e| e.contains(why)),
            "{:?}",
            run.append_error
        );
        assert!(
            matches!(run.end, Some(RunEnd::Error { .. })),
            "{:?}",
            run.end
        );
    }
}

#[tokio::test]
async fn fake_refuses_appends_with_a_foreign_request_id_or_bad_hex() {
    let fake = FakeCursor::builder().start().await;
    let raw = Raw::new(&fake);
    // Each request id's RunSSE is open first (§9.8), so only the append's own fault counts.
    let mut streams = Vec::new();
    for id in ["r2", "r3", "r4", "r5"] {
        streams.push(raw.run_sse(id).send().await.expect("RunSSE"));
    }
    // x-request-id must equal the body's request id.
    assert_eq!(raw.append("other", "r2", 0, run_request_hex()).await, 400);
    // data must be lowercase hex of an AgentClientMessage.
    assert_eq!(
        raw.append("r3", "r3", 0, run_request_hex().to_uppercase())
            .await,
        400
    );
    assert_eq!(raw.append("r4", "r4", 0, "zz".into()).await, 400);
    assert_eq!(raw.append("r5", "r5", 0, "0a05".into()).await, 400);
    // RunSSE's x-request-id must equal its BidiRequestId too.
    let resp = raw.run_sse_as("not-r6", "r6").send().await.expect("RunSSE");
    assert_eq!(resp.status(), 400);
    // A failed run's RunSSE reports the failure instead of playing the turn.
    let (_, end) = read_stream(streams.remove(0)).await;
    assert!(
        end.contains("invalid_argument") && end.contains("x-request-id"),
        "{end}"
    );
    assert!(fake.appends_before_run_sse().is_empty());
}
