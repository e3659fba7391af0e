//! Hostile and broken requests against the real proxy, as raw bytes on a TCP socket: wrong
//! JSON types, a 20 MB string, 100 000 nested arrays, invalid UTF-8, unknown roles and
//! tool ids, foreign `Host` / `Origin`, missing and wrong keys, bodies over the limit (with
//! and without `Content-Length`), an empty body, the wrong content type, the wrong method
//! and an unknown path.
//!
//! Every row must get its status and OpenAI error JSON (`type`, `code`, `param`) promptly,
//! and none may disturb anything else: afterwards a normal chat works, `/health` is ok,
//! the fake Cursor saw a run only for the requests that were valid, and the ledger holds
//! exactly the rows the handler records (refusals by the guard, the router and the
//! content-type check happen before it and are not recorded).

use crate::common;

use std::time::{Duration, Instant};

use cursor_bridge_core::store::ledger::{self, Range};
use cursor_bridge_tests::FakeCursor;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use common::Harness;
use common::proxy::Proxy;

/// A response must be complete within this (a hang or a slow path fails the row).
const PROMPT: Duration = Duration::from_secs(5);

/// What goes over the wire.
#[derive(Clone)]
enum Body {
    /// With `Content-Length`.
    Sized(Vec<u8>),
    /// `Transfer-Encoding: chunked`, in 64 KiB chunks, no `Content-Length`.
    Chunked(Vec<u8>),
}

/// One hostile request and what it must get.
struct Row {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    /// Header overrides: `(name, Some(value))` sets, `(name, None)` removes.
    headers: Vec<(&'static str, Option<String>)>,
    body: Body,
    status: u16,
    /// OpenAI error `type` and `code`; `None` for a row that must succeed.
    error: Option<(&'static str, &'static str)>,
    param: Option<&'static str>,
}

impl Row {
    fn post(name: &'static str, body: impl Into<Vec<u8>>) -> Row {
        Row {
            name,
            method: "POST",
            path: "/v1/chat/completions",
            headers: Vec::new(),
            body: Body::Sized(body.into()),
            status: 200,
            error: None,
            param: None,
        }
    }

    fn json(name: &'static str, body: Value) -> Row {
        Row::post(name, body.to_string())
    }

    fn header(mut self, name: &'static str, value: Option<&str>) -> Row {
        self.headers.push((name, value.map(str::to_string)));
        self
    }

    fn chunked(mut self) -> Row {
        if let Body::Sized(b) = self.body {
            self.body = Body::Chunked(b);
        }
        self
    }

    fn method(mut self, method: &'static str, path: &'static str) -> Row {
        self.method = method;
        self.path = path;
        self
    }

    fn expect(mut self, status: u16, kind: &'static str, code: &'static str) -> Row {
        self.status = status;
        self.error = Some((kind, code));
        self
    }

    fn param(mut self, param: &'static str) -> Row {
        self.param = Some(param);
        self
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Tries to parse a complete response out of `buf` (`Content-Length` or chunked bodies).
fn parse_response(buf: &[u8]) -> Option<Raw> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).expect("response head is ASCII");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()?
        .split(' ')
        .nth(1)?
        .parse()
        .expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &buf[end + 4..];
    let raw = |body| Raw {
        status,
        headers: headers.clone(),
        body,
    };
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if let Some(len) = find("content-length") {
        let len: usize = len.parse().expect("content-length");
        return (rest.len() >= len).then(|| raw(rest[..len].to_vec()));
    }
    if find("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        let mut body = Vec::new();
        let mut at = rest;
        loop {
            let line_end = at.windows(2).position(|w| w == b"\r\n")?;
            let size = usize::from_str_radix(
                std::str::from_utf8(&at[..line_end])
                    .ok()?
                    .split(';')
                    .next()?,
                16,
            )
            .ok()?;
            at = &at[line_end + 2..];
            if size == 0 {
                return Some(raw(body));
            }
            if at.len() < size + 2 {
                return None;
            }
            body.extend_from_slice(&at[..size]);
            at = &at[size + 2..];
        }
    }
    None
}

/// Sends `row` on a fresh connection and reads the response while the body is still being
/// written (a server may answer early, e.g. 413, and stop reading).
async fn send(p: &Proxy, row: &Row) -> (Raw, Duration) {
    let addr = p.base.trim_start_matches("http://").to_string();
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), addr.clone()),
        ("authorization".into(), format!("Bearer {}", p.key)),
        ("content-type".into(), "application/json".into()),
        ("connection".into(), "close".into()),
    ];
    for (name, value) in &row.headers {
        headers.retain(|(n, _)| n != name);
        if let Some(v) = value {
            headers.push((name.to_string(), v.clone()));
        }
    }
    let (payload, chunked) = match &row.body {
        Body::Sized(b) => (b.clone(), false),
        Body::Chunked(b) => (b.clone(), true),
    };
    if chunked {
        headers.push(("transfer-encoding".into(), "chunked".into()));
    } else if row.method != "GET" {
        headers.push(("content-length".into(), payload.len().to_string()));
    }
    let head = request_head(row.method, row.path, &headers);

    let started = Instant::now();
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    // The writer goes on in the background; a server that answered early may close the
    // connection under it, which is fine.
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        write_body(&mut wr, payload.chunks(64 * 1024), chunked).await?;
        Ok::<_, std::io::Error>(wr)
    });
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(r) = parse_response(&buf) {
                return r;
            }
            match rd.read(&mut chunk).await {
                Ok(0) => panic!(
                    "{}: the connection closed before a whole response arrived ({} bytes: {:?})",
                    row.name,
                    buf.len(),
                    String::from_utf8_lossy(&buf)
                ),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!(
                    "{}: reading the response failed after {} bytes: {e}",
                    row.name,
                    buf.len()
                ),
            }
        }
    };
    let res = tokio::time::timeout(PROMPT, read)
        .await
        .unwrap_or_else(|_| panic!("{}: no complete response within {PROMPT:?}", row.name));
    let elapsed = started.elapsed();
    writer.abort();
    (res, elapsed)
}

