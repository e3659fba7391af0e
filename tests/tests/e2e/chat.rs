//! The chat engine end to end: `CursorClient::chat` against the fake Cursor's `Run`
//! stream over cleartext HTTP/2 — heartbeats and watchdogs, native tools (redirected to the
//! caller's equivalent tools, or rejected), framing, typed errors, sessions. The scenarios
//! that hold over either transport (streamed turns, tool calls answered on the same run,
//! the blob store, drops and malformed frames, cancellation, refresh and retry) run over
//! both in `transport.rs`.

use crate::common;

use std::time::Duration;

use common::chat::{collect, text_of, until_tool_call, weather_tool};
use common::{Harness, fast_chat};
use cursor_bridge_core::cursor::chat::{ChatEvent, ChatOptions, ChatRequest, ToolDef, ToolResult};
use cursor_bridge_core::cursor::{CursorClient, CursorError};
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_tests::{EndError, ErrorKind, FakeCursor, NativeExec, Query, RunEnd, Turn};
use futures::StreamExt;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

/// A fake that plays `turn` and a signed-in client of it with the watchdogs of `options`
/// (the harness holds the fake: keep it while the client runs).
async fn playing(turn: Turn, options: ChatOptions) -> (Harness, CursorClient) {
    let h = Harness::signed_in(FakeCursor::builder().turn(turn).start().await).await;
    let client = h.client.clone().with_chat_options(options);
    (h, client)
}

/// The caller's answer to a tool call.
fn tool_result(content: &str, is_error: bool) -> ToolResult {
    ToolResult {
        content: content.into(),
        is_error,
    }
}

/// Plays `turn` on a signed-in client with the given watchdog limits (the rest as
/// [`fast_chat`]) and collects the run to the end; returns the events, the final error
/// and how long the run took from its start.
async fn run_under_watchdogs(
    turn: Turn,
    idle_timeout: Duration,
    heartbeat_only_timeout: Duration,
) -> (Vec<ChatEvent>, Option<CursorError>, Duration) {
    let (_h, client) = playing(
        turn,
        ChatOptions {
            idle_timeout,
            heartbeat_only_timeout,
            ..fast_chat()
        },
    )
    .await;
    let started = std::time::Instant::now();
    let (events, err) = chat_to_end(&client, ChatRequest::new("default", "hi")).await;
    (events, err, started.elapsed())
}

/// Starts a run of `req` and collects it to the end.
async fn chat_to_end(
    client: &CursorClient,
    req: ChatRequest,
) -> (Vec<ChatEvent>, Option<CursorError>) {
    let mut run = client.chat(req).await.expect("run starts");
    collect(&mut run).await
}

