//! # cursor-bridge-fuzz
//!
//! libFuzzer harnesses for the code that reads bytes from outside. `scripts/fuzz.sh` runs
//! them for a bounded time; `fuzz_targets/*.rs` only hand them libFuzzer's input.
//!
//! - [`frame_decoder`]: a `Run` response body from Cursor. Connect frames pushed into the
//!   incremental decoder in chunk sizes derived from the input, each message decoded as
//!   `AgentServerMessage` and put through the pure steps the run driver takes with it.
//! - [`request_parser`]: a `POST /v1/chat/completions` body. Parsed; when it parses,
//!   translated into the Cursor run it would start, down to the first frame's bytes.
//!
//! A panic is the finding, so besides "no panic, no hang, no runaway allocation" the
//! harnesses assert properties whose failure is a bug without any crash: chunking never
//! changes what decodes, refusals say what is wrong, and text survives every translation
//! byte for byte. How a decode must come out is the oracle the property tests judge by too
//! (`cursor_bridge_tests::oracle`). Being plain functions, they also run under `cargo test`
//! over the committed seed corpus (see the tests below), on stable and without libFuzzer.

use std::sync::OnceLock;

use cursor_bridge_core::cursor::chat::{self, ChatRequest, ToolCall, ToolDef, ToolResult};
use cursor_bridge_core::cursor::error::parse_end_stream;
use cursor_bridge_core::cursor::framing::{DEFAULT_MAX_FRAME, Decoder, Frame};
use cursor_bridge_core::cursor::decode::{self, Part};
use cursor_bridge_core::cursor::{blobs::BlobStore, native, value};
use cursor_bridge_core::dialects::chat::chunks::ChunkWriter;
use cursor_bridge_core::dialects::chat::request::ChatCompletionRequest;
use cursor_bridge_core::dialects::chat::translate::neutral;
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_tests::oracle::{decode, protocol_message, same_json};
use prost::Message as _;
use serde_json::Value;

/// The chat dialect's neutral request for `req` (whose images decoded when it parsed).
fn neutral_of(req: &ChatCompletionRequest) -> cursor_bridge_core::engine::request::Request {
    neutral(req).expect("a request that parsed has decodable images")
}


/// A second, small frame limit, so inputs reach the "over the limit" refusals mid-stream.
const SMALL_MAX_FRAME: usize = 256;

// ---------------------------------------------------------------------------------------
// frame_decoder
// ---------------------------------------------------------------------------------------

/// Decodes `data` as a response body, whole and in input-derived chunks (with empty
/// pushes), under the real and a small frame limit; the two must agree exactly. Every
/// frame is then handled as the run driver would.
pub fn frame_decoder(data: &[u8]) {
    for max_frame in [DEFAULT_MAX_FRAME, SMALL_MAX_FRAME] {
        let whole = decode(data, [], max_frame);
        let chunked = decode(data, Chunks::new(data), max_frame);
        assert_eq!(whole, chunked, "chunking changed what decodes");
        if max_frame == DEFAULT_MAX_FRAME {
            let blobs = BlobStore::new();
            for f in &whole.frames {
                handle_frame(f, &blobs);
            }
        }
    }
}

/// Chunk sizes from an xorshift generator seeded with the input's FNV-1a hash: every
/// mutation of the input also changes how it is split. 0 means an empty push. Endless.
struct Chunks(u64);

impl Chunks {
    fn new(data: &[u8]) -> Self {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in data {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Chunks(h | 1)
    }
}

impl Iterator for Chunks {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        let r = (x >> 8) as usize;
        Some(match x % 8 {
            0 => 0,
            1..=4 => 1 + r % 4,
            5 | 6 => 1 + r % 64,
            _ => 1 + r % 4096,
        })
    }
}

fn handle_frame(frame: &Frame, blobs: &BlobStore) {
    match frame {
        // Decoded as the driver does (`cursor::decode`'s tolerant policy).
        Frame::Message(p) => match decode::server_message(p) {
            Ok(d) => d.parts.into_iter().for_each(|part| handle_part(part, blobs)),
            Err(e) => {
                protocol_message(e);
            }
        },
        Frame::EndStream(json) => {
            // Any typed error is Cursor's verdict; it must render as a message.
            if let Err(e) = parse_end_stream(json) {
                assert!(!e.to_string().is_empty());
            }
        }
    }
}

