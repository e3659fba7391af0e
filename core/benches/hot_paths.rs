//! Criterion benches of the proxy's two per-token hot paths, in MB/s:
//!
//! - **frame decoding**: `cursor::framing::Decoder` over a realistic `Run` response (an
//!   agent turn: a KV blob, hundreds of small text and token deltas, heartbeats, a tool
//!   call, a checkpoint), fed as 16 KiB network reads and as one read per frame (what a
//!   token-by-token stream delivers), with and without decoding each payload as the
//!   `AgentServerMessage` the chat driver needs.
//! - **chunk encoding**: `openai::chunks::ChunkWriter` turning token texts into
//!   `chat.completion.chunk` JSON, in output MB/s and in chunks/s.
//!
//! `cargo bench -p cursor-bridge-core --bench hot_paths`; the method and the latest
//! figures are in docs/PERFORMANCE.md.

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use cursor_bridge_core::cursor::framing::{self, Decoder, Frame};
use cursor_bridge_core::dialects::chat::chunks::ChunkWriter;
use cursor_bridge_core::pb::agent_v1 as pb;
use prost::Message as _;

use pb::agent_server_message::Message as M;

/// Token-sized texts as a model streams them: words, spaces, punctuation, code, a quote,
/// a newline, non-ASCII.
const TOKENS: &[&str] = &[
    "Hello",
    ",",
    " I",
    " will",
    " read",
    " the",
    " file",
    " `src/main.rs`",
    " first",
    ".\n\n",
    "```rust\n",
    "fn",
    " main()",
    " {\n    ",
    "println!(\"",
    "héllo",
    "\");\n}",
    "\n```",
    " Done",
    " — ",
    "ok",
];

fn update(u: pb::InteractionUpdate) -> pb::AgentServerMessage {
    pb::AgentServerMessage {
        message: Some(M::InteractionUpdate(u)),
    }
}

/// The frames of one realistic agent turn, in order.
fn turn_messages() -> Vec<pb::AgentServerMessage> {
    let mut out = Vec::new();
    out.push(pb::AgentServerMessage {
        message: Some(M::KvServerMessage(pb::KvServerMessage {
            id: 1,
            message: Some(pb::kv_server_message::Message::SetBlobArgs(
                pb::SetBlobArgs {
                    blob_id: Bytes::from(vec![7u8; 32]),
                    blob_data: Bytes::from(
                        "{\"role\":\"user\",\"content\":\"x\"}"
                            .repeat(128)
                            .into_bytes(),
                    ),
                },
            )),
        })),
    });
    for i in 0..600 {
        out.push(update(pb::InteractionUpdate {
            text_delta: Some(pb::TextDeltaUpdate {
                text: TOKENS[i % TOKENS.len()].to_string(),
            }),
            ..Default::default()
        }));
        out.push(update(pb::InteractionUpdate {
            token_delta: Some(pb::TokenDeltaUpdate { tokens: 1 }),
            ..Default::default()
        }));
        if i % 100 == 0 {
            out.push(update(pb::InteractionUpdate {
                heartbeat: Some(pb::HeartbeatUpdate {}),
                ..Default::default()
            }));
        }
    }
    let args = [
        (
            "filePath",
            serde_json::json!("/home/user/project/src/main.rs"),
        ),
        ("offset", serde_json::json!(0)),
        ("limit", serde_json::json!(200)),
    ];
    out.push(pb::AgentServerMessage {
        message: Some(M::ExecServerMessage(pb::ExecServerMessage {
            id: 1,
            exec_id: "0b7f6a52-4e3e-4d3c-9d8c-3f7f2d1c9e11".into(),
            message: Some(pb::exec_server_message::Message::McpArgs(pb::McpArgs {
                name: "cursor-bridge-read".into(),
                args: args
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            cursor_bridge_core::cursor::value::to_proto(v),
                        )
                    })
                    .collect(),
                tool_call_id: "toolu_01ABCDEF".into(),
                provider_identifier: "cursor-bridge".into(),
                tool_name: "read".into(),
            })),
        })),
    });
    let state = pb::ConversationStateStructure {
        turns: (0..64).map(|i| Bytes::from(vec![i as u8; 32])).collect(),
        token_details: Some(pb::ConversationTokenDetails {
            used_tokens: 12_345,
            max_tokens: 200_000,
        }),
        ..Default::default()
    };
    out.push(pb::AgentServerMessage {
        message: Some(M::ConversationCheckpointUpdate(
            state.encode_to_vec().into(),
        )),
    });
    out.push(update(pb::InteractionUpdate {
        turn_ended: Some(pb::TurnEndedUpdate::default()),
        ..Default::default()
    }));
    out
}

/// The turn as framed on the wire, frame by frame, plus the end-of-stream frame.
fn turn_frames() -> Vec<Bytes> {
    let mut frames: Vec<Bytes> = turn_messages()
        .iter()
        .map(framing::encode_message)
        .collect();
    frames.push(framing::encode_with_flags(framing::FLAG_END_STREAM, b"{}"));
    frames
}

/// Decodes every frame in `reads`; with `messages`, also each payload as the chat driver
/// does. Returns how many frames it saw (so nothing is optimised away).
fn decode(reads: &[Bytes], messages: bool) -> usize {
    let mut dec = Decoder::default();
    let mut n = 0;
    for read in reads {
        dec.push(read);
        while let Some(frame) = dec.next_frame().expect("valid frames") {
            if let Frame::Message(payload) = frame
                && messages
            {
                let m = cursor_bridge_core::cursor::decode::server_message(&payload)
                    .expect("valid message");
                black_box(m);
            }
            n += 1;
        }
    }
    dec.finish().expect("no partial frame");
    n
}

fn frame_decoding(c: &mut Criterion) {
    let frames = turn_frames();
    let wire: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    let reads_16k: Vec<Bytes> = wire.chunks(16 * 1024).map(Bytes::copy_from_slice).collect();
    let mut g = c.benchmark_group("frame_decoding");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("envelopes/16KiB_reads", |b| {
        b.iter(|| decode(black_box(&reads_16k), false))
    });
    g.bench_function("envelopes/one_read_per_frame", |b| {
        b.iter(|| decode(black_box(&frames), false))
    });
    g.bench_function("envelopes+protobuf/16KiB_reads", |b| {
        b.iter(|| decode(black_box(&reads_16k), true))
    });
    g.bench_function("envelopes+protobuf/one_read_per_frame", |b| {
        b.iter(|| decode(black_box(&frames), true))
    });
    g.finish();
}

fn chunk_encoding(c: &mut Criterion) {
    let writer = ChunkWriter::new("claude-4.5-sonnet");
    let texts: Vec<&str> = TOKENS.iter().copied().cycle().take(1000).collect();
    let out_bytes: usize = texts.iter().map(|t| writer.content(t).len()).sum();
    let encode_all = |texts: &[&str]| {
        let mut total = 0;
        for t in texts {
            total += black_box(writer.content(t)).len();
        }
        total
    };
    let mut g = c.benchmark_group("chunk_encoding");
    g.throughput(Throughput::Bytes(out_bytes as u64));
    g.bench_function("content/output_bytes", |b| {
        b.iter(|| encode_all(black_box(&texts)))
    });
    g.throughput(Throughput::Elements(texts.len() as u64));
    g.bench_function("content/chunks", |b| {
        b.iter(|| encode_all(black_box(&texts)))
    });
    g.finish();
}

criterion_group!(benches, frame_decoding, chunk_encoding);
criterion_main!(benches);
