//! The five measurements. Each starts its own fake Cursor (in this process) and its own
//! `cursor-bridge serve` (a child process), so one phase's leftovers never skew another.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_tests::{FakeCursor, Turn};
use futures::future::join_all;
use serde_json::json;

use crate::client::{Direct, ProxyClient, TOOL, request, tool_round, user};
use crate::procfs;
use crate::report::{Row, kb, mb, median, ms, ms_diff, percentile};
use crate::serve::{Placement, Sandbox, Serve, pin_self};

/// Sample sizes: `quick` proves the harness, `full` makes the figures.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub(crate) warmup: usize,
    /// Requests of each kind at one stream.
    pub(crate) single: usize,
    /// Rounds of 32 requests at the same instant, of each kind.
    rounds32: usize,
    /// The paced turn: this many tokens, one every [`TOKEN_GAP`], and how many such
    /// requests each of the 32 workers makes per phase (four phases, ABBA).
    paced_tokens: usize,
    paced_requests: usize,
    /// Text chunks in the throughput turn, and runs of each kind.
    pub(crate) chunks: usize,
    pub(crate) throughput_runs: usize,
    streams: usize,
    /// How long the concurrency turn holds its streams open before the tool call.
    hold: Duration,
    loops: usize,
    /// The fake's run start ("bootstrap") in the tool-loop phase.
    bootstrap: Duration,
    cold_starts: usize,
}

impl Sizes {
    fn quick() -> Sizes {
        Sizes {
            warmup: 3,
            single: 20,
            rounds32: 2,
            paced_tokens: 10,
            paced_requests: 1,
            chunks: 5_000,
            throughput_runs: 1,
            streams: 256,
            hold: Duration::from_millis(1500),
            loops: 1,
            bootstrap: Duration::from_millis(100),
            cold_starts: 3,
        }
    }

    fn full() -> Sizes {
        Sizes {
            warmup: 30,
            single: 400,
            rounds32: 20,
            paced_tokens: 50,
            paced_requests: 5,
            chunks: 200_000,
            throughput_runs: 3,
            streams: 256,
            hold: Duration::from_secs(3),
            loops: 5,
            bootstrap: Duration::from_millis(300),
            cold_starts: 20,
        }
    }
}

/// What every phase needs.
pub struct Ctx {
    pub serve_bin: PathBuf,
    /// Small samples, no verdicts.
    pub quick: bool,
    sizes: Sizes,
    clk_tck: f64,
}

impl Ctx {
    /// The sample sizes of this run.
    pub(crate) fn sizes(&self) -> &Sizes {
        &self.sizes
    }

    pub fn new(serve_bin: PathBuf, quick: bool) -> Ctx {
        Ctx {
            serve_bin,
            quick,
            sizes: if quick { Sizes::quick() } else { Sizes::full() },
            clk_tck: procfs::clk_tck(),
        }
    }
}

/// A fake, a `serve` in front of it, and a client of that proxy.
pub(crate) struct Rig {
    pub(crate) fake: FakeCursor,
    _sandbox: Sandbox,
    pub(crate) serve: Serve,
    proxy: ProxyClient,
}

impl Rig {
    pub(crate) async fn start(ctx: &Ctx, fake: FakeCursor, placement: Placement) -> Result<Rig> {
        let sandbox = Sandbox::new(&fake)?;
        let serve = Serve::start(&sandbox, &ctx.serve_bin, placement).await?;
        let proxy = ProxyClient::new(&serve.base)?;
        Ok(Rig {
            fake,
            _sandbox: sandbox,
            serve,
            proxy,
        })
    }

    pub(crate) async fn stop(self) -> Result<()> {
        self.serve.stop().await?;
        self.fake.shutdown().await;
        Ok(())
    }
}

/// The default turn's answer arrives as two text deltas.
const DEFAULT_TEXTS: usize = 2;

/// Concurrent streams in the latency phase.
const STREAMS: usize = 32;

/// Time between two tokens of a paced turn: 100 tokens/s, a fast model.
const TOKEN_GAP: Duration = Duration::from_millis(10);

/// A turn streaming `tokens` + 1 text deltas at model speed.
fn paced_turn(tokens: usize) -> Turn {
    let mut t = Turn::new().text("Hello");
    for _ in 0..tokens {
        t = t.sleep(TOKEN_GAP).text(" token");
    }
    t.turn_ended().end_ok()
}