/// The pure steps of the run driver (`cursor::chat`) for one part of a server message.
fn handle_part(part: Part, blobs: &BlobStore) {
    use pb::exec_server_message::Message as X;
    use pb::kv_server_message::Message as K;
    let w = writer();
    match part {
        Part::Update(u) => {
            if let Some(t) = u.text_delta {
                check_text_chunk(&w.content(&t.text), "content", &t.text);
            }
            if let Some(t) = u.thinking_delta {
                check_text_chunk(&w.reasoning(&t.text), "reasoning_content", &t.text);
            }
        }
        Part::UnservableExec { id, exec_id, field } => {
            let reply = decode::unservable_exec_reply(id, &exec_id, field, "no");
            assert!(pb::AgentClientMessage::decode(reply).is_ok());
        }
        Part::Exec(e) => match e.message {
            Some(X::McpArgs(a)) => {
                let call = ToolCall {
                    call_id: a.tool_call_id,
                    name: a.name,
                    arguments: value::map_to_object(&a.args),
                };
                check_tool_call_chunk(&w, &call);
            }
            Some(other) => {
                let tools = opencode_tools();
                match native::redirect(&other, tools, None) {
                    Some(r) => {
                        assert!(tools.iter().any(|t| t.name == r.tool));
                        assert!(r.arguments.is_object(), "{:?}", r.arguments);
                        let call = ToolCall {
                            call_id: r.tool_call_id.clone(),
                            name: r.tool.clone(),
                            arguments: r.arguments.clone(),
                        };
                        check_tool_call_chunk(&w, &call);
                        for is_error in [false, true] {
                            let _ = r.native.clone().into_results(ToolResult {
                                content: "line one\nline two\n".into(),
                                is_error,
                            });
                        }
                    }
                    None => {
                        let names: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
                        let _ = native::rejection(other, &names);
                    }
                }
            }
            None => {}
        },
        Part::Kv(kv) => match kv.message {
            Some(K::SetBlobArgs(s)) => blobs.put(s.blob_id, s.blob_data),
            Some(K::GetBlobArgs(g)) => {
                let _ = blobs.get(&g.blob_id);
            }
            None => {}
        },
        Part::Checkpoint(bytes) => {
            let _ = pb::ConversationStateStructure::decode(&bytes[..]);
        }
        _ => {}
    }
}

/// OpenCode's real tool declarations, the ones native execs are redirected to.
fn opencode_tools() -> &'static [ToolDef] {
    static TOOLS: OnceLock<Vec<ToolDef>> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let raw: Value = serde_json::from_str(include_str!(
            "../../client/src/testdata/opencode-tools.json"
        ))
        .expect("the OpenCode tools fixture is JSON");
        raw.as_array()
            .into_iter()
            .flatten()
            .map(|t| ToolDef {
                name: t["function"]["name"].as_str().unwrap_or_default().into(),
                description: t["function"]["description"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                parameters: Some(t["function"]["parameters"].clone()),
            })
            .collect()
    })
}

// ---------------------------------------------------------------------------------------
// request_parser
// ---------------------------------------------------------------------------------------

/// Parses `data` as a chat completions body. A refusal must say what is wrong (and be
/// `malformed` exactly when the body is not JSON); a request that parses is translated into
/// the run it would start, and its prompt must reach the `Run` request's bytes intact.
pub fn request_parser(data: &[u8]) {
    let json: Option<Value> = serde_json::from_slice(data).ok();
    let req = match ChatCompletionRequest::parse(data) {
        Ok(r) => r,
        Err(e) => {
            assert!(!e.message.trim().is_empty(), "a refusal without a message");
            assert_eq!(e.malformed, json.is_none(), "{e:?}");
            return;
        }
    };
    assert!(json.as_ref().is_some_and(Value::is_object));
    let _ = (req.is_stream(), req.include_usage());

    for (id, result) in neutral_of(&req).trailing_tool_results() {
        assert!(!id.is_empty(), "a tool result without a call id");
        assert!(!result.is_error);
    }
    let run = neutral_of(&req).fresh_run();
    check_text_chunk(&writer().content(&run.prompt), "content", &run.prompt);

    let mut chat = ChatRequest::new(req.model.clone().unwrap_or_default(), run.prompt.clone());
    chat.system_prompt = run.system_prompt.clone();
    chat.tools = run.tools.clone();
    let frame = chat::first_frame(&chat);
    let mut dec = Decoder::default();
    dec.push(&frame);
    let Ok(Some(Frame::Message(payload))) = dec.next_frame() else {
        panic!("our own first frame does not decode as one message");
    };
    // prost refuses messages nested over 100 deep, which a deep tool schema reaches: the
    // bytes are ours either way, so only a decodable request is compared.
    if let Ok(sent) = pb::AgentClientMessage::decode(payload) {
        assert_eq!(user_text(&sent).as_deref(), Some(run.prompt.as_str()));
    }

    // Native execs offered to whatever tools the client declared.
    for exec in sample_execs() {
        if let Some(r) = native::redirect(&exec, &run.tools, None) {
            assert!(run.tools.iter().any(|t| t.name == r.tool));
            assert!(r.arguments.is_object(), "{:?}", r.arguments);
            let _ = r.native.into_result(ToolResult {
                content: "ok".into(),
                is_error: false,
            });
        }
    }
}

