//! The model catalogue: `GetUsableModels` (the agent's list, reference §5.1) joined with
//! the IDE catalogue `AvailableModels` (context limits, §5.2), cached for a while.
//!
//! Cursor publishes no output limit, and context limits only for some models, so every
//! [`ModelInfo`] says where its limits come from ([`LimitSource`]).

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::error::CursorError;
use super::http::CursorHttp;
use crate::pb::aiserver_v1 as aipb;

/// The pseudo-model clients ask for to get Cursor's automatic routing.
pub const AUTO_MODEL: &str = "auto";
/// The wire id Cursor uses for automatic routing (reference §4.9).
pub const AUTO_WIRE_ID: &str = "default";

/// Defaults when nothing better is known (the values peers use, reference §4.9).
pub(crate) const DEFAULT_CONTEXT: u32 = 128_000;
/// The output limit when nothing better is known.
pub(crate) const DEFAULT_OUTPUT: u32 = 16_384;

/// Where a model's limits came from.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// Cursor's `AvailableModels.context_token_limit`.
    Cursor,
    /// Our table of well-known model families.
    KnownFamily,
    /// The generic default.
    Default,
}

/// One usable model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// What clients ask for (Cursor's display id, falling back to the wire id).
    pub id: String,
    /// What goes on the wire (`ModelDetails.model_id`).
    pub wire_id: String,
    /// Human-readable name.
    pub name: String,
    /// Other ids Cursor accepts for it.
    pub aliases: Vec<String>,
    /// The model reasons (Cursor sent `thinking_details`).
    pub reasoning: bool,
    /// Whether it takes images (`None`: not known).
    pub supports_images: Option<bool>,
    /// Context window, in tokens.
    pub context_limit: u32,
    /// Output limit, in tokens.
    pub output_limit: u32,
    /// Where the two limits came from.
    pub limit_source: LimitSource,
}

impl ModelInfo {
    /// `["text", "image"]` when Cursor's catalogue says the model takes images, else
    /// `["text"]` (unknown support is not a promise).
    pub fn input_modalities(&self) -> Vec<&'static str> {
        if self.supports_images == Some(true) {
            vec!["text", "image"]
        } else {
            vec!["text"]
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UsableModelsJson {
    #[serde(default)]
    models: Vec<UsableModelJson>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct UsableModelJson {
    #[serde(default)]
    model_id: String,
    #[serde(default)]
    display_model_id: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    display_name_short: String,
    #[serde(default)]
    aliases: Vec<String>,
    thinking_details: Option<serde_json::Value>,
}

/// Fetches the agent's usable models (`aiserver.v1.AiService/GetUsableModels`, JSON).
pub(crate) async fn fetch_usable(
    http: &CursorHttp,
    token: &str,
) -> Result<Vec<ModelInfo>, CursorError> {
    let resp: UsableModelsJson = http
        .unary_json(
            "aiserver.v1.AiService/GetUsableModels",
            token,
            &serde_json::json!({}),
        )
        .await?;
    Ok(resp
        .models
        .into_iter()
        .filter(|m| !m.model_id.is_empty())
        .map(|m| {
            let id = if m.display_model_id.is_empty() {
                m.model_id.clone()
            } else {
                m.display_model_id
            };
            let name = [m.display_name, m.display_name_short]
                .into_iter()
                .find(|s| !s.is_empty())
                .unwrap_or_else(|| id.clone());
            let (context_limit, output_limit, limit_source) = known_limits(&m.model_id);
            ModelInfo {
                reasoning: m.thinking_details.is_some() || m.model_id.contains("thinking"),
                wire_id: m.model_id,
                id,
                name,
                aliases: m.aliases,
                supports_images: None,
                context_limit,
                output_limit,
                limit_source,
            }
        })
        .collect())
}

/// Fetches the IDE catalogue (`aiserver.v1.AiService/AvailableModels`, protobuf).
pub(crate) async fn fetch_available(
    http: &CursorHttp,
    token: &str,
) -> Result<Vec<aipb::AvailableModel>, CursorError> {
    let req = aipb::AvailableModelsRequest {
        is_nightly: false,
        include_long_context_models: true,
        exclude_max_named_models: true,
        additional_model_names: vec![],
    };
    let resp: aipb::AvailableModelsResponse = http
        .unary_proto("aiserver.v1.AiService/AvailableModels", token, &req)
        .await?;
    Ok(resp.models)
}

/// Joins context limits and capabilities from the IDE catalogue into the usable list.
pub(crate) fn merge_limits(models: &mut [ModelInfo], available: &[aipb::AvailableModel]) {
    for m in models.iter_mut() {
        let hit = available.iter().find(|a| {
            [
                Some(a.name.as_str()),
                a.server_model_name.as_deref(),
                a.client_display_name.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|n| n == m.wire_id || n == m.id)
        });
        let Some(a) = hit else { continue };
        if let Some(limit) = a.context_token_limit.filter(|l| *l > 0) {
            m.context_limit = limit as u32;
            m.limit_source = LimitSource::Cursor;
        }
        if a.supports_thinking == Some(true) {
            m.reasoning = true;
        }
        m.supports_images = a.supports_images.or(m.supports_images);
    }
}

/// Limits of well-known families (context, output), else the defaults.
fn known_limits(wire_id: &str) -> (u32, u32, LimitSource) {
    let id = wire_id.to_ascii_lowercase();
    let table: [(&[&str], u32, u32); 5] = [
        (&["sonnet", "opus", "claude"], 200_000, 64_000),
        (&["gpt-5"], 400_000, 128_000),
        (&["gemini"], 1_048_576, 65_536),
        (&["grok"], 256_000, 32_768),
        (&["composer"], 200_000, 64_000),
    ];
    for (keys, ctx, out) in table {
        if keys.iter().any(|k| id.contains(k)) {
            return (ctx, out, LimitSource::KnownFamily);
        }
    }
    (DEFAULT_CONTEXT, DEFAULT_OUTPUT, LimitSource::Default)
}

/// The catalogue with limits. The IDE catalogue is best effort: if it fails, the
/// usable list still comes back with family/default limits.
pub(crate) async fn fetch_catalogue(
    http: &CursorHttp,
    token: &str,
) -> Result<Vec<ModelInfo>, CursorError> {
    let (usable, available) = tokio::join!(fetch_usable(http, token), fetch_available(http, token));
    let mut models = usable?;
    match available {
        Ok(a) => merge_limits(&mut models, &a),
        Err(e) => tracing::warn!(
            kind = e.kind(),
            "AvailableModels failed; using known limits: {e}"
        ),
    }
    Ok(models)
}

/// Resolves what a client asked for to a catalogue entry: exact id, wire id, alias,
/// case-insensitively. `auto` resolves to Cursor's automatic routing even when the
/// catalogue does not list it.
pub fn resolve<'a>(models: &'a [ModelInfo], requested: &str) -> Option<&'a ModelInfo> {
    let r = requested.trim();
    models
        .iter()
        .find(|m| m.id == r || m.wire_id == r)
        .or_else(|| models.iter().find(|m| m.aliases.iter().any(|a| a == r)))
        .or_else(|| {
            models.iter().find(|m| {
                m.id.eq_ignore_ascii_case(r)
                    || m.wire_id.eq_ignore_ascii_case(r)
                    || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(r))
            })
        })
}