/// An HTTP/1.1 request head with `headers`.
fn request_head(method: &str, path: &str, headers: &[(String, String)]) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// Writes `pieces` as the body: as they are, or each one a chunk of a chunked body.
async fn write_body<'a>(
    wr: &mut (impl tokio::io::AsyncWrite + Unpin),
    pieces: impl Iterator<Item = &'a [u8]>,
    chunked: bool,
) -> std::io::Result<()> {
    for piece in pieces {
        write_body_piece(wr, piece, chunked).await?;
    }
    if chunked {
        wr.write_all(b"0\r\n\r\n").await?;
    }
    wr.flush().await
}

/// Stops the proxy (its ledger writes land) and reads today's usage report.
async fn stopped_report(p: &mut Proxy) -> ledger::UsageReport {
    p.stop().await;
    p.ledger()
        .report(Range::Day, ledger::unix_now_ms() + 1000)
        .await
        .expect("report")
}

fn chat(content: Value) -> Value {
    json!({"model": "auto", "messages": [{"role": "user", "content": content}]})
}

fn table() -> Vec<Row> {
    let user = json!({"role": "user", "content": "hi"});
    let call = |id: &str| json!({"id": id, "type": "function", "function": {"name": "f", "arguments": "{}"}});
    let mut deep = br#"{"model": "auto", "messages": "#.to_vec();
    deep.extend(std::iter::repeat_n(b'[', 100_000));
    let mut bad_utf8 = br#"{"messages": [{"role": "user", "content": "caf"#.to_vec();
    bad_utf8.extend_from_slice(&[0xC3, 0x28, 0xFF, 0xFE]);
    bad_utf8.extend_from_slice(br#""}]}"#);
    // Over the default 32 MiB `max_body_bytes`, as valid JSON so only its size is wrong.
    let over = chat(json!("y".repeat(33 * 1024 * 1024)))
        .to_string()
        .into_bytes();
    let invalid = ("invalid_request_error", "invalid_request");
    let malformed = ("invalid_request_error", "invalid_json");

    vec![
        Row::json("messages as a string", json!({"model": "auto", "messages": "hello"}))
            .expect(400, invalid.0, invalid.1)
            .param("messages"),
        Row::json("content as a number", chat(json!(42)))
            .expect(400, invalid.0, invalid.1)
            .param("messages[0].content"),
        Row::json(
            "temperature as a word",
            json!({"model": "auto", "messages": [user], "temperature": "hot"}),
        )
        .expect(400, invalid.0, invalid.1)
        .param("temperature"),
        Row::json(
            "stream as a word",
            json!({"model": "auto", "messages": [user], "stream": "yes"}),
        )
        .expect(400, invalid.0, invalid.1)
        .param("stream"),
        // 20 MB of text is under the 32 MiB limit: it is a real request and goes to Cursor.
        Row::json("a 20 MB content string", chat(json!("z".repeat(20_000_000)))),
        Row::post("100 000 nested arrays", deep).expect(400, malformed.0, malformed.1),
        Row::post("invalid UTF-8 inside a string", bad_utf8).expect(400, malformed.0, malformed.1),
        Row::json(
            "an unknown role",
            json!({"messages": [{"role": "wizard", "content": "x"}]}),
        )
        .expect(400, invalid.0, invalid.1)
        .param("messages[0].role"),
        Row::json(
            "a tool result for an id nobody called",
            json!({"messages": [user, {"role": "tool", "tool_call_id": "call_nobody", "content": "x"}]}),
        )
        .expect(400, invalid.0, invalid.1)
        .param("messages[1].tool_call_id"),
        Row::json(
            "a tool result for an id another call made",
            json!({"messages": [user,
                {"role": "assistant", "content": null, "tool_calls": [call("call_a")]},
                {"role": "tool", "tool_call_id": "call_b", "content": "x"}]}),
        )
        .expect(400, invalid.0, invalid.1)
        .param("messages[2].tool_call_id"),
        Row::json(
            "a duplicated tool-call id",
            json!({"messages": [user,
                {"role": "assistant", "content": null, "tool_calls": [call("call_a"), call("call_a")]},
                {"role": "tool", "tool_call_id": "call_a", "content": "x"}]}),
        )
        .expect(400, invalid.0, invalid.1)
        .param("messages[1].tool_calls[1].id"),
        Row::json("a foreign Host", chat(json!("hi")))
            .header("host", Some("evil.example"))
            .expect(403, "permission_error", "invalid_host"),
        Row::json("a browser Origin", chat(json!("hi")))
            .header("origin", Some("https://evil.example"))
            .expect(403, "permission_error", "origin_not_allowed"),
        Row::json("no key", chat(json!("hi")))
            .header("authorization", None)
            .expect(401, "authentication_error", "invalid_api_key"),
        Row::json("a wrong key", chat(json!("hi")))
            .header("authorization", Some("Bearer cb-not-the-key"))
            .expect(401, "authentication_error", "invalid_api_key"),
        Row::post("a body over max_body_bytes with Content-Length", over.clone()).expect(
            413,
            "invalid_request_error",
            "request_too_large",
        ),
        Row::post("a chunked body over max_body_bytes", over)
            .chunked()
            .expect(413, "invalid_request_error", "request_too_large"),
        Row::post("an empty body", Vec::new()).expect(400, malformed.0, malformed.1),
        Row::json("text/plain", chat(json!("hi")))
            .header("content-type", Some("text/plain"))
            .expect(415, "invalid_request_error", "unsupported_media_type"),
        Row::json("a form", chat(json!("hi")))
            .header("content-type", Some("application/x-www-form-urlencoded"))
            .expect(415, "invalid_request_error", "unsupported_media_type"),
        Row::post("GET on the POST route", Vec::new())
            .method("GET", "/v1/chat/completions")
            .expect(405, "invalid_request_error", "method_not_allowed"),
        Row::post("DELETE on a GET route", Vec::new())
            .method("DELETE", "/v1/models")
            .expect(405, "invalid_request_error", "method_not_allowed"),
        Row::post("an unknown path", Vec::new())
            .method("GET", "/v1/engines")
            .expect(404, "invalid_request_error", "unknown_url"),
    ]
}

#[tokio::test]
async fn hostile_requests_get_clean_openai_errors_and_disturb_nothing() {
    let fake = FakeCursor::builder().start().await;
    let mut p = Proxy::start(Harness::signed_in(fake).await).await;
    let rows = table();
    let mut valid = 0;
    for row in &rows {
        let (res, took) = send(&p, row).await;
        let body: Value = serde_json::from_slice(&res.body).unwrap_or_else(|e| {
            panic!(
                "{}: the body is not JSON ({e}): {:?}",
                row.name,
                String::from_utf8_lossy(&res.body)
            )
        });
        assert_eq!(res.status, row.status, "{}: {body}", row.name);
        assert!(
            res.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{}: {:?}",
            row.name,
            res.headers
        );
        assert!(
            res.header("access-control-allow-origin").is_none(),
            "{}: no CORS ever",
            row.name
        );
        if res.status == 405 {
            let allow = if row.path.ends_with("/chat/completions") {
                "POST"
            } else {
                "GET, HEAD"
            };
            assert_eq!(res.header("allow"), Some(allow), "{}", row.name);
        }
        match row.error {
            Some((kind, code)) => {
                let e = &body["error"];
                assert_eq!(e["type"], kind, "{}: {body}", row.name);
                assert_eq!(e["code"], code, "{}: {body}", row.name);
                assert!(
                    e["message"].as_str().is_some_and(|m| !m.is_empty()),
                    "{}: {body}",
                    row.name
                );
                match row.param {
                    Some(param) => assert_eq!(e["param"], param, "{}: {body}", row.name),
                    None => assert!(e["param"].is_null(), "{}: {body}", row.name),
                }
            }
            None => {
                valid += 1;
                assert_eq!(
                    body["choices"][0]["message"]["content"], "Hello from the fake Cursor.",
                    "{}",
                    row.name
                );
            }
        }
        // 20 MB through a debug build takes a while; nothing else may.
        assert!(took < PROMPT, "{} took {took:?}", row.name);
    }

    // The 20 MB prompt reached Cursor whole.
    let runs = p.fake().runs();
    assert_eq!(runs.len(), valid, "only valid requests reach Cursor");
    assert_eq!(
        runs[0].user_text().map(str::len),
        Some(20_000_000),
        "the big prompt arrived whole"
    );

    // Nothing else was disturbed.
    let ok = p.post(&chat(json!("still there?"))).await;
    assert_eq!(ok.status(), 200);
    let ok: Value = ok.json().await.expect("json");
    assert_eq!(
        ok["choices"][0]["message"]["content"],
        "Hello from the fake Cursor."
    );
    let health = p.health().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["signed_in"], true);
    assert_eq!(health["parked_streams"], 0);
    assert_eq!(health["ledger"]["ok"], true);
    assert_eq!(p.fake().run_count(), valid + 1, "{:#?}", p.fake().runs());

    // The ledger: the handler records what reached it (parsed or refused bodies); the
    // guard (Host, Origin, key), the router (path, method) and the content-type check
    // refuse before it and record nothing.
    let report = stopped_report(&mut p).await;
    let mut kinds: Vec<(String, u64)> = report
        .errors_by_kind
        .iter()
        .map(|e| (e.kind.clone(), e.count))
        .collect();
    kinds.sort();
    let expected_400 = rows
        .iter()
        .filter(|r| r.error.is_some_and(|(_, c)| c == "invalid_request"))
        .count() as u64;
    let expected_json = rows
        .iter()
        .filter(|r| r.error.is_some_and(|(_, c)| c == "invalid_json"))
        .count() as u64;
    assert_eq!(
        kinds,
        vec![
            ("invalid_json".to_string(), expected_json),
            ("invalid_request".to_string(), expected_400),
            ("request_too_large".to_string(), 2),
        ]
    );
    assert_eq!(
        report.totals.requests,
        expected_400 + expected_json + 2 + valid as u64 + 1
    );
}

