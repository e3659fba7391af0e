//! Exact usage end to end (reference §9.4): Cursor's `TurnEndedUpdate` counts reach the
//! OpenAI client (`usage`, with `prompt_tokens_details.cached_tokens` and
//! `completion_tokens_details.reasoning_tokens`) and the ledger (cache and reasoning
//! columns, the row marked exact), through the real proxy against the fake; without
//! them the estimate is reported and marked as such. Each row also names its dialect and
//! client, which the report splits by.

use crate::common;

use bytes::Bytes;
use common::Harness;
use common::proxy::{Proxy, minted, signed_in, tool_call_deltas};
use cursor_bridge_core::config::settings::Paths;
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_core::store::ledger::{Range, UsageReport, unix_now_ms};
use cursor_bridge_tests::{FakeCursor, Malformed, Turn, TurnUsage};
use prost::Message as _;
use serde_json::{Value, json};

/// One ledger row's token columns.
#[derive(Debug, PartialEq, Eq)]
struct Row {
    prompt: Option<i64>,
    completion: Option<i64>,
    cache_read: Option<i64>,
    cache_write: Option<i64>,
    reasoning: Option<i64>,
    exact: bool,
    continued: bool,
}

impl Row {
    /// A row of the estimate: no cache or reasoning counts (none are made up).
    fn estimated(prompt: Option<i64>, completion: i64) -> Row {
        Row {
            prompt,
            completion: Some(completion),
            cache_read: None,
            cache_write: None,
            reasoning: None,
            exact: false,
            continued: false,
        }
    }

    /// A row of Cursor's exact count.
    fn exact(
        prompt: i64,
        completion: i64,
        cache_read: i64,
        cache_write: i64,
        reasoning: i64,
    ) -> Row {
        Row {
            prompt: Some(prompt),
            completion: Some(completion),
            cache_read: Some(cache_read),
            cache_write: Some(cache_write),
            reasoning: Some(reasoning),
            exact: true,
            continued: false,
        }
    }

    /// This row, marked as a continuation of an earlier response's Cursor run.
    fn continued(self) -> Row {
        Row {
            continued: true,
            ..self
        }
    }
}

/// An exact `usage` object as OpenAI reports it, with the cached and reasoning details.
fn exact_usage(prompt: u64, completion: u64, cached: u64, reasoning: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    })
}

/// Stops the proxy (which flushes the ledger) and reads every row, oldest first, straight
/// from the SQLite file as any other reader would.
async fn ledger_rows(p: &mut Proxy) -> Vec<Row> {
    p.stop().await;
    let path = Paths::resolve(&p.h.env).expect("paths").ledger_file();
    let conn = rusqlite::Connection::open(path).expect("open ledger");
    let mut stmt = conn
        .prepare(
            "SELECT prompt_tokens, completion_tokens, cache_read_tokens, cache_write_tokens,
                    reasoning_tokens, tokens_exact, continued
             FROM requests ORDER BY id",
        )
        .expect("query");
    stmt.query_map([], |r| {
        Ok(Row {
            prompt: r.get(0)?,
            completion: r.get(1)?,
            cache_read: r.get(2)?,
            cache_write: r.get(3)?,
            reasoning: r.get(4)?,
            exact: r.get(5)?,
            continued: r.get(6)?,
        })
    })
    .expect("rows")
    .collect::<Result<_, _>>()
    .expect("rows")
}

async fn report(p: &Proxy) -> UsageReport {
    p.ledger()
        .report(Range::Day, unix_now_ms())
        .await
        .expect("report")
}

async fn plain(p: &Proxy, body: Value) -> Value {
    let res = p.post(&body).await;
    assert_eq!(res.status(), 200);
    res.json().await.expect("json")
}

/// A turn that says "Checking.", calls `get_weather` for Oslo as `call_id`, then answers
/// "Snow." and ends with Cursor's `count`.
fn oslo_tool_turn(call_id: &str, count: TurnUsage) -> Turn {
    Turn::new()
        .text("Checking.")
        .token_delta(2)
        .checkpoint(3_000, 200_000)
        .mcp_call(
            "get_weather",
            "get_weather",
            call_id,
            json!({"city": "Oslo"}),
        )
        .text("Snow.")
        .token_delta(3)
        .checkpoint(3_400, 200_000)
        .turn_ended_usage(count)
        .end_ok()
}

