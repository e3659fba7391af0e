//! A deliberately small hand-rolled `Run` client (reqwest over cleartext HTTP/2, a
//! channel-fed request body, core's incremental [`Decoder`]). It exists to prove the fake
//! with plain wire bytes, independent of Cursor Bridge's own client.

use std::time::Duration;

use bytes::Bytes;
use cursor_bridge_core::cursor::framing::{Decoder, Frame, encode_message};
use cursor_bridge_core::pb::agent_v1 as pb;
use futures::StreamExt as _;
use prost::Message as _;
use tokio::sync::mpsc;

/// Installs rustls' ring provider (reqwest is built without one). Idempotent.
pub fn init_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A plain reqwest client: HTTP/1.1, or cleartext HTTP/2 with prior knowledge.
pub fn http_client(http2_prior_knowledge: bool) -> reqwest::Client {
    init_crypto();
    let mut b = reqwest::Client::builder()
        .tcp_nodelay(true)
        .redirect(reqwest::redirect::Policy::none());
    if http2_prior_knowledge {
        b = b.http2_prior_knowledge();
    }
    b.build().expect("a plain HTTP client builds")
}

/// One decoded server frame.
// A test helper: matching on an unboxed message matters more than the enum's size.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    Message(pb::AgentServerMessage),
    /// The end-of-stream JSON.
    End(serde_json::Value),
}

/// An open `Run` stream.
pub struct RawRun {
    tx: Option<mpsc::Sender<Bytes>>,
    resp: reqwest::Response,
    dec: Decoder,
    pub status: u16,
    pub headers: http::HeaderMap,
    pub version: http::Version,
    /// The blob store [`RawRun::read_to_end_answering_kv`] keeps and serves, as a client
    /// must (carry it into the next run of the same conversation).
    pub blobs: std::collections::HashMap<Vec<u8>, Bytes>,
}

