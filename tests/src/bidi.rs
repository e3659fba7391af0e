//! The HTTP/1.1 agent transport (reference §3.2): `POST /agent.v1.AgentService/RunSSE`
//! (body: one envelope holding `BidiRequestId`) streams the server's messages, and every
//! client message arrives as its own `POST /aiserver.v1.BidiService/BidiAppend`.
//!
//! The two meet by request id in a [`Slot`], opened by the `RunSSE`. An append for a
//! request id no `RunSSE` has opened yet is refused (`not_found`) and recorded in
//! [`crate::FakeCursor::appends_before_run_sse`]: the service may lose such an append
//! (reference §9.8), so a client must wait for `RunSSE`'s response headers before its first
//! append. Each append is checked — bearer token,
//! `application/proto`, `x-request-id` equal to the body's request id, `data` lowercase
//! hex of a decodable `AgentClientMessage`, `append_seqno` exactly the next one from 0 —
//! and a violation answers a Connect error and fails the run (`append_error`, then an
//! `invalid_argument` end-of-stream if the script is waiting for the client).
//!
//! Accepted messages are recorded and fed to the same scripted engine `Run` uses
//! ([`run::play`]), so every [`crate::Turn`] plays identically over both transports.
//! `RunSSE` answers its response headers at once, as the service does (§9.8: working
//! clients wait for them); `run_sse_delay` makes the fake take its time to see a `RunSSE`
//! first, as a slow edge does, so an append sent early is reliably refused.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use cursor_bridge_core::cursor::framing::{Decoder, Frame};
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_core::pb::aiserver_v1 as bidi;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::connect::error_response;
use crate::record::{RunEnd, RunTransport};
use crate::run::{self, Inbound};
use crate::slot::{Append, Slot};
use crate::state::Shared;

/// The downstream RPC.
pub(crate) const RUN_SSE_PATH: &str = "/agent.v1.AgentService/RunSSE";
/// The upstream RPC.
pub(crate) const APPEND_PATH: &str = "/aiserver.v1.BidiService/BidiAppend";
/// What `RunSSE` responses declare. Not Connect's streaming type on purpose: edges relabel
/// this stream, and the body is envelope framing whatever the label (reference §3.2).
const SSE_CONTENT_TYPE: &str = "text/event-stream";

/// `RunSSE`.
pub(crate) async fn run_sse(
    State(shared): State<Arc<Shared>>,
    version: http::Version,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let index = run::new_run(&shared, &headers, version, RunTransport::Http1);
    if let Some(refused) = run::refuse(&shared, index, &headers, "RunSSE", SSE_CONTENT_TYPE) {
        return refused;
    }
    let bad = |status: u16, code: &str, msg: String| {
        run::finish(&shared, index, RunEnd::Http(status));
        error_response(status, code, &msg)
    };
    let request_id = match parse_request_id(&body) {
        Ok(id) => id,
        Err(msg) => return bad(400, "invalid_argument", msg),
    };
    let delay = shared.cfg.run_sse_delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    shared.update_run(index, |r| r.request_id = Some(request_id.clone()));
    let header_id = header(&headers, "x-request-id");
    if header_id != Some(request_id.as_str()) {
        return bad(
            400,
            "invalid_argument",
            format!(
                "x-request-id {header_id:?} is not the run's request id {request_id:?} (they must be equal)"
            ),
        );
    }
    let rx = shared.update(|s| {
        s.bidi
            .entry(request_id.clone())
            .or_insert_with(Slot::new)
            .rx
            .take()
    });
    let Some(rx) = rx else {
        return bad(
            409,
            "already_exists",
            format!("a RunSSE for request id {request_id:?} was already opened"),
        );
    };
    shared.update_run(index, |r| r.authorized = true);

    let (in_tx, inbox) = mpsc::unbounded_channel();
    let done = CancellationToken::new();
    tokio::spawn(forward(shared.clone(), index, rx, in_tx, done.clone()));
    run::play(shared, index, inbox, done, SSE_CONTENT_TYPE)
}

