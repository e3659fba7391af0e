//! Tests of the usage ledger: opening and migrating, the writer, reports and errors.

use super::*;
use rusqlite::params;
use serde_json::json;
use std::time::Instant;

pub(super) const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;
/// 2026-01-14 14:02:14 UTC: not on a bucket boundary, so bucketing is visible.
pub(super) const NOW: i64 = 1_768_399_334_000;

pub(super) fn hour_of(t: i64) -> i64 {
    t - t.rem_euclid(HOUR)
}

pub(super) fn day_of(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}

/// A successful, exactly counted request.
pub(super) fn ok(at: i64, model: &str, prompt: u64, completion: u64) -> LedgerEntry {
    LedgerEntry {
        started_at_ms: at,
        model: model.into(),
        stream: true,
        prompt_tokens: Some(prompt),
        completion_tokens: Some(completion),
        cache_read_tokens: None,
        cache_write_tokens: None,
        reasoning_tokens: None,
        tokens_exact: true,
        ttft_ms: Some(300),
        total_ms: 1_000,
        status: 200,
        error_kind: None,
        tool_calls: 0,
        continued: false,
        history: None,
        dialect: "chat".into(),
        client: None,
    }
}

pub(super) fn failed(at: i64, model: &str, status: u16, kind: Option<&str>) -> LedgerEntry {
    LedgerEntry {
        prompt_tokens: None,
        completion_tokens: None,
        ttft_ms: None,
        total_ms: 40,
        status,
        error_kind: kind.map(str::to_string),
        ..ok(at, model, 0, 0)
    }
}

pub(super) fn fresh() -> (tempfile::TempDir, PathBuf, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    // A folder that does not exist yet: open creates it.
    let path = dir.path().join("data").join("ledger.sqlite3");
    let ledger = Ledger::open(&path).unwrap();
    (dir, path, ledger)
}

pub(super) async fn record_all(ledger: &Ledger, entries: impl IntoIterator<Item = LedgerEntry>) {
    for e in entries {
        ledger.record(e);
    }
    ledger.flush().await;
}

pub(super) fn point(
    bucket_start: i64,
    model: &str,
    requests: u64,
    errors: u64,
    p: u64,
    c: u64,
) -> UsagePoint {
    UsagePoint {
        bucket_start,
        model: model.into(),
        requests,
        errors,
        prompt_tokens: p,
        completion_tokens: c,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        estimated_requests: 0,
    }
}

#[tokio::test]
async fn record_flush_report_round_trip_with_buckets_and_per_model_series() {
    let (_dir, path, ledger) = fresh();
    let this_hour = hour_of(NOW);
    let mut estimated = ok(this_hour + 120_000, "gpt-5.1", 50, 5);
    estimated.tokens_exact = false;
    record_all(
        &ledger,
        [
            ok(this_hour + 60_000, "gpt-5.1", 100, 10),
            estimated,
            ok(this_hour + 1_000, "claude-4.5-sonnet", 7, 3),
            ok(this_hour - HOUR + 5_000, "claude-4.5-sonnet", 1_000, 200),
            failed(
                this_hour - HOUR + 6_000,
                "claude-4.5-sonnet",
                429,
                Some("quota"),
            ),
            failed(this_hour - 3 * HOUR, "gpt-5.1", 502, None),
        ],
    )
    .await;
    assert_eq!(ledger.written(), 6);
    assert_eq!(ledger.failed_writes(), 0);
    assert!(path.is_file());

    let day = ledger.report(Range::Day, NOW).await.unwrap();
    assert_eq!(day.range, Range::Day);
    assert_eq!(day.bucket, Bucket::Hour);
    assert_eq!(day.generated_at, NOW);
    assert_eq!(
        day.series,
        [
            point(this_hour - 3 * HOUR, "gpt-5.1", 1, 1, 0, 0),
            point(this_hour - HOUR, "claude-4.5-sonnet", 2, 1, 1_000, 200),
            point(this_hour, "claude-4.5-sonnet", 1, 0, 7, 3),
            UsagePoint {
                estimated_requests: 1,
                ..point(this_hour, "gpt-5.1", 2, 0, 150, 15)
            },
        ]
    );
    assert_eq!(
        day.totals,
        UsageTotals {
            requests: 6,
            errors: 2,
            prompt_tokens: 1_157,
            completion_tokens: 218,
            estimated_requests: 1,
            ..UsageTotals::default()
        }
    );
    assert_eq!(
        day.errors_by_kind,
        [
            ErrorCount {
                kind: "http_502".into(),
                count: 1
            },
            ErrorCount {
                kind: "quota".into(),
                count: 1
            },
        ]
    );
    assert!(!day.tokens_exact, "one prompt count was an estimate");
    let models = day.by_model();
    assert_eq!(models[0].model, "claude-4.5-sonnet");
    assert_eq!((models[0].usage.requests, models[0].usage.errors), (3, 1));
    assert_eq!(
        (models[1].model.as_str(), models[1].usage.requests),
        ("gpt-5.1", 3)
    );

    // The same rows in daily buckets: 11:02 and 14:00 are both "today" in UTC.
    let week = ledger.report(Range::Week, NOW).await.unwrap();
    assert_eq!(week.bucket, Bucket::Day);
    assert_eq!(
        week.series,
        [
            point(day_of(NOW), "claude-4.5-sonnet", 3, 1, 1_007, 203),
            UsagePoint {
                estimated_requests: 1,
                ..point(day_of(NOW), "gpt-5.1", 3, 1, 150, 15)
            },
        ]
    );
    assert_eq!(week.totals, day.totals);
}

