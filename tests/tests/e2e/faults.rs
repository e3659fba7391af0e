//! Faults survived, end to end: the real proxy on an ephemeral port, its Cursor client built
//! from settings exactly as the CLI and the tray build it, and the fake Cursor misbehaving
//! on purpose — streams that drop, reset or carry garbage, stalls, connections that never
//! complete, transient start failures, refused tokens, clients that hang up, a proxy that
//! stops mid-stream, a broken usage database. Every timeout in here comes from a setting
//! turned down to about a second, so no test waits for a default.

use crate::common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Harness;
use common::proxy::{Proxy, error_of, minted};
use cursor_bridge_core::config::settings::{Paths, Settings};
use cursor_bridge_tests::{CancelledBy, EndError, ErrorKind, FakeCursor, Malformed, Turn};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

/// A proxy whose Cursor client is built from the (tweaked) settings ([`Proxy::start_for`]).
/// Retries back off 20 ms unless the test says otherwise.
async fn proxy(fake: FakeCursor, tweak: impl FnOnce(&mut Settings)) -> Proxy {
    Proxy::start_for(fake, |s| {
        s.retry_backoff_ms = 20;
        tweak(s);
    })
    .await
}

fn ask(stream: bool) -> Value {
    json!({"model": "auto", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
}

/// The follow-up request answering tool call `id`.
fn answer(id: &str, stream: bool) -> Value {
    json!({"model": "auto", "stream": stream, "tools": weather_tools(), "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
        {"role": "tool", "tool_call_id": id, "content": "25C"}]})
}

/// Asks about the weather; checks the answer is a tool call that is now parked.
async fn park_weather_call(p: &Proxy, cursor_id: &str) -> String {
    let first: Value = p
        .post(&json!({"model": "auto", "tools": weather_tools(),
            "messages": [{"role": "user", "content": "weather?"}]}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        first["choices"][0]["finish_reason"], "tool_calls",
        "{cursor_id}"
    );
    assert_eq!(p.health().await["parked_streams"], 1, "{cursor_id}");
    minted(
        &first["choices"][0]["message"]["tool_calls"][0]["id"],
        cursor_id,
    )
}

/// Sends `body`; checks the answer is an error with `status`, `code` and a message that
/// contains `needle`. Returns how long the answer took.
async fn refused(p: &Proxy, body: &Value, status: u16, code: &str, needle: &str) -> Duration {
    let started = Instant::now();
    let (got, err, _) = error_of(p.post(body).await).await;
    let took = started.elapsed();
    assert_eq!((got, err["code"].as_str()), (status, Some(code)), "{err}");
    assert!(
        err["message"].as_str().is_some_and(|m| m.contains(needle)),
        "{err}"
    );
    took
}

/// One `data:` payload of an SSE response and when the client read it.
struct Event {
    at: Instant,
    data: String,
}

/// Reads a streamed response to its end, timing each event as the client sees it.
async fn read_events(mut res: reqwest::Response) -> Vec<Event> {
    assert_eq!(res.status(), 200);
    let mut buf = String::new();
    let mut out = Vec::new();
    while let Some(chunk) = tokio::time::timeout(WAIT, res.chunk())
        .await
        .expect("the stream never stalls")
        .expect("the stream reads cleanly")
    {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            if let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) {
                out.push(Event {
                    at: Instant::now(),
                    data: data.to_string(),
                });
            }
        }
    }
    out
}

/// The content the chunks carried.
fn content(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect()
}

/// Checks the stream ended with an OpenAI error event and then exactly one `[DONE]`;
/// returns the error object and when `[DONE]` arrived.
fn error_then_done(events: &[Event]) -> (Value, Instant) {
    let n = events.len();
    assert!(n >= 2, "an error event and [DONE]");
    assert_eq!(events[n - 1].data, "[DONE]", "the stream ends with [DONE]");
    assert_eq!(
        events.iter().filter(|e| e.data == "[DONE]").count(),
        1,
        "exactly one [DONE]"
    );
    let err: Value = serde_json::from_str(&events[n - 2].data).expect("json event");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "an OpenAI error event before [DONE]: {err}"
    );
    (err["error"].clone(), events[n - 1].at)
}

