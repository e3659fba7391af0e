//! Tests of the report's shape: the splits by dialect and by client, and the JSON the UI
//! and `cursor-bridge usage --json` read. The helpers are the ledger tests' own.

use serde_json::json;

use super::super::tests::{
    HOUR, NOW, day_of, failed, fresh, from, hour_of, ok, point, record_all, split_point,
    split_usage,
};
use super::super::{Range, UsagePoint};
use super::*;

/// The splits by dialect and by client come from the same rows as the per-model series:
/// one model used from two dialects and three clients is still one point per bucket in
/// `series`, and every split adds up to the totals.
#[tokio::test]
async fn the_report_splits_by_dialect_and_by_client() {
    let (_dir, _path, ledger) = fresh();
    let this_hour = hour_of(NOW);
    let last_hour = this_hour - HOUR;
    let mut estimated = ok(this_hour + 4_000, "gpt-5.1", 8, 1);
    estimated.tokens_exact = false;
    record_all(
        &ledger,
        [
            from(
                "chat",
                Some("opencode"),
                ok(last_hour + 1_000, "gpt-5.1", 100, 10),
            ),
            from(
                "messages",
                Some("claude-cli"),
                ok(this_hour + 1_000, "gpt-5.1", 40, 4),
            ),
            from(
                "messages",
                Some("claude-cli"),
                failed(this_hour + 2_000, "gpt-5.1", 429, Some("quota")),
            ),
            from(
                "responses",
                Some("codex_exec"),
                ok(this_hour + 3_000, "gpt-5.1", 20, 2),
            ),
            from("chat", None, estimated),
            from(
                "chat",
                Some("opencode"),
                ok(this_hour + 5_000, "claude-4.5-sonnet", 5, 5),
            ),
        ],
    )
    .await;
    let r = ledger.report(Range::Day, NOW).await.unwrap();
    assert_eq!(
        r.series,
        [
            point(last_hour, "gpt-5.1", 1, 0, 100, 10),
            point(this_hour, "claude-4.5-sonnet", 1, 0, 5, 5),
            UsagePoint {
                estimated_requests: 1,
                ..point(this_hour, "gpt-5.1", 4, 1, 68, 7)
            },
        ]
    );
    assert_eq!(
        r.series_by_dialect,
        [
            split_point(last_hour, Some("chat"), 1, 0, 100, 10),
            split_point(this_hour, Some("chat"), 2, 0, 13, 6),
            split_point(this_hour, Some("messages"), 2, 1, 40, 4),
            split_point(this_hour, Some("responses"), 1, 0, 20, 2),
        ]
    );
    assert_eq!(
        r.series_by_client,
        [
            split_point(last_hour, Some("opencode"), 1, 0, 100, 10),
            split_point(this_hour, None, 1, 0, 8, 1),
            split_point(this_hour, Some("claude-cli"), 2, 1, 40, 4),
            split_point(this_hour, Some("codex_exec"), 1, 0, 20, 2),
            split_point(this_hour, Some("opencode"), 1, 0, 5, 5),
        ]
    );
    assert_eq!(
        r.by_dialect,
        [
            split_usage(Some("chat"), 3, 0, 113, 16, 1),
            split_usage(Some("messages"), 2, 1, 40, 4, 0),
            split_usage(Some("responses"), 1, 0, 20, 2, 0),
        ]
    );
    assert_eq!(
        r.by_client,
        [
            split_usage(Some("claude-cli"), 2, 1, 40, 4, 0),
            split_usage(Some("opencode"), 2, 0, 105, 15, 0),
            split_usage(None, 1, 0, 8, 1, 1),
            split_usage(Some("codex_exec"), 1, 0, 20, 2, 0),
        ]
    );
    for split in [&r.by_dialect, &r.by_client] {
        let requests: u64 = split.iter().map(|s| s.requests).sum();
        let prompt: u64 = split.iter().map(|s| s.prompt_tokens).sum();
        assert_eq!(
            (requests, prompt),
            (r.totals.requests, r.totals.prompt_tokens)
        );
    }
    // A week folds both hours into one day.
    let week = ledger.report(Range::Week, NOW).await.unwrap();
    assert_eq!(
        week.series_by_dialect[0],
        split_point(day_of(NOW), Some("chat"), 3, 0, 113, 16)
    );
}

/// The exact field names and shapes of `UsageReport` in docs/IPC.md.
#[test]
fn usage_report_serializes_exactly_as_ipc_md() {
    let report = UsageReport {
        range: Range::Week,
        bucket: Bucket::Day,
        generated_at: NOW,
        totals: UsageTotals {
            requests: 3,
            errors: 1,
            prompt_tokens: 30,
            completion_tokens: 4,
            cache_read_tokens: 20,
            cache_write_tokens: 2,
            reasoning_tokens: 1,
            estimated_requests: 1,
        },
        series: vec![UsagePoint {
            cache_read_tokens: 20,
            cache_write_tokens: 2,
            reasoning_tokens: 1,
            estimated_requests: 1,
            ..point(day_of(NOW), "m", 3, 1, 30, 4)
        }],
        latency: Latency {
            ttft_p50_ms: Some(12),
            ttft_p95_ms: Some(34),
            total_p50_ms: None,
            total_p95_ms: Some(56),
        },
        errors_by_kind: vec![ErrorCount {
            kind: "quota".into(),
            count: 1,
        }],
        tokens_exact: false,
        series_by_dialect: vec![split_point(day_of(NOW), Some("messages"), 3, 1, 30, 4)],
        series_by_client: vec![split_point(day_of(NOW), None, 3, 1, 30, 4)],
        by_dialect: vec![split_usage(Some("messages"), 3, 1, 30, 4, 1)],
        by_client: vec![split_usage(None, 3, 1, 30, 4, 1)],
    };
    let expected = json!({
        "range": "7d",
        "bucket": "day",
        "generatedAt": NOW,
        "totals": {
            "requests": 3, "errors": 1, "promptTokens": 30, "completionTokens": 4,
            "cacheReadTokens": 20, "cacheWriteTokens": 2, "reasoningTokens": 1,
            "estimatedRequests": 1
        },
        "series": [{
            "bucketStart": day_of(NOW), "model": "m", "requests": 3, "errors": 1,
            "promptTokens": 30, "completionTokens": 4, "cacheReadTokens": 20,
            "cacheWriteTokens": 2, "reasoningTokens": 1, "estimatedRequests": 1
        }],
        "latency": {"ttftP50Ms": 12, "ttftP95Ms": 34, "totalP50Ms": null, "totalP95Ms": 56},
        "errorsByKind": [{"kind": "quota", "count": 1}],
        "tokensExact": false,
        "seriesByDialect": [{"bucketStart": day_of(NOW), "key": "messages", "requests": 3,
            "errors": 1, "promptTokens": 30, "completionTokens": 4}],
        "seriesByClient": [{"bucketStart": day_of(NOW), "key": null, "requests": 3,
            "errors": 1, "promptTokens": 30, "completionTokens": 4}],
        "byDialect": [{"key": "messages", "requests": 3, "errors": 1, "promptTokens": 30,
            "completionTokens": 4, "estimatedRequests": 1}],
        "byClient": [{"key": null, "requests": 3, "errors": 1, "promptTokens": 30,
            "completionTokens": 4, "estimatedRequests": 1}]
    });
    assert_eq!(serde_json::to_value(&report).unwrap(), expected);
    assert_eq!(
        serde_json::to_value(UsageReport::empty(Range::Day, NOW)).unwrap()["bucket"],
        "hour"
    );
}
