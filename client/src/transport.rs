//! The byte level of an agent run, one per [`AgentTransport`]. Everything above it (frame
//! decoding, watchdogs, events, tool calls, cancel) lives in `chat`'s driver and is the
//! same for both: a transport only supplies a [`Wire`] — a stream of response bytes, a
//! sink of client messages, and a future that fires if the upstream half fails.
//!
//! - **HTTP/2** (reference §3.3): one bidirectional `AgentService/Run` stream; every
//!   client message is a Connect envelope on the request body.
//! - **HTTP/1.1** (reference §3.2): the downstream is the server stream
//!   `AgentService/RunSSE` (body: one envelope holding `BidiRequestId`); every client
//!   message is one `BidiService/BidiAppend` (Connect unary) carrying the hex text of the
//!   serialized `AgentClientMessage` and a sequence number from 0. One appender task sends
//!   them strictly in order, each after the previous one was acknowledged. It starts only
//!   once `RunSSE`'s response headers arrived (reference §9.8): an append for a request id
//!   the service has not seen yet may be lost.
//!
//! Client messages travel as their encoded bytes ([`ClientBytes`]), not as typed values:
//! the answer to an exec kind our schema does not know has to carry a field number the
//! schema has no name for (`decode::unservable_exec_reply`).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::header::CONTENT_TYPE;
use prost::Message as _;
use tokio::sync::{mpsc, oneshot};

use super::error::CursorError;
use super::framing;
use super::http::{AgentCall, AgentTransport, CursorHttp, StreamLease};
use crate::pb::agent_v1 as pb;
use crate::pb::aiserver_v1 as bidi;

/// `AgentService/Run`.
pub(crate) const RUN_PATH: &str = "agent.v1.AgentService/Run";
/// `AgentService/RunSSE`.
pub(crate) const RUN_SSE_PATH: &str = "agent.v1.AgentService/RunSSE";

/// Response bytes of a run; an error ends the run.
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, CursorError>> + Send>>;

/// One encoded `AgentClientMessage`.
pub(crate) type ClientBytes = Bytes;

/// A future that resolves only if the upstream half failed.
pub(crate) type UpstreamFailure = Pin<Box<dyn Future<Output = CursorError> + Send>>;

/// An open run at the byte level.
pub(crate) struct Wire {
    /// The response body: Connect envelopes, whatever content type was declared.
    pub body: ByteStream,
    /// Client messages, sent in order. Dropping every sender closes our side (HTTP/2
    /// half-close; HTTP/1.1: the appender finishes what is queued and stops).
    pub out: mpsc::UnboundedSender<ClientBytes>,
    /// Fires with the error if a client message could not be delivered (an append was
    /// refused or failed); never fires on HTTP/2, where that shows up on `body`.
    pub upstream_failed: UpstreamFailure,
    /// The run's place on an HTTP/2 agent-stream connection (none over HTTP/1.1): hold it
    /// while the run lives.
    pub lease: Option<StreamLease>,
}

/// Opens a run over `transport`: sends `first` (the `run_request`) and returns once the
/// response headers arrived (within `timeout`). Errors before any response byte (HTTP
/// 401, a refused first append, …) are returned here.
pub(crate) async fn open(
    http: &CursorHttp,
    transport: AgentTransport,
    token: &str,
    request_id: &str,
    first: pb::AgentClientMessage,
    timeout: std::time::Duration,
) -> Result<Wire, CursorError> {
    let (out, rx) = mpsc::unbounded_channel::<ClientBytes>();
    out.send(first.encode_to_vec().into())
        .map_err(|_| CursorError::Protocol("request body closed".into()))?;
    let opening = Opening {
        http,
        token,
        request_id,
        timeout,
    };
    let (body, upstream_failed, lease) = match transport {
        AgentTransport::Http2 => {
            let lease = http.stream_lease()?;
            let (body, failed) = opening.http2(lease.client(), rx).await?;
            (body, failed, Some(lease))
        }
        AgentTransport::Http1 => {
            let (body, failed) = opening.http1(rx).await?;
            (body, failed, None)
        }
    };
    Ok(Wire {
        body,
        out,
        upstream_failed,
        lease,
    })
}

/// What opening a run needs, whatever the transport.
struct Opening<'a> {
    http: &'a CursorHttp,
    token: &'a str,
    request_id: &'a str,
    timeout: std::time::Duration,
}

/// The client messages still to send, `run_request` first.
type Outbox = mpsc::UnboundedReceiver<ClientBytes>;