#[tokio::test]
async fn native_tools_get_typed_rejections_and_unknown_execs_a_mirrored_error() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .native_exec(NativeExec::Shell {
                    command: "rm -rf /".into(),
                    working_directory: "/".into(),
                })
                .native_exec(NativeExec::Read {
                    path: "/etc/passwd".into(),
                })
                .native_exec(NativeExec::Grep {
                    pattern: "x".into(),
                    path: None,
                })
                .unknown_exec()
                .query(Query::WebSearch {
                    search_term: "news".into(),
                    tool_call_id: "t".into(),
                })
                .query(Query::AskQuestion)
                .text("done")
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let h = Harness::signed_in(fake).await;
    let mut req = ChatRequest::new("default", "do things");
    req.tools = vec![weather_tool()];
    let mut run = h.client.chat(req).await.unwrap();
    let (events, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "done");
    assert!(
        !events.iter().any(|e| matches!(e, ChatEvent::ToolCall(_))),
        "no declared equivalent (only get_weather): nothing is redirected"
    );
    let run = h.fake.wait_for_run_end(0, WAIT).await;
    let kinds: Vec<_> = run.execs.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["shell", "read", "grep", "unknown"]);
    match &run.execs[0].results[..] {
        [
            pb::exec_client_message::Result::ShellResult(pb::ShellResult {
                result: Some(pb::shell_result::Result::Rejected(r)),
            }),
        ] => {
            assert_eq!(r.command, "rm -rf /");
            assert!(r.reason.contains("get_weather"), "{}", r.reason);
        }
        other => panic!("shell: {other:?}"),
    }
    assert!(matches!(
        &run.execs[1].results[..],
        [pb::exec_client_message::Result::ReadResult(
            pb::ReadResult {
                result: Some(pb::read_result::Result::Rejected(_))
            }
        )]
    ));
    assert!(matches!(
        &run.execs[2].results[..],
        [pb::exec_client_message::Result::GrepResult(
            pb::GrepResult {
                result: Some(pb::grep_result::Result::Error(_))
            }
        )]
    ));
    // Reference §9.7: an unknown kind is answered at its own field number, not thrown.
    assert_eq!(run.execs[3].thrown, None);
    assert_eq!(run.execs[3].result_fields, [99]);
    assert_eq!(
        run.execs
            .iter()
            .map(|e| e.result_fields.clone())
            .collect::<Vec<_>>(),
        [vec![2], vec![7], vec![5], vec![99]]
    );
    assert!(run.execs.iter().all(|e| e.stream_closed));
    assert!(matches!(
        run.interaction_responses[0].response,
        Some(
            pb::interaction_response::Response::WebSearchRequestResponse(pb::ApprovalResponse {
                result: Some(pb::approval_response::Result::Rejected(_))
            })
        )
    ));
    assert_eq!(run.interaction_responses.len(), 2);
    // Ask-question wants a typed result, not an empty message (reference §9.7).
    assert!(matches!(
        &run.interaction_responses[1].response,
        Some(
            pb::interaction_response::Response::AskQuestionInteractionResponse(
                pb::QueryResultResponse {
                    result: Some(pb::QueryResult {
                        result: Some(pb::query_result::Result::Rejected(_))
                    })
                }
            )
        )
    ));
}

/// OpenCode's `read` and `bash` declarations (schemas as OpenCode sends them).
fn opencode_read_and_bash() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "read".into(),
            description: "Read a file".into(),
            parameters: Some(json!({
                "type": "object",
                "properties": {
                    "filePath": {"type": "string"},
                    "offset": {"type": "integer"},
                    "limit": {"type": "integer"}
                },
                "required": ["filePath"]
            })),
        },
        ToolDef {
            name: "bash".into(),
            description: "Run a shell command".into(),
            parameters: Some(json!({
                "type": "object",
                "properties": {
                    "command": {"type": "string"},
                    "timeout": {"type": "integer"},
                    "workdir": {"type": "string"}
                },
                "required": ["command"]
            })),
        },
    ]
}