/// How an oversized upload is sent in [`upload`].
#[derive(Clone, Copy, Debug)]
enum Reader {
    /// Reads while it uploads, and stops sending after [`PAUSE_AT`] bytes until the whole
    /// answer arrived (so the answer provably came while the upload was unfinished).
    Concurrent,
    /// Sends every byte first, then reads (what simple clients do).
    AfterUpload,
}

/// Where a [`Reader::Concurrent`] upload waits for the answer.
const PAUSE_AT: u64 = 8 * 1024 * 1024;

/// What [`upload`] saw.
struct Upload {
    res: Raw,
    /// Body bytes written when the whole answer had arrived.
    written_at_answer: u64,
    /// Whether every byte of the body went out (no broken pipe, no reset).
    sent_all: std::io::Result<u64>,
    /// Whether the connection then ended with a clean close (not a reset).
    clean_close: std::io::Result<()>,
}

/// POSTs a `total`-byte body (as `Content-Length` or chunked) to `path` on a raw socket,
/// with the proxy's key unless `key` says otherwise.
async fn upload(
    p: &Proxy,
    path: &str,
    total: u64,
    chunked: bool,
    reader: Reader,
    key: Option<&str>,
) -> Upload {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let addr = p.base.trim_start_matches("http://").to_string();
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), addr.clone()),
        ("content-type".into(), "application/json".into()),
    ];
    if let Some(key) = key {
        headers.push(("authorization".into(), format!("Bearer {key}")));
    }
    headers.push(if chunked {
        ("transfer-encoding".into(), "chunked".into())
    } else {
        ("content-length".into(), total.to_string())
    });
    let head = request_head("POST", path, &headers);
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let (mut rd, mut wr) = stream.into_split();
    let written = Arc::new(AtomicU64::new(0));
    let (answered_tx, answered_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = {
        let written = written.clone();
        async move {
            const PIECE: usize = 1024 * 1024;
            let piece = vec![b' '; PIECE];
            wr.write_all(head.as_bytes()).await?;
            let mut answered = Some(answered_rx);
            let mut sent = 0u64;
            while sent < total {
                if matches!(reader, Reader::Concurrent)
                    && sent >= PAUSE_AT
                    && let Some(rx) = answered.take()
                {
                    let _ = rx.await;
                }
                let n = PIECE.min(usize::try_from(total - sent).expect("fits"));
                write_body_piece(&mut wr, &piece[..n], chunked).await?;
                sent += n as u64;
                written.store(sent, Ordering::SeqCst);
            }
            write_body(&mut wr, std::iter::empty(), chunked).await?;
            Ok::<_, std::io::Error>(sent)
        }
    };
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        let res = loop {
            if let Some(r) = parse_response(&buf) {
                break r;
            }
            match rd.read(&mut chunk).await {
                Ok(0) => panic!(
                    "{path}: the connection closed before a whole response arrived ({} bytes)",
                    buf.len()
                ),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!(
                    "{path}: reading the response failed after {} bytes: {e}",
                    buf.len()
                ),
            }
        };
        let at = written.load(Ordering::SeqCst);
        let _ = answered_tx.send(());
        (res, at)
    };
    let (res, written_at_answer, sent_all) = match reader {
        Reader::Concurrent => {
            let (sent, (res, at)) = tokio::join!(writer, read);
            (res, at, sent)
        }
        Reader::AfterUpload => {
            let sent = writer.await;
            let (res, at) = read.await;
            (res, at, sent)
        }
    };
    // After its answer the server reads the rest and closes: EOF, never a reset.
    let mut rest = Vec::new();
    let clean_close = rd.read_to_end(&mut rest).await.map(|_| ());
    Upload {
        res,
        written_at_answer,
        sent_all,
        clean_close,
    }
}