/// Whether a requested model name means Cursor's automatic routing: `auto`, or its wire
/// id `default`, in any case. The one home of that rule, with [`with_auto`].
pub fn is_auto(name: &str) -> bool {
    name.eq_ignore_ascii_case(AUTO_MODEL) || name.eq_ignore_ascii_case(AUTO_WIRE_ID)
}

/// The pseudo-model `auto` as a catalogue entry, for the lists that offer it.
pub(crate) fn auto_model() -> ModelInfo {
    ModelInfo {
        id: AUTO_MODEL.into(),
        wire_id: AUTO_WIRE_ID.into(),
        name: "Auto (Cursor's routing)".into(),
        aliases: vec![],
        reasoning: false,
        supports_images: None,
        context_limit: DEFAULT_CONTEXT,
        output_limit: DEFAULT_OUTPUT,
        limit_source: LimitSource::Default,
    }
}

/// The catalogue with [`auto_model`] first when Cursor does not list automatic routing
/// itself (as the id `auto` or the wire id `default`).
pub fn with_auto(models: &[ModelInfo]) -> Vec<ModelInfo> {
    let listed = models
        .iter()
        .any(|m| m.id == AUTO_MODEL || m.wire_id == AUTO_WIRE_ID);
    prepend_auto(models, listed)
}

/// The catalogue with [`auto_model`] first unless a model already has the id `auto`: for
/// lists keyed by id (OpenCode's config), where only that id would collide.
pub fn with_auto_id(models: &[ModelInfo]) -> Vec<ModelInfo> {
    prepend_auto(models, models.iter().any(|m| m.id == AUTO_MODEL))
}

fn prepend_auto(models: &[ModelInfo], listed: bool) -> Vec<ModelInfo> {
    let mut all = Vec::with_capacity(models.len() + 1);
    if !listed {
        all.push(auto_model());
    }
    all.extend_from_slice(models);
    all
}

/// A fetched catalogue and when it was fetched.
type Cached = Option<(Instant, Arc<Vec<ModelInfo>>)>;