#[tokio::test]
async fn native_read_and_shell_go_to_the_callers_read_and_bash_tools_on_the_same_run() {
    let turn = Turn::new()
        .text("Looking.")
        .native_exec(NativeExec::Read {
            path: "/repo/src/main.rs".into(),
        })
        .native_exec(NativeExec::Shell {
            command: "cargo test".into(),
            working_directory: "/repo".into(),
        })
        .text("Tests fail.")
        .token_delta(3)
        .checkpoint(3_000, 200_000)
        .turn_ended()
        .end_ok();
    // An idle timeout shorter than the caller's think time: a parked redirected call must
    // not count as idle.
    let (h, client) = playing(
        turn,
        ChatOptions {
            idle_timeout: Duration::from_millis(250),
            ..fast_chat()
        },
    )
    .await;
    let mut req = ChatRequest::new("default", "Run the tests");
    req.tools = opencode_read_and_bash();
    let mut run = client.chat(req).await.unwrap();
    let handle = run.handle();

    let (before, read) = until_tool_call(&mut run).await;
    assert_eq!(text_of(&before), "Looking.");
    assert_eq!(read.name, "read");
    assert_eq!(read.arguments, json!({"filePath": "/repo/src/main.rs"}));
    assert_eq!(
        read.call_id, "toolu_fake_1",
        "the exec's own tool_call_id is the call id"
    );
    assert_eq!(handle.pending_tool_calls(), vec![read.call_id.clone()]);
    tokio::time::sleep(Duration::from_millis(600)).await;
    handle
        .send_tool_result(&read.call_id, tool_result("fn main() {}\n", false))
        .await
        .unwrap();

    let (between, bash) = until_tool_call(&mut run).await;
    assert!(between.is_empty(), "{between:?}");
    assert_eq!(bash.name, "bash");
    assert_eq!(
        bash.arguments,
        json!({"command": "cargo test", "workdir": "/repo"})
    );
    handle
        .send_tool_result(&bash.call_id, tool_result("test result: FAILED", true))
        .await
        .unwrap();

    let (after, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&after), "Tests fail.");
    assert_eq!(after.last(), Some(&ChatEvent::TurnEnded));
    assert_eq!(h.fake.run_count(), 1, "the answers continued the same run");

    let run = h.fake.wait_for_run_end(0, WAIT).await;
    assert_eq!(run.end, Some(RunEnd::Ok));
    let kinds: Vec<_> = run.execs.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, vec!["read", "shell"]);
    assert_eq!(
        run.execs[0].results,
        vec![pb::exec_client_message::Result::ReadResult(
            pb::ReadResult {
                result: Some(pb::read_result::Result::Success(pb::ReadSuccess {
                    path: "/repo/src/main.rs".into(),
                    total_lines: 1,
                    file_size: 13,
                    truncated: false,
                    output: Some(pb::read_success::Output::Content("fn main() {}\n".into())),
                })),
            }
        )]
    );
    match &run.execs[1].results[..] {
        [
            pb::exec_client_message::Result::ShellResult(pb::ShellResult {
                result: Some(pb::shell_result::Result::Failure(f)),
            }),
        ] => {
            assert_eq!(
                (f.command.as_str(), f.working_directory.as_str()),
                ("cargo test", "/repo")
            );
            assert_eq!((f.exit_code, f.stdout.as_str()), (1, "test result: FAILED"));
        }
        other => panic!("shell: {other:?}"),
    }
    assert!(run.execs.iter().all(|e| e.stream_closed));
    assert!(
        run.client_heartbeats() >= 2,
        "client heartbeats kept the parked stream alive"
    );
}

#[tokio::test]
async fn with_redirection_off_native_tools_are_rejected_even_with_an_equivalent() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .native_exec(NativeExec::Read {
                    path: "/repo/a.txt".into(),
                })
                .text("ok")
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let h = Harness::signed_in(fake).await;
    let mut req = ChatRequest::new("default", "read it");
    req.tools = opencode_read_and_bash();
    req.redirect_native_tools = false;
    let (events, err) = chat_to_end(&h.client, req).await;
    assert!(err.is_none(), "{err:?}");
    assert!(
        !events.iter().any(|e| matches!(e, ChatEvent::ToolCall(_))),
        "{events:?}"
    );
    let run = h.fake.wait_for_run_end(0, WAIT).await;
    assert!(matches!(
        &run.execs[0].results[..],
        [pb::exec_client_message::Result::ReadResult(
            pb::ReadResult {
                result: Some(pb::read_result::Result::Rejected(_))
            }
        )]
    ));
}

#[tokio::test]
async fn gzip_frames_are_decoded() {
    let fake = FakeCursor::builder()
        .gzip_frames()
        .turn(Turn::reply("compressed hello"))
        .start()
        .await;
    let h = Harness::signed_in(fake).await;
    let (events, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "compressed hello");
}

