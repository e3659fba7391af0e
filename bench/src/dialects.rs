//! Per dialect: the latency the proxy adds to the first token and its streaming
//! throughput, for OpenAI Chat Completions, Anthropic Messages and OpenAI Responses
//! against the same baseline (the `CursorClient` straight to the fake) in the same run.
//! Each dialect's stream is read the way its clients read it: the first text event is the
//! first token, and the dialect's own end event ends it (`[DONE]`, `message_stop`,
//! `response.completed`).

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use cursor_bridge_tests::FakeCursor;
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::client::{Direct, TOOL};
use crate::phases::{Ctx, Rig, median_f, text_turn};
use crate::report::{Row, ms, ms_diff, percentile};
use crate::serve::{API_KEY, Placement};

/// The three wire APIs, as a client of each sends a one-message streamed request.
#[derive(Debug, Clone, Copy)]
enum Dialect {
    Chat,
    Messages,
    Responses,
}

const ALL: [Dialect; 3] = [Dialect::Chat, Dialect::Messages, Dialect::Responses];

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Chat => "Chat Completions",
            Dialect::Messages => "Anthropic Messages",
            Dialect::Responses => "Responses",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Dialect::Chat => "/v1/chat/completions",
            Dialect::Messages => "/v1/messages",
            Dialect::Responses => "/v1/responses",
        }
    }

    /// A streamed request with one user message and the bench tool.
    fn body(self, text: &str) -> Value {
        let schema = json!({"type": "object", "properties": {"step": {"type": "integer"}}});
        let description = "A tool the benchmark answers itself";
        match self {
            Dialect::Chat => json!({
                "model": "auto", "stream": true,
                "messages": [{"role": "user", "content": text}],
                "tools": [{"type": "function", "function":
                    {"name": TOOL, "description": description, "parameters": schema}}],
            }),
            Dialect::Messages => json!({
                "model": "auto", "stream": true, "max_tokens": 4096,
                "messages": [{"role": "user", "content": text}],
                "tools": [{"name": TOOL, "description": description, "input_schema": schema}],
            }),
            Dialect::Responses => json!({
                "model": "auto", "stream": true, "input": text,
                "tools": [{"type": "function", "name": TOOL, "description": description,
                    "parameters": schema}],
            }),
        }
    }

    /// Whether one SSE event (its `event:` name, if any, and its data) carries text.
    fn is_text(self, event: &[u8], data: &[u8]) -> bool {
        match self {
            Dialect::Chat => {
                const KEY: &[u8] = b"\"content\":\"";
                find(data, KEY).is_some_and(|i| data.get(i + KEY.len()) != Some(&b'"'))
            }
            Dialect::Messages => {
                event == b"content_block_delta" && find(data, b"\"text_delta\"").is_some()
            }
            Dialect::Responses => event == b"response.output_text.delta",
        }
    }

    /// Whether the event ends the response; an error event is an `Err`.
    fn is_end(self, event: &[u8], data: &[u8]) -> Result<bool> {
        let failed = match self {
            Dialect::Chat => data.starts_with(b"{\"error\""),
            Dialect::Messages => event == b"error",
            Dialect::Responses => event == b"response.failed" || event == b"error",
        };
        if failed {
            bail!("error event: {}", String::from_utf8_lossy(data));
        }
        Ok(match self {
            Dialect::Chat => data == b"[DONE]",
            Dialect::Messages => event == b"message_stop",
            Dialect::Responses => event == b"response.completed",
        })
    }
}

/// One streamed response: time to its first text event, text events, total time.
struct Streamed {
    ttft: Duration,
    texts: usize,
    total: Duration,
}

