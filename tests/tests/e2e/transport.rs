//! The two agent transports end to end: every scenario in [`both!`] runs once over the
//! HTTP/2 `Run` stream and once over the HTTP/1.1 fallback (`RunSSE` + `BidiAppend`,
//! setting `agent_transport = "http1"`), through `CursorClient` built from settings
//! against the fake Cursor (the proxy's scenarios over both are in `proxy.rs`). Then what
//! only the HTTP/1.1 transport has (refused appends, the fake's own append checks,
//! `RunSSE` before the first append).

use crate::common;

use std::time::{Duration, Instant};

use common::Harness;
use common::chat::{collect, text_of, until_tool_call, weather_tool};
use common::proxy::{Proxy, delta_text};
use common::wire::{APPEND_PATH, appends_of, assert_wire};
use cursor_bridge_core::config::settings::AgentTransport;
use cursor_bridge_core::cursor::chat::{ChatEvent, ChatRequest, ChatRun, ToolResult};
use cursor_bridge_core::cursor::framing::{self, Decoder, Frame};
use cursor_bridge_core::cursor::{CursorClient, CursorError};
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_core::pb::aiserver_v1 as bidi;
use cursor_bridge_tests::{
    CancelledBy, FakeCursor, Malformed, McpCall, RunEnd, Step, Turn, TurnUsage,
};
use futures::StreamExt;
use prost::Message as _;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

both!(
    streamed_turn_with_thinking_text_tokens_and_checkpoint,
    mcp_tool_call_is_answered_later_on_the_same_run,
    blobs_set_by_cursor_are_served_back_and_survive_into_the_next_run,
    cancel_tells_cursor_and_ends_the_run,
    dropping_the_run_cancels_it_upstream,
    mid_stream_drops_and_malformed_frames_are_typed_errors_not_silence,
    an_expired_session_on_the_run_is_refreshed_once_and_retried,
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

/// A run that has said "working" and now waits until the client cancels.
async fn run_waiting_for_cancel(transport: AgentTransport) -> (Harness, ChatRun) {
    let fake = FakeCursor::builder()
        .turn(Turn::new().text("working").wait_for_cancel())
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    let run = h
        .client
        .chat(ChatRequest::new("default", "hi"))
        .await
        .expect("run starts");
    (h, run)
}

// ---- scenarios on both transports -----------------------------------------------------

async fn streamed_turn_with_thinking_text_tokens_and_checkpoint(transport: AgentTransport) {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .heartbeat()
                .thinking("Let me think")
                .thinking(" briefly.")
                .thinking_completed(120)
                .text("Hello")
                .token_delta(2)
                .text(", world")
                .token_delta(3)
                .checkpoint(1_500, 200_000)
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    let mut req = ChatRequest::new("claude-4.5-sonnet", "Say hello");
    req.system_prompt = Some("You are terse.".into());
    let mut run = h.client.chat(req).await.expect("run starts");
    let handle = run.handle();
    let (events, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        events,
        [
            ChatEvent::Thinking("Let me think".into()),
            ChatEvent::Thinking(" briefly.".into()),
            ChatEvent::ThinkingDone { duration_ms: 120 },
            ChatEvent::Text("Hello".into()),
            ChatEvent::Tokens(2),
            ChatEvent::Text(", world".into()),
            ChatEvent::Tokens(3),
            ChatEvent::Checkpoint {
                used_tokens: 1_500,
                max_tokens: 200_000
            },
            ChatEvent::TurnEnded,
        ]
    );
    let usage = handle.usage();
    assert_eq!(
        (
            usage.completion_tokens,
            usage.prompt_tokens(),
            usage.context_limit
        ),
        (5, Some(1_495), Some(200_000))
    );
    assert!(handle.checkpoint().is_some());
    assert!(handle.is_finished());

    let run = h.fake.wait_for_run_end(0, WAIT).await;
    assert_eq!(run.end, Some(RunEnd::Ok));
    assert_eq!(run.model_id(), Some("claude-4.5-sonnet"));
    assert_eq!(run.user_text(), Some("Say hello"));
    assert!(matches!(
        run.messages[0].message,
        Some(pb::agent_client_message::Message::RunRequest(_))
    ));
    assert_eq!(
        run.header("content-type"),
        Some("application/connect+proto")
    );
    assert!(
        run.header("x-cursor-client-version")
            .is_some_and(|v| v.starts_with("cli-"))
    );
    assert!(run.header("x-request-id").is_some_and(|v| v.len() == 36));
    let rr = run.run_request.clone().expect("run_request recorded");
    let Some(pb::conversation_action::Action::UserMessageAction(a)) =
        rr.action.and_then(|a| a.action)
    else {
        panic!("expected a user message action");
    };
    assert_eq!(
        a.request_context.and_then(|c| c.cloud_rule).as_deref(),
        Some("You are terse.")
    );
    assert_wire(&h.fake, &run, transport).await;
}

async fn mcp_tool_call_is_answered_later_on_the_same_run(transport: AgentTransport) {
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
                        json!({"city": "Paris", "days": 2}),
                    )
                    .announce(),
                ))
                .text("It is sunny in Paris.")
                .token_delta(6)
                .checkpoint(2_000, 200_000)
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    let mut req = ChatRequest::new("gpt-5.1", "Weather in Paris?");
    req.system_prompt = Some("Use tools.".into());
    req.tools = vec![weather_tool()];
    let mut run = h.client.chat(req).await.expect("run starts");
    let handle = run.handle();

    let (before, call) = until_tool_call(&mut run).await;
    assert_eq!(text_of(&before), "Checking.");
    assert_eq!(
        (call.call_id.as_str(), call.name.as_str()),
        ("call_1", "get_weather")
    );
    assert_eq!(call.arguments, json!({"city": "Paris", "days": 2}));
    assert_eq!(handle.pending_tool_calls(), vec!["call_1".to_string()]);

    // The caller takes a few heartbeat periods: the run stays parked, not idle.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let result = |content: &str| ToolResult {
        content: content.into(),
        is_error: false,
    };
    handle
        .send_tool_result("call_1", result("sunny, 24°C"))
        .await
        .expect("result sent");
    // A second answer to the same call is refused, not sent twice.
    assert!(
        handle
            .send_tool_result("call_1", result("again"))
            .await
            .is_err()
    );

    let (after, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&after), "It is sunny in Paris.");
    assert_eq!(after.last(), Some(&ChatEvent::TurnEnded));

    assert_eq!(h.fake.run_count(), 1, "the result continued the same run");
    let run = h.fake.wait_for_run_end(0, WAIT).await;
    assert_eq!(run.end, Some(RunEnd::Ok));
    assert_eq!(
        run.mcp_results,
        [("call_1".to_string(), "sunny, 24°C".to_string())]
    );
    let ctx = &run.request_contexts[0];
    assert_eq!(ctx.cloud_rule.as_deref(), Some("Use tools."));
    assert_eq!(
        ctx.tools
            .iter()
            .map(|t| t.tool_name.as_str())
            .collect::<Vec<_>>(),
        ["get_weather"]
    );
    assert!(
        run.execs.iter().all(|e| e.stream_closed),
        "every exec is closed with stream_close"
    );
    assert!(run.client_heartbeats() >= 2, "heartbeats while parked");
    assert_wire(&h.fake, &run, transport).await;
}

