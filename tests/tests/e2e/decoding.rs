//! Fidelity to the live service's message shapes (reference §9.1–9.3, 9.7): what the
//! service sends that our schema does not fully know must never end a run, and every exec
//! is answered at its mirrored field number. Each scenario runs over both transports;
//! the `regression_*` ones replay hand-built wire bytes of the shape they pin.

use crate::common;

use std::time::Duration;

use common::Harness;
use common::chat::{collect, text_of, until_tool_call};
use common::proxy::{Proxy, delta_text};
use cursor_bridge_core::config::settings::AgentTransport;
use cursor_bridge_core::cursor::chat::{ChatEvent, ChatRequest, ToolDef, ToolResult};
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_tests::wire::{ld, varint};
use cursor_bridge_tests::{FakeCursor, NativeExec, Query, ReadCall, RecordedRun, Turn};
use pb::exec_client_message::Result as R;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

both!(
    regression_completed_read_with_file_size_does_not_end_the_run,
    regression_text_and_token_delta_in_one_update_both_count,
    regression_unknown_variants_and_fields_are_skipped_not_fatal,
    regression_an_undecodable_display_part_keeps_the_text_beside_it,
    regression_unknown_exec_kind_is_answered_at_its_mirrored_field,
    shell_stream_is_answered_with_shell_stream_events,
    shell_stream_without_an_equivalent_is_rejected_at_field_14,
    mcp_state_lists_our_server_and_subagent_gets_an_error,
    regression_redirected_read_keeps_offset_and_limit,
    ask_question_and_create_plan_get_typed_rejections,
    the_proxy_streams_combined_and_unknown_parts_intact,
);

// ---- helpers ------------------------------------------------------------------------

/// An `AgentServerMessage{interaction_update{…}}` from the update's raw fields.
fn update_bytes(fields: &[Vec<u8>]) -> Vec<u8> {
    ld(1, &fields.concat())
}

fn text_field(text: &str) -> Vec<u8> {
    ld(1, &ld(1, text.as_bytes()))
}

/// A client over `transport` runs `req` to its end against a fake playing `turn`;
/// returns the events, the skipped-part count and the fake's record of the run.
async fn run_turn(
    transport: AgentTransport,
    turn: Turn,
    req: ChatRequest,
) -> (Vec<ChatEvent>, u64, RecordedRun) {
    let fake = FakeCursor::builder().turn(turn).start().await;
    let h = Harness::signed_in_over(fake, transport).await;
    let mut run = h.client.chat(req).await.expect("run starts");
    let handle = run.handle();
    let (events, err) = collect(&mut run).await;
    assert!(err.is_none(), "the run ended with {err:?}");
    let rec = h.fake.wait_for_run_end(0, WAIT).await;
    (events, handle.skipped_parts(), rec)
}

fn tokens_of(events: &[ChatEvent]) -> u32 {
    events
        .iter()
        .map(|e| match e {
            ChatEvent::Tokens(n) => *n,
            _ => 0,
        })
        .sum()
}

/// OpenCode's `read` and `bash` (the schemas OpenCode declares).
fn opencode_tools() -> Vec<ToolDef> {
    vec![
        ToolDef {
            name: "read".into(),
            description: "Read a file".into(),
            parameters: Some(json!({"type": "object", "properties": {
                "filePath": {"type": "string"},
                "offset": {"type": "integer"},
                "limit": {"type": "integer"}},
                "required": ["filePath"]})),
        },
        ToolDef {
            name: "bash".into(),
            description: "Run a command".into(),
            parameters: Some(json!({"type": "object", "properties": {
                "command": {"type": "string"},
                "workdir": {"type": "string"},
                "description": {"type": "string"}},
                "required": ["command", "description"]})),
        },
    ]
}

// ---- scenarios ----------------------------------------------------------------------