impl Opening<'_> {
    /// POSTs the run's opening `call` to `path` on `client` and waits (at most the
    /// timeout) for the response headers.
    async fn post(
        &self,
        client: &reqwest::Client,
        path: &str,
        call: AgentCall,
        body: impl Into<reqwest::Body>,
    ) -> Result<reqwest::Response, CursorError> {
        let send = client
            .post(self.http.endpoints().api(path))
            .headers(self.http.agent_headers(self.token, self.request_id, call))
            .body(body)
            .send();
        tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| {
                CursorError::Timeout("Cursor did not answer the chat request in time".into())
            })?
            .map_err(CursorError::from_reqwest)
    }

    /// `Run`: every client message is an envelope on the request body.
    async fn http2(
        &self,
        client: &reqwest::Client,
        rx: Outbox,
    ) -> Result<(ByteStream, UpstreamFailure), CursorError> {
        let body = reqwest::Body::wrap_stream(
            tokio_stream::wrappers::UnboundedReceiverStream::new(rx)
                .map(|m| Ok::<_, std::io::Error>(framing::encode(&m))),
        );
        let resp = self.post(client, RUN_PATH, AgentCall::Run, body).await?;
        let resp = check_response(resp, true).await?;
        Ok((byte_stream(resp), Box::pin(std::future::pending())))
    }

    /// `RunSSE` down, one `BidiAppend` per client message up.
    async fn http1(&self, rx: Outbox) -> Result<(ByteStream, UpstreamFailure), CursorError> {
        let body = framing::encode_message(&bidi::BidiRequestId {
            request_id: self.request_id.to_string(),
        });
        let resp = self
            .post(
                self.http.http1_client(),
                RUN_SSE_PATH,
                AgentCall::RunSse,
                body,
            )
            .await?;
        // RunSSE's body is envelope framing whatever content type the edge declares.
        let resp = check_response(resp, false).await?;
        // The service has seen the request id now: appends may follow (reference §9.8).
        let (failed_tx, failed_rx) = oneshot::channel();
        tokio::spawn(append_in_order(
            self.http.clone(),
            self.token.to_string(),
            self.request_id.to_string(),
            rx,
            failed_tx,
        ));
        let upstream_failed: UpstreamFailure = Box::pin(async move {
            match failed_rx.await {
                Ok(e) => e,
                // The appender finished cleanly: nothing will ever fail.
                Err(_) => std::future::pending().await,
            }
        });
        Ok((byte_stream(resp), upstream_failed))
    }
}

/// The appender: one `BidiAppend` per client message, strictly in order, `append_seqno`
/// from 0. Stops at the first failure (reporting it) or when the driver closes its side
/// and the queue is empty.
async fn append_in_order(
    http: CursorHttp,
    token: String,
    request_id: String,
    mut rx: Outbox,
    failed: oneshot::Sender<CursorError>,
) {
    let mut seqno: i64 = 0;
    while let Some(msg) = rx.recv().await {
        let req = append_request(&request_id, seqno, &msg);
        if let Err(e) = http.bidi_append(&token, &request_id, &req).await {
            tracing::debug!(seqno, kind = e.kind(), "BidiAppend failed; ending the run");
            let _ = failed.send(e);
            return;
        }
        seqno += 1;
    }
}

/// `BidiAppendRequest{ data = lowercase hex of the message, request_id, append_seqno }`;
/// `msg` is an encoded `AgentClientMessage`.
pub(crate) fn append_request(request_id: &str, seqno: i64, msg: &[u8]) -> bidi::BidiAppendRequest {
    bidi::BidiAppendRequest {
        data: hex::encode(msg),
        request_id: Some(bidi::BidiRequestId {
            request_id: request_id.to_string(),
        }),
        append_seqno: seqno,
    }
}

/// A non-2xx status, or (when `json_is_error`) a JSON body on a stream path, becomes the
/// Connect error it carries.
async fn check_response(
    resp: reqwest::Response,
    json_is_error: bool,
) -> Result<reqwest::Response, CursorError> {
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !status.is_success() || (json_is_error && is_json) {
        // A unary-style error body on a stream path: an edge or an older server.
        let body = resp.bytes().await.unwrap_or_default();
        return Err(CursorError::from_http(status.as_u16(), &body));
    }
    Ok(resp)
}

fn byte_stream(resp: reqwest::Response) -> ByteStream {
    Box::pin(resp.bytes_stream().map(|r| r.map_err(stream_error)))
}

fn stream_error(e: reqwest::Error) -> CursorError {
    match CursorError::from_reqwest(e) {
        CursorError::Network(m) => CursorError::Network(format!("the stream broke: {m}")),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference Appendix C: `BidiAppendRequest{data:"0a00", request_id:{"abc"}, seqno 1}`.
    #[test]
    fn append_request_matches_the_reference_bytes() {
        let msg = pb::AgentClientMessage {
            message: Some(pb::agent_client_message::Message::RunRequest(
                pb::AgentRunRequest::default(),
            )),
        };
        let req = append_request("abc", 1, &msg.encode_to_vec());
        assert_eq!(req.data, "0a00");
        assert_eq!(
            req.encode_to_vec(),
            [
                0x0a, 0x04, b'0', b'a', b'0', b'0', 0x12, 0x05, 0x0a, 0x03, b'a', b'b', b'c', 0x18,
                0x01
            ]
        );
    }

    #[test]
    fn append_data_is_lowercase_hex_of_the_whole_message() {
        let msg = pb::AgentClientMessage {
            message: Some(pb::agent_client_message::Message::KvClientMessage(
                pb::KvClientMessage {
                    id: 255,
                    message: None,
                },
            )),
        };
        let req = append_request("r", 0, &msg.encode_to_vec());
        assert_eq!(hex::decode(&req.data).unwrap(), msg.encode_to_vec());
        assert!(!req.data.chars().any(|c| c.is_ascii_uppercase()));
    }

    /// Reference Appendix C: the RunSSE body for request id "abc".
    #[test]
    fn run_sse_body_is_one_envelope_of_the_request_id() {
        let body = framing::encode_message(&bidi::BidiRequestId {
            request_id: "abc".into(),
        });
        assert_eq!(&body[..], &[0, 0, 0, 0, 5, 0x0a, 3, b'a', b'b', b'c']);
    }
}