/// Envelopes split anywhere on the wire (1-, 3- and 7-byte HTTP/2 DATA frames, plain and
/// gzip, the end-of-stream error included) decode exactly as whole ones.
#[tokio::test]
async fn frames_split_into_tiny_writes_decode_the_same() {
    for (split, gzip) in [(1, false), (3, true), (7, false)] {
        let mut b = FakeCursor::builder().split_writes(split);
        if gzip {
            b = b.gzip_frames();
        }
        let fake = b
            .turn(
                Turn::new()
                    .thinking("hmm")
                    .text("split ")
                    .text("text")
                    .token_delta(4)
                    .checkpoint(9, 99)
                    .turn_ended()
                    .end_ok(),
            )
            .turn(Turn::new().text("x").end_with(
                EndError::new("resource_exhausted", "Error").detail(
                    ErrorKind::RateLimited,
                    "Slow",
                    "slow down",
                ),
            ))
            .start()
            .await;
        let h = Harness::signed_in(fake).await;
        let (events, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
        assert!(err.is_none(), "split {split}: {err:?}");
        assert_eq!(text_of(&events), "split text", "split {split}");
        assert!(events.contains(&ChatEvent::Checkpoint {
            used_tokens: 9,
            max_tokens: 99
        }));
        let (_, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
        assert!(
            matches!(
                err,
                Some(CursorError::Quota {
                    rate_limited: true,
                    ..
                })
            ),
            "split {split}: {err:?}"
        );
    }
}

/// Regression: with HTTP/2's adaptive window the connection window started at 64 KiB,
/// and h2 then tolerates only ~140 small DATA frames buffered unread on the whole
/// connection before it sends GOAWAY(ENHANCE_YOUR_CALM, "too_many_data_frames"): a fast
/// burst of token deltas, on one run or spread over concurrent runs, killed every run on
/// the connection (cb-bench found it at 32 concurrent streams).
#[tokio::test]
async fn bursts_of_small_frames_on_concurrent_runs_do_not_kill_the_connection() {
    const RUNS: usize = 8;
    const DELTAS: usize = 1000;
    let mut builder = FakeCursor::builder();
    for _ in 0..RUNS {
        let mut turn = Turn::new();
        for _ in 0..DELTAS {
            turn = turn.text("x");
        }
        builder = builder.turn(turn.turn_ended().end_ok());
    }
    let h = Harness::signed_in(builder.start().await).await;
    let runs = futures::future::join_all(
        (0..RUNS).map(|_| chat_to_end(&h.client, ChatRequest::new("default", "go"))),
    )
    .await;
    for (events, err) in runs {
        assert!(err.is_none(), "the run failed: {err:?}");
        assert_eq!(text_of(&events), "x".repeat(DELTAS));
    }
}

/// Regression: reqwest keeps one HTTP/2 connection per host and a server caps the streams
/// open on a connection (the fake, like hyper, at 200). Runs parked on a tool call hold
/// their streams, so the 201st run waited for a free stream until its first-activity
/// timeout. Runs beyond `STREAMS_PER_CONNECTION` now go to another connection.
#[tokio::test]
async fn more_parked_runs_than_one_connection_carries_all_start_and_finish() {
    const RUNS: usize = 250;
    let mut builder = FakeCursor::builder();
    for i in 0..RUNS {
        builder = builder.turn(
            Turn::new()
                .mcp_call(
                    "get_weather",
                    "get_weather",
                    format!("call_{i}"),
                    json!({"city": "Paris"}),
                )
                .text("done")
                .turn_ended()
                .end_ok(),
        );
    }
    let h = Harness::signed_in(builder.start().await).await;
    let client = &h.client;
    let runs = futures::future::join_all((0..RUNS).map(|_| async move {
        let mut req = ChatRequest::new("default", "go");
        req.tools = vec![weather_tool()];
        let mut run = client.chat(req).await.expect("run starts");
        let (_, call) = until_tool_call(&mut run).await;
        (run, call)
    }))
    .await;
    // Every run is parked on its tool call at once; now answer them all.
    let ends = futures::future::join_all(runs.into_iter().map(|(mut run, call)| async move {
        run.handle()
            .send_tool_result(&call.call_id, tool_result("sunny", false))
            .await
            .expect("result sent");
        collect(&mut run).await
    }))
    .await;
    for (events, err) in ends {
        assert!(err.is_none(), "the run failed: {err:?}");
        assert_eq!(text_of(&events), "done");
    }
}

#[tokio::test]
async fn quota_error_at_end_of_stream_is_typed() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .text("partial")
                .end_with(EndError::usage_limit()),
        )
        .start()
        .await;
    let h = Harness::signed_in(fake).await;
    let (events, err) = chat_to_end(&h.client, ChatRequest::new("default", "hi")).await;
    assert_eq!(text_of(&events), "partial");
    match err {
        Some(CursorError::Quota {
            message,
            rate_limited: false,
            ..
        }) => assert!(message.contains("usage limit"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn context_overflow_and_bad_model_are_typed() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new().end_with(EndError::new("invalid_argument", "Error").detail(
                ErrorKind::ConversationTooLong,
                "Too long",
                "The conversation is too long",
            )),
        )
        .turn(
            Turn::new().end_with(
                EndError::new("invalid_argument", "Error")
                    .detail(ErrorKind::BadModelName, "Bad model", "no such model")
                    .gzip(),
            ),
        )
        .start()
        .await;
    let h = Harness::signed_in(fake).await;
    let mut run = h
        .client
        .chat(ChatRequest::new("default", "hi"))
        .await
        .unwrap();
    assert!(matches!(
        collect(&mut run).await.1,
        Some(CursorError::ContextTooLong { .. })
    ));
    let mut run = h.client.chat(ChatRequest::new("nope", "hi")).await.unwrap();
    assert!(matches!(
        collect(&mut run).await.1,
        Some(CursorError::BadModel { .. })
    ));
}

/// Regression: a model thinking for longer than the idle limit, with only server
/// heartbeats meanwhile, was cut at `idle_timeout` as a stall.
#[tokio::test]
async fn regression_long_thinking_with_only_heartbeats_is_not_cut_at_the_idle_limit() {
    let turn = Turn::new()
        .text("thinking…")
        .heartbeats_for(Duration::from_millis(1500), Duration::from_millis(50))
        .text(" done")
        .turn_ended()
        .end_ok();
    let (events, err, _) =
        run_under_watchdogs(turn, Duration::from_millis(400), Duration::from_secs(10)).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "thinking… done");
}

#[tokio::test]
async fn only_heartbeats_past_the_longer_limit_end_the_run() {
    let turn = Turn::new()
        .text("thinking…")
        .heartbeats_for(Duration::from_secs(4), Duration::from_millis(50))
        .end_ok();
    let (events, err, elapsed) =
        run_under_watchdogs(turn, Duration::from_millis(300), Duration::from_millis(900)).await;
    assert_eq!(text_of(&events), "thinking…");
    let Some(CursorError::Timeout(msg)) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("only heartbeats"), "{msg}");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "watchdog fired after {elapsed:?}"
    );
}