/// One piece of a body: as it is, or as one chunk.
async fn write_body_piece(
    wr: &mut (impl tokio::io::AsyncWrite + Unpin),
    piece: &[u8],
    chunked: bool,
) -> std::io::Result<()> {
    if chunked {
        wr.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .await?;
        wr.write_all(piece).await?;
        wr.write_all(b"\r\n").await
    } else {
        wr.write_all(piece).await
    }
}

/// Issue 15: a 300 MiB POST against the limit used to end in a broken pipe — the proxy
/// answered 413 and closed under the upload, so the client never saw why. Now the 413
/// (in the dialect's error shape, `Connection: close`) reaches a client still sending,
/// the rest of its body is read and discarded, and the connection closes cleanly; a client
/// that reads only after its last byte finds the 413 too. Over `Content-Length` and
/// chunked, in the OpenAI and the Anthropic shape.
#[tokio::test]
async fn an_oversized_upload_sees_its_413_while_still_sending_not_a_broken_pipe() {
    const LIMIT: u64 = 1024 * 1024;
    const TOTAL: u64 = 300 * 1024 * 1024;
    let fake = FakeCursor::builder().start().await;
    let mut p = Proxy::start_with(Harness::signed_in(fake).await, |s| {
        s.max_body_bytes = LIMIT;
    })
    .await;
    let mut refused = 0;
    for (path, reader, chunked) in [
        ("/v1/chat/completions", Reader::Concurrent, false),
        ("/v1/chat/completions", Reader::Concurrent, true),
        ("/v1/messages", Reader::Concurrent, true),
        ("/v1/responses", Reader::Concurrent, false),
        ("/v1/chat/completions", Reader::AfterUpload, false),
        ("/v1/messages", Reader::AfterUpload, true),
    ] {
        let what = format!("{path} {reader:?} chunked={chunked}");
        let up = upload(&p, path, TOTAL, chunked, reader, Some(&p.key)).await;
        assert_eq!(up.res.status, 413, "{what}");
        assert_eq!(up.res.header("connection"), Some("close"), "{what}");
        let body: Value = serde_json::from_slice(&up.res.body).expect("error JSON");
        let code = if path == "/v1/messages" {
            assert_eq!(body["type"], "error", "{what}: {body}");
            &body["error"]["type"]
        } else {
            &body["error"]["code"]
        };
        assert_eq!(code, "request_too_large", "{what}: {body}");
        assert!(
            body.to_string().contains(&LIMIT.to_string()),
            "{what}: names the limit: {body}"
        );
        if matches!(reader, Reader::Concurrent) {
            assert!(
                up.written_at_answer < TOTAL,
                "{what}: the answer came while uploading ({} of {TOTAL} bytes sent)",
                up.written_at_answer
            );
        }
        assert_eq!(
            up.sent_all.as_ref().ok(),
            Some(&TOTAL),
            "{what}: every byte went out: {:?}",
            up.sent_all
        );
        assert!(up.clean_close.is_ok(), "{what}: {:?}", up.clean_close);
        refused += 1;
    }

    // Nothing reached Cursor, each refusal is in the ledger, and the proxy still serves.
    assert_eq!(p.fake().run_count(), 0);
    let ok = p.post(&chat(json!("still there?"))).await;
    assert_eq!(ok.status(), 200);
    let report = stopped_report(&mut p).await;
    let too_large = report
        .errors_by_kind
        .iter()
        .find(|e| e.kind == "request_too_large")
        .map(|e| e.count);
    assert_eq!(too_large, Some(refused));
}

