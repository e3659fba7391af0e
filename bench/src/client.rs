//! The two clients a figure compares: an OpenAI client streaming through the proxy
//! (plain HTTP/1.1 keep-alive, as OpenCode's SDK connects), and the baseline — the same
//! `CursorClient` stack the proxy embeds, talking straight to the fake.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use cursor_bridge_core::config::settings::{Env, Paths, Settings};
use cursor_bridge_core::cursor::CursorClient;
use cursor_bridge_core::cursor::chat::{ChatEvent, ChatRequest};
use cursor_bridge_core::cursor::models::AUTO_WIRE_ID;
use cursor_bridge_tests::FakeCursor;
use futures::StreamExt as _;
use serde_json::{Value, json};

use crate::serve::API_KEY;

/// The one tool every bench request declares.
pub const TOOL: &str = "bench_tool";

/// What one streamed response was.
#[derive(Debug, Default)]
pub struct Streamed {
    /// Request sent → first non-empty `delta.content`.
    pub ttft: Option<Duration>,
    /// Request sent → `[DONE]`.
    pub total: Duration,
    /// Chunks carrying non-empty `delta.content`.
    pub content_chunks: usize,
    /// The content, when asked for.
    pub text: String,
    /// `(id, name)` of every tool call.
    pub tool_calls: Vec<(String, String)>,
    pub finish_reason: Option<String>,
}

/// An OpenAI-compatible client of one proxy.
#[derive(Clone)]
pub struct ProxyClient {
    http: reqwest::Client,
    url: String,
}

impl ProxyClient {
    pub fn new(base: &str) -> Result<ProxyClient> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1024)
            .build()
            .context("HTTP client")?;
        Ok(ProxyClient {
            http,
            url: format!("{base}/v1/chat/completions"),
        })
    }

    /// `GET <base><path>` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value> {
        let base = self.url.trim_end_matches("/v1/chat/completions");
        let r = self
            .http
            .get(format!("{base}{path}"))
            .bearer_auth(API_KEY)
            .send()
            .await?;
        Ok(r.error_for_status()?.json().await?)
    }

    /// Streams one chat completion. `on_first` runs when the first content arrives;
    /// `keep_text` keeps the text (parsing each content chunk as JSON, which the
    /// throughput run skips: it only counts).
    pub async fn stream(
        &self,
        body: &Value,
        keep_text: bool,
        on_first: impl FnOnce(),
    ) -> Result<Streamed> {
        let started = Instant::now();
        let resp = self
            .http
            .post(&self.url)
            .bearer_auth(API_KEY)
            .json(body)
            .send()
            .await
            .context("sending the request to the proxy")?;
        if !resp.status().is_success() {
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            bail!("the proxy answered {status}: {text}");
        }
        let mut out = Streamed::default();
        let mut on_first = Some(on_first);
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut body = resp.bytes_stream();
        let mut done = false;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.context("reading the stream")?;
            buf.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(pos) = find(&buf[start..], b"\n\n") {
                let event = &buf[start..start + pos];
                start += pos + 2;
                if event.starts_with(b":") {
                    continue; // keep-alive comment
                }
                let Some(data) = event.strip_prefix(b"data: ") else {
                    bail!("unexpected SSE line {:?}", String::from_utf8_lossy(event));
                };
                if data == b"[DONE]" {
                    done = true;
                    break;
                }
                if has_content(data) {
                    if out.content_chunks == 0 {
                        out.ttft = Some(started.elapsed());
                        if let Some(f) = on_first.take() {
                            f();
                        }
                    }
                    out.content_chunks += 1;
                    if !keep_text {
                        continue;
                    }
                }
                let v: Value = serde_json::from_slice(data).context("an SSE chunk is JSON")?;
                if let Some(e) = v.get("error") {
                    bail!("error event in the stream: {e}");
                }
                let choice = &v["choices"][0];
                if let Some(t) = choice["delta"]["content"].as_str() {
                    out.text.push_str(t);
                }
                if let Some(calls) = choice["delta"]["tool_calls"].as_array() {
                    for c in calls {
                        out.tool_calls.push((
                            c["id"].as_str().unwrap_or_default().to_string(),
                            c["function"]["name"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        ));
                    }
                }
                if let Some(f) = choice["finish_reason"].as_str() {
                    out.finish_reason = Some(f.to_string());
                }
            }
            buf.drain(..start);
            if done {
                break;
            }
        }
        if !done {
            bail!("the stream ended without [DONE]");
        }
        out.total = started.elapsed();
        Ok(out)
    }
}