/// Regression: `ToolCall.read` was declared with the exec types, so a completed read
/// (`ReadToolSuccess.file_size`, a varint at field 5, where the exec `ReadSuccess` has
/// bytes) ended the run with "malformed AgentServerMessage" (reference §9.1).
async fn regression_completed_read_with_file_size_does_not_end_the_run(t: AgentTransport) {
    // tool_call_completed{1 call_id, 2 tool_call{8 read{1 args{1 path},
    //   2 result{1 success{1 content, 4 total_lines, 5 file_size}}}}}
    let success = [
        ld(1, b"fn main() {}\n"),
        varint(4, 1),
        varint(5, 13),
        ld(7, b"/src/main.rs"),
    ]
    .concat();
    let read = [ld(1, &ld(1, b"/src/main.rs")), ld(2, &ld(1, &success))].concat();
    let completed = [ld(1, b"call_r1"), ld(2, &ld(8, &read))].concat();
    let turn = Turn::new()
        .raw_message(update_bytes(&[ld(3, &completed)]))
        // The same shape as the fake's typed helper builds it.
        .completed_read("call_r2", "/src/lib.rs", "pub fn f() {}\n")
        .text("read it")
        .turn_ended()
        .end_ok();
    let (events, skipped, _) = run_turn(t, turn, ChatRequest::new("default", "hi")).await;
    assert_eq!(text_of(&events), "read it");
    assert_eq!(skipped, 0, "the read decodes with its own types");
}

/// Regression: `InteractionUpdate` was a oneof, so an update carrying `text_delta` and
/// `token_delta` together kept only the tokens and dropped the text (reference §9.3).
async fn regression_text_and_token_delta_in_one_update_both_count(t: AgentTransport) {
    let turn = Turn::new()
        .raw_message(update_bytes(&[text_field("Hello"), ld(8, &varint(1, 2))]))
        .text_with_tokens(", world", 3)
        .turn_ended()
        .end_ok();
    let fake = FakeCursor::builder().turn(turn).start().await;
    let h = Harness::signed_in_over(fake, t).await;
    let mut run = h
        .client
        .chat(ChatRequest::new("default", "hi"))
        .await
        .expect("run starts");
    let handle = run.handle();
    let (events, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "Hello, world");
    assert_eq!(tokens_of(&events), 5);
    assert_eq!(handle.usage().completion_tokens, 5);
    // Text before the tokens that count it.
    assert!(matches!(
        &events[..2],
        [ChatEvent::Text(_), ChatEvent::Tokens(2)]
    ));
}

/// Regression: a variant or field newer than our schema ended the run (reference §9.2).
async fn regression_unknown_variants_and_fields_are_skipped_not_fatal(t: AgentTransport) {
    let turn = Turn::new()
        .unknown_variant(42)
        .text_with_unknown_field("kept", 99)
        // An unknown field of wire type varint at the top level.
        .raw_message(varint(50, 1))
        .text(" too")
        .turn_ended()
        .end_ok();
    let (events, skipped, _) = run_turn(t, turn, ChatRequest::new("default", "hi")).await;
    assert_eq!(text_of(&events), "kept too");
    assert_eq!(skipped, 3);
}

/// Regression: a display-only tool call of a shape we cannot decode took the text that
/// shared its update with it, and the run (reference §9.2).
async fn regression_an_undecodable_display_part_keeps_the_text_beside_it(t: AgentTransport) {
    // tool_call_started{2 tool_call{8 read{1 args{1 path as a varint}}}}: undecodable.
    let bad_read = ld(2, &ld(8, &ld(1, &varint(1, 5))));
    let turn = Turn::new()
        .raw_message(update_bytes(&[ld(2, &bad_read), text_field("still here")]))
        .turn_ended()
        .end_ok();
    let (events, skipped, _) = run_turn(t, turn, ChatRequest::new("default", "hi")).await;
    assert_eq!(text_of(&events), "still here");
    assert_eq!(skipped, 1);
}