// ---- latency ---------------------------------------------------------------------------

/// Time to first token, straight from the fake (baseline) and through the proxy.
pub async fn latency(ctx: &Ctx) -> Result<Vec<Row>> {
    let s = &ctx.sizes;
    let rig = Rig::start(ctx, FakeCursor::builder().start().await, Placement::Free).await?;
    let direct = Arc::new(Direct::new(&rig.fake)?);
    let body = Arc::new(request(vec![user("hi")]));
    let direct_once = |direct: Arc<Direct>, texts: usize| async move {
        let (ttft, n, _) = direct.run("hi").await?;
        ensure!(n == texts, "direct run: {n} of {texts} text events");
        Ok::<_, anyhow::Error>(ttft)
    };
    let proxy_once = |proxy: ProxyClient, body: Arc<serde_json::Value>, texts: usize| async move {
        let r = proxy.stream(&body, false, || {}).await?;
        ensure!(
            r.content_chunks == texts,
            "proxied run: {} of {texts} content chunks",
            r.content_chunks
        );
        r.ttft.context("no content through the proxy")
    };
    let d = DEFAULT_TEXTS;
    for _ in 0..s.warmup {
        direct_once(direct.clone(), d).await?;
        proxy_once(rig.proxy.clone(), body.clone(), d).await?;
    }

    // The proxy's CPU time over the short requests (it serves nothing else), and the
    // share of its usage-ledger thread.
    let pid = rig.serve.pid();
    let cpu_before = procfs::cpu_seconds(pid, ctx.clk_tck)?;
    let ledger_before = ledger_cpu(pid)?;
    // One stream: direct and proxied requests alternate (ABBA), so drift hits both.
    let (mut d1, mut p1) = (Vec::new(), Vec::new());
    for i in 0..s.single {
        if i % 2 == 0 {
            d1.push(direct_once(direct.clone(), d).await?);
            p1.push(proxy_once(rig.proxy.clone(), body.clone(), d).await?);
        } else {
            p1.push(proxy_once(rig.proxy.clone(), body.clone(), d).await?);
            d1.push(direct_once(direct.clone(), d).await?);
        }
    }

    let guard = guard_cost(ctx, &rig, &body).await?;

    // A burst: rounds of 32 requests sent at the same instant, the kinds alternating.
    let (mut db, mut pb) = (Vec::new(), Vec::new());
    for round in 0..s.rounds32 * 2 {
        let proxied = (round % 2 == 1) ^ (round / 2 % 2 == 1);
        if proxied {
            let all =
                join_all((0..STREAMS).map(|_| proxy_once(rig.proxy.clone(), body.clone(), d)))
                    .await;
            for r in all {
                pb.push(r?);
            }
        } else {
            let all = join_all((0..STREAMS).map(|_| direct_once(direct.clone(), d))).await;
            for r in all {
                db.push(r?);
            }
        }
    }

    // Give the ledger writer its gathering time before reading its CPU.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu = procfs::cpu_seconds(pid, ctx.clk_tck)? - cpu_before;
    let ledger = ledger_cpu(pid)? - ledger_before;
    let short = p1.len() + pb.len();

    // 32 agents streaming at model speed: 32 workers, each request a paced turn, starts
    // spread over one request's length, so at any moment ~32 streams are open and a new
    // request arrives while the others stream. Four phases, ABBA.
    let (mut ds, mut ps) = (Vec::new(), Vec::new());
    let texts = s.paced_tokens + 1;
    let length = TOKEN_GAP * s.paced_tokens as u32;
    for phase in 0..4 {
        let proxied = phase == 1 || phase == 2;
        for _ in 0..STREAMS * s.paced_requests {
            rig.fake.push_turn(paced_turn(s.paced_tokens));
        }
        let workers = (0..STREAMS).map(|w| {
            let (direct, proxy, body) = (direct.clone(), rig.proxy.clone(), body.clone());
            async move {
                tokio::time::sleep(length * w as u32 / STREAMS as u32).await;
                let mut out = Vec::new();
                for _ in 0..s.paced_requests {
                    out.push(if proxied {
                        proxy_once(proxy.clone(), body.clone(), texts).await?
                    } else {
                        direct_once(direct.clone(), texts).await?
                    });
                }
                Ok::<_, anyhow::Error>(out)
            }
        });
        for r in join_all(workers).await {
            let samples = if proxied { &mut ps } else { &mut ds };
            samples.extend(r?);
        }
    }
    rig.stop().await?;

    let mut rows = Vec::new();
    let cases = [
        ("1 stream", &d1, &p1),
        (
            "32 streams, each streaming 100 tokens/s, requests staggered",
            &ds,
            &ps,
        ),
        ("a burst of 32 requests sent at the same instant", &db, &pb),
    ];
    for (what, d, p) in cases {
        for (q, limit) in [(50.0, 1.0), (99.0, 5.0)] {
            let (bd, bp) = (percentile(d, q), percentile(p, q));
            let added = bp.as_secs_f64() * 1e3 - bd.as_secs_f64() * 1e3;
            rows.push(
                Row::new(format!(
                    "added latency (TTFT) p{q}, {what} ({} samples each)",
                    d.len()
                ))
                .baseline(ms(bd))
                .proxy(ms(bp))
                .diff(ms_diff(bp, bd))
                .target(format!("≤ {limit} ms added"), added <= limit),
            );
        }
    }
    rows.push(guard);
    rows.push(
        Row::new(format!(
            "proxy CPU time per short chat request (user + system, {short} requests of 2 chunks)"
        ))
        .proxy(format!("{:.0} µs", cpu / short as f64 * 1e6))
        .diff(format!(
            "of which the usage-ledger thread {:.0} µs",
            ledger / short as f64 * 1e6
        )),
    );
    Ok(rows)
}

