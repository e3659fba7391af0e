//! The OpenCode provider block (product notes: "The OpenCode provider block we generate").
//! OpenCode does not discover models, so the block lists every model with its limits —
//! without `limit.context`/`limit.output` its context compaction breaks.
//! [`install`] merges the block into the user's own config file, keeping everything else.
//! OpenCode 2.x reads a `providers.<id>` shape ([`provider_block_v2`]) besides the 1.x
//! `provider.<id>` one; [`shape_of_version`] picks by the installed `opencode --version`.

pub(crate) mod install;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::{Client, ConnectError, Edit, Format, Inputs, OpencodeShape, Setup, home, s};
use crate::config::settings::Env;
use crate::cursor::models::{self, ModelInfo};

/// OpenCode keeps its global config in `$XDG_CONFIG_HOME/opencode` on every OS…
pub(crate) const ENV_XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
/// …unless `$OPENCODE_CONFIG` names the file itself.
pub(crate) const ENV_OPENCODE_CONFIG: &str = "OPENCODE_CONFIG";

/// The provider id we use under `provider.` in OpenCode's config.
pub const PROVIDER_ID: &str = "cursor-bridge";
/// OpenCode's config schema URL.
pub(crate) const SCHEMA: &str = "https://opencode.ai/config.json";

/// Every model (with `auto`) → its entry: `name` and `limit` (without which OpenCode's
/// compaction breaks), then what `more` adds for the shape.
fn model_entries(
    models: &[ModelInfo],
    more: impl Fn(&ModelInfo, &mut Map<String, Value>),
) -> Value {
    let mut entries = Map::new();
    for m in &models::with_auto_id(models) {
        let mut e = Map::new();
        e.insert("name".into(), json!(m.name));
        e.insert(
            "limit".into(),
            json!({"context": m.context_limit, "output": m.output_limit}),
        );
        more(m, &mut e);
        entries.insert(m.id.clone(), Value::Object(e));
    }
    Value::Object(entries)
}

/// `provider.<PROVIDER_ID>` for the given models, proxy base URL and local key.
pub fn provider_block(models: &[ModelInfo], base_url: &str, api_key: &str) -> Value {
    let entries = model_entries(models, |m, e| {
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
    });
    json!({
        "npm": "@ai-sdk/openai-compatible",
        "name": "Cursor (via Cursor Bridge)",
        "options": {"baseURL": base_url, "apiKey": api_key},
        "models": entries
    })
}

/// `providers.<PROVIDER_ID>` in OpenCode 2.x's shape: `package` names the AI SDK
/// provider, `settings` its options, each model its `limit`, `capabilities.input` and, for
/// reasoning models, where the reasoning text arrives (our `reasoning_content`).
pub fn provider_block_v2(models: &[ModelInfo], base_url: &str, api_key: &str) -> Value {
    let entries = model_entries(models, |m, e| {
        e.insert(
            "capabilities".into(),
            json!({
                "input": {"text": true, "image": m.supports_images == Some(true)},
                "reasoning": m.reasoning,
                "toolcall": true,
            }),
        );
        if m.reasoning {
            e.insert(
                "compatibility".into(),
                json!({"reasoningField": "reasoning_content"}),
            );
        }
    });
    json!({
        "package": "aisdk:@ai-sdk/openai-compatible",
        "name": "Cursor (via Cursor Bridge)",
        "settings": {"baseURL": base_url, "apiKey": api_key},
        "models": entries
    })
}

/// The shape for the installed OpenCode's `--version` output (`None`: not on PATH):
/// 2.x and later get the 2.x shape; anything else the 1.x one, which 2.x still reads.
pub(crate) fn shape_of_version(version: Option<&str>) -> OpencodeShape {
    let major = version
        .and_then(|v| v.trim().trim_start_matches('v').split('.').next())
        .and_then(|m| m.parse::<u32>().ok());
    match major {
        Some(m) if m >= 2 => OpencodeShape::V2,
        _ => OpencodeShape::V1,
    }
}

