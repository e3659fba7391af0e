//! Load through one real proxy in front of the fake Cursor:
//! - 100 concurrent streamed chats of 20 text steps each: every stream is exactly its
//!   run's text with one `[DONE]` and a usage chunk, nothing errors, the test process's
//!   memory stays bounded, and afterwards nothing is parked and every Cursor run ended.
//! - 100 chats each ending in a tool call with `max_parked_streams = 32`: exactly the 32
//!   newest stay parked, the older runs are cancelled oldest first, an evicted
//!   conversation continues in a fresh run with its history and a parked one in place.
//! - The byte budget (`max_parked_bytes`): parked runs holding 100 KB of tool arguments
//!   and 50 KB of conversation blobs each are evicted oldest first down to the budget, and
//!   `/health` reports the bytes.
//!
//! The memory test runs in a process of its own ([`common::in_own_process`]) so the
//! figures are this test's own, not those of whatever else the test binary runs meanwhile.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cursor_bridge_core::cursor::chat::ToolCall;
use cursor_bridge_core::engine::sessions::Parked;
use cursor_bridge_tests::{FakeCursor, Turn};
use serde_json::{Value, json};

use common::Harness;
use common::proxy::{Proxy, delta_text, minted};

const STREAMS: usize = 100;
const STEPS: usize = 20;

/// Resident memory of this process, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm resident pages");
    pages * 4096
}

/// Samples [`rss`] every few milliseconds on its own thread until dropped; keeps the peak.
struct PeakRss {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PeakRss {
    fn start() -> PeakRss {
        let peak = Arc::new(AtomicU64::new(rss()));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        PeakRss {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("sampler");
        }
        self.peak.load(Ordering::Relaxed)
    }
}

/// Waits until exactly `n` of the fake's runs have ended.
async fn wait_for_ended_runs(p: &Proxy, n: usize) {
    assert!(
        p.fake()
            .wait_until(Duration::from_secs(5), |f| f
                .runs()
                .iter()
                .filter(|r| r.end.is_some())
                .count()
                == n)
            .await,
        "{n} runs end: {:?}",
        p.fake().runs().iter().map(|r| &r.end).collect::<Vec<_>>()
    );
}

fn text_of_run(k: usize) -> String {
    (0..STEPS).map(|i| format!("r{k}.{i} ")).collect()
}

const MB: f64 = 1024.0 * 1024.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_streams_complete_exactly_in_bounded_memory() {
    if !common::in_own_process(
        "load::a_hundred_concurrent_streams_complete_exactly_in_bounded_memory",
    )
    .await
    {
        return;
    }
    let fake = FakeCursor::builder().start().await;
    // Room for every stream at once (the default `max_concurrent_runs` is 64).
    let p = Arc::new(
        Proxy::start_with(Harness::signed_in(fake).await, |s| {
            s.max_concurrent_runs = STREAMS as u32;
        })
        .await,
    );
    // Warm up (connection pools, the model catalogue) outside the measurement.
    let warm = p
        .post(&json!({"model": "auto", "messages": [{"role": "user", "content": "warm"}]}))
        .await;
    assert_eq!(warm.status(), 200);
    let _ = warm.bytes().await;
    for k in 0..STREAMS {
        let mut t = Turn::new();
        for i in 0..STEPS {
            t = t.text(format!("r{k}.{i} ")).token_delta(1);
        }
        p.fake()
            .push_turn(t.checkpoint(2000, 200_000).turn_ended().end_ok());
    }

    let before = rss();
    let sampler = PeakRss::start();
    let started = Instant::now();
    let tasks: Vec<_> = (0..STREAMS)
        .map(|n| {
            let p = p.clone();
            tokio::spawn(async move {
                p.sse(&json!({"model": "auto", "stream": true,
                    "stream_options": {"include_usage": true},
                    "messages": [{"role": "user", "content": format!("stream {n}")}]}))
                    .await
            })
        })
        .collect();
    let mut texts = Vec::new();
    for t in tasks {
        let chunks = t.await.expect("stream task");
        let usage: Vec<&Value> = chunks
            .iter()
            .filter(|c| c["usage"].is_object())
            .map(|c| &c["usage"])
            .collect();
        assert_eq!(usage.len(), 1, "one usage chunk: {chunks:?}");
        assert!(
            chunks.iter().all(|c| c.get("error").is_none()),
            "{chunks:?}"
        );
        let finish: Vec<&Value> = chunks
            .iter()
            .map(|c| &c["choices"][0]["finish_reason"])
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finish, [&json!("stop")]);
        texts.push((delta_text(&chunks, "content"), usage[0].clone()));
    }
    let took = started.elapsed();
    let peak = sampler.finish();