/// What the guard adds at one stream: TTFT through the rig's proxy (the guard on, as by
/// default) against a second `serve` in front of the same fake with `guard_enabled =
/// false`, requests alternating ABBA so drift hits both.
async fn guard_cost(ctx: &Ctx, rig: &Rig, body: &Arc<serde_json::Value>) -> Result<Row> {
    let s = &ctx.sizes;
    let sandbox = Sandbox::with_settings(&rig.fake, "guard_enabled = false\n")?;
    let off = Serve::start(&sandbox, &ctx.serve_bin, Placement::Free).await?;
    let unguarded = ProxyClient::new(&off.base)?;
    let once = |proxy: ProxyClient| async move {
        let r = proxy.stream(body, false, || {}).await?;
        ensure!(
            r.content_chunks == DEFAULT_TEXTS,
            "{} content chunks",
            r.content_chunks
        );
        r.ttft.context("no content through the proxy")
    };
    for _ in 0..s.warmup {
        once(unguarded.clone()).await?;
    }
    let (mut on, mut without) = (Vec::new(), Vec::new());
    for i in 0..s.single {
        if i % 2 == 0 {
            without.push(once(unguarded.clone()).await?);
            on.push(once(rig.proxy.clone()).await?);
        } else {
            on.push(once(rig.proxy.clone()).await?);
            without.push(once(unguarded.clone()).await?);
        }
    }
    off.stop().await?;
    let (b, g) = (percentile(&without, 50.0), percentile(&on, 50.0));
    let added = g.as_secs_f64() * 1e3 - b.as_secs_f64() * 1e3;
    Ok(Row::new(format!(
        "added latency of the guard (TTFT) p50, 1 stream, guard off vs on ({} samples each)",
        on.len()
    ))
    .baseline(ms(b))
    .proxy(ms(g))
    .diff(ms_diff(g, b))
    .target("≤ 0.2 ms added", added <= 0.2))
}

/// CPU seconds of the proxy's usage-ledger writer thread.
fn ledger_cpu(pid: u32) -> Result<f64> {
    Ok(procfs::thread_cpu(pid)?
        .get("ledger-writer")
        .copied()
        .unwrap_or(0.0))
}

// ---- throughput ------------------------------------------------------------------------

/// Short text deltas, as a model streams them.
const WORDS: &[&str] = &[
    "The", " quick", " brown", " fox", ",", " then", " `code`", ".\n", " é", " jumps",
];

pub(crate) fn text_turn(chunks: usize) -> Turn {
    let mut t = Turn::new();
    for i in 0..chunks {
        t = t.text(WORDS[i % WORDS.len()]);
    }
    t.turn_ended().end_ok()
}

