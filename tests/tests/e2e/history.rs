//! History as structure (reference §9.5), end to end: the proxy on an ephemeral port, the
//! fake Cursor recording how each run carried its conversation — continued from a
//! checkpoint the fake issued, rebuilt as message blobs it fetched through KV, or neither
//! — and the ledger's `history` column saying the same.

use crate::common;

use std::time::Duration;

use common::Harness;
use common::proxy::{Proxy, delta_text, fake_playing, minted};
use cursor_bridge_core::config::settings::Paths;
use cursor_bridge_tests::{FakeCursor, HistoryKind, RunEnd, Turn};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

fn assistant(text: &str) -> Value {
    json!({"role": "assistant", "content": text})
}

fn system() -> Value {
    json!({"role": "system", "content": "You are terse."})
}

/// A plain completion's text.
async fn ask(p: &Proxy, messages: &[Value]) -> String {
    let res = p
        .post(&json!({"model": "auto", "messages": messages}))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    body["choices"][0]["message"]["content"]
        .as_str()
        .expect("content")
        .to_string()
}

/// The ledger's `history` column, oldest row first, once `n` rows are there.
async fn history_column(p: &Proxy, n: usize) -> Vec<Option<String>> {
    let paths = Paths::resolve(&p.h.env).expect("paths");
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(l) = p
            .running
            .as_ref()
            .and_then(|r| r.state().engine.ledger.as_ref())
        {
            l.flush().await;
        }
        let conn = rusqlite::Connection::open(paths.ledger_file()).expect("ledger");
        let rows: Vec<Option<String>> = conn
            .prepare("SELECT history FROM requests ORDER BY id")
            .expect("query")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .map(|r| r.expect("row"))
            .collect();
        if rows.len() >= n || std::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn some(v: &[&str]) -> Vec<Option<String>> {
    v.iter()
        .map(|s| (!s.is_empty()).then(|| s.to_string()))
        .collect()
}

/// The conversation after "Paris." was the answer to the capital of France, asking on.
fn second_city() -> [Value; 3] {
    [
        user("capital of France?"),
        assistant("Paris."),
        user("second city?"),
    ]
}

/// Starts a proxy again over `p`'s harness (its data dir: settings, store, ledger) and
/// checks that it answers [`second_city`] with "Lyon.".
async fn restart_and_ask_on(p: Proxy) -> Proxy {
    let Proxy { h, .. } = p;
    let p = Proxy::start(h).await;
    assert_eq!(ask(&p, &second_city()).await, "Lyon.");
    p
}

async fn proxy_with(
    turns: Vec<Turn>,
    tweak: impl FnOnce(&mut cursor_bridge_core::config::settings::Settings),
) -> Proxy {
    Proxy::start_with(Harness::signed_in(fake_playing(turns).await).await, tweak).await
}

async fn proxy(turns: Vec<Turn>) -> Proxy {
    proxy_with(turns, |_| {}).await
}

#[tokio::test]
async fn a_second_user_turn_continues_from_the_checkpoint() {
    let p = proxy(vec![Turn::reply("Paris."), Turn::reply("Lyon.")]).await;
    let one = [system(), user("capital of France?")];
    assert_eq!(ask(&p, &one).await, "Paris.");
    let two = [
        system(),
        user("capital of France?"),
        assistant("Paris."),
        user("and its second city?"),
    ];
    assert_eq!(ask(&p, &two).await, "Lyon.");

    let runs = p.fake().wait_for_runs(2, WAIT).await;
    assert_eq!(
        runs[0].history,
        HistoryKind::Structured,
        "the system prompt"
    );
    assert_eq!(runs[1].history, HistoryKind::Checkpoint);
    assert_eq!(runs[1].user_text(), Some("and its second city?"));
    let roles: Vec<&str> = runs[1]
        .history_messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["system", "user", "assistant"],
        "the fake's own record"
    );
    assert_eq!(
        runs[0].run_request.as_ref().unwrap().conversation_id,
        runs[1].run_request.as_ref().unwrap().conversation_id,
        "the same conversation"
    );
    assert_eq!(
        history_column(&p, 2).await,
        some(&["structured", "checkpoint"])
    );
}

#[tokio::test]
async fn a_tool_loop_then_a_new_user_turn_continues_from_the_checkpoint() {
    let tool_turn = Turn::new()
        .mcp_call(
            "cursor-tools-get_weather",
            "get_weather",
            "call_w",
            json!({"city": "Paris"}),
        )
        .text("18C in Paris.")
        .checkpoint(900, 200_000)
        .turn_ended()
        .end_ok();
    let p = proxy(vec![tool_turn, Turn::reply("You are welcome.")]).await;
    let mut messages = vec![system(), user("weather in Paris?")];
    let chunks = p
        .sse(&json!({"model": "auto", "stream": true, "tools": tools(), "messages": messages}))
        .await;
    let call = chunks
        .iter()
        .find_map(|c| {
            c["choices"][0]["delta"]["tool_calls"][0]
                .as_object()
                .cloned()
        })
        .expect("a tool call");
    let id = minted(&call["id"], "call_w");
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [{"id": id,
        "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}));
    messages.push(json!({"role": "tool", "tool_call_id": id, "content": "18C"}));
    let chunks = p
        .sse(&json!({"model": "auto", "stream": true, "tools": tools(), "messages": messages}))
        .await;
    assert_eq!(delta_text(&chunks, "content"), "18C in Paris.");
    messages.push(assistant("18C in Paris."));
    messages.push(user("thanks"));
    let chunks = p
        .sse(&json!({"model": "auto", "stream": true, "tools": tools(), "messages": messages}))
        .await;
    assert_eq!(delta_text(&chunks, "content"), "You are welcome.");

    let runs = p.fake().wait_for_runs(2, WAIT).await;
    assert_eq!(runs.len(), 2, "the tool result went onto the parked run");
    assert_eq!(runs[1].history, HistoryKind::Checkpoint);
    assert_eq!(runs[1].user_text(), Some("thanks"));
    let roles: Vec<&str> = runs[1]
        .history_messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "assistant"]);
    assert_eq!(
        history_column(&p, 3).await,
        some(&["structured", "", "checkpoint"]),
        "the continued request carried no history"
    );
}