/// A chunk with a non-empty `delta.content` (the role chunk has `"content":""`).
fn has_content(data: &[u8]) -> bool {
    const KEY: &[u8] = b"\"content\":\"";
    find(data, KEY).is_some_and(|i| data.get(i + KEY.len()) != Some(&b'"'))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    // Two-way search over the bytes (SSE is UTF-8, and the needles are ASCII).
    let hay = std::str::from_utf8(hay).ok()?;
    let needle = std::str::from_utf8(needle).ok()?;
    hay.find(needle)
}

/// A streamed request: `messages`, the bench tool, `model: auto`.
pub fn request(messages: Vec<Value>) -> Value {
    json!({
        "model": "auto",
        "stream": true,
        "messages": messages,
        "tools": [{
            "type": "function",
            "function": {
                "name": TOOL,
                "description": "A tool the benchmark answers itself",
                "parameters": {"type": "object", "properties": {"step": {"type": "integer"}}},
            },
        }],
    })
}

pub fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// The assistant turn that made `calls`, and one tool result per call.
pub fn tool_round(text: &str, calls: &[(String, String)], result: &str) -> Vec<Value> {
    let tool_calls: Vec<Value> = calls
        .iter()
        .map(|(id, name)| {
            json!({"id": id, "type": "function", "function": {"name": name, "arguments": "{}"}})
        })
        .collect();
    let mut out = vec![json!({"role": "assistant", "content": text, "tool_calls": tool_calls})];
    for (id, _) in calls {
        out.push(json!({"role": "tool", "tool_call_id": id, "content": result}));
    }
    out
}

/// The baseline: `CursorClient` built from settings exactly as `serve` builds it, straight
/// to the fake.
pub struct Direct {
    client: CursorClient,
    _dir: tempfile::TempDir,
}

impl Direct {
    pub fn new(fake: &FakeCursor) -> Result<Direct> {
        let dir = tempfile::tempdir().context("temp dir")?;
        let mut pairs = cursor_bridge_tests::client_env(&fake.url(), dir.path());
        pairs.push((
            "CURSOR_ACCESS_TOKEN".to_string(),
            fake.mint_access_token(Duration::from_secs(6 * 3600)),
        ));
        let env = Env::from_pairs(pairs);
        let paths = Paths::resolve(&env).context("paths")?;
        let settings = Settings::load(&paths, &env).context("settings")?;
        let client =
            cursor_bridge_core::wiring::cursor_client(&settings, &paths, &env).context("client")?;
        Ok(Direct { client, _dir: dir })
    }

    /// The client itself (for runs built by hand).
    pub fn client(&self) -> &CursorClient {
        &self.client
    }

    /// One run to its end: time to the first text, and how many text events came.
    pub async fn run(&self, prompt: &str) -> Result<(Duration, usize, Duration)> {
        let started = Instant::now();
        let mut run = self
            .client
            .chat(ChatRequest::new(AUTO_WIRE_ID, prompt))
            .await
            .context("starting a run")?;
        let mut ttft = None;
        let mut texts = 0;
        while let Some(ev) = run.next().await {
            if let ChatEvent::Text(_) = ev.context("run event")? {
                if ttft.is_none() {
                    ttft = Some(started.elapsed());
                }
                texts += 1;
            }
        }
        let ttft = ttft.context("the run produced no text")?;
        Ok((ttft, texts, started.elapsed()))
    }
}
