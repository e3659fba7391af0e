//! The fake Cursor server as a process, for tests that drive real programs (the
//! `cursor-bridge` binary, the Python `openai` SDK, the tray app under Xvfb).
//!
//! Usage: `fake-cursor [SCENARIO]` — prints one JSON line
//! `{"url": …, "access_token": …, "refresh_token": …}` and serves until stdin closes.
//! Scenarios: `default` (every run answers "Hello from the fake Cursor."), `sdk` (a text
//! turn with reasoning, then a turn that calls `get_weather` and answers after the result,
//! then default replies), `opencode` (a turn that runs OpenCode's `bash` tool once),
//! `opencode-two-turns` (that, then a second user turn that runs `bash` again),
//! `opencode-patch` (a turn with two native writes, for OpenCode's `apply_patch`),
//! `opencode-loop` (a runaway model: OpenCode's `bash` with the same command after every
//! result, forever, on the same run — until the client cancels it),
//! `claude-code` (a plain answer with reasoning), `claude-code-bash` (a turn that runs
//! Claude Code's `Bash` tool once and answers after the result, on the same run),
//! `codex` (a plain answer for Codex CLI), `codex-tool` (a turn that runs Codex's
//! `exec_command` tool once, then answers naming the marker the command printed),
//! `codex-exec` (the same through Codex's custom `exec` tool, for a model name Codex
//! recognises, `gpt-6.1-sol`, which this scenario adds to the catalogue).
//! Every turn ends with its token count (`turn_ended` usage), as the live service's do.
//!
//! When stdin closes it prints a second JSON line, `{"runs": [...], "execs": [...]}`: per
//! run how its history came (`checkpoint`, `structured`, `none`), its user text (null for
//! a `resume_action`), the roles of the history messages it fetched, how it ended and
//! whether the client cancelled it (and how);
//! and every exec of every run with the typed results it got (Debug form) — so a script
//! can assert what the fake saw.

use std::time::Duration;

