//! The sign-in endpoints (reference §1): the browser login page, `/auth/poll`,
//! `/oauth/token` and `/auth/exchange_user_api_key`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::connect::{error_response, json_response};
use crate::state::{CLIENT_ID, Login, Shared};

/// `base64url_nopad(sha256(verifier_ascii))` (reference §1.1 step 2).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// `GET /loginDeepControl?challenge&uuid&mode=login&redirectTarget=cli`: a page with an
/// Approve form, usable by a browser or by a test that parses the form.
pub(crate) async fn login_page(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (Some(uuid), Some(challenge)) = (q.get("uuid"), q.get("challenge")) else {
        return (
            http::StatusCode::BAD_REQUEST,
            Html("<!doctype html><p>Missing uuid or challenge.</p>".to_string()),
        )
            .into_response();
    };
    shared.update(|s| {
        let login = s.logins.entry(uuid.clone()).or_default();
        login.challenge = Some(challenge.clone());
    });
    let (uuid, challenge) = (escape_html(uuid), escape_html(challenge));
    let target = escape_html(q.get("redirectTarget").map(String::as_str).unwrap_or("web"));
    Html(format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Cursor – Log in</title></head>
<body>
<h1>Log in to Cursor</h1>
<p>A {target} client is asking to sign in to your Cursor account (fake Cursor server).</p>
<form method="post" action="/loginDeepControl/approve">
<input type="hidden" name="uuid" value="{uuid}">
<input type="hidden" name="challenge" value="{challenge}">
<button type="submit" id="approve">Approve</button>
</form>
</body></html>
"#
    ))
    .into_response()
}

#[derive(Deserialize)]
pub(crate) struct ApproveForm {
    uuid: String,
    challenge: String,
}

/// `POST /loginDeepControl/approve` (form): marks the login approved with that challenge.
pub(crate) async fn approve(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<ApproveForm>,
) -> Response {
    shared.update(|s| {
        s.logins.insert(
            form.uuid.clone(),
            Login {
                challenge: Some(form.challenge),
                approved: true,
            },
        )
    });
    Html(
        "<!doctype html><html><body><h1>You're signed in</h1>\
         <p>You can close this tab and return to your terminal.</p></body></html>",
    )
    .into_response()
}

/// `GET /auth/poll?uuid&verifier`: 404 while pending, 200 with tokens once approved
/// (consuming the login), 403 when the verifier does not match the challenge.
pub(crate) async fn poll(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let uuid = q.get("uuid").cloned().unwrap_or_default();
    let verifier = q.get("verifier").cloned().unwrap_or_default();
    enum Outcome {
        Fail,
        Pending,
        Mismatch,
        Ok(Option<String>),
    }
    let auto = shared.cfg.auto_approve_logins;
    let outcome = shared.update(|s| {
        s.polls += 1;
        if !s.polled.contains(&uuid) {
            s.polled.push(uuid.clone());
        }
        if s.poll_failures_left > 0 {
            s.poll_failures_left -= 1;
            return Outcome::Fail;
        }
        let login = s.logins.entry(uuid.clone()).or_default();
        if auto {
            login.approved = true;
        }
        if !login.approved {
            return Outcome::Pending;
        }
        if login
            .challenge
            .as_ref()
            .is_some_and(|ch| *ch != pkce_challenge(&verifier))
        {
            s.pkce_mismatches += 1;
            return Outcome::Mismatch;
        }
        let challenge = login.challenge.clone();
        s.logins.remove(&uuid);
        Outcome::Ok(challenge)
    });
    match outcome {
        Outcome::Fail => error_response(500, "internal", "injected poll failure"),
        Outcome::Pending => (http::StatusCode::NOT_FOUND, "").into_response(),
        Outcome::Mismatch => json_response(
            403,
            &serde_json::json!({"error": "invalid_grant", "message": "PKCE verifier does not match the challenge"}),
        ),
        Outcome::Ok(challenge) => {
            let access = shared.mint_access(shared.cfg.access_token_ttl);
            let refresh = shared.mint_refresh();
            json_response(
                200,
                &serde_json::json!({
                    "accessToken": access,
                    "refreshToken": refresh,
                    "authId": shared.cfg.user.auth_id(),
                    "uuid": uuid,
                    "challenge": challenge.unwrap_or_default(),
                }),
            )
        }
    }
}

/// `POST /oauth/token` (refresh variant A, reference §1.3).
pub(crate) async fn oauth_token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    shared.update(|s| s.refresh_calls += 1);
    if shared.cfg.oauth_token_disabled {
        return (http::StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    if !shared.cfg.refresh_delay.is_zero() {
        tokio::time::sleep(shared.cfg.refresh_delay).await;
    }
    let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return json_response(400, &serde_json::json!({"error": "invalid_request"}));
    };
    let field = |k: &str| {
        req.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string()
    };
    if field("grant_type") != "refresh_token" {
        return json_response(400, &serde_json::json!({"error": "unsupported_grant_type"}));
    }
    if field("client_id") != CLIENT_ID {
        return json_response(400, &serde_json::json!({"error": "invalid_client"}));
    }
    let rt = field("refresh_token");
    let known = shared
        .lock()
        .refresh_tokens
        .get(&rt)
        .is_some_and(|r| !r.revoked);
    if !known {
        return json_response(
            200,
            &serde_json::json!({"access_token": "", "id_token": "", "shouldLogout": true}),
        );
    }
    let access = shared.mint_access(shared.cfg.access_token_ttl);
    json_response(
        200,
        &serde_json::json!({
            "access_token": access,
            "id_token": shared.mint_id_token(),
            "shouldLogout": false,
        }),
    )
}

/// `POST /auth/exchange_user_api_key` with `Authorization: Bearer <api key | refresh
/// token>` (reference §1.2, §1.3 B, §9.9).
pub(crate) async fn exchange(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let (is_key, is_refresh) = shared.update(|s| {
        s.exchange_calls += 1;
        let is_key = s.api_keys.contains(&bearer);
        if !is_key {
            s.exchange_refresh_calls += 1;
        }
        (
            is_key,
            s.refresh_tokens.get(&bearer).is_some_and(|r| !r.revoked),
        )
    });
    if !is_key && !shared.cfg.refresh_delay.is_zero() {
        tokio::time::sleep(shared.cfg.refresh_delay).await;
    }
    if !is_key && (!is_refresh || shared.cfg.exchange_refresh_disabled) {
        return error_response(401, "unauthenticated", "invalid API key");
    }
    let access = shared.mint_access(shared.cfg.access_token_ttl);
    // An API key gets a fresh session; a refresh token keeps its own.
    let refresh = if is_key {
        shared.mint_refresh()
    } else {
        bearer
    };
    json_response(
        200,
        &serde_json::json!({"accessToken": access, "refreshToken": refresh}),
    )
}