/// Issue 15: the security checks refuse before any handler reads the body; closing under
/// the upload gave a client with a wrong key a broken pipe instead of its 401. Now it sees
/// the 401 even when it reads only after its last byte (every refusal of the security
/// checks, 403 and 415 too, goes the same way).
#[tokio::test]
async fn a_refused_upload_sees_its_401_not_a_broken_pipe() {
    const TOTAL: u64 = 64 * 1024 * 1024;
    let fake = FakeCursor::builder().start().await;
    let p = Proxy::start(Harness::signed_in(fake).await).await;
    for (key, chunked, status, code) in [
        (None, false, 401, "invalid_api_key"),
        (Some("cb-wrong"), true, 401, "invalid_api_key"),
    ] {
        let up = upload(
            &p,
            "/v1/chat/completions",
            TOTAL,
            chunked,
            Reader::AfterUpload,
            key,
        )
        .await;
        assert_eq!(up.res.status, status);
        let body: Value = serde_json::from_slice(&up.res.body).expect("error JSON");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert_eq!(up.res.header("connection"), Some("close"));
        assert_eq!(up.sent_all.as_ref().ok(), Some(&TOTAL), "{:?}", up.sent_all);
        assert!(up.clean_close.is_ok(), "{:?}", up.clean_close);
    }
    assert_eq!(p.fake().run_count(), 0);
}