/// `BidiAppend`.
pub(crate) async fn bidi_append(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err((status, e)) = shared.check_client_version(&headers) {
        return crate::connect::unary_error_response(status, &e);
    }
    if let Err(msg) = shared.check_bearer(&headers) {
        return error_response(401, "unauthenticated", &msg);
    }
    let ct = header(&headers, "content-type").unwrap_or_default();
    if !ct.starts_with("application/proto") {
        return error_response(
            415,
            "unimplemented",
            &format!("BidiAppend is Connect unary: it needs application/proto, not {ct:?}"),
        );
    }
    let req = match bidi::BidiAppendRequest::decode(body) {
        Ok(r) => r,
        Err(e) => {
            return error_response(
                400,
                "invalid_argument",
                &format!("undecodable BidiAppendRequest: {e}"),
            );
        }
    };
    let id = req
        .request_id
        .as_ref()
        .map(|r| r.request_id.clone())
        .unwrap_or_default();
    if id.is_empty() {
        return error_response(
            400,
            "invalid_argument",
            "BidiAppendRequest.request_id is missing",
        );
    }
    let decoded = check_append(&headers, &id, &req.data);
    let seqno = req.append_seqno;
    let injected = shared
        .cfg
        .fail_append
        .clone()
        .filter(|(n, _)| *n == seqno)
        .map(|(_, e)| e);
    let verdict = shared.update(|s| {
        let Some(slot) = s.bidi.get_mut(&id) else {
            s.appends_before_run_sse.push((id.clone(), seqno));
            return Err((
                404,
                "not_found".to_string(),
                format!(
                    "no RunSSE is open for request id {id:?}: an append before its RunSSE is lost (open RunSSE and wait for its headers first)"
                ),
            ));
        };
        if let Some(why) = &slot.failed {
            return Err((
                400,
                "failed_precondition".to_string(),
                format!("run {id:?} already failed: {why}"),
            ));
        }
        let violation = |slot: &mut Slot, why: String| {
            slot.fail(why.clone(), Append::Violation(why.clone()));
            Err((400, "invalid_argument".to_string(), why))
        };
        let msg = match decoded {
            Ok(m) => m,
            Err(why) => return violation(slot, format!("append {seqno}: {why}")),
        };
        if seqno != slot.next_seqno {
            let kind = if seqno < slot.next_seqno {
                "a repeat"
            } else {
                "a gap"
            };
            return violation(
                slot,
                format!(
                    "append_seqno {seqno} where {} was expected ({kind})",
                    slot.next_seqno
                ),
            );
        }
        if let Some(e) = injected {
            let why = format!(
                "append {seqno} refused as scripted: {} {}",
                e.code, e.message
            );
            slot.fail(why.clone(), Append::Refused(why));
            return Err((e.status, e.code, e.message));
        }
        slot.next_seqno += 1;
        slot.accepted += 1;
        // The slot outlives its run; an append after the run ended is accepted and dropped.
        let _ = slot.tx.send(Append::Msg(msg.0, msg.1));
        Ok(())
    });
    match verdict {
        Ok(()) => Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/proto")
            .body(Body::from(bidi::BidiAppendResponse {}.encode_to_vec()))
            .unwrap_or_default(),
        Err((status, code, message)) => error_response(status, &code, &message),
    }
}

/// The run-level checks of one append: its `x-request-id`, then `data` as lowercase hex
/// of an `AgentClientMessage`.
fn check_append(
    headers: &HeaderMap,
    id: &str,
    data: &str,
) -> Result<(pb::AgentClientMessage, Vec<u8>), String> {
    let header_id = header(headers, "x-request-id");
    if header_id != Some(id) {
        return Err(format!(
            "x-request-id {header_id:?} is not the body's request id {id:?}"
        ));
    }
    if data.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("data is not lowercase hex".into());
    }
    let bytes = hex::decode(data).map_err(|e| format!("data is not hex: {e}"))?;
    let msg = pb::AgentClientMessage::decode(bytes.as_slice())
        .map_err(|e| format!("data is not an AgentClientMessage: {e}"))?;
    Ok((msg, bytes))
}

/// `RunSSE`'s body: exactly one data envelope holding a non-empty `BidiRequestId`.
fn parse_request_id(body: &[u8]) -> Result<String, String> {
    let mut dec = Decoder::default();
    dec.push(body);
    let frame = dec
        .next_frame()
        .map_err(|e| format!("RunSSE body: {e}"))?
        .ok_or("RunSSE body is not one whole envelope")?;
    if dec.buffered() != 0 {
        return Err("RunSSE body holds more than one envelope".into());
    }
    let Frame::Message(payload) = frame else {
        return Err("RunSSE body is an end-of-stream frame".into());
    };
    let id = bidi::BidiRequestId::decode(payload)
        .map_err(|e| format!("undecodable BidiRequestId: {e}"))?
        .request_id;
    if id.is_empty() {
        return Err("BidiRequestId.request_id is empty".into());
    }
    Ok(id)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Records the run's appended messages and hands them to the script, in order; keeps
/// recording for the drain grace after the script finished (a late cancel is seen).
async fn forward(
    shared: Arc<Shared>,
    index: usize,
    mut rx: mpsc::UnboundedReceiver<Append>,
    tx: mpsc::UnboundedSender<Inbound>,
    done: CancellationToken,
) {
    let grace = shared.cfg.drain_grace;
    loop {
        let next = tokio::select! {
            a = rx.recv() => a,
            _ = shared.shutdown.cancelled() => return,
            _ = async { done.cancelled().await; tokio::time::sleep(grace).await } => return,
        };
        let Some(append) = next else { return };
        match append {
            Append::Msg(m, raw) => {
                run::record_client_msg(&shared, index, &m, &raw, true);
                let _ = tx.send(Inbound::Msg(m));
            }
            Append::Violation(why) => {
                record_failure(&shared, index, &why);
                let _ = tx.send(Inbound::Bad(why));
            }
            Append::Refused(why) => record_failure(&shared, index, &why),
        }
    }
}

fn record_failure(shared: &Shared, index: usize, why: &str) {
    shared.update_run(index, |r| {
        r.append_error.get_or_insert_with(|| why.to_string());
    });
}
