//! OpenCode's edit tools for GPT models: for a model id containing `gpt-` OpenCode declares
//! `apply_patch` and no `write`/`edit` (`tests/data/opencode-gpt-request.json` is the body
//! the real OpenCode 1.18.33 sent for `cursor-bridge/gpt-5.1`). Cursor's native write must
//! then reach OpenCode as an `apply_patch` call holding a patch it applies, and the answer
//! must go back to Cursor as a typed `WriteResult`.

use crate::common;

use common::proxy::{Proxy, delta_text, signed_in, tool_call_deltas};
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_tests::{NativeExec, Turn};
use serde_json::{Value, json};

/// The body OpenCode sent, verbatim.
fn opencode_gpt_request() -> Value {
    serde_json::from_str(include_str!("../../data/opencode-gpt-request.json"))
        .expect("captured body")
}

fn write_turn(path: &str, text: &str) -> Turn {
    Turn::new()
        .request_context()
        .native_exec(NativeExec::Write {
            path: path.into(),
            text: text.into(),
        })
        .text("Wrote it.")
        .turn_ended()
        .end_ok()
}

/// Posts the captured request, answers the one tool call with `result`, and returns the
/// call and the text of the continued response.
async fn round_trip(p: &Proxy, result: &str) -> (Value, String) {
    let mut body = opencode_gpt_request();
    let chunks = p.sse(&body).await;
    let calls = tool_call_deltas(&chunks);
    assert_eq!(calls.len(), 1, "{chunks:?}");
    let call = calls[0].clone();
    let messages = body["messages"].as_array_mut().expect("messages");
    messages.push(
        json!({"role": "assistant", "content": delta_text(&chunks, "content"),
        "tool_calls": [{"id": call["id"], "type": "function", "function": call["function"]}]}),
    );
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": result}));
    let chunks = p.sse(&body).await;
    (call, delta_text(&chunks, "content"))
}

/// The typed result the fake received for its write exec.
fn write_result(p: &Proxy) -> pb::write_result::Result {
    let runs = p.fake().runs();
    assert_eq!(runs.len(), 1, "the answer continued the same Cursor run");
    let exec = runs[0]
        .execs
        .iter()
        .find(|e| e.kind == "write")
        .expect("the write exec");
    match exec.results.as_slice() {
        [pb::exec_client_message::Result::WriteResult(r)] => r.result.clone().expect("a result"),
        other => panic!("not one WriteResult: {other:?}"),
    }
}

#[test]
fn the_captured_opencode_gpt_request_declares_apply_patch_but_no_write_or_edit() {
    let body = opencode_gpt_request();
    assert!(body["model"].as_str().unwrap().contains("gpt-"));
    let names: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"apply_patch"), "{names:?}");
    assert!(
        !names.contains(&"write") && !names.contains(&"edit"),
        "{names:?}"
    );
}

#[tokio::test]
async fn a_native_write_becomes_an_apply_patch_call_and_a_typed_write_result() {
    let p = signed_in(vec![write_turn("notes/hello.txt", "hi\n  there\n")]).await;
    let (call, text) = round_trip(
        &p,
        "Success. Updated the following files:\nA notes/hello.txt",
    )
    .await;
    assert_eq!(call["function"]["name"], "apply_patch");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap())
        .expect("arguments are JSON");
    assert_eq!(
        args,
        json!({"patchText":
            "*** Begin Patch\n*** Add File: notes/hello.txt\n+hi\n+  there\n*** End Patch"})
    );
    assert_eq!(text, "Wrote it.");
    assert_eq!(
        write_result(&p),
        pb::write_result::Result::Success(pb::WriteSuccess {
            path: "notes/hello.txt".into(),
            lines_created: 2,
            file_size: 11,
            file_content_after_write: None,
        })
    );
}

#[tokio::test]
async fn a_failed_apply_patch_reaches_cursor_as_a_write_error() {
    let p = signed_in(vec![write_turn("/etc/x.conf", "a=1")]).await;
    let failure = "apply_patch verification failed: permission denied";
    let (call, _) = round_trip(&p, failure).await;
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap())
        .expect("arguments are JSON");
    assert_eq!(
        args["patchText"],
        "*** Begin Patch\n*** Add File: /etc/x.conf\n+a=1\n*** End Patch"
    );
    assert_eq!(
        write_result(&p),
        pb::write_result::Result::Error(pb::WriteError {
            path: "/etc/x.conf".into(),
            error: failure.into(),
        })
    );
}