/// SSE chunks per second through one proxy process on one core, and its CPU per chunk.
pub async fn throughput(ctx: &Ctx) -> Result<Vec<Row>> {
    let s = &ctx.sizes;
    // The proxy on the first CPU this process may use, the fake and the clients on the
    // others (a container may not allow CPU 0).
    let cpus = procfs::allowed_cpus();
    let list = |c: &[usize]| c.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let pin = cpus.len() >= 2 && procfs::have("taskset");
    let placement = if pin {
        Placement::Pinned(cpus[0])
    } else {
        Placement::Free
    };
    let rig = Rig::start(ctx, FakeCursor::builder().start().await, placement).await?;
    let pinned_self = pin && pin_self(&list(&cpus[1..]));
    let result = throughput_runs(ctx, s, &rig).await;
    if pinned_self {
        pin_self(&list(&cpus));
    }
    rig.stop().await?;
    let (direct_rates, proxy_rates, cpu_per_chunk) = result?;
    let (bd, bp) = (median_f(&direct_rates), median_f(&proxy_rates));
    let us = median_f(&cpu_per_chunk) * 1e6;
    let where_ = if pin {
        "proxy pinned to one CPU with 1 tokio worker, fake + client on the other CPUs"
    } else {
        "proxy not pinned (no taskset or one CPU)"
    };
    Ok(vec![
        Row::new(format!(
            "streaming throughput, SSE chunks/s ({} chunks × {} runs; {where_})",
            s.chunks, s.throughput_runs
        ))
        .baseline(format!("{bd:.0}/s fake → CursorClient"))
        .proxy(format!("{bp:.0}/s"))
        .diff(format!("× {:.2}", bp / bd))
        .target("≥ 50,000/s", bp >= 50_000.0),
        Row::new("proxy CPU time per chunk (user + system, /proc/<pid>/stat)")
            .proxy(format!("{us:.2} µs"))
            .diff(format!("{:.0} chunks per CPU-second", 1e6 / us))
            .target("≤ 20 µs (50,000/s on one core)", us <= 20.0),
    ])
}

type Rates = (Vec<f64>, Vec<f64>, Vec<f64>);

async fn throughput_runs(ctx: &Ctx, s: &Sizes, rig: &Rig) -> Result<Rates> {
    let direct = Direct::new(&rig.fake)?;
    let body = request(vec![user("stream a lot")]);
    // Warm the proxy's connection and model cache.
    rig.proxy.stream(&body, false, || {}).await?;
    let (mut dr, mut pr, mut cpu) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..s.throughput_runs * 2 {
        rig.fake.push_turn(text_turn(s.chunks));
        if i % 2 == 0 {
            let (ttft, n, total) = direct.run("stream a lot").await?;
            ensure!(n == s.chunks, "direct: {n} of {} text events", s.chunks);
            dr.push(n as f64 / (total - ttft).as_secs_f64());
        } else {
            let before = procfs::cpu_seconds(rig.serve.pid(), ctx.clk_tck)?;
            let r = rig.proxy.stream(&body, false, || {}).await?;
            let used = procfs::cpu_seconds(rig.serve.pid(), ctx.clk_tck)? - before;
            let n = r.content_chunks;
            ensure!(n == s.chunks, "proxied: {n} of {} chunks", s.chunks);
            let ttft = r.ttft.context("no content")?;
            pr.push(n as f64 / (r.total - ttft).as_secs_f64());
            cpu.push(used / n as f64);
        }
    }
    Ok((dr, pr, cpu))
}

pub(crate) fn median_f(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len().saturating_sub(1) / 2).copied().unwrap_or(0.0)
}

// ---- concurrency -----------------------------------------------------------------------

