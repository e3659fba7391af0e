//! The `history` phase: what starting the 20th turn of a conversation costs, three ways
//! side by side (reference §9.5) — continuing from Cursor's checkpoint of turn 19,
//! the history rebuilt as message blobs, and the history flattened into one text. Per
//! way: the bytes of the run request, the history blob bytes the client serves through
//! KV (both as the fake recorded them), and the time from the OpenAI messages to the
//! first text event (building the run included).
//!
//! It drives the same `CursorClient` the proxy embeds straight at the fake (the proxy
//! picks one way per request; here every way runs on the same conversation), samples
//! interleaved so drift hits all three alike.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use cursor_bridge_core::cursor::blobs::BlobStore;
use cursor_bridge_core::cursor::chat::{ChatEvent, ChatRequest};
use cursor_bridge_core::cursor::models::AUTO_WIRE_ID;
use cursor_bridge_core::dialects::chat::request::ChatCompletionRequest;
use cursor_bridge_core::dialects::chat::translate;
use cursor_bridge_core::engine::history;
use cursor_bridge_tests::{FakeCursor, HistoryKind, Turn};
use futures::StreamExt as _;
use prost::Message as _;
use serde_json::json;

use crate::client::Direct;
use crate::phases::Ctx;
use crate::report::{Row, kb, median, ms};

/// Turns before the measured one.
const EARLIER_TURNS: usize = 19;

/// A system prompt the size of a coding agent's (≈ 8 KB).
fn system_prompt() -> String {
    "You are a coding agent. Follow the user's instructions, use the tools, keep answers short. "
        .repeat(90)
}

fn answer(i: usize) -> String {
    format!("Answer {i}: ") + &"the change is in src/lib.rs, with a test; ".repeat(20)
}

fn question(i: usize) -> String {
    format!("Question {i}: what should change next in the parser, and why?")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Way {
    Checkpoint,
    Structured,
    Flattened,
}

/// The measured turn as an OpenAI request body (the 19 earlier turns, then the question).
fn body(prior: &[(String, String)]) -> Vec<u8> {
    let mut messages = vec![json!({"role": "system", "content": system_prompt()})];
    for (q, a) in prior {
        messages.push(json!({"role": "user", "content": q}));
        messages.push(json!({"role": "assistant", "content": a}));
    }
    messages.push(json!({"role": "user", "content": question(EARLIER_TURNS)}));
    serde_json::to_vec(&json!({"model": "auto", "messages": messages})).unwrap_or_default()
}

/// One run to its first text; the time from the request body to it.
async fn first_text(direct: &Direct, build: impl FnOnce() -> ChatRequest) -> Result<Duration> {
    let started = Instant::now();
    let req = build();
    let mut run = direct.client().chat(req).await.context("starting a run")?;
    let mut ttft = None;
    while let Some(ev) = run.next().await {
        if let ChatEvent::Text(_) = ev.context("run event")? {
            ttft.get_or_insert_with(|| started.elapsed());
        }
    }
    ttft.context("the run produced no text")
}

pub async fn history(ctx: &Ctx) -> Result<Vec<Row>> {
    let samples = if ctx.quick { 3 } else { 15 };
    let fake = FakeCursor::builder().start().await;
    let direct = Direct::new(&fake)?;

    // The conversation's first 19 turns, each continuing from the previous checkpoint
    // (the first from the system prompt alone), as the proxy's store would hold them.
    let blobs = BlobStore::new();
    let mut state = None;
    let conversation_id = ChatRequest::new(AUTO_WIRE_ID, "").conversation_id;
    let mut prior = Vec::new();
    for i in 0..EARLIER_TURNS {
        fake.push_turn(Turn::reply(answer(i)));
        let mut req = ChatRequest::new(AUTO_WIRE_ID, question(i));
        req.system_prompt = Some(system_prompt());
        req.conversation_id = conversation_id.clone();
        req.blobs = blobs.clone();
        req.conversation_state = state.clone().or_else(|| {
            let s = history::build(&[history::Msg::System(system_prompt())]);
            s.fill(&blobs);
            Some(s.state)
        });
        let mut run = direct.client().chat(req).await.context("an earlier turn")?;
        let handle = run.handle();
        while let Some(ev) = run.next().await {
            ev.context("an earlier turn's event")?;
        }
        state = Some(handle.checkpoint().context("a checkpoint")?);
        prior.push((question(i), answer(i)));
    }
    let checkpoint = state.context("no checkpoint")?;
    let body = body(&prior);

    let ways = [Way::Checkpoint, Way::Structured, Way::Flattened];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); 3];
    let mut bytes: Vec<(usize, usize)> = vec![(0, 0); 3];
    for s in 0..samples {
        for k in 0..3 {
            // Rotate the order per sample.
            let w = (s + k) % 3;
            fake.push_turn(Turn::reply("ok"));
            let before = fake.run_count();
            let t = first_text(&direct, || {
                let parsed = ChatCompletionRequest::parse(&body).unwrap_or_else(|e| {
                    panic!("the bench's own request does not parse: {}", e.message)
                });
                let neutral = translate::neutral(&parsed).unwrap_or_else(|e| {
                    panic!("the bench's own request is refused: {}", e.message)
                });
                let plan = neutral.fresh_run();
                let mut req = match ways[w] {
                    Way::Checkpoint => {
                        let (_, newest) = history::split_newest_user(&neutral.messages);
                        let mut r = ChatRequest::new(AUTO_WIRE_ID, newest.unwrap_or_default());
                        r.conversation_state = Some(checkpoint.clone());
                        r.blobs = blobs.clone();
                        r.conversation_id = conversation_id.clone();
                        r
                    }
                    Way::Structured => {
                        let s = history::build(&neutral.messages);
                        let r = ChatRequest::new(AUTO_WIRE_ID, s.user_text.clone());
                        s.fill(&r.blobs);
                        ChatRequest {
                            conversation_state: Some(s.state),
                            ..r
                        }
                    }
                    Way::Flattened => ChatRequest::new(AUTO_WIRE_ID, plan.prompt),
                };
                req.system_prompt = plan.system_prompt;
                req
            })
            .await?;
            let run = fake.wait_for_run_end(before, Duration::from_secs(30)).await;
            let expected = match ways[w] {
                Way::Checkpoint => HistoryKind::Checkpoint,
                Way::Structured => HistoryKind::Structured,
                Way::Flattened => HistoryKind::None,
            };
            ensure!(
                run.history == expected,
                "{:?} arrived as {:?}",
                ways[w],
                run.history
            );
            let request = run.run_request.as_ref().map_or(0, |r| r.encoded_len());
            bytes[w] = (request, run.history_bytes);
            times[w].push(t);
        }
    }
    let rows = ways
        .iter()
        .enumerate()
        .map(|(w, way)| {
            let (request, kv) = bytes[w];
            Row::new(format!(
                "turn 20 of a conversation, {} (client → fake): run request + KV history bytes; time to first text, median of {samples}",
                match way {
                    Way::Checkpoint => "checkpoint",
                    Way::Structured => "structured",
                    Way::Flattened => "flattened",
                }
            ))
            .proxy(format!(
                "{} + {} = {}; {}",
                kb(request as f64),
                kb(kv as f64),
                kb((request + kv) as f64),
                ms(median(&times[w]))
            ))
            .note("side by side, same conversation")
        })
        .collect();
    Ok(rows)
}