/// Checks that `[DONE]`, read at `done_at`, came within a second of the fault the fake
/// committed on run `index`, and that no run followed it (the fault was not retried).
async fn assert_done_soon_and_not_retried(p: &Proxy, index: usize, done_at: Instant, what: &str) {
    let run = p.fake().wait_for_run_end(index, WAIT).await;
    let fault_at = run.started_at + run.ended_after.expect("ended");
    let latency = done_at.saturating_duration_since(fault_at);
    assert!(
        latency < Duration::from_secs(1),
        "{what}: [DONE] {latency:?} after the fault"
    );
    assert_eq!(p.fake().run_count(), index + 1, "{what}: never retried");
}

/// Ends a scripted turn with a fault.
type Fault = fn(Turn) -> Turn;

/// The three ways a stream can break under a response: a clean close without the
/// end-of-stream frame, an HTTP/2 reset, bytes that are not a frame.
fn faults() -> Vec<(&'static str, Fault)> {
    vec![
        ("drop", |t| t.drop_stream()),
        ("reset", |t| t.reset()),
        ("malformed", |t| t.malformed(Malformed::UndecodableMessage)),
    ]
}

/// Point 1: a stream that breaks after text already reached the client ends with an
/// OpenAI error event and `[DONE]` within a second of the fault, is never retried (the
/// fake sees one run per request) and the next request works; a plain request gets a 502
/// with OpenAI error JSON.
#[tokio::test]
async fn a_stream_breaking_after_text_ends_in_an_error_event_and_done_within_a_second() {
    let p = proxy(FakeCursor::builder().start().await, |_| {}).await;
    for (name, fault) in faults() {
        // A short pause so the HTTP/2 reset cannot overtake the text frame.
        let turn = Turn::new()
            .text("partial answer")
            .sleep(Duration::from_millis(50));
        p.fake().push_turn(fault(turn));
        let before = p.fake().run_count();
        let events = read_events(p.post(&ask(true)).await).await;
        assert_eq!(content(&events), "partial answer", "{name}");
        let (err, done_at) = error_then_done(&events);
        assert_eq!(err["code"], "upstream_error", "{name}: {err}");
        assert_done_soon_and_not_retried(&p, before, done_at, &format!("{name}, after text")).await;

        // The next request works.
        p.fake().push_turn(Turn::reply("all good again"));
        let events = read_events(p.post(&ask(true)).await).await;
        assert_eq!(content(&events), "all good again", "{name}");

        // Plain (not streamed): a 502 with OpenAI error JSON.
        let turn = Turn::new().text("partial").sleep(Duration::from_millis(50));
        p.fake().push_turn(fault(turn));
        let (status, err, _) = error_of(p.post(&ask(false)).await).await;
        assert_eq!(
            (status, err["type"].as_str(), err["code"].as_str()),
            (502, Some("server_error"), Some("upstream_error")),
            "{name}: {err}"
        );
    }
}