#[tokio::test]
async fn no_frame_at_all_ends_the_run_after_the_idle_limit() {
    let turn = Turn::new()
        .text("thinking…")
        .sleep(Duration::from_secs(4))
        .end_ok();
    let (_, err, elapsed) =
        run_under_watchdogs(turn, Duration::from_millis(400), Duration::from_secs(10)).await;
    let Some(CursorError::Timeout(msg)) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("nothing arrived"), "{msg}");
    assert!(
        elapsed < Duration::from_secs(2),
        "watchdog fired after {elapsed:?}"
    );
}

#[tokio::test]
async fn a_parked_tool_call_is_not_idle() {
    let turn = Turn::new()
        .mcp_call("get_weather", "get_weather", "c9", json!({}))
        .text("thanks")
        .turn_ended()
        .end_ok();
    let (_h, client) = playing(
        turn,
        ChatOptions {
            idle_timeout: Duration::from_millis(300),
            ..fast_chat()
        },
    )
    .await;
    let mut req = ChatRequest::new("default", "hi");
    req.tools = vec![weather_tool()];
    let mut run = client.chat(req).await.unwrap();
    let handle = run.handle();
    let Some(Ok(ChatEvent::ToolCall(call))) = run.next().await else {
        panic!("expected a tool call")
    };
    tokio::time::sleep(Duration::from_millis(900)).await; // 3× the idle timeout
    handle
        .send_tool_result(&call.call_id, tool_result("{}", true))
        .await
        .unwrap();
    let (events, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "thanks");
}

#[tokio::test]
async fn a_dead_session_says_sign_in_again() {
    let fake = FakeCursor::builder().start().await;
    let h = Harness::signed_in(fake).await;
    h.fake.revoke_access_tokens();
    h.fake.revoke_refresh_tokens();
    let err = h
        .client
        .chat(ChatRequest::new("default", "hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, CursorError::SessionExpired), "{err:?}");
    assert!(err.to_string().contains("sign in again"), "{err}");
}

#[tokio::test]
async fn not_signed_in_is_a_clear_error_without_network() {
    let fake = FakeCursor::builder().start().await;
    let h = Harness::new(fake).await;
    let err = h
        .client
        .chat(ChatRequest::new("default", "hi"))
        .await
        .unwrap_err();
    assert!(matches!(err, CursorError::NotSignedIn));
    assert_eq!(h.fake.run_count(), 0);
}