pub(super) fn from(dialect: &str, client: Option<&str>, e: LedgerEntry) -> LedgerEntry {
    LedgerEntry {
        dialect: dialect.into(),
        client: client.map(str::to_string),
        ..e
    }
}

pub(super) fn split_point(
    bucket_start: i64,
    key: Option<&str>,
    n: u64,
    err: u64,
    p: u64,
    c: u64,
) -> SplitPoint {
    SplitPoint {
        bucket_start,
        key: key.map(str::to_string),
        requests: n,
        errors: err,
        prompt_tokens: p,
        completion_tokens: c,
    }
}

pub(super) fn split_usage(
    key: Option<&str>,
    n: u64,
    err: u64,
    p: u64,
    c: u64,
    est: u64,
) -> SplitUsage {
    SplitUsage {
        key: key.map(str::to_string),
        requests: n,
        errors: err,
        prompt_tokens: p,
        completion_tokens: c,
        estimated_requests: est,
    }
}

#[tokio::test]
async fn tokens_are_exact_when_every_row_in_range_is() {
    let (_dir, _path, ledger) = fresh();
    let mut old_estimate = ok(NOW - 3 * DAY, "m", 1, 1);
    old_estimate.tokens_exact = false;
    record_all(&ledger, [ok(NOW - HOUR, "m", 1, 1), old_estimate]).await;
    assert!(ledger.report(Range::Day, NOW).await.unwrap().tokens_exact);
    assert!(!ledger.report(Range::Week, NOW).await.unwrap().tokens_exact);
    assert!(
        ledger
            .report(Range::Day, NOW + 10 * DAY)
            .await
            .unwrap()
            .tokens_exact
    );
}

/// Cursor's exact turn usage (cache reads/writes, reasoning) is stored per row and
/// summed per bucket, model and range; an estimated row leaves those columns NULL
/// (unknown, not 0) and counts as estimated, a row without tokens does not.
#[tokio::test]
async fn exact_rows_keep_cache_and_reasoning_tokens_and_estimates_are_counted() {
    let (_dir, path, ledger) = fresh();
    let exact = LedgerEntry {
        cache_read_tokens: Some(900),
        cache_write_tokens: Some(50),
        reasoning_tokens: Some(7),
        ..ok(NOW - HOUR, "m", 1_000, 20)
    };
    let mut estimate = ok(NOW - 2 * HOUR, "m", 300, 5);
    estimate.tokens_exact = false;
    let mut refused = failed(NOW - 3 * HOUR, "m", 400, Some("invalid_request"));
    refused.tokens_exact = false;
    record_all(&ledger, [exact, estimate, refused]).await;

    let r = ledger.report(Range::Day, NOW).await.unwrap();
    assert_eq!(
        r.totals,
        UsageTotals {
            requests: 3,
            errors: 1,
            prompt_tokens: 1_300,
            completion_tokens: 25,
            cache_read_tokens: 900,
            cache_write_tokens: 50,
            reasoning_tokens: 7,
            estimated_requests: 1,
        }
    );
    assert!(!r.tokens_exact, "one count was estimated");
    let m = &r.by_model()[0].usage;
    assert_eq!(
        (
            m.cache_read_tokens,
            m.reasoning_tokens,
            m.estimated_requests
        ),
        (900, 7, 1)
    );

    let raw = Connection::open(&path).unwrap();
    type Columns = (bool, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Columns> = raw
        .prepare(
            "SELECT tokens_exact, cache_read_tokens, cache_write_tokens, reasoning_tokens
             FROM requests ORDER BY started_at_ms DESC",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            (true, Some(900), Some(50), Some(7)),
            (false, None, None, None),
            (false, None, None, None),
        ]
    );
}