/// Point 1, continuing a parked tool call: the continuation's stream breaks after its
/// first text; the client gets the error event and `[DONE]` within a second, nothing
/// stays parked, and the next request works.
#[tokio::test]
async fn a_continuation_breaking_mid_stream_ends_cleanly_and_leaves_nothing_parked() {
    let p = proxy(FakeCursor::builder().start().await, |_| {}).await;
    for (name, fault) in faults() {
        let id = format!("call_{name}");
        let turn = Turn::new()
            .mcp_call("get_weather", "get_weather", &id, json!({"city": "Rome"}))
            .text("It is")
            .sleep(Duration::from_millis(50));
        p.fake().push_turn(fault(turn));
        let before = p.fake().run_count();
        let minted = park_weather_call(&p, &id).await;

        let events = read_events(p.post(&answer(&minted, true)).await).await;
        assert_eq!(content(&events), "It is", "{name}");
        let (err, done_at) = error_then_done(&events);
        // One run: the continuation went onto the parked stream.
        let what = format!("{name}, continuation ({err})");
        assert_done_soon_and_not_retried(&p, before, done_at, &what).await;
        assert_eq!(p.health().await["parked_streams"], 0, "{name}");

        p.fake().push_turn(Turn::reply("fresh start"));
        let events = read_events(p.post(&ask(true)).await).await;
        assert_eq!(content(&events), "fresh start", "{name}");
    }
}

/// Point 2: a turn that stalls ends with a clear error through the proxy after the
/// thresholds from the settings — heartbeats do not count as progress — and a stall is
/// not retried (it has used up its timeout already).
#[tokio::test]
async fn stalled_turns_end_with_a_clear_error_after_the_watchdogs_from_the_settings() {
    let fake = FakeCursor::builder()
        // Stalls after the first text, heartbeats flowing.
        .turn(
            Turn::new()
                .text("thinking…")
                .heartbeats_for(Duration::from_secs(5), Duration::from_millis(100))
                .end_ok(),
        )
        // Silent from the start: not a single frame.
        .turn(Turn::new().sleep(Duration::from_secs(5)).end_ok())
        .start()
        .await;
    let p = proxy(fake, |s| {
        s.idle_timeout_secs = 1;
        // Heartbeats are the model thinking: they get the longer limit, not the idle one.
        s.heartbeat_only_timeout_secs = 2;
        s.first_activity_timeout_secs = 1;
    })
    .await;

    let events = read_events(p.post(&ask(true)).await).await;
    assert_eq!(content(&events), "thinking…");
    let (err, done_at) = error_then_done(&events);
    assert_eq!(err["code"], "upstream_timeout", "{err}");
    let msg = err["message"].as_str().expect("message");
    assert!(
        msg.contains("no progress for 2 s (only heartbeats)"),
        "names the stall: {msg}"
    );
    let text_at = events
        .iter()
        .find(|e| e.data.contains("thinking…"))
        .expect("the text event")
        .at;
    let stalled_for = done_at.duration_since(text_at);
    assert!(
        (Duration::from_millis(1800)..Duration::from_millis(3500)).contains(&stalled_for),
        "the heartbeat-only watchdog fired {stalled_for:?} after the text"
    );

    let took = refused(
        &p,
        &ask(true),
        504,
        "upstream_timeout",
        "sent nothing for 1 s",
    )
    .await;
    assert!(
        took < Duration::from_millis(2500),
        "answered after {took:?}"
    );
    assert_eq!(p.fake().run_count(), 2, "stalls are not retried");
}

/// A TCP relay in front of the fake that can stop completing connections. Its listener
/// has a backlog of 0 (Linux queues one connection); after [`Relay::blackhole`] nothing
/// accepts any more and one idle connection fills the queue, so the kernel drops every
/// further SYN and `connect` hangs until the caller gives up: a server that never answers.
struct Relay {
    addr: SocketAddr,
    /// Bound until the relay is dropped (then every connect is refused).
    _listener: Arc<TcpListener>,
    stop: CancellationToken,
    acceptor: Option<JoinHandle<()>>,
    /// The connection that fills the accept queue.
    _filler: Option<TcpStream>,
}

