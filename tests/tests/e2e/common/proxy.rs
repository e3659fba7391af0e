//! The proxy harness shared by the end-to-end test files: a real proxy on an ephemeral
//! port in front of a fake Cursor, with its key and a raw HTTP client.

use std::sync::Arc;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use cursor_bridge_core::config::settings::{AgentTransport, Paths, Settings};
use cursor_bridge_core::cursor::CursorClient;
use cursor_bridge_core::proxy::{ProxyState, RunningProxy};
use cursor_bridge_core::store::ledger::Ledger;
use cursor_bridge_tests::{FakeCursor, Turn};
use serde_json::Value;

use super::Harness;

/// A proxy in front of a fake Cursor, with its key and a raw HTTP client.
pub struct Proxy {
    pub h: Harness,
    pub running: Option<RunningProxy>,
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl Proxy {
    pub async fn start(h: Harness) -> Proxy {
        Self::start_with(h, |_| {}).await
    }

    /// A proxy over the harness's own client, with the proxy settings tweaked.
    pub async fn start_with(h: Harness, tweak: impl FnOnce(&mut Settings)) -> Proxy {
        let paths = Paths::resolve(&h.env).expect("paths");
        let mut settings = Settings::load(&paths, &h.env).expect("settings");
        tweak(&mut settings);
        let client = h.client.clone();
        Self::serve(h, client, settings, &paths).await
    }

    /// A proxy in front of `fake`, signed in, whose Cursor client is built from the
    /// (tweaked, validated) settings as the CLI and the tray build it, so watchdogs, the
    /// connect timeout, retries and the API URL all come from the settings.
    pub async fn start_for(fake: FakeCursor, tweak: impl FnOnce(&mut Settings)) -> Proxy {
        let h = Harness::signed_in(fake).await;
        let paths = Paths::resolve(&h.env).expect("paths");
        let mut settings = Settings::load(&paths, &h.env).expect("settings");
        tweak(&mut settings);
        settings.validate().expect("valid settings");
        let client =
            cursor_bridge_core::wiring::cursor_client(&settings, &paths, &h.env).expect("client");
        Self::serve(h, client, settings, &paths).await
    }

    async fn serve(h: Harness, client: CursorClient, settings: Settings, paths: &Paths) -> Proxy {
        let state =
            ProxyState::from_settings(client, settings, paths, &h.env).expect("proxy state");
        let key = state.api_key.as_deref().cloned().unwrap_or_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let running =
            cursor_bridge_core::proxy::start_on(listener, Arc::new(state)).expect("start");
        let base = format!("http://{}", running.local_addr());
        Proxy {
            h,
            running: Some(running),
            base,
            key,
            http: reqwest::Client::new(),
        }
    }

    pub fn openai(&self) -> Client<OpenAIConfig> {
        Client::with_config(
            OpenAIConfig::new()
                .with_api_base(format!("{}/v1", self.base))
                .with_api_key(self.key.clone()),
        )
    }

    pub fn fake(&self) -> &FakeCursor {
        &self.h.fake
    }

    pub async fn post(&self, body: &Value) -> reqwest::Response {
        self.post_to("/v1/chat/completions", body).await
    }

    /// `POST path` with the proxy's key and a JSON body.
    pub async fn post_to(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .expect("send")
    }

    /// `POST path` with the proxy's key and `body` as it is, sent as JSON.
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("send")
    }

    /// `GET path` with the proxy's key.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("send")
    }

    /// Fetches the model catalogue (which the proxy then caches), checking it answered.
    pub async fn warm_models(&self) {
        let models = self.get("/v1/models").await;
        assert_eq!(models.status(), 200, "the model catalogue");
    }

    /// `GET /health` (no key, as a monitor asks), as JSON.
    pub async fn health(&self) -> Value {
        self.http
            .get(format!("{}/health", self.base))
            .send()
            .await
            .expect("health answers")
            .json()
            .await
            .expect("health json")
    }

    /// A streamed request, read to the end: the JSON chunks in order (checked to end with
    /// exactly one `data: [DONE]`).
    pub async fn sse(&self, body: &Value) -> Vec<Value> {
        let res = self.post(body).await;
        assert_eq!(res.status(), 200, "{:?}", res.text().await);
        let text = res.text().await.expect("body");
        let events: Vec<&str> = text
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .collect();
        let (last, chunks) = events.split_last().expect("some events");
        assert_eq!(*last, "[DONE]", "the stream ends with [DONE]");
        chunks
            .iter()
            .map(|e| serde_json::from_str(e).expect("json chunk"))
            .collect()
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("stop");
        }
    }

    pub fn ledger(&self) -> Ledger {
        let paths = Paths::resolve(&self.h.env).expect("paths");
        Ledger::open(&paths.ledger_file()).expect("ledger")
    }
}

/// The concatenation of a delta field (`content`, `reasoning_content`) over the chunks.
pub fn delta_text(chunks: &[Value], field: &str) -> String {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"][field].as_str())
        .collect()
}

/// Every tool-call delta over the chunks, in order.
pub fn tool_call_deltas(chunks: &[Value]) -> Vec<&Value> {
    chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten()
        .collect()
}

/// A fake Cursor that plays `turns`.
pub async fn fake_playing(turns: Vec<Turn>) -> FakeCursor {
    let mut b = FakeCursor::builder();
    for t in turns {
        b = b.turn(t);
    }
    b.start().await
}

/// A proxy in front of a fake Cursor that plays `turns`, signed in.
pub async fn signed_in(turns: Vec<Turn>) -> Proxy {
    Proxy::start(Harness::signed_in(fake_playing(turns).await).await).await
}

/// [`signed_in`] with `agent_transport = transport` (set as a user would, through its
/// environment variable, which the proxy's settings read too).
pub async fn signed_in_over(turns: Vec<Turn>, transport: AgentTransport) -> Proxy {
    let h = Harness::signed_in_over(fake_playing(turns).await, transport).await;
    Proxy::start_with(h, |s| {
        // The proxy's settings agree with the client's (read from the same environment).
        assert_eq!(s.agent_transport, transport);
    })
    .await
}

/// Status, the `error` object and `Retry-After` of an error response.
pub async fn error_of(res: reqwest::Response) -> (u16, Value, Option<String>) {
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Value = res.json().await.expect("error json");
    (status, body["error"].clone(), retry)
}

/// Asserts `id` is a tool-call id the proxy minted (`call_` and 128 random bits in hex),
/// not Cursor's `cursor_id`, and returns it for the client's next request.
pub fn minted(id: &Value, cursor_id: &str) -> String {
    let id = id
        .as_str()
        .unwrap_or_else(|| panic!("a tool-call id, got {id}"));
    let hex = id
        .strip_prefix("call_")
        .unwrap_or_else(|| panic!("{id} is not a minted id"));
    assert!(
        hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id} is not `call_` + 32 hex digits"
    );
    assert_ne!(id, cursor_id, "Cursor's id reached the client");
    id.to_string()
}