/// Issue 15: a `model` is a name, not a payload, before it reaches the logs or the ledger
/// (at most 256 characters of printable ASCII without spaces, quotes or backslashes), and
/// a body cannot hold unbounded arrays (10 000 messages, 1 000 tools, 1 000 content parts
/// in a message): each is a 400 naming the field, in every dialect's own shape.
#[tokio::test]
async fn model_names_and_array_lengths_are_capped_in_every_dialect() {
    let fake = FakeCursor::builder().start().await;
    let p = Proxy::start(Harness::signed_in(fake).await).await;
    let many = |n: usize, item: &dyn Fn(usize) -> Value| (0..n).map(item).collect::<Vec<_>>();
    let user = json!({"role": "user", "content": "hi"});
    struct Dialect<'a> {
        path: &'a str,
        base: Value,
        list: &'a str,
        tool: &'a dyn Fn(usize) -> Value,
        part: Value,
        part_path: &'a str,
    }
    let dialects = [
        Dialect {
            path: "/v1/chat/completions",
            base: json!({"model": "auto", "messages": [user]}),
            list: "messages",
            tool: &|i| json!({"type": "function", "function": {"name": format!("t{i}"), "parameters": {"type": "object"}}}),
            part: json!({"type": "text", "text": "x"}),
            part_path: "messages[0].content",
        },
        Dialect {
            path: "/v1/messages",
            base: json!({"model": "auto", "max_tokens": 16, "messages": [user]}),
            list: "messages",
            tool: &|i| json!({"name": format!("t{i}"), "input_schema": {"type": "object"}}),
            part: json!({"type": "text", "text": "x"}),
            part_path: "messages.0.content",
        },
        Dialect {
            path: "/v1/responses",
            base: json!({"model": "auto", "input": [user]}),
            list: "input",
            tool: &|i| json!({"type": "function", "name": format!("t{i}"), "parameters": {"type": "object"}}),
            part: json!({"type": "input_text", "text": "x"}),
            part_path: "input[0].content",
        },
    ];
    for d in &dialects {
        let with = |key: &str, v: Value| {
            let mut b = d.base.clone();
            b[key] = v;
            b
        };
        let cases = [
            (
                "a model with a newline",
                with("model", json!("gpt-5\nINFO forged")),
                "model",
            ),
            (
                "a model with a quote",
                with("model", json!("gpt\"5")),
                "model",
            ),
            (
                "a 257-character model",
                with("model", json!("m".repeat(257))),
                "model",
            ),
            (
                "10 001 messages",
                with(d.list, json!(many(10_001, &|_| user.clone()))),
                d.list,
            ),
            (
                "1 001 tools",
                with("tools", json!(many(1_001, d.tool))),
                "tools",
            ),
            (
                "1 001 content parts",
                with(
                    d.list,
                    json!([{"role": "user", "content": many(1_001, &|_| d.part.clone())}]),
                ),
                d.part_path,
            ),
        ];
        for (what, body, field) in cases {
            let res = p.post_to(d.path, &body).await;
            let (status, e, _) = common::proxy::error_of(res).await;
            assert_eq!(status, 400, "{} {what}: {e}", d.path);
            let message = e["message"].as_str().unwrap_or_default();
            if d.path == "/v1/messages" {
                assert_eq!(e["type"], "invalid_request_error", "{what}: {e}");
                assert!(message.starts_with(&format!("{field}:")), "{what}: {e}");
            } else {
                assert_eq!(e["param"], field, "{} {what}: {e}", d.path);
            }
            assert!(!message.contains("forged"), "{what}: no echo: {e}");
        }
    }
    assert_eq!(p.fake().run_count(), 0, "nothing reached Cursor");
}