impl Relay {
    async fn start(target: SocketAddr) -> Relay {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind");
        let listener = Arc::new(socket.listen(0).expect("listen"));
        let stop = CancellationToken::new();
        let acceptor = tokio::spawn({
            let (listener, stop) = (listener.clone(), stop.clone());
            async move {
                loop {
                    tokio::select! {
                        r = listener.accept() => {
                            let Ok((mut inbound, _)) = r else { continue };
                            tokio::spawn(async move {
                                if let Ok(mut out) = TcpStream::connect(target).await {
                                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                                }
                            });
                        }
                        () = stop.cancelled() => return,
                    }
                }
            }
        });
        Relay {
            addr: listener.local_addr().expect("addr"),
            _listener: listener,
            stop,
            acceptor: Some(acceptor),
            _filler: None,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting: connections already queued or new ones wait unanswered.
    async fn stop_accepting(&mut self) {
        self.stop.cancel();
        if let Some(a) = self.acceptor.take() {
            a.await.expect("the acceptor stops");
        }
    }

    /// Closes the listener: from now on every connect is refused.
    async fn close(mut self) {
        self.stop_accepting().await;
    }

    /// From now on new connections hang; checks that they really do on this machine.
    async fn blackhole(&mut self) {
        self.stop_accepting().await;
        self._filler = Some(TcpStream::connect(self.addr).await.expect("one queued"));
        let probe = tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(self.addr));
        assert!(
            probe.await.is_err(),
            "connect to a full accept queue should hang, not complete or fail"
        );
    }
}

/// A proxy (tweaked) whose API URL is a [`Relay`] in front of a fresh fake, with the model
/// catalogue fetched and cached while Cursor is still reachable through it.
async fn behind_relay(tweak: impl FnOnce(&mut Settings)) -> (Proxy, Relay) {
    let fake = FakeCursor::builder().start().await;
    let relay = Relay::start(fake.addr()).await;
    let url = relay.url();
    let p = proxy(fake, |s| {
        s.api_url = url.parse().expect("url");
        tweak(s);
    })
    .await;
    p.warm_models().await;
    (p, relay)
}

/// Point 2: Cursor's address accepts no connection (`connect` hangs): the proxy answers a
/// clear 504 once `connect_timeout_secs` has passed, not a hang.
#[tokio::test]
async fn a_connection_that_never_completes_is_a_clear_504_after_the_connect_timeout() {
    let (p, mut relay) = behind_relay(|s| {
        s.connect_timeout_secs = 1;
        s.upstream_retries = 0;
    })
    .await;
    // The catalogue is cached; now the Run's new HTTP/2 connection never completes.
    relay.blackhole().await;
    for stream in [true, false] {
        let took = refused(&p, &ask(stream), 504, "upstream_timeout", "timed out").await;
        assert!(
            (Duration::from_millis(900)..Duration::from_millis(2500)).contains(&took),
            "answered after {took:?} with a 1 s connect timeout"
        );
    }
    assert_eq!(p.fake().run_count(), 0, "no run ever reached Cursor");
}

/// Point 3: a run that fails to start for a transient reason (HTTP 503 before the stream,
/// Connect `unavailable`, an error Cursor marks retryable) is started again with backoff;
/// the client sees one normal answer, the fake K + 1 runs.
#[tokio::test]
async fn transient_start_failures_are_retried_with_backoff_and_invisible() {
    let cases = [
        (
            "HTTP 503",
            2,
            503,
            EndError::new("unavailable", "overloaded"),
        ),
        (
            "HTTP 502",
            1,
            502,
            EndError::new("unavailable", "bad gateway"),
        ),
        (
            "Connect unavailable",
            2,
            200,
            EndError::new("unavailable", "try again"),
        ),
        (
            "retryable detail",
            1,
            200,
            EndError::new("internal", "hiccup")
                .detail(ErrorKind::Unspecified, "Hiccup", "please retry")
                .retryable(true),
        ),
    ];
    let p = proxy(FakeCursor::builder().start().await, |s| {
        s.upstream_retries = 2;
        s.retry_backoff_ms = 100;
    })
    .await;
    for (name, k, status, error) in cases {
        let before = p.fake().run_count();
        p.fake().fail_next_runs(k, status, error);
        p.fake().push_turn(Turn::reply("made it"));
        let started = Instant::now();
        let events = read_events(p.post(&ask(true)).await).await;
        let took = started.elapsed();
        assert_eq!(content(&events), "made it", "{name}");
        assert_eq!(events.last().map(|e| e.data.as_str()), Some("[DONE]"));
        assert!(
            !events.iter().any(|e| e.data.contains("\"error\"")),
            "{name}: the failures stay invisible"
        );
        assert_eq!(p.fake().run_count(), before + k + 1, "{name}");
        // Backoff: 100 ms, then 200 ms (each plus up to half again of jitter).
        let min: u64 = [100, 200][..k].iter().sum();
        assert!(
            took >= Duration::from_millis(min),
            "{name}: {k} retries took only {took:?}"
        );
    }
}

/// Point 3: more transient failures than retries give the typed error after N + 1 runs;
/// errors a retry cannot fix (quota, context length, a retryable-marked bad request) are
/// answered at once after a single run; and a failure after text was streamed is never
/// retried.
#[tokio::test]
async fn retries_stop_at_the_limit_skip_permanent_errors_and_never_follow_streamed_text() {
    let p = proxy(FakeCursor::builder().start().await, |s| {
        s.upstream_retries = 2;
    })
    .await;
    let runs = || p.fake().run_count();

    // K = 3 > N = 2: every attempt fails.
    p.fake()
        .fail_next_runs(3, 503, EndError::new("unavailable", "overloaded"));
    refused(&p, &ask(true), 502, "upstream_error", "unavailable").await;
    assert_eq!(runs(), 3, "one attempt and two retries");
    // The outage is over: the next request works at its first attempt.
    p.fake().push_turn(Turn::reply("recovered"));
    let events = read_events(p.post(&ask(true)).await).await;
    assert_eq!(content(&events), "recovered");
    assert_eq!(runs(), 4);

    let permanent = [
        (
            "quota",
            EndError::new("resource_exhausted", "slow down").detail(
                ErrorKind::RateLimited,
                "Rate limited",
                "later",
            ),
            429,
        ),
        (
            "context length",
            EndError::new("invalid_argument", "too long")
                .detail(ErrorKind::ConversationTooLong, "Too long", "too long")
                .retryable(true),
            400,
        ),
        (
            "bad request marked retryable",
            EndError::new("invalid_argument", "bad field")
                .detail(ErrorKind::Unspecified, "Bad", "bad field")
                .retryable(true),
            502,
        ),
    ];
    for (name, error, want) in permanent {
        let before = runs();
        p.fake().push_turn(Turn::new().end_with(error));
        let (status, err, _) = error_of(p.post(&ask(true)).await).await;
        assert_eq!(status, want, "{name}: {err}");
        assert_eq!(runs(), before + 1, "{name}: not retried");
    }

    // Transient, but after text reached the client: an error event, never a retry.
    let before = runs();
    p.fake().push_turn(
        Turn::new()
            .text("half an answer")
            .end_with(EndError::new("unavailable", "gone")),
    );
    let events = read_events(p.post(&ask(true)).await).await;
    assert_eq!(content(&events), "half an answer");
    let (err, _) = error_then_done(&events);
    assert_eq!(err["code"], "upstream_error", "{err}");
    assert_eq!(runs(), before + 1, "no retry once bytes were sent");
}

/// Point 3: Cursor unreachable (connection refused) is retried with backoff, then
/// reported as a 502 saying Cursor cannot be reached.
#[tokio::test]
async fn an_unreachable_cursor_is_retried_then_reported() {
    let (p, relay) = behind_relay(|s| {
        s.upstream_retries = 2;
        s.retry_backoff_ms = 100;
    })
    .await;
    // The catalogue is cached; now nothing listens there any more: every connect is refused.
    let addr = relay.addr;
    relay.close().await;
    assert!(TcpStream::connect(addr).await.is_err(), "refused");
    let took = refused(&p, &ask(true), 502, "upstream_error", "cannot reach Cursor").await;
    assert!(
        took >= Duration::from_millis(300),
        "two retries back off 100 + 200 ms, took {took:?}"
    );
    assert_eq!(p.fake().run_count(), 0);
}

/// Point 4: Cursor refusing the access token on a proxied chat (as an `unauthenticated`
/// end-of-stream frame, or a bare HTTP 401) costs exactly one refresh and one retried run,
/// and the client sees a normal answer. A refresh that fails too is a 503 saying how to
/// sign in, after that one refresh attempt.
#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_a_dead_session_says_how_to_sign_in() {
    for as_http in [false, true] {
        let mut b = FakeCursor::builder();
        if as_http {
            b = b.run_auth_failure_as_http();
        }
        let p = proxy(b.start().await, |_| {}).await;
        // Warm the model catalogue so the refusal meets the chat run itself.
        p.warm_models().await;
        p.fake().revoke_access_tokens();
        p.fake().push_turn(Turn::reply("after the refresh"));
        let events = read_events(p.post(&ask(true)).await).await;
        assert_eq!(content(&events), "after the refresh", "http {as_http}");
        assert_eq!(p.fake().refresh_calls(), 1, "http {as_http}");
        let runs = p.fake().runs();
        assert_eq!(runs.len(), 2, "http {as_http}: one retry");
        assert!(!runs[0].authorized && runs[1].authorized);

        // Now the refresh token is dead as well.
        p.fake().revoke_access_tokens();
        p.fake().revoke_refresh_tokens();
        for stream in [true, false] {
            let (status, err, _) = error_of(p.post(&ask(stream)).await).await;
            assert_eq!(
                (status, err["code"].as_str()),
                (503, Some("session_expired")),
                "{err}"
            );
            let msg = err["message"].as_str().expect("message");
            assert!(
                msg.contains("cursor-bridge login") && msg.contains("Sign in"),
                "says how to sign in, in the app and the CLI: {msg}"
            );
            if stream {
                // One refresh for the dead session: it tries each route once (§9.9).
                assert_eq!(
                    p.fake().refresh_calls(),
                    3,
                    "http {as_http}: one refresh attempt for the dead session"
                );
            }
        }
    }
}

