//! `GET /v1/models`: the live Cursor catalogue in OpenAI's list format. Each entry carries
//! its context and output limits (and where they came from); aliases are listed as their
//! own entries pointing at the model they stand for, and `auto` (Cursor's own routing) is
//! always present. `supports_images` (and `input_modalities`) say which models take
//! `image_url` parts.
//!
//! A request carrying `anthropic-version` (Claude Code, the Anthropic SDKs) gets
//! Anthropic's shape instead: `{data: [{type: "model", id, display_name, created_at}],
//! has_more, first_id, last_id}`, and the same object for one model.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use crate::cursor::models::ModelInfo;
use crate::dialects::error_response;
use crate::engine::Engine;
use crate::engine::error::ApiError;
use crate::engine::request::Dialect;

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

/// The request asks in Anthropic's dialect.
fn anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key("anthropic-version")
}

/// `body`, or the error in the shape of the dialect the request asks in.
fn answer(headers: &HeaderMap, body: Result<Value, ApiError>) -> Response {
    match body {
        Ok(v) => Json(v).into_response(),
        Err(e) if anthropic(headers) => error_response(Dialect::Messages, e),
        Err(e) => e.into_response(),
    }
}

/// One model in Anthropic's shape (Cursor gives no release date: `created_at` is the
/// time of the answer).
fn anthropic_entry(m: &ModelInfo, id: &str, created: i64) -> Value {
    let secs = created.max(0);
    let (y, mo, d) = crate::dates::civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    let at = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    json!({"type": "model", "id": id, "display_name": m.name, "created_at": at})
}

/// The Anthropic list body: every entry of the OpenAI list, in the same order.
pub(crate) fn anthropic_list_body(models: &[ModelInfo]) -> Value {
    let created = crate::dialects::chat::chunks::now_secs();
    let all = with_auto(models);
    let data: Vec<Value> = list_body(models)["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let id = e["id"].as_str()?;
            let m = crate::cursor::models::resolve(&all, id)?;
            Some(anthropic_entry(m, id, created))
        })
        .collect();
    json!({
        "first_id": data.first().map(|e| e["id"].clone()),
        "last_id": data.last().map(|e| e["id"].clone()),
        "has_more": false,
        "data": data,
    })
}

/// The handler of `GET /v1/models` (and `/models`): Cursor's catalogue, aliases and `auto`
/// included, as an OpenAI model list (Anthropic's with `anthropic-version`).
pub(crate) async fn list(State(engine): State<Arc<Engine>>, headers: HeaderMap) -> Response {
    let body = engine
        .client
        .models()
        .await
        .map_err(ApiError::from)
        .map(|models| {
            if anthropic(&headers) {
                anthropic_list_body(&models)
            } else {
                list_body(&models)
            }
        });
    answer(&headers, body)
}

/// The handler of `GET /v1/models/{id}` (and `/models/{id}`): one model by id, wire id or
/// alias (as [`crate::cursor::models::resolve`] matches a request's `model`), or a 404 that
/// lists some that exist.
pub(crate) async fn one(
    State(engine): State<Arc<Engine>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let body = engine
        .client
        .models()
        .await
        .map_err(ApiError::from)
        .and_then(|models| {
            let models = with_auto(&models);
            let created = crate::dialects::chat::chunks::now_secs();
            match crate::cursor::models::resolve(&models, &id) {
                Some(m) if anthropic(&headers) => Ok(anthropic_entry(m, &id, created)),
                Some(m) => Ok(entry(m, &id, created)),
                None => {
                    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
                    Err(ApiError::unknown_model(&id, &ids))
                }
            }
        });
    answer(&headers, body)
}