impl RawRun {
    /// Opens `POST <base>/agent.v1.AgentService/Run` over h2c and sends `first`.
    pub async fn open(base: &str, token: &str, first: pb::AgentClientMessage) -> RawRun {
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        let body = reqwest::Body::wrap_stream(
            tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok::<_, std::io::Error>),
        );
        tx.send(encode_message(&first)).await.expect("channel open");
        let resp = http_client(true)
            .post(format!("{base}/agent.v1.AgentService/Run"))
            .header("content-type", "application/connect+proto")
            .header("authorization", format!("Bearer {token}"))
            .header("te", "trailers")
            .header("x-cursor-client-version", "cli-2026.01.09-231024f")
            .body(body)
            .send()
            .await
            .expect("Run request sent");
        RawRun {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            version: resp.version(),
            tx: Some(tx),
            resp,
            dec: Decoder::default(),
            blobs: Default::default(),
        }
    }

    /// A `run_request` with a user message.
    pub fn run_request(text: &str, model: &str) -> pb::AgentClientMessage {
        pb::AgentClientMessage {
            message: Some(pb::agent_client_message::Message::RunRequest(
                pb::AgentRunRequest {
                    conversation_state: Some(Bytes::new()),
                    action: Some(pb::ConversationAction {
                        action: Some(pb::conversation_action::Action::UserMessageAction(
                            pb::UserMessageAction {
                                user_message: Some(pb::UserMessage {
                                    text: text.into(),
                                    message_id: uuid::Uuid::new_v4().to_string(),
                                    mode: pb::AgentMode::Agent as i32,
                                    ..Default::default()
                                }),
                                ..Default::default()
                            },
                        )),
                    }),
                    model_details: Some(pb::ModelDetails {
                        model_id: model.into(),
                        ..Default::default()
                    }),
                    conversation_id: Some(uuid::Uuid::new_v4().to_string()),
                    ..Default::default()
                },
            )),
        }
    }

    /// Sends one client message.
    pub async fn send(&self, msg: pb::agent_client_message::Message) {
        if let Some(tx) = &self.tx {
            let _ = tx
                .send(encode_message(&pb::AgentClientMessage {
                    message: Some(msg),
                }))
                .await;
        }
    }

    /// Sends raw bytes on the request stream.
    pub async fn send_raw(&self, bytes: Bytes) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(bytes).await;
        }
    }

    /// Half-closes the request stream.
    pub fn close(&mut self) {
        self.tx = None;
    }

    /// The next frame; `Ok(None)` when the body ended cleanly; `Err` for transport or
    /// framing errors. Gives up after 10 s.
    pub async fn next(&mut self) -> Result<Option<ServerFrame>, String> {
        loop {
            match self.dec.next_frame().map_err(|e| e.to_string())? {
                Some(Frame::Message(p)) => {
                    return pb::AgentServerMessage::decode(p)
                        .map(|m| Some(ServerFrame::Message(m)))
                        .map_err(|e| format!("undecodable AgentServerMessage: {e}"));
                }
                Some(Frame::EndStream(p)) => {
                    return serde_json::from_slice(&p)
                        .map(|j| Some(ServerFrame::End(j)))
                        .map_err(|e| format!("end-of-stream is not JSON: {e}"));
                }
                None => {}
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.resp.chunk())
                .await
                .map_err(|_| "no frame within 10 s".to_string())?
                .map_err(|e| format!("transport error: {e}"))?;
            match chunk {
                Some(c) => self.dec.push(&c),
                None => {
                    self.dec.finish().map_err(|e| e.to_string())?;
                    return Ok(None);
                }
            }
        }
    }

    /// The next server message; panics on anything else (test helper).
    pub async fn next_message(&mut self) -> pb::agent_server_message::Message {
        match self.next().await {
            Ok(Some(ServerFrame::Message(pb::AgentServerMessage { message: Some(m) }))) => m,
            other => panic!("expected a server message, got {other:?}"),
        }
    }

    /// [`RawRun::read_to_end`], answering every KV request on the way as a client does
    /// (sets kept in [`RawRun::blobs`], gets served from it); the KV requests are left out
    /// of the messages returned.
    pub async fn read_to_end_answering_kv(
        &mut self,
    ) -> (Vec<pb::agent_server_message::Message>, serde_json::Value) {
        use pb::agent_server_message::Message as S;
        use pb::kv_client_message::Message as R;
        use pb::kv_server_message::Message as K;
        let mut msgs = Vec::new();
        loop {
            match self.next().await {
                Ok(Some(ServerFrame::Message(pb::AgentServerMessage {
                    message: Some(S::KvServerMessage(kv)),
                }))) => {
                    let answer = match kv.message {
                        Some(K::SetBlobArgs(set)) => {
                            self.blobs.insert(set.blob_id.to_vec(), set.blob_data);
                            R::SetBlobResult(pb::SetBlobResult::default())
                        }
                        Some(K::GetBlobArgs(get)) => R::GetBlobResult(pb::GetBlobResult {
                            blob_data: self.blobs.get(get.blob_id.as_ref()).cloned(),
                        }),
                        None => R::SetBlobResult(pb::SetBlobResult::default()),
                    };
                    self.send(pb::agent_client_message::Message::KvClientMessage(
                        pb::KvClientMessage {
                            id: kv.id,
                            message: Some(answer),
                        },
                    ))
                    .await;
                }
                Ok(Some(ServerFrame::Message(m))) => msgs.extend(m.message),
                Ok(Some(ServerFrame::End(j))) => return (msgs, j),
                other => panic!("expected frames up to an end-of-stream frame, got {other:?}"),
            }
        }
    }

    /// Reads frames until the end-of-stream frame, returning the messages before it and
    /// the end JSON.
    pub async fn read_to_end(
        &mut self,
    ) -> (Vec<pb::agent_server_message::Message>, serde_json::Value) {
        let mut msgs = Vec::new();
        loop {
            match self.next().await {
                Ok(Some(ServerFrame::Message(m))) => msgs.extend(m.message),
                Ok(Some(ServerFrame::End(j))) => return (msgs, j),
                other => panic!("expected frames up to an end-of-stream frame, got {other:?}"),
            }
        }
    }
}