/// `opencode --version` from PATH, if it runs.
pub(crate) fn installed_version() -> Option<String> {
    let out = std::process::Command::new("opencode")
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// OpenCode's global config directory: `$XDG_CONFIG_HOME/opencode`, else
/// `<home>/.config/opencode` — the `xdg-basedir` rule OpenCode uses on every OS, Windows
/// and macOS included (`Global.Path.config = path.join(xdgConfig, "opencode")`).
pub(crate) fn global_config_dir(env: &Env) -> Option<PathBuf> {
    match env.get(ENV_XDG_CONFIG_HOME) {
        Some(xdg) => Some(PathBuf::from(xdg).join("opencode")),
        None => home(env).map(|h| h.join(".config").join("opencode")),
    }
}

/// The file connect edits by default: `$OPENCODE_CONFIG` if set; else `opencode.jsonc`
/// in the global config directory if it exists, else `opencode.json` there. OpenCode
/// merges `config.json`, `opencode.json` and `opencode.jsonc` from there in that order, so
/// `.jsonc` wins where both exist.
pub(crate) fn default_config_path(env: &Env) -> Result<PathBuf, ConnectError> {
    if let Some(file) = env.get(ENV_OPENCODE_CONFIG) {
        return Ok(PathBuf::from(file));
    }
    let dir = global_config_dir(env).ok_or_else(|| ConnectError::NoHome {
        client: Client::Opencode.name(),
        vars: format!(
            "{ENV_OPENCODE_CONFIG}, {ENV_XDG_CONFIG_HOME}, {}",
            super::ENV_USER_HOME
        ),
    })?;
    let jsonc = dir.join("opencode.jsonc");
    Ok(if jsonc.exists() {
        jsonc
    } else {
        dir.join("opencode.json")
    })
}

/// The edits for `path`: our provider in `shape`; the other shape's entry of ours, if
/// any, goes (two copies of the provider would both load).
pub(crate) fn setup(
    path: PathBuf,
    inputs: &Inputs,
    models: &[ModelInfo],
    shape: OpencodeShape,
) -> Setup {
    let base_url = format!("{}/v1", inputs.root_url);
    let (key, other, block) = match shape {
        OpencodeShape::V1 => (
            "provider",
            "providers",
            provider_block(models, &base_url, &inputs.api_key),
        ),
        OpencodeShape::V2 => (
            "providers",
            "provider",
            provider_block_v2(models, &base_url, &inputs.api_key),
        ),
    };
    let snippet = json!({"$schema": SCHEMA, key: {PROVIDER_ID: block.clone()}});
    Setup {
        client: Client::Opencode,
        path,
        format: Format::Jsonc,
        fresh: vec![Edit::set(&["$schema"], s(SCHEMA))],
        edits: vec![
            Edit::set(&[key, PROVIDER_ID], block),
            Edit::remove(&[other.to_string(), PROVIDER_ID.to_string()]),
        ],
        // OpenCode has no key command: the key is in the file, so only its owner may read it.
        private: true,
        key_in_file: true,
        notes: vec![
            super::KEY_IN_PRIVATE_FILE.to_string(),
            format!(
                "Restart OpenCode, then pick a model under \"{PROVIDER_ID}/\" (e.g. `opencode -m {PROVIDER_ID}/auto`)."
            ),
        ],
        snippet: serde_json::to_string_pretty(&snippet).unwrap_or_default(),
    }
}

/// Where [`setup`]'s file is for this environment, unless a path is given.
pub(crate) fn path_or_default(path: Option<&Path>, env: &Env) -> Result<PathBuf, ConnectError> {
    path.map_or_else(|| default_config_path(env), |p| Ok(p.to_path_buf()))
}

/// A whole minimal `opencode.json` holding just our provider.
pub(crate) fn config_snippet(models: &[ModelInfo], base_url: &str, api_key: &str) -> Value {
    json!({
        "$schema": SCHEMA,
        "provider": {PROVIDER_ID: provider_block(models, base_url, api_key)}
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cursor::models::LimitSource;

    /// A reasoning image model with Cursor's own limits.
    pub(crate) fn sample_model() -> ModelInfo {
        ModelInfo {
            id: "claude-4.5-sonnet-thinking".into(),
            wire_id: "claude-4.5-sonnet-thinking".into(),
            name: "Sonnet 4.5 Thinking".into(),
            aliases: vec![],
            reasoning: true,
            supports_images: Some(true),
            context_limit: 200_000,
            output_limit: 64_000,
            limit_source: LimitSource::Cursor,
        }
    }

    #[test]
    fn every_model_has_limits_and_auto_is_added() {
        let m = sample_model();
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
