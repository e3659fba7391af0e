//! Connect unary RPCs (reference §5): models, the IDE catalogue, plan usage, the user.
//! JSON (`application/json` + `connect-protocol-version: 1`) and binary
//! (`application/proto`, raw message, no envelope) are both spoken where Cursor speaks them.

// Handlers answer with an axum `Response` either way; `Err(Response)` is the early
// answer, not an error value travelling up a call stack, so it is not boxed.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use bytes::Bytes;
use cursor_bridge_core::pb::agent_v1::{GetUsableModelsRequest, GetUsableModelsResponse};
use cursor_bridge_core::pb::aiserver_v1::{AvailableModelsRequest, AvailableModelsResponse};
use prost::Message as _;

use crate::connect::{error_response, json_response};
use crate::state::Shared;

/// The request's wire flavour.
enum Flavour {
    Json,
    Proto,
}

fn flavour(headers: &HeaderMap) -> Result<Flavour, Response> {
    let ct = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let base = ct
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "application/json" => {
            if headers
                .get("connect-protocol-version")
                .and_then(|v| v.to_str().ok())
                != Some("1")
            {
                return Err(error_response(
                    400,
                    "invalid_argument",
                    "missing required header: set connect-protocol-version to \"1\"",
                ));
            }
            Ok(Flavour::Json)
        }
        "application/proto" => Ok(Flavour::Proto),
        other => Err(error_response(
            415,
            "unimplemented",
            &format!("unsupported content-type {other:?} for a unary call"),
        )),
    }
}

/// Common gate: an injected failure for this path, then the bearer token.
fn gate(shared: &Shared, path: &str, headers: &HeaderMap) -> Result<(), Response> {
    let injected = shared.update(|s| {
        let e = s.unary_errors.get_mut(path)?;
        match &mut e.remaining {
            Some(0) => return None,
            Some(n) => *n -= 1,
            None => {}
        }
        Some(e.clone())
    });
    if let Some(e) = injected {
        return Err(error_response(e.status, &e.code, &e.message));
    }
    shared
        .check_client_version(headers)
        .map_err(|(status, e)| crate::connect::unary_error_response(status, &e))?;
    shared
        .check_bearer(headers)
        .map_err(|m| error_response(401, "unauthenticated", &m))
}

fn proto_response(bytes: Vec<u8>) -> Response {
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "application/proto")
        .body(Body::from(bytes))
        .unwrap_or_default()
}

/// `GetUsableModels` on both `aiserver.v1.AiService` and `agent.v1.AgentService`.
pub(crate) async fn get_usable_models(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.update(|s| s.models_calls += 1);
    if let Err(r) = gate(&shared, uri.path(), &headers) {
        return r;
    }
    match flavour(&headers) {
        Err(r) => r,
        Ok(Flavour::Json) => {
            if !body.is_empty() && serde_json::from_slice::<serde_json::Value>(&body).is_err() {
                return error_response(400, "invalid_argument", "request body is not JSON");
            }
            let models: Vec<_> = shared.cfg.models.iter().map(|m| m.to_json()).collect();
            json_response(200, &serde_json::json!({"models": models}))
        }
        Ok(Flavour::Proto) => {
            if GetUsableModelsRequest::decode(body.as_ref()).is_err() {
                return error_response(
                    400,
                    "invalid_argument",
                    "cannot decode GetUsableModelsRequest",
                );
            }
            let resp = GetUsableModelsResponse {
                models: shared.cfg.models.iter().map(|m| m.to_pb()).collect(),
            };
            proto_response(resp.encode_to_vec())
        }
    }
}

/// `aiserver.v1.AiService/AvailableModels` (binary only).
pub(crate) async fn available_models(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&shared, uri.path(), &headers) {
        return r;
    }
    match flavour(&headers) {
        Ok(Flavour::Proto) => {}
        Ok(Flavour::Json) => {
            return error_response(
                415,
                "unimplemented",
                "the fake serves AvailableModels as application/proto only",
            );
        }
        Err(r) => return r,
    }
    if AvailableModelsRequest::decode(body.as_ref()).is_err() {
        return error_response(
            400,
            "invalid_argument",
            "cannot decode AvailableModelsRequest",
        );
    }
    let resp = AvailableModelsResponse {
        model_names: shared.cfg.models.iter().map(|m| m.id.clone()).collect(),
        models: shared.cfg.models.iter().map(|m| m.to_available()).collect(),
    };
    proto_response(resp.encode_to_vec())
}

/// `aiserver.v1.DashboardService/GetCurrentPeriodUsage` (JSON).
pub(crate) async fn current_period_usage(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    json_rpc(&shared, uri.path(), &headers, || shared.cfg.usage.to_json())
}

/// `aiserver.v1.DashboardService/GetMe` (JSON).
pub(crate) async fn get_me(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let u = &shared.cfg.user;
    json_rpc(&shared, uri.path(), &headers, || {
        serde_json::json!({
            "authId": u.auth_id(),
            "userId": u.numeric_id,
            "email": u.email,
            "firstName": u.first_name,
            "lastName": u.last_name,
        })
    })
}

fn json_rpc(
    shared: &Shared,
    path: &str,
    headers: &HeaderMap,
    body: impl FnOnce() -> serde_json::Value,
) -> Response {
    if let Err(r) = gate(shared, path, headers) {
        return r;
    }
    match flavour(headers) {
        Ok(Flavour::Json) => json_response(200, &body()),
        Ok(Flavour::Proto) => error_response(
            415,
            "unimplemented",
            "the fake serves DashboardService as JSON only (field numbers of newer fields are unknown)",
        ),
        Err(r) => r,
    }
}

/// `GET /install`: Cursor's public CLI installer script (a shell script on the website
/// base) naming the build it downloads, or 404 when the fake has none.
pub(crate) async fn installer(State(shared): State<Arc<Shared>>) -> Response {
    shared.update(|s| s.installer_fetches += 1);
    let Some(build) = &shared.cfg.installer_build else {
        return error_response(404, "not_found", "no installer here");
    };
    let script = format!(
        "#!/usr/bin/env bash\nset -euo pipefail\n\
         # Cursor Agent CLI installer (fake)\n\
         DOWNLOAD_URL=\"https://downloads.cursor.com/lab/{build}/${{OS}}/${{ARCH}}/agent-cli-package.tar.gz\"\n\
         echo \"Downloading Cursor Agent {build}...\"\n"
    );
    Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(script))
        .unwrap_or_default()
}

/// Anything else: Connect `unimplemented` (HTTP 404, as Cursor's edge answers).
pub(crate) async fn fallback(uri: Uri) -> Response {
    error_response(
        404,
        "unimplemented",
        &format!(
            "{} is not implemented by the fake Cursor server",
            uri.path()
        ),
    )
}
