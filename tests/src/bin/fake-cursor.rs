//! The fake Cursor server as a process, for tests that drive real programs (the
//! `cursor-bridge` binary, the Python `openai` SDK, the tray app under Xvfb).
//!
//! Usage: `fake-cursor [SCENARIO]` — prints one JSON line
//! `{"url": …, "access_token": …, "refresh_token": …}` and serves until stdin closes.
//! Scenarios: `default` (every run answers "Hello from the fake Cursor."), `sdk` (a text
//! turn with reasoning, then a turn that calls `get_weather` and answers after the result,
//! then default replies), `opencode` (a turn that runs OpenCode's `bash` tool once),
//! `opencode-two-turns` (that, then a second user turn that runs `bash` again).
//!
//! When stdin closes it prints a second JSON line, `{"runs": [...]}`: per run how its
//! history came (`checkpoint`, `structured`, `none`), its user text (null for a
//! `resume_action`), the roles of the history messages it fetched, and how it ended — so
//! a script can assert what the fake saw.

use std::time::Duration;

use cursor_bridge_tests::{FakeCursor, HistoryKind, Turn};
use serde_json::json;
use tokio::io::AsyncReadExt;

fn scenario(name: &str) -> Result<Vec<Turn>, String> {
    match name {
        "default" => Ok(vec![]),
        "sdk" => Ok(vec![
            Turn::new()
                .thinking("The user greets me.")
                .text("Hello")
                .token_delta(1)
                .text(" from Cursor.")
                .token_delta(3)
                .checkpoint(40, 200_000)
                .turn_ended()
                .end_ok(),
            Turn::new()
                .request_context()
                .text("Let me look.")
                .mcp_call(
                    "get_weather",
                    "get_weather",
                    "call_sdk_1",
                    json!({"city": "Paris"}),
                )
                .text("It is sunny in Paris.")
                .token_delta(6)
                .checkpoint(90, 200_000)
                .turn_ended()
                .end_ok(),
        ]),
        // OpenCode's real tool loop: the model runs `bash` once, then answers.
        // OpenCode first asks for a session title, then runs the prompt.
        "opencode" => Ok(vec![
            Turn::reply("Marker test"),
            Turn::new()
                .request_context()
                .text("Running it.")
                .mcp_call(
                    "bash",
                    "bash",
                    "call_oc_1",
                    json!({"command": "echo BRIDGE_TOOL_OK", "description": "Print a marker"}),
                )
                .text("The command ran through Cursor Bridge.")
                .token_delta(7)
                .checkpoint(300, 200_000)
                .turn_ended()
                .end_ok(),
        ]),
        "opencode-two-turns" => {
            let mut turns = scenario("opencode")?;
            turns.push(
                Turn::new()
                    .request_context()
                    .text("Once more.")
                    .mcp_call(
                        "bash",
                        "bash",
                        "call_oc_2",
                        json!({"command": "echo BRIDGE_TOOL_TWO", "description": "Print another marker"}),
                    )
                    .text("The second command ran too.")
                    .token_delta(6)
                    .checkpoint(600, 200_000)
                    .turn_ended()
                    .end_ok(),
            );
            Ok(turns)
        }
        other => Err(format!(
            "unknown scenario {other:?} (default, sdk, opencode, opencode-two-turns)"
        )),
    }
}

#[tokio::main]
async fn main() {
    let name = std::env::args().nth(1).unwrap_or_else(|| "default".into());
    let turns = match scenario(&name) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("fake-cursor: {e}");
            std::process::exit(2);
        }
    };
    let mut builder = FakeCursor::builder();
    for t in turns {
        builder = builder.turn(t);
    }
    let fake = builder.start().await;
    let line = json!({
        "url": fake.url(),
        "access_token": fake.mint_access_token(Duration::from_secs(3600)),
        "refresh_token": fake.mint_refresh_token(),
    });
    println!("{line}");
    // Serve until whoever started us closes our stdin (or dies).
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    println!("{}", summary(&fake));
}

/// What the fake saw, one entry per run.
// Hook for the exact-usage assertion: add the TurnEnded usage each run reported here.
fn summary(fake: &FakeCursor) -> serde_json::Value {
    let runs: Vec<serde_json::Value> = fake
        .runs()
        .iter()
        .map(|r| {
            json!({
                "history": match r.history {
                    HistoryKind::Checkpoint => "checkpoint",
                    HistoryKind::Structured => "structured",
                    HistoryKind::None => "none",
                },
                "user_text": r.user_text(),
                "history_roles": r.history_messages.iter().map(|m| m["role"].clone()).collect::<Vec<_>>(),
                "mcp_results": r.mcp_results.iter().map(|(id, text)| json!([id, text])).collect::<Vec<_>>(),
                "end": r.end.as_ref().map(|e| format!("{e:?}")),
            })
        })
        .collect();
    json!({ "runs": runs })
}