/// Point 5: fifty concurrent chats arriving with an expired access token share one
/// refresh, and all fifty succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_chats_with_an_expired_token_share_one_refresh() {
    let fake = FakeCursor::builder()
        .refresh_delay(Duration::from_millis(200))
        .start()
        .await;
    let h = Harness::with_expired_token(fake).await;
    let p = Proxy::start(h).await;
    let answers = futures::future::join_all((0..50).map(|i| {
        let p = &p;
        async move {
            let res = p.post(&ask(i % 2 == 0)).await;
            assert_eq!(res.status(), 200, "request {i}");
            res.text().await.expect("body")
        }
    }))
    .await;
    for (i, body) in answers.iter().enumerate() {
        assert!(
            body.contains("Hello from ") && body.contains("the fake Cursor."),
            "request {i}: {body}"
        );
    }
    assert_eq!(p.fake().refresh_calls(), 1);
    assert_eq!(p.fake().run_count(), 50);
}

/// Regression: Cursor streams every text delta as its own small DATA frame, and h2 closes
/// the whole connection — every run on it — once too many small frames sit unread
/// ("too_many_data_frames"). With the adaptive window the `Run` client used, that limit
/// was ~128 frames for all concurrent runs together; a burst of them killed the
/// connection. One run bursting 2 000 one-character deltas must arrive whole.
#[tokio::test]
async fn a_burst_of_tiny_frames_does_not_break_the_connection() {
    let mut turn = Turn::new();
    for _ in 0..2000 {
        turn = turn.text("x");
    }
    let fake = FakeCursor::builder()
        .turn(turn.turn_ended().end_ok())
        .start()
        .await;
    let p = proxy(fake, |_| {}).await;
    let events = read_events(p.post(&ask(true)).await).await;
    assert!(
        !events.iter().any(|e| e.data.contains("\"error\"")),
        "no error event"
    );
    assert_eq!(content(&events), "x".repeat(2000));
}

