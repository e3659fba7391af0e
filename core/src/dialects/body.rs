//! The request body of every dialect route, read before its handler runs: at most
//! `max_body_bytes`, or a 413 in the dialect's error shape that the client sees even while
//! it is still sending.
//!
//! A server that answers early and closes the connection under an upload makes the
//! client's next write fail (a broken pipe, or a reset that can throw away the answer
//! before the client reads it), so the client never learns *why*. Here an oversized body —
//! known from `Content-Length` at once, or counted as a chunked body streams in — gets its
//! 413 (`Connection: close`) written straight away, and what the client still sends is read
//! and thrown away in the background for at most [`LINGER`] and [`linger_bytes`] (4 ×
//! `max_body_bytes`, at least 1 GiB); then the connection closes. A client that reads while
//! it uploads sees the 413 at once; one that reads only after its last byte still finds it
//! there, for a body up to that bound. Nothing is kept: the discarded bytes cost no memory.
//! A client that sent `Expect: 100-continue` is never asked for the body at all.
//!
//! The refusal is recorded in the ledger, as a body the handler refuses is. The security
//! checks in front of every route answer their refusals (a wrong key, a foreign `Host`)
//! the same way through [`refuse_unread`], so an uploading client sees its 401 or 403 too.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, EXPECT};
use axum::http::{HeaderMap, HeaderValue, Version};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt as _;

use crate::engine::Engine;
use crate::engine::error::ApiError;

/// How long the rest of an oversized body is read and discarded after its 413.
pub(crate) const LINGER: Duration = Duration::from_secs(10);

/// How many bytes of an oversized body are read and discarded after its 413 at most:
/// 4 × the limit, at least 1 GiB (a 300 MiB upload against the default 32 MiB limit still
/// gets its answer).
pub(crate) fn linger_bytes(limit: u64) -> u64 {
    limit.saturating_mul(4).max(1 << 30)
}

/// The middleware: hands the handler the whole body (at most `max_body_bytes`), or answers
/// the refusal itself.
pub(crate) async fn limit(State(engine): State<Arc<Engine>>, req: Request, next: Next) -> Response {
    let limit = engine.settings.max_body_bytes;
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let refused = |e: ApiError| refuse(&engine, &parts.headers, parts.uri.path(), e);
    if declared.is_some_and(|n| n > limit) {
        let mut res = refused(ApiError::too_large(limit));
        if !expects_continue(&parts.headers) {
            linger(body.into_data_stream(), 0, limit, &engine);
        }
        close(&mut res, parts.version);
        return res;
    }
    let mut stream = body.into_data_stream();
    let mut buf = Vec::with_capacity(usize::try_from(declared.unwrap_or(0)).unwrap_or(0));
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) if (buf.len() + c.len()) as u64 > limit => {
                let mut res = refused(ApiError::too_large(limit));
                linger(stream, (buf.len() + c.len()) as u64, limit, &engine);
                close(&mut res, parts.version);
                return res;
            }
            Ok(c) => buf.extend_from_slice(&c),
            Err(e) => {
                return refused(ApiError::malformed(format!(
                    "cannot read the request body: {e}"
                )));
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(Bytes::from(buf))))
        .await
}

/// The refusal in the error shape of `path`'s dialect, recorded in the ledger.
fn refuse(engine: &Engine, headers: &HeaderMap, path: &str, e: ApiError) -> Response {
    let dialect = super::dialect_of_path(path);
    engine.refused(dialect, super::client_name(headers), &e);
    super::error_response(dialect, e)
}

fn expects_continue(headers: &HeaderMap) -> bool {
    headers
        .get(EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("100-continue"))
}

/// Sends `res` for a request whose body nobody will read: the rest of the body is read
/// and discarded in the background (as after a 413), and an HTTP/1 connection closes
/// after the answer. A request without a body is answered as is.
pub(crate) fn refuse_unread(engine: &Engine, req: Request, mut res: Response) -> Response {
    let sized = req
        .headers()
        .get(CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0");
    let chunked = req
        .headers()
        .contains_key(axum::http::header::TRANSFER_ENCODING);
    if (sized || chunked) && !expects_continue(req.headers()) {
        close(&mut res, req.version());
        let limit = engine.settings.max_body_bytes;
        linger(req.into_body().into_data_stream(), 0, limit, engine);
    }
    res
}

/// `Connection: close` on an HTTP/1 answer: the connection cannot be reused once a body
/// was left unread (HTTP/2 has no such header; its stream just ends).
fn close(res: &mut Response, version: Version) {
    if version < Version::HTTP_2 {
        res.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
}

/// Reads and discards the rest of `body` in the background (see the module doc), so the
/// connection stays open while the answer travels. The task ends on its own: at the
/// body's end, a read error, the bounds, or the proxy's shutdown.
fn linger(mut body: axum::body::BodyDataStream, mut seen: u64, limit: u64, engine: &Engine) {
    let max = linger_bytes(limit);
    let shutdown = engine.shutdown.clone();
    tokio::spawn(async move {
        let drain = async {
            while let Some(Ok(c)) = body.next().await {
                seen = seen.saturating_add(c.len() as u64);
                if seen > max {
                    break;
                }
            }
        };
        tokio::select! {
            () = drain => {}
            () = tokio::time::sleep(LINGER) => {}
            () = shutdown.cancelled() => {}
        }
    });
}