/// A ledger written before exact usage existed (schema 1) gains the new columns on
/// open; its rows keep their numbers, with the new columns NULL.
#[tokio::test]
async fn a_schema_1_file_is_migrated_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    {
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch(MIGRATIONS[0]).unwrap();
        raw.pragma_update(None, "user_version", 1).unwrap();
        raw.execute(
            "INSERT INTO requests (started_at_ms, model, stream, prompt_tokens,
                completion_tokens, tokens_exact, total_ms, status, tool_calls, continued)
             VALUES (?1, 'old', 1, 40, 4, 0, 100, 200, 0, 0)",
            params![NOW - HOUR],
        )
        .unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    record_all(
        &ledger,
        [LedgerEntry {
            cache_read_tokens: Some(10),
            ..ok(NOW - 60_000, "new", 20, 2)
        }],
    )
    .await;
    let r = ledger.report(Range::Day, NOW).await.unwrap();
    assert_eq!(r.totals.requests, 2);
    assert_eq!(r.totals.prompt_tokens, 60);
    assert_eq!(r.totals.cache_read_tokens, 10);
    assert_eq!(r.totals.estimated_requests, 1);
    let raw = Connection::open(&path).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
}

#[test]
fn nearest_rank_on_known_data() {
    let twenty: Vec<u64> = (1..=20).collect();
    assert_eq!(nearest_rank(&twenty, 50), Some(10));
    assert_eq!(nearest_rank(&twenty, 95), Some(19));
    assert_eq!(nearest_rank(&twenty, 100), Some(20));
    let four = [10, 20, 30, 40];
    assert_eq!(nearest_rank(&four, 50), Some(20));
    assert_eq!(nearest_rank(&four, 95), Some(40));
    assert_eq!(nearest_rank(&[7], 50), Some(7));
    assert_eq!(nearest_rank(&[7], 95), Some(7));
    assert_eq!(nearest_rank(&[], 50), None);
}

#[tokio::test]
async fn latency_percentiles_over_successful_requests() {
    let (_dir, _path, ledger) = fresh();
    // 20 successes: ttft 100, 200, …, 2000 ms; total 10× that. Inserted shuffled.
    let mut entries: Vec<LedgerEntry> = (1..=20u64)
        .rev()
        .map(|i| LedgerEntry {
            ttft_ms: Some(i * 100),
            total_ms: i * 1_000,
            ..ok(NOW - i as i64 * 1_000, "m", 1, 1)
        })
        .collect();
    entries.swap(3, 17);
    // A fast failure must not drag the percentiles down; a non-stream success has a
    // total but no ttft.
    entries.push(LedgerEntry {
        ttft_ms: Some(1),
        ..failed(NOW - 500, "m", 429, Some("quota"))
    });
    entries.push(LedgerEntry {
        stream: false,
        ttft_ms: None,
        total_ms: 21_000,
        ..ok(NOW - 600, "m", 1, 1)
    });
    record_all(&ledger, entries).await;

    let r = ledger.report(Range::Day, NOW).await.unwrap();
    assert_eq!(
        r.latency,
        Latency {
            ttft_p50_ms: Some(1_000),
            ttft_p95_ms: Some(1_900),
            // 21 totals: ranks ⌈10.5⌉ = 11 and ⌈19.95⌉ = 20.
            total_p50_ms: Some(11_000),
            total_p95_ms: Some(20_000),
        }
    );

    // No data: nulls, not zeros.
    let empty = ledger.report(Range::Day, NOW + 40 * DAY).await.unwrap();
    assert_eq!(empty.latency, Latency::default());
    assert_eq!(
        serde_json::to_value(&empty.latency).unwrap(),
        json!({"ttftP50Ms": null, "ttftP95Ms": null, "totalP50Ms": null, "totalP95Ms": null})
    );
}