/// `streams` chats at once: each streams text, holds, calls the tool (the proxy parks
/// it), and is continued with the tool result on the same Cursor stream.
pub async fn concurrency(ctx: &Ctx) -> Result<Vec<Row>> {
    let s = &ctx.sizes;
    let n = s.streams;
    let fake = FakeCursor::builder()
        .long_reply_timeout(Duration::from_secs(300))
        .start()
        .await;
    let rig = Rig::start(ctx, fake, Placement::Free).await?;
    let result = concurrency_runs(s, &rig).await;
    let log = rig.serve.log();
    rig.stop().await?;
    let c = result.with_context(|| format!("serve log:\n{log}"))?;
    let per = |rss: u64, streams: usize| (rss as f64 - c.base as f64) / streams.max(1) as f64;
    Ok(vec![
        Row::new(format!(
            "{n} concurrent streams: stream, park on a tool call, continue"
        ))
        .proxy(format!(
            "{}/{n} parked, {}/{n} continued",
            c.parked_ok, c.continued_ok
        ))
        .diff(format!("{} errors", c.errors.len()))
        .target("all complete, 0 errors", c.errors.is_empty()),
        Row::new(format!(
            "memory per active stream ({} streams open at once)",
            c.active
        ))
        .baseline(format!("{} RSS idle", mb(c.base as f64)))
        .proxy(format!("{} RSS", mb(c.active_rss as f64)))
        .diff(format!("{} per stream", kb(per(c.active_rss, c.active))))
        .note("reported"),
        Row::new(format!("memory per parked stream ({} parked)", c.parked_ok))
            .baseline(format!("{} RSS idle", mb(c.base as f64)))
            .proxy(format!("{} RSS", mb(c.parked_rss as f64)))
            .diff(format!("{} per stream", kb(per(c.parked_rss, c.parked_ok))))
            .note("reported"),
    ])
}

struct Concurrency {
    base: u64,
    active: usize,
    active_rss: u64,
    parked_rss: u64,
    parked_ok: usize,
    continued_ok: usize,
    errors: Vec<String>,
}

