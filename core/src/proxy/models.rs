//! `GET /v1/models`: the live Cursor catalogue in OpenAI's list format. Each entry carries
//! its context and output limits (and where they came from); aliases are listed as their
//! own entries pointing at the model they stand for, and `auto` (Cursor's own routing) is
//! always present. `supports_images` (and `input_modalities`) say which models take
//! `image_url` parts.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Json;
use serde_json::{Value, json};

use crate::cursor::models::ModelInfo;
use crate::engine::Engine;
use crate::engine::error::ApiError;

/// Who makes a model, guessed from its id and name (OpenAI's `owned_by`).
fn owner(m: &ModelInfo) -> &'static str {
    let s = format!("{} {}", m.id, m.name).to_ascii_lowercase();
    if ["claude", "sonnet", "opus", "haiku"]
        .iter()
        .any(|k| s.contains(k))
    {
        "anthropic"
    } else if s.contains("gpt") || s.contains("o3") || s.contains("codex") {
        "openai"
    } else if s.contains("gemini") {
        "google"
    } else if s.contains("grok") {
        "xai"
    } else {
        "cursor"
    }
}

fn entry(m: &ModelInfo, id: &str, created: i64) -> Value {
    let mut v = json!({
        "id": id,
        "object": "model",
        "created": created,
        "owned_by": owner(m),
        "name": m.name,
        "context_length": m.context_limit,
        "max_output_tokens": m.output_limit,
        "limits": {"context": m.context_limit, "output": m.output_limit, "source": m.limit_source},
        "reasoning": m.reasoning,
        "supports_images": m.supports_images,
        // The same flag in the shape model routers use; "image" only when Cursor's
        // catalogue says so (unknown support is not a promise).
        "input_modalities": m.input_modalities(),
    });
    if id != m.id {
        v["alias_of"] = json!(m.id);
    }
    v
}

// The `auto` rule lives with the catalogue; this path stays for the proxy's callers.
pub(crate) use crate::cursor::models::with_auto;

/// The OpenAI list body.
pub(crate) fn list_body(models: &[ModelInfo]) -> Value {
    let created = crate::dialects::chat::chunks::now_secs();
    let mut data = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for m in with_auto(models) {
        if seen.insert(m.id.clone()) {
            data.push(entry(&m, &m.id, created));
        }
        for a in &m.aliases {
            if seen.insert(a.clone()) {
                data.push(entry(&m, a, created));
            }
        }
    }
    json!({"object": "list", "data": data})
}

/// The handler of `GET /v1/models` (and `/models`): Cursor's catalogue, aliases and `auto`
/// included, as an OpenAI model list.
pub(crate) async fn list(State(engine): State<Arc<Engine>>) -> Result<Json<Value>, ApiError> {
    let models = engine.client.models().await?;
    Ok(Json(list_body(&models)))
}

/// The handler of `GET /v1/models/{id}` (and `/models/{id}`): one model by id, wire id or
/// alias (as [`crate::cursor::models::resolve`] matches a request's `model`), or a 404 that
/// lists some that exist.
pub(crate) async fn one(
    State(engine): State<Arc<Engine>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let models = with_auto(&engine.client.models().await?);
    match crate::cursor::models::resolve(&models, &id) {
        Some(m) => Ok(Json(entry(
            m,
            &id,
            crate::dialects::chat::chunks::now_secs(),
        ))),
        None => {
            let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
            Err(ApiError::unknown_model(&id, &ids))
        }
    }
}
