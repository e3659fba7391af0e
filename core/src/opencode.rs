//! The OpenCode provider block (product notes: "The OpenCode provider block we generate").
//! OpenCode does not discover models, so the block lists every model with its limits —
//! without `limit.context`/`limit.output` its context compaction breaks.
//! [`install`] merges the block into the user's own config file, keeping everything else.

pub(crate) mod install;

use serde_json::{Map, Value, json};

use crate::cursor::models::{self, ModelInfo};

/// The provider id we use under `provider.` in OpenCode's config.
pub const PROVIDER_ID: &str = "cursor-bridge";
/// OpenCode's config schema URL.
pub(crate) const SCHEMA: &str = "https://opencode.ai/config.json";

/// `provider.<PROVIDER_ID>` for the given models, proxy base URL and local key.
pub fn provider_block(models: &[ModelInfo], base_url: &str, api_key: &str) -> Value {
    let mut entries = Map::new();
    for m in &models::with_auto_id(models) {
        let mut e = Map::new();
        e.insert("name".into(), json!(m.name));
        e.insert(
            "limit".into(),
            json!({"context": m.context_limit, "output": m.output_limit}),
        );
        if m.reasoning {
            e.insert("reasoning".into(), json!(true));
        }
        if m.supports_images == Some(true) {
            // `attachment` lets OpenCode attach files; `modalities.input` is what it
            // turns into the model's image capability (`capabilities.input.image`).
            e.insert("attachment".into(), json!(true));
            e.insert(
                "modalities".into(),
                json!({"input": m.input_modalities(), "output": ["text"]}),
            );
        }
        e.insert("tool_call".into(), json!(true));
        entries.insert(m.id.clone(), Value::Object(e));
    }
    json!({
        "npm": "@ai-sdk/openai-compatible",
        "name": "Cursor (via Cursor Bridge)",
        "options": {"baseURL": base_url, "apiKey": api_key},
        "models": entries
    })
}

/// A whole minimal `opencode.json` holding just our provider.
pub(crate) fn config_snippet(models: &[ModelInfo], base_url: &str, api_key: &str) -> Value {
    json!({
        "$schema": SCHEMA,
        "provider": {PROVIDER_ID: provider_block(models, base_url, api_key)}
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::models::LimitSource;

    #[test]
    fn every_model_has_limits_and_auto_is_added() {
        let m = ModelInfo {
            id: "claude-4.5-sonnet-thinking".into(),
            wire_id: "claude-4.5-sonnet-thinking".into(),
            name: "Sonnet 4.5 Thinking".into(),
            aliases: vec![],
            reasoning: true,
            supports_images: Some(true),
            context_limit: 200_000,
            output_limit: 64_000,
            limit_source: LimitSource::Cursor,
        };
        let v = config_snippet(&[m], "http://127.0.0.1:18741/v1", "cb-key");
        let p = &v["provider"]["cursor-bridge"];
        assert_eq!(p["npm"], "@ai-sdk/openai-compatible");
        assert_eq!(p["options"]["baseURL"], "http://127.0.0.1:18741/v1");
        assert_eq!(p["options"]["apiKey"], "cb-key");
        let e = &p["models"]["claude-4.5-sonnet-thinking"];
        assert_eq!(e["limit"]["context"], 200_000);
        assert_eq!(e["limit"]["output"], 64_000);
        assert_eq!(
            (
                e["reasoning"].clone(),
                e["attachment"].clone(),
                e["tool_call"].clone()
            ),
            (json!(true), json!(true), json!(true))
        );
        for (_, entry) in p["models"].as_object().unwrap() {
            assert!(entry["limit"]["context"].as_u64().unwrap() > 0);
            assert!(entry["limit"]["output"].as_u64().unwrap() > 0);
        }
        assert_eq!(e["modalities"]["input"], json!(["text", "image"]));
        assert!(p["models"].get("auto").is_some());
    }
}