/// Point 6: a client hanging up while the proxy still waits for Cursor's first token
/// cancels the Cursor run; nothing stays parked and the run ends.
#[tokio::test]
async fn a_client_hanging_up_before_the_first_token_cancels_the_run() {
    let fake = FakeCursor::builder()
        .turn(Turn::new().wait_for_cancel())
        .start()
        .await;
    let p = proxy(fake, |_| {}).await;
    for stream in [true, false] {
        let before = p.fake().run_count();
        let (http, url, key) = (
            p.http.clone(),
            format!("{}/v1/chat/completions", p.base),
            p.key.clone(),
        );
        let body = ask(stream);
        let request =
            tokio::spawn(async move { http.post(url).bearer_auth(key).json(&body).send().await });
        assert!(
            p.fake()
                .wait_until(WAIT, |f| f
                    .runs()
                    .get(before)
                    .is_some_and(|r| r.run_request.is_some()))
                .await,
            "the run started"
        );
        request.abort();
        let run = p.fake().wait_for_run_end(before, WAIT).await;
        assert_eq!(
            run.cancelled,
            Some(CancelledBy::Action),
            "stream {stream}: cancel_action reached Cursor ({:?})",
            run.end
        );
        assert_eq!(p.health().await["parked_streams"], 0);
        p.fake().push_turn(Turn::new().wait_for_cancel());
    }
}