/// A cached catalogue. One fetch at a time: concurrent callers wait for the same fetch.
#[derive(Clone, Debug)]
pub(crate) struct ModelCache {
    ttl: Duration,
    slot: Arc<Mutex<Cached>>,
}

impl ModelCache {
    /// A cache whose entries live `ttl`.
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Arc::new(Mutex::new(None)),
        }
    }

    /// The cached catalogue, fetched with `fetch` when missing or stale.
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        fetch: F,
    ) -> Result<Arc<Vec<ModelInfo>>, CursorError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<ModelInfo>, CursorError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, models)) = slot.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(models.clone());
        }
        let models = Arc::new(fetch().await?);
        *slot = Some((Instant::now(), models.clone()));
        Ok(models)
    }

    /// Forgets the cached catalogue.
    pub(crate) async fn invalidate(&self) {
        *self.slot.lock().await = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(id: &str, wire: &str) -> ModelInfo {
        let (c, o, s) = known_limits(wire);
        ModelInfo {
            id: id.into(),
            wire_id: wire.into(),
            name: id.into(),
            aliases: vec![format!("{id}-alias")],
            reasoning: false,
            supports_images: None,
            context_limit: c,
            output_limit: o,
            limit_source: s,
        }
    }

    #[test]
    fn auto_is_one_rule_for_names_and_lists() {
        for name in ["auto", "AUTO", "default", "Default"] {
            assert!(is_auto(name), "{name}");
        }
        assert!(!is_auto("gpt-5"));
        let listed = [model("gpt-5", "gpt-5")];
        assert_eq!(with_auto(&listed)[0], auto_model());
        assert_eq!(with_auto(&listed).len(), 2);
        // Cursor listing its routing under the wire id only: no second one for the proxy,
        // but OpenCode's config, keyed by id, still gets `auto`.
        let routing = [model("default", "default")];
        assert_eq!(with_auto(&routing), routing.to_vec());
        assert_eq!(with_auto_id(&routing)[0].id, AUTO_MODEL);
        assert_eq!(with_auto_id(&[auto_model()]).len(), 1);
    }

    #[test]
    fn known_family_limits() {
        assert_eq!(
            known_limits("claude-4.5-sonnet"),
            (200_000, 64_000, LimitSource::KnownFamily)
        );
        assert_eq!(
            known_limits("gpt-5.1-codex"),
            (400_000, 128_000, LimitSource::KnownFamily)
        );
        assert_eq!(
            known_limits("mystery-1"),
            (DEFAULT_CONTEXT, DEFAULT_OUTPUT, LimitSource::Default)
        );
    }

    #[test]
    fn merge_prefers_cursor_limits() {
        let mut ms = vec![model("gpt-5.1", "gpt-5.1"), model("x", "x-wire")];
        let avail = vec![
            aipb::AvailableModel {
                name: "gpt-5.1".into(),
                context_token_limit: Some(272_000),
                supports_images: Some(true),
                ..Default::default()
            },
            aipb::AvailableModel {
                name: "other".into(),
                server_model_name: Some("x-wire".into()),
                supports_thinking: Some(true),
                ..Default::default()
            },
        ];
        merge_limits(&mut ms, &avail);
        assert_eq!(
            (
                ms[0].context_limit,
                ms[0].limit_source,
                ms[0].supports_images
            ),
            (272_000, LimitSource::Cursor, Some(true))
        );
        assert!(ms[1].reasoning);
        assert_eq!(ms[1].limit_source, LimitSource::Default);
    }

    #[test]
    fn resolve_by_id_wire_alias_and_case() {
        let ms = vec![
            model("Sonnet", "claude-4.5-sonnet"),
            model("gpt", "gpt-5.1"),
        ];
        assert_eq!(resolve(&ms, "claude-4.5-sonnet").unwrap().id, "Sonnet");
        assert_eq!(resolve(&ms, "gpt-alias").unwrap().wire_id, "gpt-5.1");
        assert_eq!(resolve(&ms, "sonnet").unwrap().id, "Sonnet");
        assert!(resolve(&ms, "nope").is_none());
    }

    #[tokio::test]
    async fn cache_fetches_once_within_ttl() {
        let cache = ModelCache::new(Duration::from_secs(60));
        let calls = std::sync::atomic::AtomicU32::new(0);
        for _ in 0..3 {
            let got = cache
                .get_or_fetch(|| async {
                    calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Ok(vec![model("a", "a")])
                })
                .await
                .unwrap();
            assert_eq!(got.len(), 1);
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        cache.invalidate().await;
        cache.get_or_fetch(|| async { Ok(vec![]) }).await.unwrap();
    }
}