/// Drives [`oslo_tool_turn`] as a client does: a streamed request asking `question` that
/// ends in the tool call, then a plain one with the tool result. Returns the first
/// response's usage chunk and the second response's body.
async fn oslo_tool_loop(p: &Proxy, question: &str, call_id: &str) -> (Value, Value) {
    let tools = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let mut messages = vec![json!({"role": "user", "content": question})];
    let chunks = p
        .sse(
            &json!({"model": "auto", "stream": true, "messages": messages, "tools": tools,
            "stream_options": {"include_usage": true}}),
        )
        .await;
    let calls = tool_call_deltas(&chunks);
    let first = chunks.last().expect("usage chunk")["usage"].clone();
    let call_id = minted(&calls[0]["id"], call_id);
    messages.push(json!({"role": "assistant", "content": "Checking.",
        "tool_calls": [{"id": call_id, "type": "function", "function": calls[0]["function"]}]}));
    messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": "-3C snow"}));
    let body = plain(
        p,
        json!({"model": "auto", "messages": messages, "tools": tools}),
    )
    .await;
    assert_eq!(body["choices"][0]["message"]["content"], "Snow.");
    (first, body)
}

fn ask(text: &str) -> Value {
    json!({"model": "auto", "messages": [{"role": "user", "content": text}]})
}

/// A live-looking count: most of the prompt read from the cache.
const LIVE: TurnUsage = TurnUsage {
    input_tokens: 11_292,
    output_tokens: 250,
    cache_read_tokens: 9_000,
    cache_write_tokens: 1_000,
    reasoning_tokens: 40,
};

/// `LIVE` as OpenAI reports it: prompt = input + cache read + cache write (the default
/// reading of Cursor's `input_tokens`), cached and reasoning as details.
fn live_usage_json() -> Value {
    exact_usage(21_292, 250, 9_000, 40)
}

fn live_row() -> Row {
    Row::exact(21_292, 250, 9_000, 1_000, 40)
}

/// `AgentServerMessage{interaction_update{turn_ended{LIVE}}}` as a Connect data frame,
/// then the end-of-stream frame `{}`, written out byte by byte.
fn hand_built_turn_end() -> Bytes {
    let turn_ended: [u8; 14] = [
        0x08, 0x9c, 0x58, // 1 input_tokens = 11292
        0x10, 0xfa, 0x01, // 2 output_tokens = 250
        0x18, 0xa8, 0x46, // 3 cache_read_tokens = 9000
        0x20, 0xe8, 0x07, // 4 cache_write_tokens = 1000
        0x28, 0x28, // 5 reasoning_tokens = 40
    ];
    let mut update = vec![0x72, turn_ended.len() as u8]; // InteractionUpdate 14 turn_ended
    update.extend_from_slice(&turn_ended);
    let mut message = vec![0x0a, update.len() as u8]; // AgentServerMessage 1 interaction_update
    message.extend_from_slice(&update);
    let mut wire = vec![0x00, 0, 0, 0, message.len() as u8]; // data frame, length
    wire.extend_from_slice(&message);
    wire.extend_from_slice(&[0x02, 0, 0, 0, 2, b'{', b'}']); // end of stream, `{}`
    Bytes::from(wire)
}

/// Regression: `TurnEndedUpdate` was an empty message in our schema, so the live
/// service's exact counts were skipped as unknown fields and the client got the
/// checkpoint inference (here 4 998 prompt, 2 completion) instead. Replayed from
/// hand-built wire bytes, not from our own encoder.
#[tokio::test]
async fn regression_turn_ended_usage_on_the_wire_was_dropped() {
    let wire = hand_built_turn_end();
    // The bytes are what the schema says, checked against prost's decoding of them.
    let msg = pb::AgentServerMessage::decode(&wire[5..23]).expect("decodes");
    assert_eq!(
        msg.message,
        Some(pb::agent_server_message::Message::InteractionUpdate(
            pb::InteractionUpdate {
                turn_ended: Some(LIVE.update()),
                ..Default::default()
            }
        ))
    );
    let mut p = signed_in(vec![
        Turn::new()
            .text("Hi")
            .token_delta(2)
            .checkpoint(5_000, 200_000)
            .malformed(Malformed::Raw(wire)),
    ])
    .await;
    let body = plain(&p, ask("hello")).await;
    assert_eq!(body["choices"][0]["message"]["content"], "Hi");
    assert_eq!(body["usage"], live_usage_json(), "{body:#}");
    assert_eq!(ledger_rows(&mut p).await, [live_row()]);
}