#[tokio::test]
async fn ranges_filter_by_time() {
    let (_dir, _path, ledger) = fresh();
    record_all(
        &ledger,
        [
            ok(NOW - HOUR, "a", 1, 1),
            ok(NOW - DAY - 1, "b", 1, 1), // just outside 24 h
            ok(NOW - 2 * DAY, "c", 1, 1),
            ok(NOW - 10 * DAY, "d", 1, 1),
            ok(NOW - 40 * DAY, "e", 1, 1),
            ok(NOW + HOUR, "future", 1, 1), // a clock that went backwards
        ],
    )
    .await;
    let models = |r: &UsageReport| -> Vec<String> {
        let mut m: Vec<String> = r.by_model().into_iter().map(|m| m.model).collect();
        m.sort();
        m
    };
    let day = ledger.report(Range::Day, NOW).await.unwrap();
    assert_eq!(models(&day), ["a"]);
    let week = ledger.report(Range::Week, NOW).await.unwrap();
    assert_eq!(models(&week), ["a", "b", "c"]);
    let month = ledger.report(Range::Month, NOW).await.unwrap();
    assert_eq!(models(&month), ["a", "b", "c", "d"]);
    assert_eq!(month.totals.requests, 4);
}

#[tokio::test]
async fn reopening_after_drop_keeps_the_rows() {
    let (_dir, path, ledger) = fresh();
    record_all(
        &ledger,
        [ok(NOW - HOUR, "a", 10, 1), ok(NOW - 2 * HOUR, "b", 20, 2)],
    )
    .await;
    drop(ledger);

    let again = Ledger::open(&path).unwrap();
    let r = again.report(Range::Day, NOW).await.unwrap();
    assert_eq!(r.totals.requests, 2);
    assert_eq!(r.totals.prompt_tokens, 30);
    // And it keeps appending.
    record_all(&again, [ok(NOW - 60_000, "a", 1, 1)]).await;
    assert_eq!(
        again.report(Range::Day, NOW).await.unwrap().totals.requests,
        3
    );
}

#[test]
fn a_new_file_is_migrated_to_the_latest_schema_in_wal_mode() {
    let (_dir, path, ledger) = fresh();
    let raw = Connection::open(&path).unwrap();
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    let mode: String = raw
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(ledger);
}

