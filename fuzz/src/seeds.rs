//! The seed corpus (`fuzz/corpus/<target>/`) and the harnesses run over it.
//!
//! Frame seeds are whole `Run` response bodies built with core's encoder from the messages
//! the fake Cursor (`tests/src/`) sends: text, thinking, tokens, heartbeats, an MCP call,
//! every redirectable native exec, KV blobs, a checkpoint, `turn_ended`, and the end-of-
//! stream frame in its success and error (with `ErrorDetails`) forms, plain and gzip.
//! Request seeds are the real OpenCode request (`tests/data/opencode-request.json`) and
//! small bodies for the other shapes. `seeds_are_current` fails when a committed seed
//! differs from what is built here; regenerate with
//! `CURSOR_BRIDGE_WRITE_SEEDS=1 cargo test --manifest-path fuzz/Cargo.toml`.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use cursor_bridge_core::cursor::error::encode_error_details;
use cursor_bridge_core::cursor::framing::{self, FLAG_END_STREAM, Frame};
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_core::pb::aiserver_v1::{CustomErrorDetails, ErrorDetails, error_details};
use cursor_bridge_tests::oracle::{End, decode};
use serde_json::json;

use super::{DEFAULT_MAX_FRAME, frame_decoder, request_parser};

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target)
}

fn server(m: pb::agent_server_message::Message) -> pb::AgentServerMessage {
    pb::AgentServerMessage { message: Some(m) }
}

fn update(u: pb::InteractionUpdate) -> pb::AgentServerMessage {
    server(pb::agent_server_message::Message::InteractionUpdate(u))
}

fn exec(id: u32, m: pb::exec_server_message::Message) -> pb::AgentServerMessage {
    server(pb::agent_server_message::Message::ExecServerMessage(
        pb::ExecServerMessage {
            id,
            message: Some(m),
            exec_id: format!("exec-{id}"),
        },
    ))
}

fn text(s: &str) -> pb::AgentServerMessage {
    update(pb::InteractionUpdate { text_delta: Some(
        pb::TextDeltaUpdate { text: s.into() },
    ), ..Default::default() })
}

fn turn_ended() -> pb::AgentServerMessage {
    update(pb::InteractionUpdate { turn_ended: Some(
        pb::TurnEndedUpdate::default(),
    ), ..Default::default() })
}

/// A response body: the messages, then the end-of-stream frame (`None`: still open).
fn body(msgs: &[pb::AgentServerMessage], end: Option<&[u8]>, gzip: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        let payload = prost::Message::encode_to_vec(m);
        out.extend_from_slice(&if gzip {
            framing::encode_gzip(0, &payload)
        } else {
            framing::encode(&payload)
        });
    }
    if let Some(end) = end {
        out.extend_from_slice(&if gzip {
            framing::encode_gzip(FLAG_END_STREAM, end)
        } else {
            framing::encode_with_flags(FLAG_END_STREAM, end)
        });
    }
    out
}

fn end_error(code: &str, kind: error_details::Error, title: &str, retry_after: bool) -> Vec<u8> {
    let details = ErrorDetails {
        error: kind as i32,
        details: Some(CustomErrorDetails {
            title: title.into(),
            detail: format!("{title} (seed)"),
            is_retryable: Some(retry_after),
            ..Default::default()
        }),
        is_expected: Some(true),
    };
    let mut j = json!({"error": {
        "code": code,
        "message": "Error",
        "details": [{"type": "aiserver.v1.ErrorDetails", "value": encode_error_details(&details)}],
    }});
    if retry_after {
        j["metadata"] = json!({"retry-after": ["30"]});
    }
    j.to_string().into_bytes()
}