#[tokio::test]
async fn the_history_is_rebuilt_as_structure_when_nothing_is_stored() {
    let p = proxy(vec![Turn::reply("Three.")]).await;
    let messages = [system(), user("one"), assistant("two"), user("count on")];
    assert_eq!(ask(&p, &messages).await, "Three.");
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_eq!(run.history, HistoryKind::Structured);
    assert_eq!(
        run.user_text(),
        Some("count on"),
        "only the newest user text"
    );
    assert_eq!(
        run.history_messages,
        [
            json!({"role": "system", "content": "You are terse."}),
            json!({"role": "user", "content": [{"type": "text", "text": "one"}]}),
            json!({"role": "assistant", "content": [{"type": "text", "text": "two"}]}),
        ]
    );
    assert_eq!(history_column(&p, 1).await, some(&["structured"]));
}

#[tokio::test]
async fn a_restarted_proxy_continues_from_the_persisted_checkpoint() {
    let mut p = proxy(vec![Turn::reply("Paris."), Turn::reply("Lyon.")]).await;
    let one = [user("capital of France?")];
    assert_eq!(ask(&p, &one).await, "Paris.");
    p.stop().await;
    let paths = Paths::resolve(&p.h.env).expect("paths");
    let file = paths.conversations_file();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file)
            .expect("the store was written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "it holds prompts: owner only");
    }
    let p = restart_and_ask_on(p).await;
    let run = p.fake().wait_for_run_end(1, WAIT).await;
    assert_eq!(run.history, HistoryKind::Checkpoint);
    assert_eq!(run.user_text(), Some("second city?"));
}

#[tokio::test]
async fn a_missing_blob_is_retried_once_from_the_rebuilt_state() {
    let mut p = proxy(vec![
        Turn::reply("Paris."),
        // Taken by the checkpoint run, which the fake ends at the missing blob.
        Turn::reply("never sent"),
        Turn::reply("Lyon."),
    ])
    .await;
    assert_eq!(ask(&p, &[user("capital of France?")]).await, "Paris.");
    p.stop().await;
    // The kept checkpoint lost its blobs (a damaged or hand-edited store).
    let file = Paths::resolve(&p.h.env).unwrap().conversations_file();
    let mut stored: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    for e in stored["entries"].as_array_mut().unwrap() {
        e["blobs"] = json!([]);
    }
    std::fs::write(&file, stored.to_string()).unwrap();
    let p = restart_and_ask_on(p).await;
    let runs = p.fake().wait_for_runs(3, WAIT).await;
    assert_eq!(runs.len(), 3, "one retry, no more");
    assert_eq!(runs[1].history, HistoryKind::Checkpoint);
    assert!(
        matches!(&runs[1].end, Some(RunEnd::Error { code, message })
            if code == "internal" && message.starts_with("Blob not found")),
        "{:?}",
        runs[1].end
    );
    assert_eq!(runs[2].history, HistoryKind::Structured);
    assert_eq!(runs[2].history_messages.len(), 2);
    assert_eq!(runs[2].user_text(), Some("second city?"));
    assert_eq!(
        history_column(&p, 1)
            .await
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some("structured")
    );
}

#[tokio::test]
async fn the_store_keeps_at_most_conversation_store_max() {
    let p = proxy_with(
        vec![
            Turn::reply("A1."),
            Turn::reply("B1."),
            Turn::reply("B2."),
            Turn::reply("A2."),
        ],
        |s| s.conversation_store_max = 1,
    )
    .await;
    assert_eq!(ask(&p, &[user("a")]).await, "A1.");
    assert_eq!(ask(&p, &[user("b")]).await, "B1.");
    assert_eq!(p.health().await["conversations"], 1);
    ask(&p, &[user("b"), assistant("B1."), user("b again")]).await;
    ask(&p, &[user("a"), assistant("A1."), user("a again")]).await;
    let runs = p.fake().wait_for_runs(4, WAIT).await;
    assert_eq!(
        runs[2].history,
        HistoryKind::Checkpoint,
        "b, the newest, was kept"
    );
    assert_eq!(runs[3].history, HistoryKind::Structured, "a was evicted");
}

#[tokio::test]
async fn with_persistence_off_nothing_reaches_the_disk() {
    let fake = FakeCursor::builder()
        .turn(Turn::reply("Paris."))
        .turn(Turn::reply("Lyon."))
        .start()
        .await;
    let h = Harness::signed_in(fake).await;
    let file = Paths::resolve(&h.env).unwrap().conversations_file();
    // A file left from when persistence was on is deleted.
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, br#"{"version":1,"entries":[]}"#).unwrap();
    let mut p = Proxy::start_with(h, |s| s.conversation_store_persist = false).await;
    assert!(!file.exists());
    assert_eq!(ask(&p, &[user("capital of France?")]).await, "Paris.");
    assert_eq!(ask(&p, &second_city()).await, "Lyon.");
    let run = p.fake().wait_for_run_end(1, WAIT).await;
    assert_eq!(run.history, HistoryKind::Checkpoint, "kept in memory");
    p.stop().await;
    assert!(!file.exists(), "nothing on disk");
}