#[test]
fn a_file_from_a_newer_version_is_refused() {
    let (_dir, path, ledger) = fresh();
    drop(ledger);
    let raw = Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);
    let err = Ledger::open(&path).unwrap_err();
    assert!(
        matches!(err, LedgerError::TooNew { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer version"), "{err}");
}

#[test]
fn garbage_bytes_are_reported_as_a_damaged_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let garbage: Vec<u8> = (0..16_384u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &garbage).unwrap();

    let err = Ledger::open(&path).unwrap_err();
    assert!(matches!(err, LedgerError::Damaged { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "the usage database at {} is damaged: ",
            path.display()
        )),
        "{msg}"
    );
    assert!(msg.ends_with("move it aside to start a new one"), "{msg}");
    // The file is left as it was, for the user to move aside or inspect.
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[tokio::test]
async fn a_version_1_ledger_gains_the_history_column_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    {
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch(MIGRATIONS[0]).unwrap();
        raw.execute_batch(
            "INSERT INTO requests (started_at_ms, model, stream, tokens_exact, total_ms,
                status, tool_calls, continued) VALUES (1, 'old', 1, 0, 5, 200, 0, 0);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    ledger.record(LedgerEntry {
        history: Some("checkpoint".into()),
        ..ok(NOW, "new", 1, 1)
    });
    ledger.flush().await;
    let raw = Connection::open(&path).unwrap();
    let rows: Vec<(String, Option<String>)> = raw
        .prepare("SELECT model, history FROM requests ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [
            ("old".to_string(), None),
            ("new".to_string(), Some("checkpoint".to_string()))
        ]
    );
}

/// A ledger from before the dialects (schema 3, Chat Completions only) gains the dialect
/// and client columns on open: its rows read as `chat` from an unknown client, and new
/// rows keep what they are given.
#[tokio::test]
async fn a_version_3_ledger_gains_dialect_and_client_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    {
        let mut raw = Connection::open(&path).unwrap();
        let tx = raw.transaction().unwrap();
        for step in &MIGRATIONS[..3] {
            tx.execute_batch(step).unwrap();
        }
        tx.execute_batch(
            "INSERT INTO requests (started_at_ms, model, stream, tokens_exact, total_ms,
                status, tool_calls, continued, history)
             VALUES (1, 'old', 1, 0, 5, 200, 0, 0, 'structured');
             PRAGMA user_version = 3;",
        )
        .unwrap();
        tx.commit().unwrap();
    }
    let ledger = Ledger::open(&path).unwrap();
    ledger.record(LedgerEntry {
        dialect: "messages".into(),
        client: Some("claude-cli".into()),
        ..ok(NOW, "new", 1, 1)
    });
    ledger.flush().await;
    let raw = Connection::open(&path).unwrap();
    let rows: Vec<(String, Option<String>, String, Option<String>)> = raw
        .prepare("SELECT model, history, dialect, client FROM requests ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [
            ("old".into(), Some("structured".into()), "chat".into(), None),
            (
                "new".into(),
                None,
                "messages".into(),
                Some("claude-cli".into())
            ),
        ]
    );
    let version: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
}

#[test]
fn damaged_pages_behind_a_valid_header_are_caught_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    {
        // A real database, many pages long, in rollback mode so it is all in one file.
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch(
            "PRAGMA page_size = 1024;
             CREATE TABLE filler (x TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400)
             INSERT INTO filler SELECT printf('%.200c', 'x') FROM n;
             CREATE INDEX filler_x ON filler (x);",
        )
        .unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 20 * 1024, "the table spans many pages");
    // Keep page 1 (header and schema), scribble over the b-tree pages after it.
    for (i, b) in bytes[1024..].iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();

    let err = Ledger::open(&path).unwrap_err();
    assert!(matches!(err, LedgerError::Damaged { .. }), "{err:?}");
    assert!(err.to_string().contains("move it aside"), "{err}");
}

/// Documented behaviour: opening a file another connection holds an exclusive
/// (rollback-journal) lock on waits `busy_timeout`, then fails with `Locked`.
#[test]
fn opening_a_database_locked_by_another_connection_fails_clearly_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let other = Connection::open(&path).unwrap();
    other
        .execute_batch("BEGIN EXCLUSIVE; CREATE TABLE theirs (x);")
        .unwrap();

    let started = Instant::now();
    let err = Ledger::open_with_busy_timeout(&path, Duration::from_millis(200)).unwrap_err();
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "it waited first"
    );
    assert!(matches!(err, LedgerError::Locked { .. }), "{err:?}");
    assert!(
        err.to_string().contains("is locked by another program"),
        "{err}"
    );

    other.execute_batch("COMMIT").unwrap();
    Ledger::open_with_busy_timeout(&path, Duration::from_millis(200))
        .expect("opens once the lock is released");
}

/// Documented behaviour: while another connection holds the write lock, reports still
/// work (WAL), a write waits `busy_timeout` and is then dropped and counted — `record`
/// and `flush` never hang or panic — and writing resumes once the lock is gone.
#[tokio::test]
async fn writes_blocked_past_the_busy_timeout_are_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite3");
    let ledger = Ledger::open_with_busy_timeout(&path, Duration::from_millis(150)).unwrap();
    record_all(&ledger, [ok(NOW - HOUR, "before", 1, 1)]).await;

    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    record_all(&ledger, [ok(NOW - HOUR, "blocked", 1, 1)]).await;
    assert_eq!(ledger.failed_writes(), 1);
    assert_eq!(ledger.written(), 1);
    let r = ledger
        .report(Range::Day, NOW)
        .await
        .expect("WAL readers are not blocked");
    assert_eq!(r.totals.requests, 1);

    other.execute_batch("COMMIT").unwrap();
    record_all(&ledger, [ok(NOW - HOUR, "after", 1, 1)]).await;
    assert_eq!(ledger.written(), 2);
    assert_eq!(
        ledger
            .report(Range::Day, NOW)
            .await
            .unwrap()
            .totals
            .requests,
        2
    );
}