/// Point 6: a client hanging up while a parked tool call's continuation streams cancels
/// that run; nothing stays parked and the run ends.
#[tokio::test]
async fn a_client_hanging_up_during_a_continuation_cancels_the_run() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .mcp_call(
                    "get_weather",
                    "get_weather",
                    "call_1",
                    json!({"city": "Rome"}),
                )
                .text("It is sunny")
                .wait_for_cancel(),
        )
        .start()
        .await;
    let p = proxy(fake, |_| {}).await;
    let id = park_weather_call(&p, "call_1").await;

    let mut res = p.post(&answer(&id, true)).await;
    let mut seen = String::new();
    while !seen.contains("It is sunny") {
        let chunk = res.chunk().await.expect("chunk").expect("more");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(res);
    let run = p.fake().wait_for_run_end(0, WAIT).await;
    assert_eq!(run.cancelled, Some(CancelledBy::Action), "{:?}", run.end);
    assert_eq!(
        run.mcp_results.len(),
        1,
        "the tool result went onto the stream"
    );
    assert_eq!(p.fake().run_count(), 1);
    assert_eq!(p.health().await["parked_streams"], 0);
}

/// Point 7: stopping the proxy mid-stream. A stream that ends within `drain_grace_secs`
/// completes normally; one that would take longer gets an error event and `[DONE]` right
/// after the grace and its Cursor run is cancelled. New connections are refused during
/// the drain, and the port can be bound again as soon as `stop` returns.
#[tokio::test]
async fn stopping_drains_short_streams_cancels_long_ones_and_frees_the_port() {
    let fake = FakeCursor::builder()
        .turn(
            Turn::new()
                .text("short start")
                .sleep(Duration::from_millis(300))
                .text(", short end")
                .turn_ended()
                .end_ok(),
        )
        .turn(
            Turn::new()
                .text("long start")
                .sleep(Duration::from_secs(20))
                .text("never sent")
                .end_ok(),
        )
        .start()
        .await;
    let mut p = proxy(fake, |s| s.drain_grace_secs = 1).await;
    let short = p.post(&ask(true)).await;
    let long = p.post(&ask(true)).await;
    let short = tokio::spawn(read_events(short));
    let long = tokio::spawn(read_events(long));

    let running = p.running.take().expect("running");
    let addr = running.local_addr();
    let stop_at = Instant::now();
    let stop = tokio::spawn(running.stop());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let refused = TcpStream::connect(addr).await;
    assert!(
        refused.is_err(),
        "a new connection during the drain is refused"
    );
    let res = p
        .http
        .post(format!("{}/v1/chat/completions", p.base))
        .bearer_auth(&p.key)
        .json(&ask(true))
        .send()
        .await;
    assert!(
        res.as_ref().is_err_and(reqwest::Error::is_connect),
        "a new request during the drain is refused: {res:?}"
    );

    stop.await.expect("join").expect("stops cleanly");
    let stopped_after = stop_at.elapsed();
    TcpListener::bind(addr)
        .await
        .expect("the port is free as soon as stop returns");
    assert!(
        stopped_after < Duration::from_millis(2500),
        "stop took {stopped_after:?} with a 1 s grace"
    );

    let short = short.await.expect("join");
    assert_eq!(content(&short), "short start, short end");
    assert_eq!(short.last().map(|e| e.data.as_str()), Some("[DONE]"));
    assert!(!short.iter().any(|e| e.data.contains("\"error\"")));

    let long = long.await.expect("join");
    assert_eq!(content(&long), "long start");
    let (err, done_at) = error_then_done(&long);
    assert_eq!(err["code"], "proxy_stopping", "{err}");
    let after = done_at.duration_since(stop_at);
    assert!(
        (Duration::from_millis(900)..Duration::from_millis(2000)).contains(&after),
        "the long stream ended {after:?} after stop (grace 1 s)"
    );
    let run = p.fake().wait_for_run_end(1, WAIT).await;
    assert_eq!(run.cancelled, Some(CancelledBy::Action), "{:?}", run.end);
}