/// The user text of a first frame, when it is a user message (not a resume).
fn user_text(msg: &pb::AgentClientMessage) -> Option<String> {
    use pb::agent_client_message::Message as C;
    use pb::conversation_action::Action as A;
    let Some(C::RunRequest(run)) = &msg.message else {
        return None;
    };
    match run.action.as_ref()?.action.as_ref()? {
        A::UserMessageAction(u) => Some(u.user_message.as_ref()?.text.clone()),
        _ => None,
    }
}

/// One exec of every native tool that can be redirected.
fn sample_execs() -> Vec<pb::exec_server_message::Message> {
    use pb::exec_server_message::Message as X;
    vec![
        X::ReadArgs(pb::ReadArgs {
            path: "/w/src/main.rs".into(),
            tool_call_id: "t1".into(),
        }),
        X::WriteArgs(pb::WriteArgs {
            path: "/w/notes.txt".into(),
            file_text: "hi\n".into(),
            tool_call_id: "t2".into(),
            ..Default::default()
        }),
        X::ShellArgs(pb::ShellArgs {
            command: "ls -la".into(),
            working_directory: "/w".into(),
            tool_call_id: "t3".into(),
            ..Default::default()
        }),
        X::LsArgs(pb::LsArgs {
            path: "/w".into(),
            ..Default::default()
        }),
        X::GrepArgs(pb::GrepArgs {
            pattern: "fn main".into(),
            path: Some("/w".into()),
            glob: Some("*.rs".into()),
            ..Default::default()
        }),
        X::FetchArgs(pb::FetchArgs {
            url: "https://example.com/".into(),
            tool_call_id: "t6".into(),
        }),
    ]
}

// ---------------------------------------------------------------------------------------
// Shared checks
// ---------------------------------------------------------------------------------------

fn writer() -> ChunkWriter {
    ChunkWriter {
        id: "chatcmpl-fuzz".into(),
        created: 0,
        model: "fuzz".into(),
    }
}

/// A text chunk is one line of JSON (a raw newline would end the SSE event) whose delta
/// carries exactly `text`.
fn check_text_chunk(line: &str, field: &str, text: &str) {
    assert!(!line.contains(['\n', '\r']), "{line:?}");
    let c: Value = serde_json::from_str(line).expect("a chunk is JSON");
    assert_eq!(c["choices"][0]["delta"][field].as_str(), Some(text));
}

/// A tool call chunk carries the id, the name and the arguments as a JSON string.
fn check_tool_call_chunk(w: &ChunkWriter, call: &ToolCall) {
    let line = w.tool_calls(std::slice::from_ref(call));
    assert!(!line.contains(['\n', '\r']), "{line:?}");
    let c: Value = serde_json::from_str(&line).expect("a chunk is JSON");
    let tc = &c["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(tc["id"].as_str(), Some(call.call_id.as_str()));
    assert_eq!(tc["function"]["name"].as_str(), Some(call.name.as_str()));
    let args: Value = serde_json::from_str(tc["function"]["arguments"].as_str().unwrap_or(""))
        .expect("arguments are a JSON string");
    assert!(
        same_json(&args, &call.arguments),
        "{args} != {}",
        call.arguments
    );
}

#[cfg(test)]
mod seeds;