async fn stream(http: &reqwest::Client, base: &str, d: Dialect, body: &Value) -> Result<Streamed> {
    let started = Instant::now();
    let resp = http
        .post(format!("{base}{}", d.path()))
        .bearer_auth(API_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .with_context(|| format!("sending a {} request", d.name()))?;
    if !resp.status().is_success() {
        let status = resp.status();
        bail!(
            "{} answered {status}: {}",
            d.name(),
            resp.text().await.unwrap_or_default()
        );
    }
    let mut body = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let (mut ttft, mut texts) = (None, 0);
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk.context("reading the stream")?);
        let mut start = 0;
        while let Some(pos) = find(&buf[start..], b"\n\n") {
            let block = &buf[start..start + pos];
            start += pos + 2;
            let (mut event, mut data): (&[u8], &[u8]) = (b"", b"");
            for line in block.split(|b| *b == b'\n') {
                if let Some(e) = line.strip_prefix(b"event: ") {
                    event = e;
                } else if let Some(v) = line.strip_prefix(b"data: ") {
                    data = v;
                }
            }
            if d.is_text(event, data) {
                ttft.get_or_insert_with(|| started.elapsed());
                texts += 1;
            } else if d.is_end(event, data)? {
                return Ok(Streamed {
                    ttft: ttft.context("the stream carried no text")?,
                    texts,
                    total: started.elapsed(),
                });
            }
        }
        buf.drain(..start);
    }
    bail!("the {} stream ended without its end event", d.name())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// TTFT added per dialect (ABBA against the direct client) and chunks/s per dialect.
pub async fn dialects(ctx: &Ctx) -> Result<Vec<Row>> {
    let s = ctx.sizes();
    let rig = Rig::start(ctx, FakeCursor::builder().start().await, Placement::Free).await?;
    let direct = Direct::new(&rig.fake)?;
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("HTTP client")?;
    let base = rig.serve.base.clone();
    let mut rows = Vec::new();
    let result: Result<()> = async {
        for d in ALL {
            let body = d.body("hi");
            for _ in 0..s.warmup {
                stream(&http, &base, d, &body).await?;
            }
            let (mut bd, mut bp) = (Vec::new(), Vec::new());
            for i in 0..s.single {
                let direct_first = i % 2 == 0;
                for proxied in [!direct_first, direct_first] {
                    if proxied {
                        bp.push(stream(&http, &base, d, &body).await?.ttft);
                    } else {
                        bd.push(direct.run("hi").await?.0);
                    }
                }
            }
            for q in [50.0, 99.0] {
                let (a, b) = (percentile(&bd, q), percentile(&bp, q));
                rows.push(
                    Row::new(format!(
                        "{}: added latency (TTFT) p{q}, 1 stream ({} samples each)",
                        d.name(),
                        bd.len()
                    ))
                    .baseline(ms(a))
                    .proxy(ms(b))
                    .diff(ms_diff(b, a)),
                );
            }
            // Throughput: one long text turn each way, medians of the runs.
            let long = d.body("stream a lot");
            let (mut dr, mut pr) = (Vec::new(), Vec::new());
            for _ in 0..s.throughput_runs {
                rig.fake.push_turn(text_turn(s.chunks));
                let (ttft, n, total) = direct.run("stream a lot").await?;
                ensure!(n == s.chunks, "direct: {n} of {} text events", s.chunks);
                dr.push(n as f64 / (total - ttft).as_secs_f64());
                rig.fake.push_turn(text_turn(s.chunks));
                let r = stream(&http, &base, d, &long).await?;
                ensure!(r.texts == s.chunks, "{}: {} of {} text events", d.name(), r.texts, s.chunks);
                pr.push(r.texts as f64 / (r.total - r.ttft).as_secs_f64());
            }
            let (a, b) = (median_f(&dr), median_f(&pr));
            rows.push(
                Row::new(format!(
                    "{}: streaming throughput, text events/s ({} chunks × {} runs, proxy not pinned)",
                    d.name(),
                    s.chunks,
                    s.throughput_runs
                ))
                .baseline(format!("{a:.0}/s fake → CursorClient"))
                .proxy(format!("{b:.0}/s"))
                .diff(format!("× {:.2}", b / a)),
            );
        }
        Ok(())
    }
    .await;
    rig.stop().await?;
    result.map(|()| rows)
}
