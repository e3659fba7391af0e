//! The usage ledger survives `kill -9` of the real `cursor-bridge serve` in the middle of
//! a burst of chats.
//!
//! What `store::ledger` guarantees: a request's row is queued to the writer thread before
//! its response is written (the handler's `Outcome` is dropped first), and the writer
//! commits whatever is queued as one transaction (WAL, `synchronous=NORMAL`). A killed
//! process therefore loses only the rows still queued and not yet committed — the
//! writer's backlog at that instant — and never leaves a torn row or a damaged file: WAL
//! commits are atomic and a crash of the process (not of the machine) loses no committed
//! transaction, `NORMAL` or not.
//!
//! Three kills: early in a burst, in the middle of one, and after the burst has drained
//! (then every row must be there). After each: `PRAGMA integrity_check` is `ok`, every row
//! is complete and plausible, nothing was invented, at most the backlog is missing, and
//! `serve` starts again on the same directory and appends.

mod common;

use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

use cursor_bridge_tests::FakeCursor;

use common::{Sandbox, session, wait_for_listening};

const WAIT: Duration = Duration::from_secs(15);
/// Concurrent clients hammering the proxy.
const CLIENTS: usize = 8;
/// Rows a kill may lose: the writer's backlog. It commits every few hundred microseconds,
/// so in practice this is a handful; the bound only has to survive a loaded CI machine
/// descheduling the writer thread for a while.
const MAX_LOST: u64 = 64;

/// Starts `serve` (its stderr discarded); returns the child and its base URL.
async fn start(sb: &Sandbox) -> (Child, String) {
    let mut serve = sb.cmd(&["serve", "--port", "0"]);
    serve.stderr(Stdio::null());
    let mut child = serve.spawn().expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = wait_for_listening(&mut lines, &mut String::new(), WAIT).await;
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

/// What a round of hammering counted.
#[derive(Default)]
struct Counts {
    /// Requests written to the socket.
    sent: AtomicU64,
    /// 200 responses read to their end and checked.
    received: AtomicU64,
}

/// `CLIENTS` loops of plain chats until `stop`.
fn hammer(base: &str, key: &str, counts: &Arc<Counts>, stop: &Arc<AtomicBool>) {
    let client = reqwest::Client::builder()
        .http1_only()
        .timeout(WAIT)
        .build()
        .expect("client");
    for _ in 0..CLIENTS {
        let (client, counts, stop) = (client.clone(), counts.clone(), stop.clone());
        let (url, key) = (format!("{base}/v1/chat/completions"), key.to_string());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                counts.sent.fetch_add(1, Ordering::SeqCst);
                let res = client
                    .post(&url)
                    .bearer_auth(&key)
                    .json(
                        &json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
                    )
                    .send()
                    .await;
                let Ok(res) = res else { break };
                if res.status() != 200 {
                    break;
                }
                let Ok(v) = res.json::<Value>().await else {
                    break;
                };
                assert_eq!(
                    v["choices"][0]["message"]["content"],
                    "Hello from the fake Cursor."
                );
                counts.received.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
}

/// Opens the ledger as a forensic reader would: integrity, then every row checked.
fn inspect(path: &Path, since_ms: i64) -> u64 {
    let conn = rusqlite::Connection::open(path).expect("open the ledger");
    let check: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("integrity_check")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(check, ["ok"], "the database survived intact");
    let mut stmt = conn
        .prepare(
            "SELECT started_at_ms, model, stream, prompt_tokens, completion_tokens,
                    tokens_exact, ttft_ms, total_ms, status, error_kind, tool_calls, continued
             FROM requests ORDER BY id",
        )
        .expect("prepare");
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, i64>(7)?,
                r.get::<_, i64>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, i64>(10)?,
                r.get::<_, bool>(11)?,
            ))
        })
        .expect("query");
    let mut n = 0;
    for row in rows {
        let (started, model, stream, prompt, completion, total, status, error, tools, cont) =
            row.expect("a readable row");
        // Every column of every row is what a completed chat writes: nothing torn.
        assert!(started >= since_ms, "started_at_ms {started}");
        assert_eq!(
            (model.as_str(), stream, status, error, tools, cont),
            ("auto", false, 200, None, 0, false)
        );
        assert_eq!(completion, Some(7), "the fake's reply is 7 tokens");
        assert!(prompt.is_some_and(|p| p > 0), "{prompt:?}");
        assert!((0..60_000).contains(&total), "total_ms {total}");
        n += 1;
    }
    n
}