async fn concurrency_runs(s: &Sizes, rig: &Rig) -> Result<Concurrency> {
    let n = s.streams;
    let pid = rig.serve.pid();
    for _ in 0..3 {
        rig.proxy
            .stream(&request(vec![user("warm up")]), false, || {})
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = procfs::rss(pid)?;
    for i in 0..n {
        rig.fake.push_turn(
            Turn::new()
                .text("working on it")
                .sleep(s.hold)
                .mcp_call(TOOL, TOOL, format!("call_{i}"), json!({"step": 1}))
                .text("done")
                .turn_ended()
                .end_ok(),
        );
    }
    let started = Arc::new(AtomicUsize::new(0));
    let first = request(vec![user("go")]);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (proxy, body, started) = (rig.proxy.clone(), first.clone(), started.clone());
            tokio::spawn(async move {
                proxy
                    .stream(&body, true, || {
                        started.fetch_add(1, Ordering::SeqCst);
                    })
                    .await
            })
        })
        .collect();
    // Every stream has its first text and the fake holds them all open: sample then.
    let wait_until = Instant::now() + s.hold;
    while started.load(Ordering::SeqCst) < n && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let active = started.load(Ordering::SeqCst);
    let active_rss = procfs::rss(pid)?;
    let mut errors = Vec::new();
    let mut parked = Vec::new();
    for t in join_all(tasks).await {
        match t.context("stream task")? {
            Ok(r)
                if r.finish_reason.as_deref() == Some("tool_calls") && r.tool_calls.len() == 1 =>
            {
                parked.push(r)
            }
            Ok(r) => errors.push(format!(
                "expected one tool call, got {:?} / {:?}",
                r.finish_reason, r.tool_calls
            )),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let parked_rss = procfs::rss(pid)?;
    let health = rig.proxy.get("/health").await?;
    if health["parked_streams"].as_u64() != Some(parked.len() as u64) {
        errors.push(format!(
            "/health reports {} parked streams, expected {}",
            health["parked_streams"],
            parked.len()
        ));
    }
    let runs_before = rig.fake.run_count();
    let tasks: Vec<_> = parked
        .iter()
        .map(|r| {
            let mut messages = vec![user("go")];
            messages.extend(tool_round(&r.text, &r.tool_calls, "ok"));
            let (proxy, body) = (rig.proxy.clone(), request(messages));
            tokio::spawn(async move { proxy.stream(&body, true, || {}).await })
        })
        .collect();
    let mut continued_ok = 0;
    for t in join_all(tasks).await {
        match t.context("continuation task")? {
            Ok(r) if r.text == "done" && r.finish_reason.as_deref() == Some("stop") => {
                continued_ok += 1
            }
            Ok(r) => errors.push(format!(
                "continuation answered {:?} / {:?}",
                r.text, r.finish_reason
            )),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    let fresh_runs = rig.fake.run_count() - runs_before;
    if fresh_runs != 0 {
        errors.push(format!(
            "{fresh_runs} continuations started a fresh Cursor run instead of the parked one"
        ));
    }
    if let Some(e) = errors.first() {
        eprintln!("cb-bench: concurrency: {} errors, first: {e}", errors.len());
    }
    Ok(Concurrency {
        base,
        active,
        active_rss,
        parked_rss,
        parked_ok: parked.len(),
        continued_ok,
        errors,
    })
}

// ---- tool loop -------------------------------------------------------------------------

const LOOP_STEPS: usize = 5;

/// The same-stream design: one run whose 5 tool calls are answered on the stream.
fn same_stream_turn(tag: &str) -> Turn {
    let mut t = Turn::new();
    for k in 1..=LOOP_STEPS {
        t = t.text(format!("step {k}")).mcp_call(
            TOOL,
            TOOL,
            format!("{tag}_{k}"),
            json!({"step": k}),
        );
    }
    t.text("answer").turn_ended().end_ok()
}

/// What a bridge without parking gets: every step is a run of its own that ends with the
/// tool call (the next request re-sends the history and starts a new run).
fn fresh_turns(tag: &str) -> Vec<Turn> {
    let mut turns: Vec<Turn> = (1..=LOOP_STEPS)
        .map(|k| {
            let call = pb::AgentServerMessage {
                message: Some(pb::agent_server_message::Message::ExecServerMessage(
                    pb::ExecServerMessage {
                        id: 1,
                        exec_id: format!("exec_{tag}_{k}"),
                        message: Some(pb::exec_server_message::Message::McpArgs(pb::McpArgs {
                            name: TOOL.into(),
                            // Each step asks something else, as a working agent does
                            // (identical calls in a row are what the guard stops).
                            args: cursor_bridge_core::cursor::value::object_to_map(
                                &json!({"step": k}),
                            ),
                            tool_call_id: format!("{tag}_{k}"),
                            provider_identifier: "cursor-tools".into(),
                            tool_name: TOOL.into(),
                        })),
                    },
                )),
            };
            Turn::new()
                .text(format!("step {k}"))
                .send(call)
                .turn_ended()
                .end_ok()
        })
        .collect();
    turns.push(Turn::new().text("answer").turn_ended().end_ok());
    turns
}

/// Runs one loop through the proxy: wall time, and how many Cursor runs it started.
async fn one_loop(rig: &Rig) -> Result<(Duration, usize)> {
    let runs_before = rig.fake.run_count();
    let started = Instant::now();
    let mut messages = vec![user("run the loop")];
    for k in 1..=LOOP_STEPS + 1 {
        let r = rig
            .proxy
            .stream(&request(messages.clone()), true, || {})
            .await?;
        if k <= LOOP_STEPS {
            ensure!(
                r.finish_reason.as_deref() == Some("tool_calls") && r.tool_calls.len() == 1,
                "step {k}: {:?} {:?}",
                r.finish_reason,
                r.tool_calls
            );
            messages.extend(tool_round(&r.text, &r.tool_calls, "ok"));
        } else {
            ensure!(r.text == "answer", "final answer {:?}", r.text);
        }
    }
    Ok((started.elapsed(), rig.fake.run_count() - runs_before))
}

/// A 5-step tool loop on one parked stream vs. a fresh run per step.
pub async fn tool_loop(ctx: &Ctx) -> Result<Vec<Row>> {
    let s = &ctx.sizes;
    let fake = FakeCursor::builder()
        .run_start_delay(s.bootstrap)
        .start()
        .await;
    let rig = Rig::start(ctx, fake, Placement::Free).await?;
    let result = async {
        rig.proxy
            .stream(&request(vec![user("warm up")]), false, || {})
            .await?;
        let (mut same, mut fresh) = (Vec::new(), Vec::new());
        for i in 0..s.loops * 2 {
            let same_first = (i / 2) % 2 == 0;
            if (i % 2 == 0) == same_first {
                rig.fake.push_turn(same_stream_turn(&format!("s{i}")));
                let (t, runs) = one_loop(&rig).await?;
                ensure!(runs == 1, "the same-stream loop started {runs} runs");
                same.push(t);
            } else {
                for t in fresh_turns(&format!("f{i}")) {
                    rig.fake.push_turn(t);
                }
                let (t, runs) = one_loop(&rig).await?;
                ensure!(
                    runs == LOOP_STEPS + 1,
                    "the fresh-run loop started {runs} runs"
                );
                fresh.push(t);
            }
        }
        Ok::<_, anyhow::Error>((same, fresh))
    }
    .await;
    rig.stop().await?;
    let (same, fresh) = result?;
    let (ms_same, ms_fresh) = (median(&same), median(&fresh));
    let win = ms_fresh.saturating_sub(ms_same);
    let per_step = win / LOOP_STEPS as u32;
    let boot = s.bootstrap;
    Ok(vec![
        Row::new(format!(
            "{LOOP_STEPS}-step tool loop ({} requests), median of {}; fake bootstrap {} per run",
            LOOP_STEPS + 1,
            same.len(),
            ms(boot)
        ))
        .baseline(format!("{} (a fresh run per step)", ms(ms_fresh)))
        .proxy(format!("{} (one stream)", ms(ms_same)))
        .diff(format!(
            "{} ({} per step)",
            ms_diff(ms_same, ms_fresh),
            ms(per_step)
        ))
        .target(
            "wins ≈ bootstrap per step (≥ 80 %)",
            per_step.as_secs_f64() >= 0.8 * boot.as_secs_f64(),
        ),
    ])
}

// ---- footprint -------------------------------------------------------------------------

/// Cold start to listening, and idle memory before and after some requests.
pub async fn footprint(ctx: &Ctx) -> Result<Vec<Row>> {
    let s = &ctx.sizes;
    let fake = FakeCursor::builder().start().await;
    let sandbox = Sandbox::new(&fake)?;
    let (mut spawn_exit, mut ready) = (Vec::new(), Vec::new());
    // The first start creates the ledger and key files; users start an installed proxy.
    Serve::start(&sandbox, &ctx.serve_bin, Placement::Free)
        .await?
        .stop()
        .await?;
    for _ in 0..s.cold_starts {
        // Baseline: the same binary doing nothing (`--version`): exec, loader, exit.
        let t = Instant::now();
        let st = sandbox
            .command(&ctx.serve_bin, &["--version"], Placement::Free)
            .stdout(std::process::Stdio::null())
            .status()
            .await?;
        ensure!(st.success(), "cursor-bridge --version failed");
        spawn_exit.push(t.elapsed());
        let serve = Serve::start(&sandbox, &ctx.serve_bin, Placement::Free).await?;
        ready.push(serve.ready_after);
        serve.stop().await?;
    }
    let serve = Serve::start(&sandbox, &ctx.serve_bin, Placement::Free).await?;
    let pid = serve.pid();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = procfs::rss(pid)?;
    let proxy = ProxyClient::new(&serve.base)?;
    for _ in 0..10 {
        let r = proxy
            .stream(&request(vec![user("hi")]), false, || {})
            .await?;
        ensure!(r.content_chunks == DEFAULT_TEXTS, "warm-up answer");
    }
    proxy.get("/v1/models").await?;
    proxy.get("/health").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let warm = procfs::rss(pid)?;
    let peak = procfs::rss_peak(pid)?;
    serve.stop().await?;
    fake.shutdown().await;
    let (b, r) = (median(&spawn_exit), median(&ready));
    let limit = 20e6;
    if ready.is_empty() {
        bail!("no cold start measured");
    }
    Ok(vec![
        Row::new(format!(
            "cold start of serve to listening, median of {}",
            ready.len()
        ))
        .baseline(format!("{} (`--version`: spawn → exit)", ms(b)))
        .proxy(ms(r))
        .diff(ms_diff(r, b))
        .target("≤ 100 ms", r <= Duration::from_millis(100)),
        Row::new("idle RSS of serve, 1 s after start")
            .proxy(mb(idle as f64))
            .target("≤ 20 MB", (idle as f64) <= limit),
        Row::new("idle RSS of serve after 10 chats + /v1/models + /health")
            .baseline(format!("{} after start", mb(idle as f64)))
            .proxy(format!("{} (peak {})", mb(warm as f64), mb(peak as f64)))
            .diff(format!("{:+.1} MB", (warm as f64 - idle as f64) / 1e6))
            .target("≤ 20 MB", (warm as f64) <= limit),
    ])
}