/// Issue 15: every dialect reads its body the same way, without a tree of the whole of it
/// (`core/src/dialects/json.rs`): a top-level key given twice is a 400 naming it (it was
/// last-wins in Anthropic and Responses), and JSON nested past serde_json's limit is not
/// JSON even in a field no dialect reads (which Anthropic and Responses now never build).
#[tokio::test]
async fn every_dialect_refuses_a_key_given_twice_and_nesting_too_deep_the_same_way() {
    let fake = FakeCursor::builder().start().await;
    let p = Proxy::start(Harness::signed_in(fake).await).await;
    let user = r#"[{"role": "user", "content": "hi"}]"#;
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for (path, fields) in [
        (
            "/v1/chat/completions",
            format!(r#""model": "auto", "messages": {user}"#),
        ),
        (
            "/v1/messages",
            format!(r#""model": "auto", "max_tokens": 16, "messages": {user}"#),
        ),
        (
            "/v1/responses",
            format!(r#""model": "auto", "input": {user}"#),
        ),
    ] {
        for (what, body, says) in [
            (
                "model given twice",
                format!(r#"{{{fields}, "model": "gpt-5"}}"#),
                "duplicate field `model`",
            ),
            (
                "an unknown field nested 200 deep",
                format!(r#"{{{fields}, "x": {deep}}}"#),
                "the request body is not valid JSON",
            ),
        ] {
            let res = p.post_bytes(path, body.into_bytes()).await;
            let (status, e, _) = common::proxy::error_of(res).await;
            assert_eq!(status, 400, "{path} {what}: {e}");
            assert_eq!(e["type"], "invalid_request_error", "{path} {what}: {e}");
            let message = e["message"].as_str().unwrap_or_default();
            assert!(message.contains(says), "{path} {what}: {e}");
        }
    }
    assert_eq!(p.fake().run_count(), 0, "nothing reached Cursor");
}

/// Issue 15: a client that stops reading a streamed answer used to leave the proxy reading
/// Cursor's stream into an unbounded queue — the whole answer in memory. Now the queue is
/// bounded, so the stall travels back to Cursor through HTTP/2 flow control: the fake
/// cannot play a 64 MiB answer past a bounded prefix while the client reads nothing, and
/// once the client reads again the whole answer arrives intact.
#[tokio::test]
async fn a_client_that_stops_reading_slows_cursor_instead_of_growing_memory() {
    const STEPS: usize = 64 * 1024;
    const PIECE: usize = 1024;
    let mut turn = cursor_bridge_tests::Turn::new();
    for _ in 0..STEPS {
        turn = turn.text("Z".repeat(PIECE));
    }
    let fake = common::proxy::fake_playing(vec![turn.turn_ended().end_ok()]).await;
    let p = Proxy::start(Harness::signed_in(fake).await).await;

    let addr = p.base.trim_start_matches("http://").to_string();
    let body = json!({"model": "auto", "stream": true,
        "messages": [{"role": "user", "content": "a long answer"}]})
    .to_string();
    let headers = vec![
        ("host".to_string(), addr.clone()),
        ("authorization".to_string(), format!("Bearer {}", p.key)),
        ("content-type".to_string(), "application/json".to_string()),
        ("content-length".to_string(), body.len().to_string()),
        ("connection".to_string(), "close".to_string()),
    ];
    let mut conn = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    conn.write_all(request_head("POST", "/v1/chat/completions", &headers).as_bytes())
        .await
        .expect("head");
    conn.write_all(body.as_bytes()).await.expect("body");
    let mut seen = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    while !seen.windows(3).any(|w| w == b"ZZZ") {
        let n = conn.read(&mut buf).await.expect("read");
        assert!(n > 0, "{}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }

    // The client reads nothing now. Wait until the fake stops making progress (no step
    // played for 2 s; a slow machine only makes that take longer), then see how far it got.
    let played = || p.fake().runs().first().map_or(0, |r| r.steps_played);
    let (mut last, mut still) = (played(), 0);
    while still < 10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = played();
        if now == last {
            still += 1;
        } else {
            (last, still) = (now, 0);
        }
    }
    eprintln!("the fake stalled after {last} of {STEPS} steps");
    assert!(
        last < STEPS / 2,
        "the fake played {last} of {STEPS} 1 KiB steps into a client that reads nothing"
    );

    // Reading again, the whole answer arrives.
    tokio::time::timeout(Duration::from_secs(120), conn.read_to_end(&mut seen))
        .await
        .expect("the rest of the answer")
        .expect("read to the end");
    let zs = seen.iter().filter(|&&b| b == b'Z').count();
    assert_eq!(zs, STEPS * PIECE, "every byte of the answer arrived");
    assert!(String::from_utf8_lossy(&seen).contains("data: [DONE]"));
    assert_eq!(played(), STEPS + 1, "every text step, then turn_ended");
}

/// Issue 15: a flood of requests opened a Cursor stream each, without end. Now at most
/// `max_concurrent_runs` fresh runs stream at once; one more is refused at once (503 with
/// `Retry-After`, Anthropic's 529 `overloaded_error`, both of which SDKs retry) without
/// reaching Cursor, and a place frees as soon as a response ends.
#[tokio::test]
async fn fresh_runs_over_max_concurrent_runs_are_refused_at_once_with_retry_after() {
    use cursor_bridge_tests::{CancelledBy, Turn};
    let fake = FakeCursor::builder()
        .turn(Turn::new().wait_for_cancel())
        .turn(Turn::new().wait_for_cancel())
        .start()
        .await;
    let p = Proxy::start_with(Harness::signed_in(fake).await, |s| {
        s.max_concurrent_runs = 2;
    })
    .await;
    let held: Vec<_> = (0..2)
        .map(|_| {
            let (http, url, key) = (
                p.http.clone(),
                format!("{}/v1/chat/completions", p.base),
                p.key.clone(),
            );
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(key)
                    .json(&chat(json!("hold on")))
                    .send()
                    .await
            })
        })
        .collect();
    let started = p
        .fake()
        .wait_until(Duration::from_secs(30), |f| {
            f.runs().iter().filter(|r| r.run_request.is_some()).count() == 2
        })
        .await;
    assert!(started, "both held runs started");

    for (path, body, status, kind) in [
        (
            "/v1/chat/completions",
            chat(json!("one more")),
            503,
            "server_error",
        ),
        (
            "/v1/messages",
            json!({"model": "auto", "max_tokens": 16, "messages": [{"role": "user", "content": "one more"}]}),
            529,
            "overloaded_error",
        ),
        (
            "/v1/responses",
            json!({"model": "auto", "input": "one more"}),
            503,
            "server_error",
        ),
    ] {
        let res = p.post_to(path, &body).await;
        let (got, e, retry) = common::proxy::error_of(res).await;
        assert_eq!(got, status, "{path}: {e}");
        assert_eq!(e["type"], kind, "{path}: {e}");
        if path != "/v1/messages" {
            assert_eq!(e["code"], "too_many_runs", "{path}: {e}");
        }
        assert!(
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("max_concurrent_runs")),
            "{path}: {e}"
        );
        assert_eq!(retry.as_deref(), Some("1"), "{path}");
    }
    assert_eq!(
        p.fake().run_count(),
        2,
        "the refused requests never reached Cursor"
    );

    // One held client goes away: its place frees with its response.
    held[0].abort();
    let run = p.fake().wait_for_run_end(0, Duration::from_secs(30)).await;
    assert_eq!(run.cancelled, Some(CancelledBy::Action));
    let ok = p.post(&chat(json!("now?"))).await;
    assert_eq!(ok.status(), 200);
    held[1].abort();
}