/// Waits until the ledger (read through WAL, beside the live writer) holds `n` rows.
async fn wait_for_rows(path: &Path, n: u64) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open read-only");
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM requests", [], |r| r.get(0))
            .expect("count");
        if u64::try_from(rows) == Ok(n) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the ledger holds {rows} rows, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_survives_kill_9_mid_burst_and_serve_appends_after() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    sb.write_creds(&session(&fake));
    // The burst is thousands of chats a minute on purpose: the guard's per-minute budget
    // is raised past it, as a user running such a load would.
    sb.write_settings("guard_requests_per_minute = 100000000\n");
    let since = cursor_bridge_core::store::ledger::unix_now_ms();
    let mut rows = 0u64;

    // (responses to wait for before the kill, whether to let the burst drain first)
    for (round, (target, drain)) in [(10u64, false), (150, false), (60, true)]
        .into_iter()
        .enumerate()
    {
        let (mut child, base) = start(&sb).await;
        let key = sb.local_key();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        hammer(&base, &key, &counts, &stop);
        let reached = timeout(WAIT, async {
            while counts.received.load(Ordering::SeqCst) < target {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        assert!(reached.is_ok(), "round {round}: {target} chats in time");
        if drain {
            // Stop sending, let every request in flight finish, and wait until the
            // writer has committed them all: then a kill may lose nothing.
            stop.store(true, Ordering::SeqCst);
            let settled = timeout(WAIT, async {
                loop {
                    let (s, r) = (
                        counts.sent.load(Ordering::SeqCst),
                        counts.received.load(Ordering::SeqCst),
                    );
                    if s == r {
                        return r;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
            .await
            .expect("the burst drains");
            wait_for_rows(&sb.ledger_path(), rows + settled).await;
        }
        // Everything counted here was fully received before the kill.
        let received = counts.received.load(Ordering::SeqCst);
        child.start_kill().expect("kill -9");
        stop.store(true, Ordering::SeqCst);
        let status = timeout(WAIT, child.wait())
            .await
            .expect("the child dies")
            .expect("wait");
        assert_eq!(status.signal(), Some(9), "killed, not exited: {status:?}");
        let sent = counts.sent.load(Ordering::SeqCst);

        let now = inspect(&sb.ledger_path(), since);
        let added = now - rows;
        let lost = received.saturating_sub(added);
        eprintln!(
            "round {round}: {received} responses received before kill -9, {sent} sent, \
             {added} rows committed, {lost} lost"
        );
        assert!(added <= sent, "round {round}: no row is invented");
        if drain {
            assert_eq!(
                added, received,
                "round {round}: a drained burst loses nothing"
            );
        } else {
            assert!(
                lost <= MAX_LOST,
                "round {round}: {lost} rows lost (received {received}, committed {added})"
            );
        }
        rows = now;
    }

    // serve starts again on the same directory, serves, and appends.
    let (mut child, base) = start(&sb).await;
    let key = sb.local_key();
    let res = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "auto", "messages": [{"role": "user", "content": "after"}]}))
        .send()
        .await
        .expect("chat after restart");
    assert_eq!(res.status(), 200);
    let health: Value = reqwest::get(format!("{base}/health"))
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["ledger"]["ok"], true, "{health}");
    let pid = child.id().expect("pid").to_string();
    let int = Command::new("kill").args(["-INT", &pid]).status().await;
    assert!(int.expect("kill -INT").success());
    let status = timeout(WAIT, child.wait())
        .await
        .expect("stops")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        inspect(&sb.ledger_path(), since),
        rows + 1,
        "appended after the kills"
    );
}