    // Every stream is exactly one run's text, and together they are all of them: nothing
    // lost, duplicated or mixed between streams.
    let mut got: Vec<String> = texts.iter().map(|(t, _)| t.clone()).collect();
    got.sort();
    let mut expected: Vec<String> = (0..STREAMS).map(text_of_run).collect();
    expected.sort();
    assert_eq!(got, expected);
    for (text, usage) in &texts {
        assert_eq!(usage["completion_tokens"], STEPS, "{text}: {usage}");
    }

    // Every Cursor run ended, nothing is parked.
    assert!(
        p.fake()
            .wait_until(Duration::from_secs(5), |f| f.run_count() == STREAMS + 1
                && f.runs().iter().all(|r| r.end.is_some()))
            .await,
        "every run ends: {} runs",
        p.fake().run_count()
    );
    let h = p.health().await;
    assert_eq!(h["status"], "ok");
    assert_eq!(
        (h["parked_streams"].as_u64(), h["parked_bytes"].as_u64()),
        (Some(0), Some(0))
    );
    let after = rss();
    eprintln!(
        "{STREAMS} streams × {STEPS} steps in {took:?}; RSS before {:.1} MB, peak {:.1} MB (+{:.1}), after {:.1} MB",
        before as f64 / MB,
        peak as f64 / MB,
        peak.saturating_sub(before) as f64 / MB,
        after as f64 / MB
    );
    assert!(
        peak.saturating_sub(before) < 200 * 1024 * 1024,
        "peak growth {:.1} MB",
        peak.saturating_sub(before) as f64 / MB
    );
    assert!(
        after.saturating_sub(before) < 100 * 1024 * 1024,
        "memory after the load: +{:.1} MB",
        after.saturating_sub(before) as f64 / MB
    );
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
}

/// The request that continues conversation `k` with the result of its tool call `id`.
fn answer(k: usize, id: &str, args: &Value) -> Value {
    json!({"model": "auto", "tools": tools(), "messages": [
        {"role": "user", "content": format!("weather {k}?")},
        {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function",
            "function": {"name": "get_weather", "arguments": args.to_string()}}]},
        {"role": "tool", "tool_call_id": id, "content": format!("{k}C")}]})
}

/// The reply's content once conversation `k` is continued with its tool result.
async fn reply_to_answer(p: &Proxy, k: usize, id: &str, args: &Value) -> Value {
    let r: Value = p
        .post(&answer(k, id, args))
        .await
        .json()
        .await
        .expect("json");
    r["choices"][0]["message"]["content"].clone()
}

/// A fake whose `n` turns each begin as `start()` makes them, then call the tool
/// (`call_<k>`, `args`) and, once the result came, say "after the tool <k>".
async fn with_tool_calls(n: usize, args: &Value, start: impl Fn() -> Turn) -> FakeCursor {
    let mut b = FakeCursor::builder();
    for k in 0..n {
        b = b.turn(
            start()
                .mcp_call(
                    "get_weather",
                    "get_weather",
                    format!("call_{k}"),
                    args.clone(),
                )
                .text(format!("after the tool {k}"))
                .turn_ended()
                .end_ok(),
        );
    }
    b.start().await
}