/// Checks a chat still works and `/health` reports the ledger as not ok; returns its error.
async fn chat_works_and_ledger_error(p: &Proxy) -> String {
    let events = read_events(p.post(&ask(true)).await).await;
    assert_eq!(content(&events), "Hello from the fake Cursor.");
    let ledger = &p.health().await["ledger"];
    assert_eq!(ledger["ok"], false, "{ledger}");
    ledger["error"].as_str().expect("error").to_string()
}

/// Point 8: a usage database full of garbage does not keep the proxy from answering, and
/// `/health` says what is wrong and what to do.
#[tokio::test]
async fn a_damaged_ledger_is_reported_by_health_and_chats_still_work() {
    let fake = FakeCursor::builder().start().await;
    let h = Harness::signed_in(fake).await;
    let paths = Paths::resolve(&h.env).expect("paths");
    std::fs::write(
        paths.ledger_file(),
        b"this is not a database, only bytes".repeat(500),
    )
    .expect("garbage");
    let p = Proxy::start(h).await;
    let msg = chat_works_and_ledger_error(&p).await;
    assert!(
        msg.contains("damaged") && msg.contains("move it aside"),
        "{msg}"
    );
}

/// Point 8: a usage database another program holds an exclusive lock on (open waits the
/// 5 s busy timeout): the proxy still starts and answers, and `/health` says it is locked.
#[tokio::test]
async fn a_locked_ledger_is_reported_by_health_and_chats_still_work() {
    let fake = FakeCursor::builder().start().await;
    let h = Harness::signed_in(fake).await;
    let paths = Paths::resolve(&h.env).expect("paths");
    let other = rusqlite::Connection::open(paths.ledger_file()).expect("open");
    other
        .execute_batch("BEGIN EXCLUSIVE; CREATE TABLE theirs (x);")
        .expect("exclusive lock");
    let p = Proxy::start(h).await;
    let msg = chat_works_and_ledger_error(&p).await;
    assert!(msg.contains("locked by another program"), "{msg}");
    other.execute_batch("COMMIT").expect("commit");
}
