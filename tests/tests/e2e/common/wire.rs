//! What the fake recorded on the wire must show for a run over each agent transport: the
//! scenarios that run over both (`both!`) check every run they make with [`assert_wire`].

use std::time::Duration;

use cursor_bridge_core::config::settings::AgentTransport;
use cursor_bridge_core::pb::aiserver_v1 as bidi;
use cursor_bridge_tests::{FakeCursor, RecordedRun, RunTransport};
use prost::Message as _;

/// How long the fake may take to record the last append.
const WAIT: Duration = Duration::from_secs(10);

/// The path of `BidiAppend`, the HTTP/1.1 transport's upload half.
pub const APPEND_PATH: &str = "/aiserver.v1.BidiService/BidiAppend";

/// The `BidiAppendRequest`s of run `run` as the fake answered them, in order.
pub fn appends_of(fake: &FakeCursor, run: &RecordedRun) -> Vec<(u16, bidi::BidiAppendRequest)> {
    let id = run
        .request_id
        .as_deref()
        .expect("an HTTP/1.1 run has a request id");
    fake.unary_calls()
        .into_iter()
        .filter(|c| c.path == APPEND_PATH && c.header("x-request-id") == Some(id))
        .map(|c| {
            let req = bidi::BidiAppendRequest::decode(c.body.clone()).expect("append body");
            (c.status, req)
        })
        .collect()
}

/// What must hold for any run over `transport`: the RPC, HTTP version and headers, and
/// for HTTP/1.1 that every recorded client message came as its own in-order append.
pub async fn assert_wire(fake: &FakeCursor, run: &RecordedRun, transport: AgentTransport) {
    assert_eq!(run.header("x-cursor-client-type"), Some("cli"));
    assert!(run.bearer().is_some());
    match transport {
        AgentTransport::Http2 => {
            assert_eq!(run.transport, RunTransport::Http2);
            assert_eq!(run.version, http::Version::HTTP_2);
            assert_eq!(run.appends, 0);
        }
        AgentTransport::Http1 => {
            assert_eq!(run.transport, RunTransport::Http1);
            assert_eq!(run.version, http::Version::HTTP_11, "RunSSE over HTTP/1.1");
            assert_eq!(
                run.header("x-request-id"),
                run.request_id.as_deref(),
                "RunSSE's x-request-id is the run's request id"
            );
            assert_eq!(run.header("x-cursor-streaming"), Some("true"));
            assert_eq!(
                run.header("content-type"),
                Some("application/connect+proto")
            );
            assert!(run.append_error.is_none(), "{:?}", run.append_error);
            assert_eq!(run.appends, run.messages.len());
            // A call is recorded just after its handler answered: let the last one land.
            fake.wait_until(WAIT, |f| appends_of(f, run).len() >= run.appends)
                .await;
            let appends = appends_of(fake, run);
            assert!(
                appends.len() >= run.appends,
                "every message came as an append"
            );
            for (i, (status, req)) in appends.iter().enumerate() {
                assert_eq!(*status, 200);
                assert_eq!(req.append_seqno, i as i64, "seqno from 0, +1 per append");
                assert_eq!(
                    req.request_id.as_ref().map(|r| r.request_id.as_str()),
                    run.request_id.as_deref()
                );
            }
            for ((_, req), msg) in appends.iter().zip(&run.messages) {
                assert_eq!(req.data, hex::encode(msg.encode_to_vec()));
            }
            for call in fake.unary_calls().iter().filter(|c| {
                c.path == APPEND_PATH && c.header("x-request-id") == run.request_id.as_deref()
            }) {
                assert_eq!(call.version, http::Version::HTTP_11);
                assert_eq!(call.header("content-type"), Some("application/proto"));
                assert_eq!(
                    call.bearer(),
                    run.bearer(),
                    "the run's token on every append"
                );
            }
        }
    }
}