/// A lock released within the busy timeout only delays the write.
#[tokio::test]
async fn a_write_waits_for_a_lock_released_within_the_busy_timeout() {
    let (_dir, path, ledger) = fresh();
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        other.execute_batch("COMMIT").unwrap();
    });
    record_all(&ledger, [ok(NOW - HOUR, "waited", 1, 1)]).await;
    releaser.join().unwrap();
    assert_eq!((ledger.written(), ledger.failed_writes()), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_records_from_many_tasks_lose_nothing() {
    let (_dir, _path, ledger) = fresh();
    let tasks: Vec<_> = (0..50)
        .map(|t| {
            let ledger = ledger.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    ledger.record(ok(NOW - i * 1_000, &format!("model-{}", t % 5), 2, 1));
                    if i % 10 == 0 {
                        tokio::task::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    ledger.flush().await;
    assert_eq!((ledger.written(), ledger.failed_writes()), (2_000, 0));
    let r = ledger.report(Range::Day, NOW).await.unwrap();
    assert_eq!(r.totals.requests, 2_000);
    assert_eq!(r.totals.prompt_tokens, 4_000);
    let per_model: Vec<u64> = r.by_model().iter().map(|m| m.usage.requests).collect();
    assert_eq!(per_model, [400; 5]);
}

#[tokio::test]
async fn recent_errors_newest_first_with_a_sentence_each() {
    let (_dir, _path, ledger) = fresh();
    record_all(
        &ledger,
        [
            failed(NOW - 3_000, "gpt-5.1", 429, Some("quota")),
            ok(NOW - 2_000, "gpt-5.1", 1, 1),
            failed(
                NOW - 1_000,
                "claude-4.5-sonnet",
                400,
                Some("context_length_exceeded"),
            ),
            from(
                "responses",
                Some("codex_exec"),
                failed(NOW - 500, "gpt-5.1", 503, None),
            ),
        ],
    )
    .await;
    let errors = ledger.recent_errors(2).await.unwrap();
    assert_eq!(
        errors,
        [
            RecentError {
                at: NOW - 500,
                kind: "http_503".into(),
                dialect: "responses".into(),
                client: Some("codex_exec".into()),
                message: "gpt-5.1: the request failed (http_503) (HTTP 503)".into(),
            },
            RecentError {
                at: NOW - 1_000,
                kind: "context_length_exceeded".into(),
                dialect: "chat".into(),
                client: None,
                message: "claude-4.5-sonnet: the conversation is longer than the model's \
                          context window (HTTP 400)"
                    .into(),
            },
        ]
    );
    assert_eq!(ledger.recent_errors(10).await.unwrap().len(), 3);
    assert_eq!(
        serde_json::to_value(&errors[0]).unwrap(),
        json!({"at": NOW - 500, "kind": "http_503", "dialect": "responses",
            "client": "codex_exec", "message": "gpt-5.1: the request failed (http_503) (HTTP 503)"})
    );
}

#[test]
fn ranges_parse_and_print_as_on_the_wire() {
    for (r, s) in [
        (Range::Day, "24h"),
        (Range::Week, "7d"),
        (Range::Month, "30d"),
    ] {
        assert_eq!(r.to_string(), s);
        assert_eq!(s.parse::<Range>().unwrap(), r);
        assert_eq!(serde_json::to_value(r).unwrap(), json!(s));
        assert_eq!(serde_json::from_value::<Range>(json!(s)).unwrap(), r);
    }
    let err = "1d".parse::<Range>().unwrap_err();
    assert_eq!(err.to_string(), r#"unknown range "1d": use 24h, 7d or 30d"#);
}