/// Regression: an exec kind our schema cannot name was answered with a `throw`; the
/// service wants the result at the args' field number (reference §9.7).
async fn regression_unknown_exec_kind_is_answered_at_its_mirrored_field(t: AgentTransport) {
    let turn = Turn::new()
        .unknown_exec_at(77)
        // execute_hook (27): not in our schema either.
        .unknown_exec_at(27)
        .text("after")
        .turn_ended()
        .end_ok();
    let (events, _, rec) = run_turn(t, turn, ChatRequest::new("default", "hi")).await;
    assert_eq!(text_of(&events), "after");
    for (exec, field) in rec.execs.iter().zip([77, 27]) {
        assert_eq!(exec.thrown, None);
        assert_eq!(exec.result_fields, [field]);
        assert!(exec.stream_closed);
    }
    assert_eq!(rec.execs.len(), 2);
}

async fn shell_stream_is_answered_with_shell_stream_events(t: AgentTransport) {
    use pb::shell_stream::Event;
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .native_exec(NativeExec::ShellStream {
                    command: "ls".into(),
                    working_directory: "/w".into(),
                })
                .text("listed")
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let h = Harness::signed_in_over(fake, t).await;
    let mut req = ChatRequest::new("default", "list");
    req.tools = opencode_tools();
    let mut run = h.client.chat(req).await.expect("run starts");
    let (_, call) = until_tool_call(&mut run).await;
    assert_eq!(call.name, "bash");
    assert_eq!(call.arguments["command"], "ls");
    run.handle()
        .send_tool_result(
            &call.call_id,
            ToolResult {
                content: "a\nb\n".into(),
                is_error: false,
            },
        )
        .await
        .expect("the result is taken");
    let (events, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "listed");
    let rec = h.fake.wait_for_run_end(0, WAIT).await;
    let exec = &rec.execs[0];
    assert_eq!(exec.kind, "shell_stream");
    assert_eq!(exec.result_fields, [14, 14, 14]);
    let events: Vec<_> = exec
        .results
        .iter()
        .map(|r| match r {
            R::ShellStream(s) => s.event.clone().expect("an event"),
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(matches!(events[0], Event::Start(_)));
    assert_eq!(
        events[1],
        Event::Stdout(pb::ShellStreamData {
            data: "a\nb\n".into()
        })
    );
    assert!(matches!(
        events[2],
        Event::Exit(pb::ShellStreamExit { code: 0, .. })
    ));
    assert!(exec.stream_closed);
}

async fn shell_stream_without_an_equivalent_is_rejected_at_field_14(t: AgentTransport) {
    let turn = Turn::new()
        .native_exec(NativeExec::ShellStream {
            command: "rm -rf /".into(),
            working_directory: "/".into(),
        })
        .text("ok")
        .turn_ended()
        .end_ok();
    let (events, _, rec) = run_turn(t, turn, ChatRequest::new("default", "hi")).await;
    assert_eq!(text_of(&events), "ok");
    assert_eq!(rec.execs[0].result_fields, [14]);
    assert!(matches!(
        &rec.execs[0].results[..],
        [R::ShellStream(pb::ShellStream {
            event: Some(pb::shell_stream::Event::Rejected(_))
        })]
    ));
}

async fn mcp_state_lists_our_server_and_subagent_gets_an_error(t: AgentTransport) {
    let turn = Turn::new()
        .native_exec(NativeExec::McpState)
        .native_exec(NativeExec::Subagent)
        .text("done")
        .turn_ended()
        .end_ok();
    let mut req = ChatRequest::new("default", "hi");
    req.tools = opencode_tools();
    let (events, _, rec) = run_turn(t, turn, req.clone()).await;
    assert_eq!(text_of(&events), "done");
    assert_eq!(rec.execs[0].result_fields, [36]);
    let [
        R::McpStateExecResult(pb::McpStateExecResult {
            result: Some(pb::mcp_state_exec_result::Result::Success(state)),
        }),
    ] = &rec.execs[0].results[..]
    else {
        panic!("{:?}", rec.execs[0].results)
    };
    // The same tools as request_context.
    let context = cursor_bridge_core::cursor::chat::build_request_context(&req);
    assert_eq!(state.servers.len(), 1);
    assert_eq!(state.servers[0].tools, context.tools);
    assert_eq!(state.servers[0].server_identifier, "cursor-bridge");
    assert_eq!(rec.execs[1].result_fields, [28]);
    assert!(matches!(
        &rec.execs[1].results[..],
        [R::SubagentResult(pb::GenericExecResult {
            result: Some(pb::generic_exec_result::Result::Error(_))
        })]
    ));
    assert!(
        rec.execs
            .iter()
            .all(|e| e.stream_closed && e.thrown.is_none())
    );
}

/// Regression: a redirected read lost the window the model asked for: the exec's
/// `ReadArgs` has only a path, the offset/limit come with the display `ReadToolArgs`.
async fn regression_redirected_read_keeps_offset_and_limit(t: AgentTransport) {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .announced_read(ReadCall {
                    tool_call_id: "toolu_read_1".into(),
                    path: "/src/main.rs".into(),
                    offset: Some(120),
                    limit: Some(40),
                })
                .text("seen")
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let h = Harness::signed_in_over(fake, t).await;
    let mut req = ChatRequest::new("default", "read it");
    req.tools = opencode_tools();
    let mut run = h.client.chat(req).await.expect("run starts");
    let (_, call) = until_tool_call(&mut run).await;
    assert_eq!(call.call_id, "toolu_read_1");
    assert_eq!(
        call.arguments,
        json!({"filePath": "/src/main.rs", "offset": 120, "limit": 40})
    );
    run.handle()
        .send_tool_result(
            &call.call_id,
            ToolResult {
                content: "120: fn main() {}\n".into(),
                is_error: false,
            },
        )
        .await
        .expect("the result is taken");
    let handle = run.handle();
    let (events, err) = collect(&mut run).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(text_of(&events), "seen");
    // The completed read (file_size at field 5) that followed decoded cleanly.
    assert_eq!(handle.skipped_parts(), 0);
    let rec = h.fake.wait_for_run_end(0, WAIT).await;
    assert_eq!(rec.execs[0].result_fields, [7]);
}

async fn ask_question_and_create_plan_get_typed_rejections(t: AgentTransport) {
    use pb::interaction_response::Response as Resp;
    let turn = Turn::new()
        .query(Query::AskQuestion)
        .query(Query::CreatePlan)
        .text("fine")
        .turn_ended()
        .end_ok();
    let (events, _, rec) = run_turn(t, turn, ChatRequest::new("default", "hi")).await;
    assert_eq!(text_of(&events), "fine");
    let rejected = |r: &pb::QueryResultResponse| {
        matches!(
            r.result,
            Some(pb::QueryResult {
                result: Some(pb::query_result::Result::Rejected(_))
            })
        )
    };
    assert!(matches!(
        &rec.interaction_responses[0].response,
        Some(Resp::AskQuestionInteractionResponse(r)) if rejected(r)
    ));
    assert!(matches!(
        &rec.interaction_responses[1].response,
        Some(Resp::CreatePlanRequestResponse(r)) if rejected(r)
    ));
}

/// Through the real proxy: combined updates, unknown parts and a completed read reach
/// the OpenAI client as the whole text.
async fn the_proxy_streams_combined_and_unknown_parts_intact(t: AgentTransport) {
    let turn = Turn::new()
        .unknown_variant(42)
        .text_with_tokens("Hello", 1)
        .completed_read("call_r", "/a.txt", "a\n")
        .text_with_unknown_field(", world", 99)
        .turn_ended()
        .end_ok();
    let fake = FakeCursor::builder().turn(turn).start().await;
    let p = Proxy::start(Harness::signed_in_over(fake, t).await).await;
    let chunks = p
        .sse(&json!({"model": "auto", "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(delta_text(&chunks, "content"), "Hello, world");
    assert!(
        chunks.iter().all(|c| c.get("error").is_none()),
        "{chunks:?}"
    );
}