/// Starts conversation `k`; its response ends in the tool call `call_<k>` (parked) under
/// the id the proxy minted for it, which is returned.
async fn ask(p: &Proxy, k: usize) -> String {
    let r: Value = p
        .post(&json!({"model": "auto", "tools": tools(),
            "messages": [{"role": "user", "content": format!("weather {k}?")}]}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(r["choices"][0]["finish_reason"], "tool_calls", "{r}");
    minted(
        &r["choices"][0]["message"]["tool_calls"][0]["id"],
        &format!("call_{k}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_parked_tool_calls_keep_the_newest_32() {
    let args = json!({"city": "Rome"});
    let fake = with_tool_calls(STREAMS, &args, Turn::new).await;
    let h = Harness::signed_in(fake).await;
    let p = Proxy::start_with(h, |s| s.max_parked_streams = 32).await;
    let started = Instant::now();
    let mut ids = Vec::new();
    for k in 0..STREAMS {
        ids.push(ask(&p, k).await);
    }
    let h = p.health().await;
    assert_eq!(h["parked_streams"], 32);
    // The 68 oldest were cancelled on Cursor's side; the 32 newest are alive.
    let evicted = STREAMS - 32;
    wait_for_ended_runs(&p, evicted).await;
    for run in p.fake().runs() {
        if run.index < evicted {
            assert!(
                run.cancelled.is_some(),
                "run {} was evicted: {:?}",
                run.index,
                run.end
            );
        } else {
            assert!(
                run.end.is_none(),
                "run {} is parked: {:?}",
                run.index,
                run.end
            );
        }
    }
    // An evicted conversation continues in a fresh run that carries its history…
    assert_eq!(
        reply_to_answer(&p, 3, &ids[3], &args).await,
        "Hello from the fake Cursor."
    );
    // (as structure: the fake fetched each message; no new user text, so a resume).
    let fresh = &p.fake().runs()[STREAMS];
    assert!(fresh.is_resume(), "{:?}", fresh.user_text());
    let history = serde_json::to_string(&fresh.history_messages).expect("json");
    for needle in ["weather 3?", ids[3].as_str(), "3C"] {
        assert!(history.contains(needle), "{needle} missing: {history}");
    }
    // …and a parked one in place, on its own run.
    assert_eq!(
        reply_to_answer(&p, 99, &ids[99], &args).await,
        "after the tool 99"
    );
    assert_eq!(
        p.fake().run_count(),
        STREAMS + 1,
        "no new run for the parked one"
    );
    let run = p.fake().wait_for_run_end(99, Duration::from_secs(5)).await;
    assert_eq!(
        run.mcp_results,
        [("call_99".to_string(), "99C".to_string())]
    );
    assert_eq!(p.health().await["parked_streams"], 31);
    eprintln!("{STREAMS} parked tool calls in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_parked_byte_budget_evicts_the_oldest_down_to_it() {
    const N: usize = 10;
    const BLOB: usize = 50_000;
    let args = json!({"city": "x".repeat(100_000)});
    let fake = with_tool_calls(N, &args, || Turn::new().kv_set(vec![b'k'; BLOB])).await;
    // What one parked conversation holds, as the proxy estimates it: the call under its
    // minted id (`call_` + 32 hex), plus Cursor's id (`call_<k>`) it maps to.
    let one = "call_0".len()
        + Parked::estimate(
            &[ToolCall {
                call_id: format!("call_{}", "0".repeat(32)),
                name: "get_weather".into(),
                arguments: args.clone(),
            }],
            "auto",
            0,
            BLOB,
        );
    let fit = 3;
    let budget = (fit * one + one / 2) as u64;
    let h = Harness::signed_in(fake).await;
    let p = Proxy::start_with(h, |s| s.max_parked_bytes = budget).await;
    let mut ids = Vec::new();
    for k in 0..N {
        ids.push(ask(&p, k).await);
        let h = p.health().await;
        let parked = (k + 1).min(fit);
        assert_eq!(h["parked_streams"], parked, "after {k}: {h}");
        assert_eq!(h["parked_bytes"], parked * one, "after {k}: {h}");
    }
    let evicted = N - fit;
    wait_for_ended_runs(&p, evicted).await;
    for run in p.fake().runs() {
        assert_eq!(
            run.cancelled.is_some(),
            run.index < evicted,
            "run {}: {:?}",
            run.index,
            run.end
        );
    }
    // The newest continues in place; the oldest in a fresh run.
    assert_eq!(
        reply_to_answer(&p, N - 1, &ids[N - 1], &args).await,
        format!("after the tool {}", N - 1)
    );
    assert_eq!(
        reply_to_answer(&p, 0, &ids[0], &args).await,
        "Hello from the fake Cursor."
    );
    assert_eq!(p.fake().run_count(), N + 1);
    let h = p.health().await;
    assert_eq!(
        (h["parked_streams"].as_u64(), h["parked_bytes"].as_u64()),
        (Some(fit as u64 - 1), Some(((fit - 1) * one) as u64))
    );
}
