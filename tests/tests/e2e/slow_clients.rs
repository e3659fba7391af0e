//! Slow and hostile connections (issue 15), as raw TCP against the real proxy:
//! - 200 slowloris connections (half a request line, nothing at all, half an HTTP/2
//!   preface, then silence) while 20 normal requests all succeed promptly; every slow one
//!   is closed by the server once `header_read_timeout_secs` has passed, not before;
//! - an idle keep-alive connection is closed after the same timeout, and a response that
//!   streams for longer than it is not;
//! - `max_connections` bounds what is open at once: with the cap taken by silent
//!   connections, a normal request waits for one of them to be cut, then succeeds.

use crate::common;

use std::time::{Duration, Instant};

use cursor_bridge_tests::{FakeCursor, Turn};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use common::proxy::Proxy;

/// The header timeout these tests set (the default is 10 s).
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// A normal request must be answered within this.
const PROMPT: Duration = Duration::from_secs(3);

async fn proxy(tweak: impl FnOnce(&mut cursor_bridge_core::config::settings::Settings)) -> Proxy {
    proxy_for(FakeCursor::builder().start().await, tweak).await
}

async fn proxy_for(
    fake: FakeCursor,
    tweak: impl FnOnce(&mut cursor_bridge_core::config::settings::Settings),
) -> Proxy {
    let p = Proxy::start_for(fake, |s| {
        s.header_read_timeout_secs = HEADER_TIMEOUT.as_secs();
        tweak(s);
    })
    .await;
    p.warm_models().await;
    p
}

fn addr(p: &Proxy) -> String {
    p.base.trim_start_matches("http://").to_string()
}

/// Opens a connection that sends `prefix` and then nothing.
async fn slow(addr: &str, prefix: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(prefix).await.expect("write");
    s
}

/// How long after `since` the server closed `s` (EOF or reset), reading whatever it sent.
async fn closed_after(mut s: TcpStream, since: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return since.elapsed(),
            Ok(Ok(_)) => {}
            Err(_) => panic!("the server kept a slow connection open for 10 s"),
        }
    }
}

/// `GET /v1/models` on a fresh connection; its status and how long it took.
async fn models(p: &Proxy) -> (u16, Duration) {
    let started = Instant::now();
    let res = reqwest::Client::new()
        .get(format!("{}/v1/models", p.base))
        .bearer_auth(&p.key)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("a normal request is answered within 10 s");
    (res.status().as_u16(), started.elapsed())
}

#[tokio::test]
async fn two_hundred_slow_connections_do_not_stop_normal_requests_and_are_cut() {
    let p = proxy(|_| {}).await;
    let a = addr(&p);
    let opened = Instant::now();
    let prefixes: [&[u8]; 4] = [
        b"POST /v1/chat/completions HT",
        b"",
        b"PRI * HTTP/2.0\r\n",
        b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthor",
    ];
    let mut slow_ones = Vec::new();
    for i in 0..200 {
        slow_ones.push(slow(&a, prefixes[i % prefixes.len()]).await);
    }
    let normal = futures::future::join_all((0..20).map(|_| models(&p))).await;
    for (status, took) in &normal {
        assert_eq!(*status, 200);
        assert!(*took < PROMPT, "a normal request took {took:?}");
    }
    let closed =
        futures::future::join_all(slow_ones.into_iter().map(|s| closed_after(s, opened))).await;
    let (first, last) = (
        closed.iter().min().expect("some"),
        closed.iter().max().expect("some"),
    );
    assert!(
        *first >= HEADER_TIMEOUT - Duration::from_millis(100),
        "a slow connection was cut after {first:?}, before the header timeout"
    );
    assert!(
        *last < HEADER_TIMEOUT + Duration::from_secs(3),
        "a slow connection stayed open {last:?}"
    );
    // Nothing was left behind: a normal request still works at once.
    assert_eq!(models(&p).await.0, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let p = proxy(|_| {}).await;
    let mut s = TcpStream::connect(addr(&p)).await.expect("connect");
    let req = format!(
        "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\r\n",
        p.key
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.read(&mut buf).await.expect("read");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    let answered = Instant::now();
    let after = closed_after(s, answered).await;
    assert!(
        (HEADER_TIMEOUT - Duration::from_millis(100)..HEADER_TIMEOUT + Duration::from_secs(3))
            .contains(&after),
        "the idle connection closed {after:?} after its response"
    );
}

#[tokio::test]
async fn the_connection_cap_makes_a_flood_wait_instead_of_exhausting_the_proxy() {
    let p = proxy(|s| s.max_connections = 8).await;
    let a = addr(&p);
    // Warming the catalogue used one connection; it is idle now and closes with the
    // header timeout too, so the cap is full once these 8 are accepted.
    let opened = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..8 {
        silent.push(slow(&a, b"").await);
    }
    let (status, took) = models(&p).await;
    assert_eq!(status, 200);
    let served_at = opened.elapsed();
    assert!(
        served_at >= HEADER_TIMEOUT - Duration::from_millis(100),
        "served {served_at:?} after 8 silent connections took the cap of 8: not capped"
    );
    assert!(took < HEADER_TIMEOUT + PROMPT, "waited {took:?}");
    drop(silent);
}

#[tokio::test]
async fn a_stream_longer_than_the_header_timeout_is_not_cut() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .text("slow start")
                .sleep(HEADER_TIMEOUT * 5 / 2)
                .text(", slow end")
                .turn_ended()
                .end_ok(),
        )
        .start()
        .await;
    let p = proxy_for(fake, |_| {}).await;
    let body = p
        .post(&serde_json::json!({"model": "auto", "stream": true,
            "messages": [{"role": "user", "content": "hi"}]}))
        .await
        .text()
        .await
        .expect("the whole stream");
    assert!(
        body.contains("slow start") && body.contains(", slow end") && body.contains("[DONE]"),
        "{body}"
    );
}