fn frame_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use pb::exec_server_message::Message as X;
    let reply = vec![
        update(pb::InteractionUpdate { heartbeat: Some(pb::HeartbeatUpdate {}), ..Default::default() }),
        text("Hello"),
        text(", \"world\" é 😀\n"),
        update(pb::InteractionUpdate { token_delta: Some(pb::TokenDeltaUpdate { tokens: 4 }), ..Default::default() }),
        turn_ended(),
    ];
    let args = [
        ("command".to_string(), json!("ls -la")),
        ("timeout".to_string(), json!(1000)),
        ("flags".to_string(), json!([true, null, 1.5, {"k": "v"}])),
    ];
    let tool_call = vec![
        update(pb::InteractionUpdate { thinking_delta: Some(pb::ThinkingDeltaUpdate {
            text: "Listing the files.".into(),
        }), ..Default::default() }),
        update(pb::InteractionUpdate { thinking_completed: Some(pb::ThinkingCompletedUpdate {
            thinking_duration_ms: 120,
        }), ..Default::default() }),
        exec(
            1,
            X::McpArgs(pb::McpArgs {
                name: "cursor-bridge-bash".into(),
                args: args
                    .iter()
                    .map(|(k, v)| (k.clone(), cursor_bridge_core::cursor::value::to_proto(v)))
                    .collect(),
                tool_call_id: "toolu_seed_1".into(),
                provider_identifier: "cursor-bridge".into(),
                tool_name: "bash".into(),
            }),
        ),
    ];
    let blob = Bytes::from_static(b"{\"role\":\"user\",\"content\":\"hi\"}");
    let blob_id = Bytes::copy_from_slice(&cursor_bridge_core::cursor::blobs::blob_id(&blob));
    let state = pb::ConversationStateStructure {
        turns: vec![blob_id.clone()],
        token_details: Some(pb::ConversationTokenDetails {
            used_tokens: 1200,
            max_tokens: 200_000,
        }),
        ..Default::default()
    };
    let natives = vec![
        server(pb::agent_server_message::Message::KvServerMessage(
            pb::KvServerMessage {
                id: 1,
                message: Some(pb::kv_server_message::Message::SetBlobArgs(
                    pb::SetBlobArgs {
                        blob_id: blob_id.clone(),
                        blob_data: blob,
                    },
                )),
            },
        )),
        server(pb::agent_server_message::Message::KvServerMessage(
            pb::KvServerMessage {
                id: 2,
                message: Some(pb::kv_server_message::Message::GetBlobArgs(
                    pb::GetBlobArgs { blob_id },
                )),
            },
        )),
        exec(2, X::RequestContextArgs(pb::RequestContextArgs::default())),
        exec(
            3,
            X::ReadArgs(pb::ReadArgs {
                path: "/w/src/main.rs".into(),
                tool_call_id: "toolu_fake_3".into(),
            }),
        ),
        exec(
            4,
            X::ShellArgs(pb::ShellArgs {
                command: "cargo test".into(),
                working_directory: "/w".into(),
                timeout: 30_000,
                ..Default::default()
            }),
        ),
        exec(
            5,
            X::GrepArgs(pb::GrepArgs {
                pattern: "fn main".into(),
                glob: Some("*.rs".into()),
                ..Default::default()
            }),
        ),
        exec(
            6,
            X::LsArgs(pb::LsArgs {
                path: "/w".into(),
                ..Default::default()
            }),
        ),
        exec(
            7,
            X::FetchArgs(pb::FetchArgs {
                url: "https://example.com/".into(),
                ..Default::default()
            }),
        ),
        exec(
            8,
            X::WriteArgs(pb::WriteArgs {
                path: "/w/a.txt".into(),
                file_text: "a\n".into(),
                return_file_content_after_write: true,
                ..Default::default()
            }),
        ),
        exec(
            9,
            X::DeleteArgs(pb::DeleteArgs {
                path: "/w/a.txt".into(),
                ..Default::default()
            }),
        ),
        server(
            pb::agent_server_message::Message::ConversationCheckpointUpdate(
                prost::Message::encode_to_vec(&state).into(),
            ),
        ),
        turn_ended(),
    ];
    use error_details::Error as K;
    vec![
        ("reply.bin", body(&reply, Some(b"{}"), false)),
        ("reply-gzip.bin", body(&reply, Some(b"{}"), true)),
        // A parked tool call: the stream stays open, no end-of-stream frame yet.
        ("tool-call.bin", body(&tool_call, None, false)),
        ("native-execs.bin", body(&natives, Some(b"{}"), false)),
        (
            "end-quota.bin",
            body(
                &[text("partial")],
                Some(&end_error(
                    "resource_exhausted",
                    K::ProUserUsageLimit,
                    "Usage limit",
                    true,
                )),
                false,
            ),
        ),
        (
            "end-auth-gzip.bin",
            body(
                &[],
                Some(&end_error(
                    "unauthenticated",
                    K::AuthTokenExpired,
                    "Session expired",
                    false,
                )),
                true,
            ),
        ),
    ]
}