use cursor_bridge_tests::{
    FakeCursor, FakeModel, HistoryKind, McpCall, NativeExec, ToolLoop, Turn, TurnUsage,
};
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
                .turn_ended_usage(TurnUsage {
                    input_tokens: 6,
                    output_tokens: 4,
                    cache_read_tokens: 30,
                    cache_write_tokens: 0,
                    reasoning_tokens: 2,
                })
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
                .turn_ended_usage(TurnUsage {
                    input_tokens: 20,
                    output_tokens: 6,
                    cache_read_tokens: 150,
                    cache_write_tokens: 10,
                    reasoning_tokens: 0,
                })
                .end_ok(),
        ]),
        // OpenCode's real tool loop: the model runs `bash` once, then answers.
        // OpenCode asks for a session title (no tools offered) while it sends the prompt
        // (its tools offered); either may arrive first, so each turn answers its own kind.
        "opencode" => Ok(vec![
            Turn::reply("Marker test").when_no_tools_offered(),
            Turn::new()
                .when_tools_offered()
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
                // Like the live service: the turn's count, both model calls of it, most
                // of the second one's prompt read from the cache.
                .turn_ended_usage(TurnUsage {
                    input_tokens: 320,
                    output_tokens: 7,
                    cache_read_tokens: 250,
                    cache_write_tokens: 30,
                    reasoning_tokens: 2,
                })
                .end_ok(),
        ]),
        // For a GPT model OpenCode declares `apply_patch` instead of `write`: Cursor's
        // native write of a new file, then over an existing one. As above, the title
        // request and the prompt each get their own turn, in whichever order they come.
        "opencode-patch" => Ok(vec![
            Turn::reply("Patch test").when_no_tools_offered(),
            Turn::new()
                .when_tools_offered()
                .request_context()
                .text("Writing.")
                .native_exec(NativeExec::Write {
                    path: "notes/new.txt".into(),
                    text: "first line\n  second line\n".into(),
                })
                .native_exec(NativeExec::Write {
                    path: "existing.txt".into(),
                    text: "replaced\n".into(),
                })
                .text("Both files are written.")
                .token_delta(5)
                .checkpoint(300, 200_000)
                .turn_ended()
                .end_ok(),
        ]),
        // A runaway agent: the same `bash` call after every result, forever, on one run.
        "opencode-loop" => Ok(vec![
            Turn::reply("Loop test").when_no_tools_offered(),
            Turn::new().when_tools_offered().request_context().tool_loop(
                ToolLoop::same(McpCall::new(
                    "bash",
                    "bash",
                    "call_oc_loop",
                    json!({"command": "echo LOOP_AGAIN", "description": "Print it again"}),
                ))
                .saying("Once more."),
            ),
        ]),
        "opencode-two-turns" => {
            let mut turns = scenario("opencode")?;
            turns.push(
                Turn::new()
                    .when_tools_offered()
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
                    .turn_ended_usage(TurnUsage {
                        input_tokens: 410,
                        output_tokens: 6,
                        cache_read_tokens: 900,
                        cache_write_tokens: 40,
                        reasoning_tokens: 0,
                    })
                    .end_ok(),
            );
            Ok(turns)
        }
        // Claude Code's answer to a prompt (its tools are offered with every request; a
        // request it sends on the side, such as a title, gets the default reply).
        "claude-code" => Ok(vec![
            Turn::new()
                .when_tools_offered()
                .thinking("A greeting; answer briefly.")
                .text("Hello from Cursor, ")
                .token_delta(4)
                .text("by way of Claude Code.")
                .token_delta(5)
                .checkpoint(5200, 200_000)
                .turn_ended_usage(TurnUsage {
                    input_tokens: 1200,
                    output_tokens: 9,
                    cache_read_tokens: 4000,
                    cache_write_tokens: 50,
                    reasoning_tokens: 3,
                })
                .end_ok(),
        ]),
        // Claude Code's tool loop: the model runs `Bash` once; the result comes back on
        // the same run (the fake records it per run), then the answer.
        "claude-code-bash" => Ok(vec![
            Turn::new()
                .when_tools_offered()
                .request_context()
                .text("Running it.")
                .mcp_call(
                    "Bash",
                    "Bash",
                    "toolu_cc_1",
                    json!({"command": "echo BRIDGE_TOOL_OK", "description": "Print a marker"}),
                )
                .text("The command printed BRIDGE_TOOL_OK.")
                .token_delta(8)
                .checkpoint(6000, 200_000)
                .turn_ended_usage(TurnUsage {
                    input_tokens: 1500,
                    output_tokens: 8,
                    cache_read_tokens: 4200,
                    cache_write_tokens: 60,
                    reasoning_tokens: 0,
                })
                .end_ok(),
        ]),
        "codex" => Ok(vec![Turn::reply("Hello from Cursor, through Codex.")]),
        // Codex's real tool loop over the Responses API: the model calls its shell tool,
        // `exec_command` (required `cmd`), as an MCP tool; Codex runs it and sends the
        // output, which must arrive on this run's stream (the summary's `mcp_results`).
        "codex-tool" => Ok(vec![
            Turn::new()
                .when_tools_offered()
                .request_context()
                .text("Running it.")
                .mcp_call(
                    "exec_command",
                    "exec_command",
                    "call_codex_1",
                    json!({"cmd": "echo CODEX_TOOL_OK"}),
                )
                .text("The command printed CODEX_TOOL_OK.")
                .token_delta(6)
                .checkpoint(300, 200_000)
                .turn_ended_usage(TurnUsage {
                    input_tokens: 320,
                    output_tokens: 6,
                    cache_read_tokens: 250,
                    cache_write_tokens: 30,
                    reasoning_tokens: 0,
                })
                .end_ok(),
        ]),
        // For a model name Codex recognises (the catalogue gets one, `gpt-6.1-sol`), its
        // tools arrive in namespaces and its shell is the custom `exec` tool, whose input
        // is JavaScript calling the nested tools.
        "codex-exec" => Ok(vec![
            Turn::new()
                .when_tools_offered()
                .request_context()
                .mcp_call(
                    "exec",
                    "exec",
                    "call_codex_2",
                    json!({"input": "text(await tools.exec_command({cmd: \"echo CODEX_EXEC_OK\"}));"}),
                )
                .text("The script printed CODEX_EXEC_OK.")
                .token_delta(6)
                .checkpoint(300, 200_000)
                .turn_ended()
                .end_ok(),
        ]),
        other => Err(format!(
            "unknown scenario {other:?} (default, sdk, opencode, opencode-two-turns, \
             opencode-patch, opencode-loop, claude-code, claude-code-bash, codex, codex-tool, codex-exec)"
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
    if name == "codex-exec" {
        let mut models = FakeModel::default_catalogue();
        models.push(FakeModel::new("gpt-6.1-sol").display(
            "gpt-6.1-sol",
            "GPT-6.1 Sol",
            "GPT-6.1 Sol",
        ));
        builder = builder.models(models);
    }
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

/// What the fake saw: one entry per run, and every exec with its results.
// Hook for the exact-usage assertion: add the TurnEnded usage each run reported here.
fn summary(fake: &FakeCursor) -> serde_json::Value {
    let recorded = fake.runs();
    let runs: Vec<serde_json::Value> = recorded
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
                "cancelled": r.cancelled.map(|c| format!("{c:?}")),
            })
        })
        .collect();
    let execs: Vec<_> = recorded
        .iter()
        .flat_map(|r| r.execs.clone())
        .map(|e| json!({"kind": e.kind, "results": format!("{:?}", e.results)}))
        .collect();
    json!({ "runs": runs, "execs": execs })
}
