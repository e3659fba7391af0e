//! Parked runs belong to their conversation (issue 15): the tool-call ids a client sees
//! are minted by the proxy, never Cursor's, and a continuation reaches a parked run only
//! when it answers every id of the step under the conversation that produced it. A forged
//! or partial answer starts a fresh run from its own history and leaves the parked run
//! for its owner (it expires by its TTL if the owner never comes back), so nobody can
//! take over or cancel another conversation's run by sending its ids.

use crate::common;

use std::time::Duration;

use common::proxy::{Proxy, minted, signed_in};
use cursor_bridge_tests::{HistoryKind, Turn};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
        {"type": "function", "function": {"name": "get_time",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    ])
}

/// A turn calling `get_weather` for `city` as Cursor's `cursor_id`, then answering
/// "after the tool in <city>".
fn weather_turn(cursor_id: &str, city: &str) -> Turn {
    Turn::new()
        .mcp_call(
            "get_weather",
            "get_weather",
            cursor_id,
            json!({"city": city}),
        )
        .text(format!("after the tool in {city}"))
        .turn_ended()
        .end_ok()
}

/// Asks `question`; returns the (minted) ids of the tool calls the response ends in,
/// checked against Cursor's `cursor_ids`.
async fn ask(p: &Proxy, question: &str, cursor_ids: &[&str]) -> Vec<String> {
    let r: Value = p
        .post(&json!({"model": "auto", "tools": tools(),
            "messages": [{"role": "user", "content": question}]}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["choices"][0]["finish_reason"], "tool_calls", "{r}");
    let calls = r["choices"][0]["message"]["tool_calls"]
        .as_array()
        .expect("tool calls");
    assert_eq!(calls.len(), cursor_ids.len(), "{r}");
    calls
        .iter()
        .zip(cursor_ids)
        .map(|(c, cursor_id)| minted(&c["id"], cursor_id))
        .collect()
}

/// Answers `ids` (each with "<id> result") after `question`; returns the reply's text.
async fn answer(p: &Proxy, question: &str, ids: &[&str]) -> String {
    let calls: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({"id": id, "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"}})
        })
        .collect();
    let mut messages = vec![
        json!({"role": "user", "content": question}),
        json!({"role": "assistant", "content": null, "tool_calls": calls}),
    ];
    for id in ids {
        messages
            .push(json!({"role": "tool", "tool_call_id": id, "content": format!("{id} result")}));
    }
    let r: Value = p
        .post(&json!({"model": "auto", "tools": tools(), "messages": messages}))
        .await
        .json()
        .await
        .expect("json");
    r["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string()
}

#[tokio::test]
async fn minted_ids_differ_per_step_even_when_cursors_ids_repeat() {
    let p = signed_in(vec![
        weather_turn("call_1", "Rome"),
        weather_turn("call_1", "Oslo"),
    ])
    .await;
    let a = ask(&p, "weather in Rome?", &["call_1"]).await;
    let b = ask(&p, "weather in Oslo?", &["call_1"]).await;
    assert_ne!(a, b, "one Cursor id, two conversations, two ids");
}

#[tokio::test]
async fn a_forged_continuation_starts_a_fresh_run_and_the_owner_still_continues() {
    let p = signed_in(vec![
        weather_turn("call_1", "Rome"),
        Turn::reply("fresh answer for the forger"),
    ])
    .await;
    let ids = ask(&p, "weather in Rome?", &["call_1"]).await;
    // The right id under another history.
    let forged = answer(&p, "what is my neighbour doing?", &[&ids[0]]).await;
    assert_eq!(forged, "fresh answer for the forger");
    let runs = p.fake().wait_for_runs(2, WAIT).await;
    assert_eq!(runs[1].history, HistoryKind::Structured, "its own history");
    assert!(
        runs[0].mcp_results.is_empty(),
        "nothing reached the owner's run"
    );
    assert!(runs[0].end.is_none(), "the owner's run is still parked");
    assert_eq!(p.health().await["parked_streams"], 1);

    // The owner continues on its own run.
    assert_eq!(
        answer(&p, "weather in Rome?", &[&ids[0]]).await,
        "after the tool in Rome"
    );
    assert_eq!(p.fake().run_count(), 2);
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_eq!(
        run.mcp_results,
        [("call_1".to_string(), format!("{} result", ids[0]))],
        "Cursor got the result under its own id"
    );
}

#[tokio::test]
async fn a_partial_answer_starts_a_fresh_run() {
    let step = Turn::new()
        .parallel_mcp_calls(&[
            ("get_weather", "call_w", json!({"city": "Rome"})),
            ("get_time", "call_t", json!({"city": "Rome"})),
        ])
        .text("both answered")
        .turn_ended()
        .end_ok();
    let p = signed_in(vec![step, Turn::reply("fresh from the history")]).await;
    let q = "weather and time in Rome?";
    let ids = ask(&p, q, &["call_w", "call_t"]).await;
    assert_eq!(answer(&p, q, &[&ids[0]]).await, "fresh from the history");
    let runs = p.fake().wait_for_runs(2, WAIT).await;
    assert!(runs[0].mcp_results.is_empty(), "{:?}", runs[0].mcp_results);
    assert_eq!(p.health().await["parked_streams"], 1);
    // All of them, in any order, continue the parked run.
    assert_eq!(answer(&p, q, &[&ids[1], &ids[0]]).await, "both answered");
    assert_eq!(p.fake().run_count(), 2);
}

#[tokio::test]
async fn two_parked_conversations_never_cross() {
    let p = signed_in(vec![
        weather_turn("call_1", "Rome"),
        weather_turn("call_1", "Oslo"),
        Turn::reply("fresh for the mix"),
    ])
    .await;
    let rome = ask(&p, "weather in Rome?", &["call_1"]).await;
    let oslo = ask(&p, "weather in Oslo?", &["call_1"]).await;
    assert_eq!(p.health().await["parked_streams"], 2);
    // Rome's history with Oslo's id: neither run.
    assert_eq!(
        answer(&p, "weather in Rome?", &[&oslo[0]]).await,
        "fresh for the mix"
    );
    assert_eq!(p.health().await["parked_streams"], 2);
    // Each owner reaches its own run, the later one first.
    assert_eq!(
        answer(&p, "weather in Oslo?", &[&oslo[0]]).await,
        "after the tool in Oslo"
    );
    assert_eq!(
        answer(&p, "weather in Rome?", &[&rome[0]]).await,
        "after the tool in Rome"
    );
    assert_eq!(p.fake().run_count(), 3);
    for (i, id) in [(0, &rome[0]), (1, &oslo[0])] {
        let run = p.fake().wait_for_run_end(i, WAIT).await;
        assert_eq!(
            run.mcp_results,
            [("call_1".to_string(), format!("{id} result"))]
        );
    }
}
