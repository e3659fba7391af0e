//! Smoke tests of the fake Cursor server itself, with plain clients (reqwest and
//! hand-built frames from core's framing), so the end-to-end tests can trust it.

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use cursor_bridge_core::cursor::framing::{Decoder, Frame, encode_message};
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_core::pb::aiserver_v1 as aipb;
use cursor_bridge_tests::raw::{RawRun, ServerFrame, http_client};
use cursor_bridge_tests::{
    CLIENT_ID, CancelledBy, EndError, ErrorKind, FakeCursor, FakeModel, Malformed, NativeExec,
    Query, RunEnd, Turn, blob_id, pkce_challenge,
};
use pb::agent_client_message::Message as C;
use pb::agent_server_message::Message as S;
use prost::Message as _;
use serde_json::{Value, json};

const SECS: Duration = Duration::from_secs(5);
const HOUR: Duration = Duration::from_secs(3600);

async fn unary_json(fake: &FakeCursor, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = http_client(false)
        .post(format!("{}{path}", fake.url()))
        .header("content-type", "application/json")
        .header("connect-protocol-version", "1")
        .header("x-cursor-client-version", "cli-2026.01.09-231024f")
        .body("{}");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("unary call sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("unary body read");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The value of `attr="…"` in the first tag containing `marker`.
fn attr(html: &str, marker: &str, attr: &str) -> String {
    let at = html.find(marker).expect("marker in page");
    let start = html[..=at].rfind('<').expect("tag start");
    let tag = &html[start..start + html[start..].find('>').expect("tag end")];
    let pat = format!("{attr}=\"");
    let v = &tag[tag.find(&pat).expect("attribute in tag") + pat.len()..];
    v[..v.find('"').expect("closing quote")].to_string()
}

fn mcp_success(id: u32, exec_id: &str, text: &str) -> C {
    C::ExecClientMessage(pb::ExecClientMessage {
        id,
        exec_id: exec_id.into(),
        result: Some(pb::exec_client_message::Result::McpResult(pb::McpResult {
            result: Some(pb::mcp_result::Result::Success(pb::McpSuccess {
                content: vec![pb::McpToolResultContentItem {
                    content: Some(pb::mcp_tool_result_content_item::Content::Text(
                        pb::McpTextContent { text: text.into() },
                    )),
                }],
                is_error: false,
            })),
        })),
    })
}

fn stream_close(id: u32) -> C {
    C::ExecClientControlMessage(pb::ExecClientControlMessage {
        message: Some(pb::exec_client_control_message::Message::StreamClose(
            pb::ExecStreamClose { id },
        )),
    })
}

fn exec_reply(id: u32, result: pb::exec_client_message::Result) -> C {
    C::ExecClientMessage(pb::ExecClientMessage {
        id,
        exec_id: String::new(),
        result: Some(result),
    })
}

fn cancel() -> C {
    C::ConversationAction(pb::ConversationAction {
        action: Some(pb::conversation_action::Action::CancelAction(
            pb::CancelAction {},
        )),
    })
}

/// POSTs a Run whose whole request body is one `run_request` (over HTTP/2 or HTTP/1.1),
/// and returns the response head, its body and every frame decoded from the body.
async fn run_whole(
    fake: &FakeCursor,
    token: &str,
    http2: bool,
) -> (reqwest::Response, Bytes, Vec<Frame>) {
    let mut resp = http_client(http2)
        .post(format!("{}/agent.v1.AgentService/Run", fake.url()))
        .header("content-type", "application/connect+proto")
        .bearer_auth(token)
        .body(encode_message(&RawRun::run_request("hi", "default")).to_vec())
        .send()
        .await
        .expect("Run request");
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.expect("Run body") {
        body.extend_from_slice(&chunk);
    }
    let mut dec = Decoder::default();
    dec.push(&body);
    let mut frames = Vec::new();
    while let Some(f) = dec.next_frame().expect("valid frames") {
        frames.push(f);
    }
    dec.finish().expect("no partial frame left");
    (resp, body.into(), frames)
}

async fn open(fake: &FakeCursor) -> RawRun {
    let token = fake.mint_access_token(HOUR);
    let run = RawRun::open(&fake.url(), &token, RawRun::run_request("hi", "gpt-5.1")).await;
    assert_eq!(run.status, 200);
    run
}

// ---- transport -------------------------------------------------------------------------

#[tokio::test]
async fn serves_http1_and_cleartext_http2_on_one_port() {
    let fake = FakeCursor::builder().start().await;
    let url = format!(
        "{}/loginDeepControl?challenge=c&uuid=u&mode=login&redirectTarget=cli",
        fake.url()
    );
    let h1 = http_client(false).get(&url).send().await.unwrap();
    assert_eq!(h1.version(), http::Version::HTTP_11);
    assert_eq!(h1.status(), 200);
    let h2 = http_client(true).get(&url).send().await.unwrap();
    assert_eq!(h2.version(), http::Version::HTTP_2);
    assert_eq!(h2.status(), 200);
    let versions: Vec<_> = fake.unary_calls().iter().map(|c| c.version).collect();
    assert_eq!(versions, [http::Version::HTTP_11, http::Version::HTTP_2]);
}

#[tokio::test]
async fn shutdown_ends_runs_in_flight() {
    let fake = FakeCursor::builder()
        .turn(Turn::new().text("waiting").wait_for_cancel())
        .start()
        .await;
    let mut run = open(&fake).await;
    assert!(matches!(run.next_message().await, S::InteractionUpdate(_)));
    tokio::time::timeout(SECS, fake.shutdown())
        .await
        .expect("shutdown is prompt");
    // The body ends (cleanly or not) instead of hanging.
    assert!(!matches!(
        run.next().await,
        Ok(Some(ServerFrame::Message(_)))
    ));
}

// ---- login -----------------------------------------------------------------------------

#[tokio::test]
async fn browser_login_through_the_html_form_then_poll_with_pkce() {
    let fake = FakeCursor::builder().start().await;
    let client = http_client(false);
    let verifier = "a-verifier-of-forty-three-characters-000000";
    let challenge = pkce_challenge(verifier);
    let uuid = "2f9d3c1e-8a4b-4c7d-9e0f-123456789abc";
    let poll = |v: &str| {
        client
            .get(format!("{}/auth/poll", fake.url()))
            .query(&[("uuid", uuid), ("verifier", v)])
            .send()
    };
    assert_eq!(
        poll(verifier).await.unwrap().status(),
        404,
        "pending before approval"
    );
    assert_eq!(fake.pending_logins(), vec![uuid.to_string()]);

    // What a browser does with the URL the client prints.
    let login_url = format!(
        "{}/loginDeepControl?challenge={challenge}&uuid={uuid}&mode=login&redirectTarget=cli",
        fake.url()
    );
    let page = client
        .get(&login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let action = attr(&page, "<form", "action");
    let form_uuid = attr(&page, "name=\"uuid\"", "value");
    let form_challenge = attr(&page, "name=\"challenge\"", "value");
    assert_eq!(
        (form_uuid.as_str(), form_challenge.as_str()),
        (uuid, challenge.as_str())
    );
    let approved = client
        .post(format!("{}{action}", fake.url()))
        .form(&[("uuid", form_uuid), ("challenge", form_challenge)])
        .send()
        .await
        .unwrap();
    assert_eq!(approved.status(), 200);

    let wrong = poll("some-other-verifier").await.unwrap();
    assert_eq!(wrong.status(), 403);
    assert_eq!(fake.pkce_mismatches(), 1);

    let ok = poll(verifier).await.unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    let access = body["accessToken"].as_str().unwrap();
    assert!(fake.is_valid_access_token(access));
    assert_eq!(access.split('.').count(), 3, "JWT-shaped");
    let exp = cursor_bridge_tests::jwt_exp(access).unwrap();
    assert!(
        exp > 3000
            + std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
    );
    assert!(body["refreshToken"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(body["authId"].as_str().unwrap().starts_with("auth0|user_"));
    assert_eq!(body["uuid"], uuid);
    assert_eq!(body["challenge"], challenge.as_str());
    assert_eq!(
        poll(verifier).await.unwrap().status(),
        404,
        "a login is consumed once"
    );
    assert_eq!(fake.poll_count(), 4);
    // The verifier travels in the poll's query string, and only there.
    assert!(fake.unary_calls().iter().any(
        |c| c.path == "/auth/poll" && c.query.as_deref().is_some_and(|q| q.contains(verifier))
    ));
}

#[tokio::test]
async fn poll_failures_then_approval_by_api() {
    let fake = FakeCursor::builder().poll_failures(2).start().await;
    let client = http_client(false);
    let verifier = "v".repeat(43);
    let url = format!(
        "{}/loginDeepControl?challenge={}&uuid=u1&mode=login&redirectTarget=cli",
        fake.url(),
        pkce_challenge(&verifier)
    );
    let poll = || {
        client
            .get(format!(
                "{}/auth/poll?uuid=u1&verifier={verifier}",
                fake.url()
            ))
            .send()
    };
    assert_eq!(poll().await.unwrap().status(), 500);
    assert_eq!(poll().await.unwrap().status(), 500);
    assert_eq!(poll().await.unwrap().status(), 404);
    assert!(fake.approve_login_url(&url));
    assert_eq!(poll().await.unwrap().status(), 200);
    assert_eq!(fake.poll_count(), 4);
}

// ---- refresh and exchange ----------------------------------------------------------------

#[tokio::test]
async fn oauth_token_refresh_happy_revoked_and_bad_client() {
    let fake = FakeCursor::builder().start().await;
    let client = http_client(false);
    let rt = fake.mint_refresh_token();
    let refresh = |client_id: &str| {
        client
            .post(format!("{}/oauth/token", fake.url()))
            .json(&json!({"grant_type": "refresh_token", "client_id": client_id, "refresh_token": rt}))
            .send()
    };
    let ok: Value = refresh(CLIENT_ID).await.unwrap().json().await.unwrap();
    assert_eq!(ok["shouldLogout"], false);
    assert!(fake.is_valid_access_token(ok["access_token"].as_str().unwrap()));
    assert!(!ok["id_token"].as_str().unwrap().is_empty());

    assert_eq!(refresh("someone-else").await.unwrap().status(), 400);

    fake.revoke_refresh_tokens();
    let dead: Value = refresh(CLIENT_ID).await.unwrap().json().await.unwrap();
    assert_eq!(
        dead,
        json!({"access_token": "", "id_token": "", "shouldLogout": true})
    );
    assert_eq!(fake.refresh_calls(), 3);
}

#[tokio::test]
async fn oauth_token_can_be_disabled_and_exchange_takes_keys_and_refresh_tokens() {
    let fake = FakeCursor::builder()
        .oauth_token_disabled()
        .api_key("key_test_123")
        .start()
        .await;
    let client = http_client(false);
    let disabled = client
        .post(format!("{}/oauth/token", fake.url()))
        .json(&json!({"grant_type": "refresh_token", "client_id": CLIENT_ID, "refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), 404);

    let exchange = |bearer: String| {
        client
            .post(format!("{}/auth/exchange_user_api_key", fake.url()))
            .bearer_auth(bearer)
            .json(&json!({}))
            .send()
    };
    let by_key: Value = exchange("key_test_123".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(fake.is_valid_access_token(by_key["accessToken"].as_str().unwrap()));
    let rt = by_key["refreshToken"].as_str().unwrap().to_string();
    let by_refresh: Value = exchange(rt.clone()).await.unwrap().json().await.unwrap();
    assert!(fake.is_valid_access_token(by_refresh["accessToken"].as_str().unwrap()));
    assert_eq!(by_refresh["refreshToken"], rt.as_str());
    assert_eq!(exchange("key_wrong".into()).await.unwrap().status(), 401);
    assert_eq!(fake.exchange_calls(), 3);
}

// ---- unary RPCs ---------------------------------------------------------------------------

#[tokio::test]
async fn usable_models_in_json_and_proto_with_auth_checks() {
    let fake = FakeCursor::builder().start().await;
    let token = fake.mint_access_token(HOUR);
    let (status, body) = unary_json(
        &fake,
        "/aiserver.v1.AiService/GetUsableModels",
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);
    let models = body["models"].as_array().unwrap();
    let ids: Vec<_> = models
        .iter()
        .map(|m| m["modelId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "default",
            "claude-4.5-sonnet",
            "claude-4.5-sonnet-thinking",
            "gpt-5.1",
            "gemini-3-pro"
        ]
    );
    let thinking: Vec<_> = models
        .iter()
        .filter(|m| m.get("thinkingDetails").is_some())
        .collect();
    assert_eq!(thinking.len(), 1);
    assert_eq!(thinking[0]["modelId"], "claude-4.5-sonnet-thinking");
    assert_eq!(models[0]["displayModelId"], "auto");

    let (status, _) = unary_json(
        &fake,
        "/agent.v1.AgentService/GetUsableModels",
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);

    let proto = http_client(true)
        .post(format!(
            "{}/aiserver.v1.AiService/GetUsableModels",
            fake.url()
        ))
        .header("content-type", "application/proto")
        .bearer_auth(&token)
        .body(pb::GetUsableModelsRequest::default().encode_to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(proto.headers()["content-type"], "application/proto");
    let decoded = pb::GetUsableModelsResponse::decode(proto.bytes().await.unwrap()).unwrap();
    assert_eq!(decoded.models.len(), 5);
    assert!(decoded.models[2].thinking_details.is_some());

    let (status, body) = unary_json(
        &fake,
        "/aiserver.v1.AiService/GetUsableModels",
        Some(&fake.mint_expired_token()),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    let (status, _) = unary_json(&fake, "/aiserver.v1.AiService/GetUsableModels", None).await;
    assert_eq!(status, 401);
    let missing_header = http_client(false)
        .post(format!(
            "{}/aiserver.v1.AiService/GetUsableModels",
            fake.url()
        ))
        .header("content-type", "application/json")
        .bearer_auth(&token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(missing_header.status(), 400);
    assert_eq!(fake.models_calls(), 6);
    let calls = fake.unary_calls();
    assert_eq!(
        calls[0].header("x-cursor-client-version"),
        Some("cli-2026.01.09-231024f")
    );
    assert_eq!(calls[0].bearer(), Some(token.as_str()));
}

#[tokio::test]
async fn available_models_usage_me_and_unknown_rpc() {
    let fake = FakeCursor::builder()
        .models(vec![
            FakeModel::new("gpt-5.1").context(400_000),
            FakeModel::new("o-think").reasoning(),
        ])
        .unary_error(
            "/aiserver.v1.DashboardService/GetMe",
            503,
            "unavailable",
            "overloaded",
        )
        .start()
        .await;
    let token = fake.mint_access_token(HOUR);
    let resp = http_client(false)
        .post(format!(
            "{}/aiserver.v1.AiService/AvailableModels",
            fake.url()
        ))
        .header("content-type", "application/proto")
        .bearer_auth(&token)
        .body(
            aipb::AvailableModelsRequest {
                exclude_max_named_models: true,
                ..Default::default()
            }
            .encode_to_vec(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let avail = aipb::AvailableModelsResponse::decode(resp.bytes().await.unwrap()).unwrap();
    assert_eq!(avail.models[0].context_token_limit, Some(400_000));
    assert_eq!(avail.models[1].supports_thinking, Some(true));

    let (status, usage) = unary_json(
        &fake,
        "/aiserver.v1.DashboardService/GetCurrentPeriodUsage",
        Some(&token),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        usage["billingCycleStart"].is_string(),
        "int64 as a JSON string"
    );
    assert_eq!(usage["planUsage"]["limit"], 2000);
    assert_eq!(usage["spendLimitUsage"]["limitType"], "user");
    assert_eq!(usage["enabled"], true);

    let (status, err) =
        unary_json(&fake, "/aiserver.v1.DashboardService/GetMe", Some(&token)).await;
    assert_eq!((status, err["code"].as_str()), (503, Some("unavailable")));
    fake.clear_unary_error("/aiserver.v1.DashboardService/GetMe");
    let (status, me) = unary_json(&fake, "/aiserver.v1.DashboardService/GetMe", Some(&token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "dev@example.com");
    assert!(me["userId"].is_number());

    let (status, err) = unary_json(&fake, "/aiserver.v1.AiService/NoSuchThing", Some(&token)).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("unimplemented")));
}

// ---- the agent Run stream -------------------------------------------------------------------

#[tokio::test]
async fn run_over_h2c_text_kv_mcp_then_end_ok() {
    let blob = Bytes::from_static(br#"{"role":"user","content":"hi"}"#);
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .text("Let me check.")
                .kv_set(blob.clone())
                .step(cursor_bridge_tests::Step::McpCall(
                    cursor_bridge_tests::McpCall::new(
                        "cursor-tools-get_weather",
                        "get_weather",
                        "call_1",
                        json!({"city": "Paris", "days": 2, "units": null}),
                    )
                    .announce(),
                ))
                .text("Sunny.")
                .checkpoint(1500, 200_000)
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let mut run = open(&fake).await;
    assert_eq!(run.version, http::Version::HTTP_2);
    assert_eq!(run.headers["content-type"], "application/connect+proto");

    assert_eq!(
        run.next_message().await,
        S::InteractionUpdate(pb::InteractionUpdate {
            text_delta: Some(pb::TextDeltaUpdate {
                text: "Let me check.".into()
            }),
            ..Default::default()
        })
    );
    let S::KvServerMessage(kv) = run.next_message().await else {
        panic!("expected a kv request")
    };
    let Some(pb::kv_server_message::Message::SetBlobArgs(set)) = kv.message else {
        panic!("expected set_blob_args")
    };
    assert_eq!(set.blob_id.to_vec(), blob_id(&blob));
    assert_eq!(set.blob_data, blob);
    run.send(C::KvClientMessage(pb::KvClientMessage {
        id: kv.id,
        message: Some(pb::kv_client_message::Message::SetBlobResult(
            pb::SetBlobResult { error: None },
        )),
    }))
    .await;

    assert!(matches!(
        run.next_message().await,
        S::InteractionUpdate(pb::InteractionUpdate {
            tool_call_started: Some(_),
            ..
        })
    ));
    let S::ExecServerMessage(exec) = run.next_message().await else {
        panic!("expected an exec")
    };
    let Some(pb::exec_server_message::Message::McpArgs(args)) = exec.message else {
        panic!("expected mcp_args")
    };
    assert_eq!(
        (
            args.name.as_str(),
            args.tool_name.as_str(),
            args.tool_call_id.as_str()
        ),
        ("cursor-tools-get_weather", "get_weather", "call_1")
    );
    let as_json: serde_json::Map<_, _> = args
        .args
        .iter()
        .map(|(k, v)| (k.clone(), cursor_bridge_core::cursor::value::from_proto(v)))
        .collect();
    assert_eq!(
        Value::Object(as_json),
        json!({"city": "Paris", "days": 2, "units": null})
    );

    // The caller takes a while; heartbeats keep flowing meanwhile.
    run.send(C::ClientHeartbeat(pb::ClientHeartbeat {})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    run.send(mcp_success(exec.id, &exec.exec_id, "Sunny, 24°C"))
        .await;
    run.send(stream_close(exec.id)).await;

    let (rest, end) = run.read_to_end_answering_kv().await;
    assert_eq!(end, json!({}));
    assert!(matches!(
        &rest[0],
        S::InteractionUpdate(pb::InteractionUpdate {
            tool_call_completed: Some(_),
            ..
        })
    ));
    assert!(matches!(
        &rest[1],
        S::InteractionUpdate(pb::InteractionUpdate {
            text_delta: Some(_),
            ..
        })
    ));
    let S::ConversationCheckpointUpdate(cp) = &rest[2] else {
        panic!("expected a checkpoint")
    };
    let state = pb::ConversationStateStructure::decode(cp.as_ref()).unwrap();
    assert_eq!(
        state.token_details,
        Some(pb::ConversationTokenDetails {
            used_tokens: 1500,
            max_tokens: 200_000
        })
    );
    assert_eq!(state.turns, vec![Bytes::from(blob_id(&blob))]);
    // Before the checkpoint the service stored the run's messages in the client's store
    // (reference §3.7): they are the checkpoint's root prompt messages.
    let stored: Vec<Value> = state
        .root_prompt_messages_json
        .iter()
        .map(|id| serde_json::from_slice(&run.blobs[id.as_ref()]).unwrap())
        .collect();
    assert_eq!(
        stored,
        [
            json!({"role": "user", "content": [{"type": "text", "text": "hi"}]}),
            json!({"role": "assistant", "content": [{"type": "text", "text": "Let me check."},
                {"type": "tool-call", "toolCallId": "call_1", "toolName": "get_weather",
                 "args": {"city": "Paris", "days": 2, "units": null}}]}),
            json!({"role": "tool", "content": [{"type": "tool-result", "toolCallId": "call_1",
                "toolName": "get_weather", "result": "Sunny, 24°C"}]}),
            json!({"role": "assistant", "content": [{"type": "text", "text": "Sunny."}]}),
        ]
    );
    assert!(matches!(
        &rest[3],
        S::InteractionUpdate(pb::InteractionUpdate {
            turn_ended: Some(_),
            ..
        })
    ));
    run.close();
    assert_eq!(run.next().await, Ok(None));

    let rec = fake.wait_for_run_end(0, SECS).await;
    assert!(fake.wait_until(SECS, |f| f.runs()[0].client_closed).await);
    assert_eq!(rec.end, Some(RunEnd::Ok));
    assert!(rec.authorized);
    assert_eq!(rec.version, http::Version::HTTP_2);
    assert_eq!(
        rec.header("x-cursor-client-version"),
        Some("cli-2026.01.09-231024f")
    );
    assert_eq!(rec.user_text(), Some("hi"));
    assert_eq!(rec.model_id(), Some("gpt-5.1"));
    let kinds: Vec<_> = rec
        .messages
        .iter()
        .map(|m| match m.message.as_ref().unwrap() {
            C::RunRequest(_) => "run_request",
            C::KvClientMessage(_) => "kv",
            C::ClientHeartbeat(_) => "heartbeat",
            C::ExecClientMessage(_) => "exec",
            C::ExecClientControlMessage(_) => "control",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "run_request",
            "kv",
            "heartbeat",
            "exec",
            "control",
            "kv",
            "kv",
            "kv",
            "kv"
        ]
    );
    assert_eq!(rec.message_times.len(), 9);
    assert_eq!(rec.client_heartbeats(), 1);
    assert_eq!(
        rec.mcp_results,
        vec![("call_1".to_string(), "Sunny, 24°C".to_string())]
    );
    assert_eq!(
        rec.execs[0].echoed_exec_id.as_deref(),
        Some(exec.exec_id.as_str())
    );
    assert!(rec.execs[0].stream_closed);
    assert_eq!(rec.cancelled, None);
    assert_eq!(fake.blobs().get(&blob_id(&blob)), Some(&blob));
}

#[tokio::test]
async fn default_turn_when_nothing_is_queued() {
    let fake = FakeCursor::builder().start().await;
    let mut run = open(&fake).await;
    let (msgs, end) = run.read_to_end_answering_kv().await;
    assert_eq!(end, json!({}));
    let text: String = msgs
        .iter()
        .filter_map(|m| match m {
            S::InteractionUpdate(pb::InteractionUpdate {
                text_delta: Some(t),
                ..
            }) => Some(t.text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(text, "Hello from the fake Cursor.");
    let tokens: i32 = msgs
        .iter()
        .filter_map(|m| match m {
            S::InteractionUpdate(pb::InteractionUpdate {
                token_delta: Some(t),
                ..
            }) => Some(t.tokens),
            _ => None,
        })
        .sum();
    assert!(tokens > 0);
    assert!(
        msgs.iter()
            .any(|m| matches!(m, S::ConversationCheckpointUpdate(_)))
    );
}

#[tokio::test]
async fn run_start_delay_holds_the_turn_after_the_run_request() {
    let delay = Duration::from_millis(300);
    let fake = FakeCursor::builder()
        .run_start_delay(delay)
        .turn(Turn::reply("late"))
        .start()
        .await;
    // The headers come at once; the first frame only after the delay.
    let opened = std::time::Instant::now();
    let mut run = open(&fake).await;
    let first = run.next_message().await;
    assert!(
        opened.elapsed() >= delay,
        "first frame after {:?}",
        opened.elapsed()
    );
    assert!(matches!(
        first,
        S::InteractionUpdate(pb::InteractionUpdate {
            text_delta: Some(_),
            ..
        })
    ));
    let (_, end) = run.read_to_end_answering_kv().await;
    assert_eq!(end, json!({}));
}

#[tokio::test]
async fn end_error_frame_carries_connect_code_and_error_details_gzipped() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new().text("partial").end_with(
                EndError::new("resource_exhausted", "Error")
                    .detail(
                        ErrorKind::ProUserUsageLimit,
                        "Usage limit",
                        "You've hit your monthly limit",
                    )
                    .retryable(false)
                    .gzip(),
            ),
        )
        .start()
        .await;
    let mut run = open(&fake).await;
    let (msgs, end) = run.read_to_end().await;
    assert_eq!(msgs.len(), 1);
    assert_eq!(end["error"]["code"], "resource_exhausted");
    let detail = &end["error"]["details"][0];
    assert_eq!(detail["type"], "aiserver.v1.ErrorDetails");
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(detail["value"].as_str().unwrap())
        .unwrap();
    let details = aipb::ErrorDetails::decode(raw.as_slice()).unwrap();
    assert_eq!(details.error(), ErrorKind::ProUserUsageLimit);
    assert_eq!(
        details.details.as_ref().unwrap().detail,
        "You've hit your monthly limit"
    );
    assert_eq!(details.details.unwrap().is_retryable, Some(false));
    // Core's parser agrees it is an error.
    let payload = serde_json::to_vec(&end).unwrap();
    assert!(cursor_bridge_core::cursor::error::parse_end_stream(&payload).is_err());
    let rec = fake.wait_for_run_end(0, SECS).await;
    assert!(
        matches!(rec.end, Some(RunEnd::Error { ref code, .. }) if code == "resource_exhausted")
    );
}

#[tokio::test]
async fn unauthenticated_run_gets_an_end_frame_and_keeps_the_turn() {
    let fake = FakeCursor::builder()
        .turn(Turn::reply("scripted"))
        .start()
        .await;
    let expired = fake.mint_expired_token();
    let mut run = RawRun::open(&fake.url(), &expired, RawRun::run_request("hi", "default")).await;
    assert_eq!(run.status, 200);
    let (msgs, end) = run.read_to_end().await;
    assert!(msgs.is_empty());
    assert_eq!(end["error"]["code"], "unauthenticated");
    assert_eq!(
        fake.queued_turns(),
        1,
        "a refused run does not consume the script"
    );
    let rec = fake.wait_for_run_end(0, SECS).await;
    assert!(!rec.authorized);
    assert_eq!(rec.bearer(), Some(expired.as_str()));

    let strict = FakeCursor::builder()
        .run_auth_failure_as_http()
        .start()
        .await;
    let run = RawRun::open(
        &strict.url(),
        "not-a-token",
        RawRun::run_request("hi", "default"),
    )
    .await;
    assert_eq!(run.status, 401);
}

#[tokio::test]
async fn request_context_native_exec_queries_kv_get_and_unknown_exec() {
    let earlier = Bytes::from_static(b"blob set in an earlier turn");
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .request_context()
                .native_exec(NativeExec::Shell {
                    command: "ls -la".into(),
                    working_directory: "/tmp".into(),
                })
                .query(Query::WebSearch {
                    search_term: "rust h2c".into(),
                    tool_call_id: "ws_1".into(),
                })
                .kv_get_data(&earlier)
                .unknown_exec()
                .turn_ended(),
        )
        .start()
        .await;
    let mut run = open(&fake).await;

    let S::ExecServerMessage(rc) = run.next_message().await else {
        panic!()
    };
    assert!(matches!(
        rc.message,
        Some(pb::exec_server_message::Message::RequestContextArgs(_))
    ));
    let tool = pb::McpToolDefinition {
        name: "cursor-tools-get_weather".into(),
        tool_name: "get_weather".into(),
        provider_identifier: "cursor-tools".into(),
        input_schema: Some(cursor_bridge_core::cursor::value::to_proto(
            &json!({"type": "object"}),
        )),
        ..Default::default()
    };
    run.send(exec_reply(
        rc.id,
        pb::exec_client_message::Result::RequestContextResult(pb::RequestContextResult {
            result: Some(pb::request_context_result::Result::Success(
                pb::RequestContextSuccess {
                    request_context: Some(pb::RequestContext {
                        tools: vec![tool.clone()],
                        cloud_rule: Some("You are terse.".into()),
                        ..Default::default()
                    }),
                },
            )),
        }),
    ))
    .await;
    run.send(stream_close(rc.id)).await;

    let S::ExecServerMessage(shell) = run.next_message().await else {
        panic!()
    };
    let Some(pb::exec_server_message::Message::ShellArgs(args)) = shell.message else {
        panic!()
    };
    assert_eq!(args.command, "ls -la");
    run.send(exec_reply(
        shell.id,
        pb::exec_client_message::Result::ShellResult(pb::ShellResult {
            result: Some(pb::shell_result::Result::Rejected(pb::ShellRejected {
                command: "ls -la".into(),
                reason: "not here".into(),
                ..Default::default()
            })),
        }),
    ))
    .await;
    run.send(stream_close(shell.id)).await;

    let S::InteractionQuery(q) = run.next_message().await else {
        panic!()
    };
    run.send(C::InteractionResponse(pb::InteractionResponse {
        id: q.id,
        response: Some(
            pb::interaction_response::Response::WebSearchRequestResponse(pb::ApprovalResponse {
                result: Some(pb::approval_response::Result::Rejected(
                    pb::approval_response::Rejected {
                        reason: "User Rejected".into(),
                    },
                )),
            }),
        ),
    }))
    .await;

    let S::KvServerMessage(get) = run.next_message().await else {
        panic!()
    };
    run.send(C::KvClientMessage(pb::KvClientMessage {
        id: get.id,
        message: Some(pb::kv_client_message::Message::GetBlobResult(
            pb::GetBlobResult {
                blob_data: Some(earlier.clone()),
            },
        )),
    }))
    .await;

    // A client that cannot name the exec throws.
    let S::ExecServerMessage(unknown) = run.next_message().await else {
        panic!()
    };
    assert!(
        unknown.message.is_none(),
        "the unknown field decodes as no variant"
    );
    run.send(C::ExecClientControlMessage(pb::ExecClientControlMessage {
        message: Some(pb::exec_client_control_message::Message::Throw(
            pb::ExecThrow {
                id: unknown.id,
                error: "unsupported exec".into(),
                stack_trace: None,
            },
        )),
    }))
    .await;

    let (_, end) = run.read_to_end().await;
    assert_eq!(end, json!({}));
    let rec = fake.wait_for_run_end(0, SECS).await;
    assert_eq!(rec.request_contexts[0].tools, vec![tool]);
    assert_eq!(
        rec.request_contexts[0].cloud_rule.as_deref(),
        Some("You are terse.")
    );
    let kinds: Vec<_> = rec.execs.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["request_context", "shell", "unknown"]);
    assert!(matches!(
        rec.execs[1].results[0],
        pb::exec_client_message::Result::ShellResult(_)
    ));
    assert_eq!(rec.execs[2].thrown.as_deref(), Some("unsupported exec"));
    assert_eq!(rec.interaction_responses.len(), 1);
    assert_eq!(rec.kv_get_results, vec![(blob_id(&earlier), Some(earlier))]);
}

#[tokio::test]
async fn unanswered_request_ends_with_deadline_exceeded() {
    let fake = FakeCursor::builder()
        .reply_timeout(Duration::from_millis(200))
        .turn(Turn::new().kv_set(&b"data"[..]).end_ok())
        .start()
        .await;
    let mut run = open(&fake).await;
    let (msgs, end) = run.read_to_end().await;
    assert!(matches!(msgs[0], S::KvServerMessage(_)));
    assert_eq!(end["error"]["code"], "deadline_exceeded");
    assert!(
        end["error"]["message"]
            .as_str()
            .unwrap()
            .contains("set_blob_result")
    );
}

#[tokio::test]
async fn missing_stream_close_is_named_in_the_timeout() {
    let fake = FakeCursor::builder()
        .reply_timeout(Duration::from_millis(200))
        .turn(Turn::new().native_exec(NativeExec::Read {
            path: "/etc/hosts".into(),
        }))
        .start()
        .await;
    let mut run = open(&fake).await;
    let S::ExecServerMessage(exec) = run.next_message().await else {
        panic!()
    };
    run.send(exec_reply(
        exec.id,
        pb::exec_client_message::Result::ReadResult(pb::ReadResult {
            result: Some(pb::read_result::Result::Rejected(pb::ReadRejected {
                path: "/etc/hosts".into(),
                reason: "no".into(),
            })),
        }),
    ))
    .await;
    let (_, end) = run.read_to_end().await;
    assert_eq!(end["error"]["code"], "deadline_exceeded");
    assert!(
        end["error"]["message"]
            .as_str()
            .unwrap()
            .contains("stream_close")
    );
}

#[tokio::test]
async fn first_frame_must_be_a_run_request() {
    let fake = FakeCursor::builder().start().await;
    let token = fake.mint_access_token(HOUR);
    let heartbeat = pb::AgentClientMessage {
        message: Some(C::ClientHeartbeat(pb::ClientHeartbeat {})),
    };
    let mut run = RawRun::open(&fake.url(), &token, heartbeat).await;
    let (_, end) = run.read_to_end().await;
    assert_eq!(end["error"]["code"], "invalid_argument");
    assert_eq!(fake.queued_turns(), 0);
}

#[tokio::test]
async fn gzip_knob_compresses_data_frames() {
    // A whole request body cannot answer the KV writes a checkpoint brings.
    let fake = FakeCursor::builder()
        .gzip_frames()
        .turn(Turn::reply_without_checkpoint("hi"))
        .start()
        .await;
    let token = fake.mint_access_token(HOUR);
    let (resp, body, frames) = run_whole(&fake, &token, true).await;
    assert_eq!(resp.headers()["connect-content-encoding"], "gzip");
    assert_eq!(body[0], 0x01, "the first data frame is flagged compressed");
    assert!(matches!(frames.last(), Some(Frame::EndStream(p)) if p.as_ref() == b"{}"));
    let Frame::Message(first) = &frames[0] else {
        panic!()
    };
    assert!(pb::AgentServerMessage::decode(first.clone()).is_ok());
}

#[tokio::test]
async fn run_also_answers_over_http1_with_a_whole_request_body() {
    let fake = FakeCursor::builder()
        .turn(Turn::reply_without_checkpoint("hi"))
        .start()
        .await;
    let token = fake.mint_access_token(HOUR);
    let (resp, _, frames) = run_whole(&fake, &token, false).await;
    assert_eq!(resp.version(), http::Version::HTTP_11);
    assert_eq!(
        frames.last(),
        Some(&Frame::EndStream(Bytes::from_static(b"{}")))
    );
    let rec = fake.wait_for_run_end(0, SECS).await;
    assert_eq!(rec.version, http::Version::HTTP_11);
    assert_eq!(fake.bearer_tokens_seen(), vec![token]);
}

#[tokio::test]
async fn wait_for_cancel_records_a_cancel_action_or_a_half_close() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .text("working")
                .wait_for_cancel()
                .turn_ended()
                .end_ok(),
        )
        .turn(Turn::new().text("working").wait_for_cancel().end_ok())
        .start()
        .await;
    let mut run = open(&fake).await;
    run.next_message().await;
    run.send(cancel()).await;
    let (_, end) = run.read_to_end().await;
    assert_eq!(end, json!({}));
    assert_eq!(
        fake.wait_for_run_end(0, SECS).await.cancelled,
        Some(CancelledBy::Action)
    );

    let mut run = open(&fake).await;
    run.next_message().await;
    run.close();
    let (_, end) = run.read_to_end().await;
    assert_eq!(end, json!({}));
    let rec = fake.wait_for_run_end(1, SECS).await;
    assert_eq!(rec.cancelled, Some(CancelledBy::ClientClosed));
    assert!(rec.client_closed);
}

#[tokio::test]
async fn drop_reset_and_malformed_streams_fail_visibly() {
    let fake = FakeCursor::builder()
        .turn(Turn::new().text("a").drop_stream())
        .turn(Turn::new().text("a").malformed(Malformed::UnknownFlags))
        .turn(
            Turn::new()
                .text("a")
                .malformed(Malformed::UndecodableMessage),
        )
        // HTTP/2 may discard data still buffered when a reset arrives; let "a" land first.
        .turn(
            Turn::new()
                .text("a")
                .sleep(Duration::from_millis(100))
                .reset(),
        )
        .start()
        .await;

    let mut run = open(&fake).await;
    run.next_message().await;
    assert_eq!(
        run.next().await,
        Ok(None),
        "body ends without an end-of-stream frame"
    );

    let mut run = open(&fake).await;
    run.next_message().await;
    assert!(run.next().await.unwrap_err().contains("flags"));

    let mut run = open(&fake).await;
    run.next_message().await;
    assert!(run.next().await.unwrap_err().contains("undecodable"));

    let mut run = open(&fake).await;
    run.next_message().await;
    assert!(run.next().await.unwrap_err().contains("transport"));

    let ends: Vec<_> = fake
        .wait_for_runs(4, SECS)
        .await
        .into_iter()
        .map(|r| r.end)
        .collect();
    assert_eq!(
        ends,
        [
            Some(RunEnd::Dropped),
            Some(RunEnd::Malformed),
            Some(RunEnd::Malformed),
            Some(RunEnd::Reset)
        ]
    );
}

#[tokio::test]
async fn checkpoints_carry_prior_turns_forward() {
    let fake = FakeCursor::builder()
        .turn(Turn::new().kv_set(&b"turn one"[..]).checkpoint(100, 1000))
        .turn(Turn::new().kv_set(&b"turn two"[..]).checkpoint(200, 1000))
        .start()
        .await;
    let token = fake.mint_access_token(HOUR);
    let mut state = Bytes::new();
    let mut blobs = Default::default();
    for _ in 0..2 {
        let mut first = RawRun::run_request("next", "default");
        if let Some(C::RunRequest(r)) = &mut first.message {
            r.conversation_state = Some(state.clone());
        }
        let mut run = RawRun::open(&fake.url(), &token, first).await;
        run.blobs = std::mem::take(&mut blobs);
        let (msgs, _) = run.read_to_end_answering_kv().await;
        let Some(S::ConversationCheckpointUpdate(cp)) = msgs.first() else {
            panic!("{msgs:?}")
        };
        state = cp.clone();
        blobs = std::mem::take(&mut run.blobs);
    }
    let last = pb::ConversationStateStructure::decode(state.as_ref()).unwrap();
    assert_eq!(
        last.turns,
        vec![
            Bytes::from(blob_id(b"turn one")),
            Bytes::from(blob_id(b"turn two"))
        ]
    );
    assert_eq!(last.token_details.unwrap().used_tokens, 200);
    assert_eq!(
        last.root_prompt_messages_json.len(),
        2,
        "both user messages"
    );
    let second = fake.wait_for_run_end(1, SECS).await;
    assert_eq!(second.conversation_state().unwrap().turns.len(), 1);
    assert_eq!(second.history, cursor_bridge_tests::HistoryKind::Checkpoint);
    assert_eq!(
        second.history_messages,
        [json!({"role": "user", "content": [{"type": "text", "text": "next"}]})]
    );
}

/// Regression: the fake handed out queued turns in arrival order, so when OpenCode's title
/// request (no tools) overtook its prompt (tools offered) the prompt got the title's answer
/// and the OpenCode end-to-end test failed under load. Conditional turns are picked by the
/// run request, whatever the order of arrival.
#[tokio::test]
async fn conditional_turns_answer_the_run_that_asks_for_them_in_any_order() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .when_no_tools_offered()
                .end_error("aborted", "the title turn"),
        )
        .turn(
            Turn::new()
                .when_tools_offered()
                .end_error("not_found", "the prompt turn"),
        )
        .start()
        .await;
    let token = fake.mint_access_token(HOUR);
    let mut with_tools = RawRun::run_request("run the tool", "default");
    if let Some(pb::agent_client_message::Message::RunRequest(r)) = &mut with_tools.message {
        r.mcp_tools = Some(pb::McpTools {
            mcp_tools: vec![pb::McpToolDefinition {
                name: "bash".into(),
                tool_name: "bash".into(),
                ..Default::default()
            }],
        });
    }
    // The tool-offering run arrives first, though the title turn is queued first.
    let mut prompt = RawRun::open(&fake.url(), &token, with_tools).await;
    let (_, end) = prompt.read_to_end().await;
    assert_eq!(end["error"]["message"], "the prompt turn", "{end}");
    let mut title = RawRun::open(
        &fake.url(),
        &token,
        RawRun::run_request("title?", "default"),
    )
    .await;
    let (_, end) = title.read_to_end().await;
    assert_eq!(end["error"]["message"], "the title turn", "{end}");
    assert_eq!(fake.queued_turns(), 0);
    // With nothing left that fits, a run gets the default reply.
    let mut more = open(&fake).await;
    let (_, end) = more.read_to_end_answering_kv().await;
    assert_eq!(end, json!({}));
}

/// Reference §9.7: the result field mirrors the args field. The fake refuses another
/// number, except the single `ShellResult` (2) the service takes for `shell_stream_args`.
#[tokio::test]
async fn an_exec_answered_at_another_field_than_its_args_fails_the_run() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .native_exec(NativeExec::ShellStream {
                    command: "ls".into(),
                    working_directory: "/".into(),
                })
                .native_exec(NativeExec::Read { path: "/a".into() })
                .text("never")
                .end_ok(),
        )
        .start()
        .await;
    let mut run = open(&fake).await;
    let shell_result = || {
        pb::exec_client_message::Result::ShellResult(pb::ShellResult {
            result: Some(pb::shell_result::Result::Success(
                pb::ShellSuccess::default(),
            )),
        })
    };
    // shell_stream (14) answered with one ShellResult (2): taken.
    let S::ExecServerMessage(stream) = run.next_message().await else {
        panic!("expected the shell_stream exec")
    };
    run.send(exec_reply(stream.id, shell_result())).await;
    run.send(stream_close(stream.id)).await;
    // read (7) answered with a ShellResult (2): refused.
    let S::ExecServerMessage(read) = run.next_message().await else {
        panic!("expected the read exec")
    };
    run.send(exec_reply(read.id, shell_result())).await;
    run.send(stream_close(read.id)).await;
    let (rest, end) = run.read_to_end().await;
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(end["error"]["code"], "invalid_argument", "{end}");
    let msg = end["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("mirror the args' field 7"), "{msg}");
    let rec = fake.wait_for_run_end(0, SECS).await;
    assert_eq!(rec.execs.len(), 1);
    assert_eq!(rec.execs[0].result_fields, [2]);
    assert_eq!(rec.exec_result_fields, [(stream.id, 2), (read.id, 2)]);
}