#[tokio::test]
async fn streamed_usage_chunk_carries_cursors_exact_counts() {
    let turn = || {
        Turn::new()
            .thinking("Hmm.")
            .text("Hello")
            .token_delta(2)
            .checkpoint(5_000, 200_000)
            .turn_ended_usage(LIVE)
            .end_ok()
    };
    let mut p = signed_in(vec![turn(), turn()]).await;
    let mut body = ask("hi");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let chunks = p.sse(&body).await;
    let last = chunks.last().expect("chunks");
    assert_eq!(last["choices"], json!([]), "the usage chunk has no choices");
    assert_eq!(last["usage"], live_usage_json(), "{last:#}");
    assert_eq!(
        chunks.iter().filter(|c| c.get("usage").is_some()).count(),
        1
    );

    // Without include_usage no usage chunk goes out, but the ledger still has the count.
    body["stream_options"] = json!(null);
    let chunks = p.sse(&body).await;
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));

    assert_eq!(ledger_rows(&mut p).await, [live_row(), live_row()]);
    let r = report(&p).await;
    assert!(r.tokens_exact, "{r:?}");
    assert_eq!(r.totals.estimated_requests, 0);
    assert_eq!(
        (
            r.totals.prompt_tokens,
            r.totals.cache_read_tokens,
            r.totals.cache_write_tokens,
            r.totals.reasoning_tokens
        ),
        (42_584, 18_000, 2_000, 80)
    );
}

/// When Cursor sends no count at turn end, the old inference is what is left: completion
/// from `token_delta`, prompt from the checkpoint or ≈ 4 characters a token — labelled
/// estimated in the ledger, and no cache/reasoning details are made up.
#[tokio::test]
async fn without_usage_at_turn_end_the_estimate_is_reported_and_marked_estimated() {
    let mut p = signed_in(vec![
        Turn::new()
            .text("Hello")
            .token_delta(3)
            .checkpoint(120, 200_000)
            .turn_ended()
            .end_ok(),
        // No checkpoint either: the prompt is estimated from the text.
        Turn::new()
            .text("Again")
            .token_delta(1)
            .turn_ended()
            .end_ok(),
    ])
    .await;
    let body = plain(&p, ask("hi")).await;
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 117, "completion_tokens": 3, "total_tokens": 120}),
        "{body:#}"
    );
    let body = plain(&p, ask(&"x".repeat(400))).await;
    assert_eq!(body["usage"]["prompt_tokens"], 100, "{body:#}");
    assert!(body["usage"].get("prompt_tokens_details").is_none());

    assert_eq!(
        ledger_rows(&mut p).await,
        [Row::estimated(Some(117), 3), Row::estimated(Some(100), 1)]
    );
    let r = report(&p).await;
    assert!(!r.tokens_exact);
    assert_eq!(r.totals.estimated_requests, 2);
    assert_eq!(r.totals.cache_read_tokens, 0);
}

/// A tool loop on one Cursor run: the step that ends in `tool_calls` comes before Cursor
/// counted the turn, so it reports the estimate (marked so); the response in which the
/// turn ends reports the rest of Cursor's count, and the two add up to it.
#[tokio::test]
async fn a_tool_loop_reports_the_estimate_first_and_the_rest_of_cursors_count_at_the_end() {
    let count = TurnUsage {
        input_tokens: 3_000,
        output_tokens: 5,
        cache_read_tokens: 2_600,
        cache_write_tokens: 800,
        reasoning_tokens: 1,
    };
    let mut p = signed_in(vec![oslo_tool_turn("call_u1", count)]).await;
    let (first, body) = oslo_tool_loop(&p, "weather in Oslo?", "call_u1").await;
    assert_eq!(
        first,
        json!({"prompt_tokens": 2_998, "completion_tokens": 2, "total_tokens": 3_000}),
        "before the turn ends only the estimate is known"
    );
    assert_eq!(body["usage"], exact_usage(3_402, 3, 2_600, 1), "{body:#}");
    assert_eq!(p.fake().run_count(), 1, "both steps on one Cursor run");

    assert_eq!(
        ledger_rows(&mut p).await,
        [
            Row::estimated(Some(2_998), 2),
            Row::exact(3_402, 3, 2_600, 800, 1).continued(),
        ]
    );
    let r = report(&p).await;
    // The turn's responses add up to Cursor's count (6 400 = 3 000 + 2 600 + 800).
    assert_eq!(
        (r.totals.prompt_tokens, r.totals.completion_tokens),
        (6_400, 5)
    );
    assert_eq!(r.totals.estimated_requests, 1);
    assert!(!r.tokens_exact);
}