fn request_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let opencode = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/opencode-request.json"),
    )
    .expect("tests/data/opencode-request.json");
    let tools = json!([{"type": "function", "function": {
        "name": "read",
        "description": "Reads a file",
        "parameters": {"type": "object",
            "properties": {"filePath": {"type": "string"}}, "required": ["filePath"]},
    }}]);
    let bodies = [
        (
            "simple.json",
            json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
        ),
        (
            "history-parts.json",
            json!({"model": "gpt-5", "stream": true, "stream_options": {"include_usage": true},
                "temperature": 0.2, "max_tokens": 100, "stop": ["\n\n"],
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "developer", "content": [{"type": "text", "text": "metric"}]},
                    {"role": "user", "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"}}]},
                    {"role": "assistant", "content": "a picture", "reasoning_content": "hmm"},
                    {"role": "user", "content": "and now?"}]}),
        ),
        (
            "tool-round.json",
            json!({"model": "auto", "tools": tools, "tool_choice": "required",
                "messages": [
                    {"role": "user", "content": "read it"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "call_1", "type": "function",
                         "function": {"name": "read", "arguments": "{\"filePath\":\"a\"}"}}]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "A\n"}]}),
        ),
        (
            "named-choice.json",
            json!({"tools": tools, "tool_choice": {"type": "function", "function": {"name": "read"}},
                "parallel_tool_calls": false, "n": 1,
                "messages": [{"role": "user", "content": "x"}]}),
        ),
        (
            "bad-role.json",
            json!({"messages": [{"role": "wizard", "content": "x"}]}),
        ),
    ];
    let mut out = vec![("opencode-request.json", opencode)];
    out.extend(
        bodies
            .into_iter()
            .map(|(name, v)| (name, serde_json::to_vec_pretty(&v).expect("JSON"))),
    );
    out
}

/// The same seed: the same bytes, or frames of equal messages (protobuf maps are
/// `HashMap`s, so their encoding order varies from run to run).
fn same_seed(a: &[u8], b: &[u8]) -> bool {
    let messages = |bytes: &[u8]| {
        let out = decode(bytes, [], DEFAULT_MAX_FRAME);
        let frames: Vec<(Option<pb::AgentServerMessage>, Option<Bytes>)> = out
            .frames
            .iter()
            .map(|f| match f {
                Frame::Message(p) => (framing::decode_message(p).ok(), None),
                Frame::EndStream(j) => (None, Some(j.clone())),
            })
            .collect();
        (frames, out.end)
    };
    a == b || messages(a) == messages(b)
}

/// Committed seeds equal what is built here (or are rewritten, on request).
fn check_seeds(target: &str, seeds: Vec<(&'static str, Vec<u8>)>) {
    let dir = corpus(target);
    let write = std::env::var_os("CURSOR_BRIDGE_WRITE_SEEDS").is_some();
    for (name, bytes) in seeds {
        let path = dir.join(name);
        let committed = std::fs::read(&path).unwrap_or_default();
        if write && !same_seed(&committed, &bytes) {
            std::fs::create_dir_all(&dir).expect("create the corpus directory");
            std::fs::write(&path, &bytes).expect("write a seed");
            continue;
        }
        assert!(
            same_seed(&committed, &bytes),
            "{} is stale: regenerate with CURSOR_BRIDGE_WRITE_SEEDS=1",
            path.display()
        );
    }
}

#[test]
fn seeds_are_current() {
    check_seeds("frame_decoder", frame_seeds());
    check_seeds("request_parser", request_seeds());
}

/// The frame seeds are what they claim: whole frames of real messages, so the fuzzer
/// starts from deep inside the driver's message handling rather than at the header checks.
#[test]
fn frame_seeds_decode_cleanly() {
    for (name, bytes) in frame_seeds() {
        let out = decode(&bytes, [], DEFAULT_MAX_FRAME);
        assert_eq!(out.end, End::Clean, "{name}");
        assert!(!out.frames.is_empty(), "{name}");
        for f in &out.frames {
            if let Frame::Message(p) = f {
                let m = framing::decode_message::<pb::AgentServerMessage>(p);
                assert!(m.is_ok_and(|m| m.message.is_some()), "{name}");
            }
        }
    }
}

/// Every committed corpus file (seeds and anything added later) passes its harness.
#[test]
fn harnesses_pass_on_the_corpus() {
    for (target, harness) in [
        ("frame_decoder", frame_decoder as fn(&[u8])),
        ("request_parser", request_parser),
    ] {
        let mut n = 0;
        for entry in std::fs::read_dir(corpus(target)).expect("corpus directory") {
            let path = entry.expect("corpus entry").path();
            harness(&std::fs::read(&path).expect("read a corpus file"));
            n += 1;
        }
        assert!(n >= 5, "{target}: only {n} seeds");
    }
}