async fn blobs_set_by_cursor_are_served_back_and_survive_into_the_next_run(
    transport: AgentTransport,
) {
    let doc = br#"{"role":"user","content":"remember me"}"#;
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .kv_set(&doc[..])
                .kv_get_data(doc)
                .text("ok")
                .checkpoint(10, 100)
                .turn_ended()
                .end_ok(),
        )
        .turn(
            Turn::new()
                .kv_get_data(doc)
                .kv_get(vec![7u8; 32])
                .text("again")
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    let req = ChatRequest::new("default", "first");
    let mut run = h.client.chat(req.clone()).await.expect("run starts");
    let handle = run.handle();
    let (events, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "ok");
    let checkpoint = handle.checkpoint().expect("checkpoint");

    // Continue the conversation: the checkpoint goes back verbatim, the blobs stay.
    let mut next = req.clone();
    next.user_text = "second".into();
    next.conversation_state = Some(checkpoint.clone());
    let (events, err) = chat_to_end(&h.client, next).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "again");

    let runs = h.fake.wait_for_runs(2, WAIT).await;
    assert_eq!(runs[0].kv_get_results[0].1.as_deref(), Some(&doc[..]));
    assert_eq!(
        runs[1].kv_get_results[0].1.as_deref(),
        Some(&doc[..]),
        "blob served in the next run"
    );
    assert_eq!(
        runs[1].kv_get_results[1].1, None,
        "unknown blob: blob_data omitted"
    );
    let state = runs[1]
        .run_request
        .as_ref()
        .expect("run_request recorded")
        .conversation_state
        .clone()
        .expect("a conversation state");
    assert_eq!(state, checkpoint, "checkpoint sent back byte for byte");
    let conversation_id = |i: usize| {
        let rr = runs[i].run_request.as_ref().expect("run_request recorded");
        rr.conversation_id.clone()
    };
    assert_eq!(conversation_id(0), conversation_id(1));
    for run in &runs {
        assert_eq!(run.end, Some(RunEnd::Ok));
        assert_wire(&h.fake, run, transport).await;
    }
}

async fn cancel_tells_cursor_and_ends_the_run(transport: AgentTransport) {
    let (h, mut run) = run_waiting_for_cancel(transport).await;
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

async fn dropping_the_run_cancels_it_upstream(transport: AgentTransport) {
    let (h, mut run) = run_waiting_for_cancel(transport).await;
    let _ = run.next().await;
    drop(run);
    let recorded = h.fake.wait_for_run_end(0, WAIT).await;
    assert!(recorded.cancelled.is_some(), "{:?}", recorded.end);
}

async fn mid_stream_drops_and_malformed_frames_are_typed_errors_not_silence(
    transport: AgentTransport,
) {
    let fake = FakeCursor::builder()
        .turn(Turn::new().text("half").drop_stream())
        .turn(
            Turn::new()
                .text("x")
                .malformed(Malformed::UndecodableMessage),
        )
        .turn(Turn::new().malformed(Malformed::UnknownFlags))
        .turn(Turn::new().malformed(Malformed::BadGzip))
        .turn(Turn::new().malformed(Malformed::Truncated))
        .turn(Turn::new().malformed(Malformed::BadEndStreamJson))
        .turn(Turn::new().text("y").reset())
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    for case in [
        "drop",
        "undecodable",
        "flags",
        "gzip",
        "truncated",
        "end json",
    ] {
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
    assert_eq!(h.fake.run_count(), 7);
}

async fn an_expired_session_on_the_run_is_refreshed_once_and_retried(transport: AgentTransport) {
    let fake = FakeCursor::builder()
        .turn(Turn::reply("after refresh"))
        .start()
        .await;
    let h = signed_in(fake, transport).await;
    // Cursor stops accepting the (unexpired-looking) token: the run (and over HTTP/1.1 its
    // first append) is refused `unauthenticated`; the client refreshes and retries before
    // the caller sees anything.
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