/// Regression: a tool loop's first response guessed its prompt (≈ characters / 4) and the
/// last one reported Cursor's count minus that guess; a guess above the count (OpenCode's
/// long system prompt against a short turn) left the turn's totals at the guess. Once
/// Cursor has counted a turn, the `tool_calls` response leaves its prompt to the turn's
/// count (0 here, no prompt in its ledger row), and the last response carries all of it.
#[tokio::test]
async fn once_cursor_counts_turns_a_tool_step_defers_its_prompt_to_the_turns_count() {
    let count = TurnUsage {
        input_tokens: 30,
        output_tokens: 5,
        cache_read_tokens: 20,
        cache_write_tokens: 10,
        reasoning_tokens: 1,
    };
    let mut p = signed_in(vec![
        Turn::new()
            .text("Hello.")
            .token_delta(1)
            .checkpoint(900, 200_000)
            .turn_ended_usage(TurnUsage {
                input_tokens: 900,
                output_tokens: 1,
                ..TurnUsage::default()
            })
            .end_ok(),
        oslo_tool_turn("call_d1", count),
    ])
    .await;
    assert_eq!(plain(&p, ask("hi")).await["usage"]["prompt_tokens"], 900);
    // A long prompt: its estimate (≈ 2 500 tokens) is far above Cursor's count (60).
    let question = format!("weather in Oslo? {}", "context ".repeat(1_250));
    let (first, body) = oslo_tool_loop(&p, &question, "call_d1").await;
    assert_eq!(
        first,
        json!({"prompt_tokens": 0, "completion_tokens": 2, "total_tokens": 2}),
        "the prompt waits for Cursor's count"
    );
    assert_eq!(body["usage"], exact_usage(60, 3, 20, 1), "{body:#}");
    let rows = ledger_rows(&mut p).await;
    assert_eq!(
        rows[1..],
        [
            Row::estimated(None, 2),
            Row::exact(60, 3, 20, 10, 1).continued(),
        ]
    );
    let r = report(&p).await;
    // Exactly Cursor's counts of the two turns, and nothing in them a guess.
    assert_eq!(
        (r.totals.prompt_tokens, r.totals.completion_tokens),
        (960, 6)
    );
    assert_eq!(r.totals.estimated_requests, 0);
    assert!(r.tokens_exact);
}

/// `cursor_input_includes_cache = true`: Cursor's `input_tokens` is taken to include the
/// cache already, so it is the prompt count as is.
#[tokio::test]
async fn the_cache_setting_decides_whether_input_tokens_include_the_cache() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .text("Hi")
                .token_delta(2)
                .turn_ended_usage(LIVE)
                .end_ok(),
        )
        .start()
        .await;
    let h = Harness::signed_in(fake).await;
    let mut p = Proxy::start_with(h, |s| s.cursor_input_includes_cache = true).await;
    let body = plain(&p, ask("hi")).await;
    assert_eq!(body["usage"], exact_usage(11_292, 250, 9_000, 40));
    assert_eq!(ledger_rows(&mut p).await[0].prompt, Some(11_292));
}

/// The fake's default reply ends its turn with a count, as the live service does.
#[tokio::test]
async fn the_default_reply_is_counted_exactly() {
    let mut p = signed_in(vec![]).await;
    let body = plain(&p, ask("hi")).await;
    assert_eq!(body["usage"], exact_usage(1_193, 7, 1_000, 0));
    assert!(ledger_rows(&mut p).await[0].exact);
}

/// Every ledger row names the dialect it spoke and the client that sent it (the first
/// product of its `User-Agent`); a request without one is from an unknown client.
#[tokio::test]
async fn a_chat_completion_is_recorded_as_dialect_chat_from_its_user_agents_client() {
    let mut p = signed_in(vec![]).await;
    let res = p
        .http
        .post(format!("{}/v1/chat/completions", p.base))
        .bearer_auth(&p.key)
        .header("user-agent", "opencode/1.2")
        .json(&ask("hi"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    plain(&p, ask("and you?")).await;

    p.stop().await;
    let path = Paths::resolve(&p.h.env).expect("paths").ledger_file();
    let conn = rusqlite::Connection::open(path).expect("open ledger");
    let rows: Vec<(String, Option<String>)> = conn
        .prepare("SELECT dialect, client FROM requests ORDER BY id")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(
        rows,
        [
            ("chat".to_string(), Some("opencode".to_string())),
            ("chat".to_string(), None)
        ]
    );

    // The report, as the UI and `cursor-bridge usage` read it.
    let r = report(&p).await;
    let by_client: Vec<(Option<&str>, u64)> = r
        .by_client
        .iter()
        .map(|c| (c.key.as_deref(), c.requests))
        .collect();
    assert_eq!(by_client, [(None, 1), (Some("opencode"), 1)]);
    assert!(
        r.by_client.iter().all(|c| c.completion_tokens == 7),
        "{r:?}"
    );
    assert_eq!(r.by_dialect.len(), 1, "{r:?}");
    assert_eq!(
        (r.by_dialect[0].key.as_deref(), r.by_dialect[0].requests),
        (Some("chat"), 2)
    );
    let clients: Vec<Option<&str>> = r
        .series_by_client
        .iter()
        .map(|p| p.key.as_deref())
        .collect();
    assert!(clients.contains(&Some("opencode")), "{r:?}");
}
