//! Reading: the report types the UI charts and `cursor-bridge usage` prints, and the
//! queries behind them (usage over a range, recent errors). Semantics: the module doc of
//! `ledger`, "Report semantics".

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::UnknownRange;
use super::writer::int;

/// SQL for "this row is an error" (see the module doc).
const IS_ERROR: &str = "(error_kind IS NOT NULL OR status >= 400)";
/// SQL for "this row's token counts are our estimate": a row without counts (a refused
/// request, a failure before any output) estimates nothing.
const ESTIMATED: &str = "(tokens_exact = 0 AND prompt_tokens IS NOT NULL)";
/// SQL for an error row's kind.
const ERROR_KIND: &str = "COALESCE(error_kind, 'http_' || status)";

/// A report's time range: `24h`, `7d` or `30d` on the wire.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Range {
    /// The last 24 hours (`24h`), in hourly buckets.
    #[serde(rename = "24h")]
    Day,
    /// The last 7 days (`7d`), in daily buckets.
    #[serde(rename = "7d")]
    Week,
    /// The last 30 days (`30d`), in daily buckets.
    #[serde(rename = "30d")]
    Month,
}

impl Range {
    /// Every range, shortest first.
    pub(crate) const ALL: [Range; 3] = [Range::Day, Range::Week, Range::Month];

    /// `24h`, `7d` or `30d`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
        }
    }

    /// The window's length in milliseconds.
    pub(crate) fn duration_ms(self) -> i64 {
        const DAY: i64 = 86_400_000;
        match self {
            Range::Day => DAY,
            Range::Week => 7 * DAY,
            Range::Month => 30 * DAY,
        }
    }

    /// Hourly buckets for a day, daily ones otherwise.
    pub(crate) fn bucket(self) -> Bucket {
        match self {
            Range::Day => Bucket::Hour,
            Range::Week | Range::Month => Bucket::Day,
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Range {
    type Err = UnknownRange;

    fn from_str(s: &str) -> Result<Range, UnknownRange> {
        Range::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRange(s.to_string()))
    }
}

/// The width of one series bucket (UTC-aligned).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    /// One UTC hour (`hour`), the bucket of a `24h` report.
    Hour,
    /// One UTC day (`day`), the bucket of a `7d` or `30d` report.
    Day,
}

impl Bucket {
    /// The bucket's length in milliseconds.
    pub(crate) fn ms(self) -> i64 {
        match self {
            Bucket::Hour => 3_600_000,
            Bucket::Day => 86_400_000,
        }
    }
}

/// Usage over a range, shaped exactly as `UsageReport` in `docs/IPC.md`.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    /// The range asked for.
    pub range: Range,
    /// The width of the `series` buckets, set by the range.
    pub bucket: Bucket,
    /// When the report was made, Unix milliseconds: the end of the window.
    pub generated_at: i64,
    /// Sums over every request in the range.
    pub totals: UsageTotals,
    /// Sums per bucket × model; sparse (only pairs with requests), by bucket then model.
    pub series: Vec<UsagePoint>,
    /// Latency percentiles of the successful requests in the range.
    pub latency: Latency,
    /// Failed requests per kind, most frequent first (ties by kind).
    pub errors_by_kind: Vec<ErrorCount>,
    /// False when some token counts in the range are estimates.
    pub tokens_exact: bool,
    /// Sums per bucket × dialect (`key` is `chat`, `messages` or `responses`); sparse, by
    /// bucket then dialect.
    pub series_by_dialect: Vec<SplitPoint>,
    /// Sums per bucket × client (`key` is the client's name, `null` when the request said
    /// none); sparse, by bucket then client (unknown first).
    pub series_by_client: Vec<SplitPoint>,
    /// Sums per dialect over the range, most requests first (ties by key).
    pub by_dialect: Vec<SplitUsage>,
    /// Sums per client over the range, most requests first (ties by key, unknown first).
    pub by_client: Vec<SplitUsage>,
}

/// Sums over a whole range.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageTotals {
    /// Requests recorded in the range, failed ones included.
    pub requests: u64,
    /// Requests that failed: an error kind, or an HTTP status ≥ 400.
    pub errors: u64,
    /// Prompt tokens, cache reads included (OpenAI's convention); estimates count too.
    pub prompt_tokens: u64,
    /// Completion tokens, reasoning tokens included.
    pub completion_tokens: u64,
    /// Sums over the rows that know them (Cursor's count); part of `prompt_tokens`.
    pub cache_read_tokens: u64,
    /// Prompt tokens written to Cursor's cache, from the rows Cursor counted.
    pub cache_write_tokens: u64,
    /// Part of `completion_tokens`.
    pub reasoning_tokens: u64,
    /// Requests whose token counts are our estimate rather than Cursor's count.
    pub estimated_requests: u64,
}

/// One bucket × model.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsagePoint {
    /// Start of the bucket, Unix milliseconds (UTC-aligned).
    pub bucket_start: i64,
    /// The model the requests named.
    pub model: String,
    /// Requests for this model in this bucket, failed ones included.
    pub requests: u64,
    /// Of those, the ones that failed (as in `UsageTotals::errors`).
    pub errors: u64,
    /// Prompt tokens, cache reads included.
    pub prompt_tokens: u64,
    /// Completion tokens, reasoning tokens included.
    pub completion_tokens: u64,
    /// Prompt tokens read from Cursor's cache, from the rows Cursor counted.
    pub cache_read_tokens: u64,
    /// Prompt tokens written to Cursor's cache, from the rows Cursor counted.
    pub cache_write_tokens: u64,
    /// Completion tokens spent on reasoning, from the rows Cursor counted.
    pub reasoning_tokens: u64,
    /// Requests in this bucket whose token counts are estimates.
    pub estimated_requests: u64,
}

/// One bucket × dialect or × client: the numbers the charts stack.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitPoint {
    /// Start of the bucket, Unix milliseconds (UTC-aligned).
    pub bucket_start: i64,
    /// The dialect or the client; `None` (`null`) for requests from an unknown client.
    pub key: Option<String>,
    /// Requests in this bucket, failed ones included.
    pub requests: u64,
    /// Of those, the ones that failed (as in `UsageTotals::errors`).
    pub errors: u64,
    /// Prompt tokens, cache reads included.
    pub prompt_tokens: u64,
    /// Completion tokens, reasoning tokens included.
    pub completion_tokens: u64,
}

/// One dialect's or client's sums over a report's range (the "by client" table).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SplitUsage {
    /// The dialect or the client; `None` (`null`) for requests from an unknown client.
    pub key: Option<String>,
    /// Requests over the range, failed ones included.
    pub requests: u64,
    /// Of those, the ones that failed.
    pub errors: u64,
    /// Prompt tokens, cache reads included.
    pub prompt_tokens: u64,
    /// Completion tokens, reasoning tokens included.
    pub completion_tokens: u64,
    /// Requests whose token counts are estimates.
    pub estimated_requests: u64,
}

/// Nearest-rank percentiles of successful requests; `None` (`null`) without samples.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// Median time to first token, milliseconds.
    pub ttft_p50_ms: Option<u64>,
    /// 95th-percentile time to first token, milliseconds.
    pub ttft_p95_ms: Option<u64>,
    /// Median time from arrival to the end of the answer, milliseconds.
    pub total_p50_ms: Option<u64>,
    /// 95th-percentile time from arrival to the end of the answer, milliseconds.
    pub total_p95_ms: Option<u64>,
}

/// How many errors of one kind.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorCount {
    /// The error kind (e.g. `quota`), or `http_<status>` for a failure without one.
    pub kind: String,
    /// How many requests in the range failed this way.
    pub count: u64,
}

/// One failed request, for the UI's error list (`RecentError` in `docs/IPC.md`).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentError {
    /// When the request started, Unix milliseconds.
    pub at: i64,
    /// The error kind, as in `ErrorCount::kind`.
    pub kind: String,
    /// The API the request spoke (`chat`, `messages`, `responses`).
    pub dialect: String,
    /// The client that sent it, `None` (`null`) when unknown.
    pub client: Option<String>,
    /// A sentence for the user, built from the kind, model and status (the ledger stores
    /// no free text, so no prompt or secret can end up here).
    pub message: String,
}

/// One model's sums over a report's range (for "top models" lists; not part of IPC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelUsage {
    /// The model the requests named.
    pub model: String,
    /// Its requests, errors and tokens over the range.
    #[serde(flatten)]
    pub usage: UsageTotals,
}

impl UsageReport {
    /// A report with no requests (for a ledger that does not exist yet).
    pub fn empty(range: Range, now_ms: i64) -> UsageReport {
        UsageReport {
            range,
            bucket: range.bucket(),
            generated_at: now_ms,
            totals: UsageTotals::default(),
            series: Vec::new(),
            latency: Latency::default(),
            errors_by_kind: Vec::new(),
            tokens_exact: true,
            series_by_dialect: Vec::new(),
            series_by_client: Vec::new(),
            by_dialect: Vec::new(),
            by_client: Vec::new(),
        }
    }

    /// The series summed per model, most requests first (ties by name).
    pub fn by_model(&self) -> Vec<ModelUsage> {
        let mut out: Vec<ModelUsage> = Vec::new();
        for p in &self.series {
            match out.iter_mut().find(|m| m.model == p.model) {
                Some(m) => m.usage.add(&p.totals()),
                None => out.push(ModelUsage {
                    model: p.model.clone(),
                    usage: p.totals(),
                }),
            }
        }
        out.sort_by(|a, b| (b.usage.requests.cmp(&a.usage.requests)).then(a.model.cmp(&b.model)));
        out
    }
}

impl UsagePoint {
    /// The sums of `t` as the point of `model` in the bucket starting at `bucket_start`.
    fn new(bucket_start: i64, model: String, t: UsageTotals) -> UsagePoint {
        UsagePoint {
            bucket_start,
            model,
            requests: t.requests,
            errors: t.errors,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            cache_read_tokens: t.cache_read_tokens,
            cache_write_tokens: t.cache_write_tokens,
            reasoning_tokens: t.reasoning_tokens,
            estimated_requests: t.estimated_requests,
        }
    }

    /// The point's sums, without its bucket and model.
    fn totals(&self) -> UsageTotals {
        UsageTotals {
            requests: self.requests,
            errors: self.errors,
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            cache_read_tokens: self.cache_read_tokens,
            cache_write_tokens: self.cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens,
            estimated_requests: self.estimated_requests,
        }
    }
}

/// The nearest-rank percentile `p` (1..=100) of ascending `sorted` values: the value at
/// rank ⌈p/100 · n⌉ (1-based). `None` for no samples.
pub fn nearest_rank(sorted: &[u64], p: u32) -> Option<u64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let p = p.clamp(1, 100) as usize;
    let rank = (p * n).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// Non-negative SQLite integer as `u64` (sums of non-negative columns).
fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

pub(super) fn build_report(
    conn: &Connection,
    range: Range,
    now_ms: i64,
) -> rusqlite::Result<UsageReport> {
    let bucket = range.bucket();
    let from = now_ms.saturating_sub(range.duration_ms());
    let window = "started_at_ms >= ?1 AND started_at_ms <= ?2";

    // One scan grouped by every split at once (few groups: buckets × models × dialects ×
    // clients seen), folded below into the per-model, per-dialect and per-client series.
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT (started_at_ms / ?3) * ?3 AS b, model, dialect, client, COUNT(*),
                SUM({IS_ERROR}), COALESCE(SUM(prompt_tokens), 0),
                COALESCE(SUM(completion_tokens), 0), COALESCE(SUM(cache_read_tokens), 0),
                COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(reasoning_tokens), 0),
                SUM({ESTIMATED})
         FROM requests WHERE {window}
         GROUP BY b, model, dialect, client"
    ))?;
    let groups = stmt
        .query_map(params![from, now_ms, bucket.ms()], |r| {
            let sums = UsageTotals {
                requests: count(r.get(4)?),
                errors: count(r.get(5)?),
                prompt_tokens: count(r.get(6)?),
                completion_tokens: count(r.get(7)?),
                cache_read_tokens: count(r.get(8)?),
                cache_write_tokens: count(r.get(9)?),
                reasoning_tokens: count(r.get(10)?),
                estimated_requests: count(r.get(11)?),
            };
            let keys: (i64, String, String, Option<String>) =
                (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
            Ok((keys, sums))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    // BTreeMaps give the documented order: by bucket, then by key (SQLite's BINARY
    // collation and `String`'s order are both byte order).
    let mut totals = UsageTotals::default();
    let mut per_model = BTreeMap::<(i64, String), UsageTotals>::new();
    let mut per_dialect = BTreeMap::<(i64, Option<String>), UsageTotals>::new();
    let mut per_client = BTreeMap::<(i64, Option<String>), UsageTotals>::new();
    for ((b, model, dialect, client), sums) in groups {
        totals.add(&sums);
        per_model.entry((b, model)).or_default().add(&sums);
        per_dialect
            .entry((b, Some(dialect)))
            .or_default()
            .add(&sums);
        per_client.entry((b, client)).or_default().add(&sums);
    }
    let series = per_model
        .into_iter()
        .map(|((bucket_start, model), t)| UsagePoint::new(bucket_start, model, t))
        .collect();
    let (series_by_dialect, by_dialect) = split(per_dialect);
    let (series_by_client, by_client) = split(per_client);

    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ERROR_KIND} AS k, COUNT(*) AS n FROM requests
         WHERE {window} AND {IS_ERROR}
         GROUP BY k ORDER BY n DESC, k"
    ))?;
    let errors_by_kind = stmt
        .query_map(params![from, now_ms], |r| {
            Ok(ErrorCount {
                kind: r.get(0)?,
                count: count(r.get(1)?),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;

    let samples = |column: &str| -> rusqlite::Result<Vec<u64>> {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {column} FROM requests
             WHERE {window} AND NOT {IS_ERROR} AND {column} IS NOT NULL
             ORDER BY {column}"
        ))?;
        stmt.query_map(params![from, now_ms], |r| r.get::<_, i64>(0).map(count))?
            .collect()
    };
    let ttft = samples("ttft_ms")?;
    let total = samples("total_ms")?;

    Ok(UsageReport {
        range,
        bucket,
        generated_at: now_ms,
        series,
        latency: Latency {
            ttft_p50_ms: nearest_rank(&ttft, 50),
            ttft_p95_ms: nearest_rank(&ttft, 95),
            total_p50_ms: nearest_rank(&total, 50),
            total_p95_ms: nearest_rank(&total, 95),
        },
        errors_by_kind,
        tokens_exact: totals.estimated_requests == 0,
        totals,
        series_by_dialect,
        series_by_client,
        by_dialect,
        by_client,
    })
}

/// A split's bucket × key sums as the chart's series and the range's per-key sums (most
/// requests first, ties by key).
fn split(
    per_key: BTreeMap<(i64, Option<String>), UsageTotals>,
) -> (Vec<SplitPoint>, Vec<SplitUsage>) {
    let mut sums = BTreeMap::<Option<String>, UsageTotals>::new();
    let mut series = Vec::with_capacity(per_key.len());
    for ((bucket_start, key), t) in per_key {
        sums.entry(key.clone()).or_default().add(&t);
        series.push(SplitPoint {
            bucket_start,
            key,
            requests: t.requests,
            errors: t.errors,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
        });
    }
    let mut usage: Vec<SplitUsage> = sums
        .into_iter()
        .map(|(key, t)| SplitUsage {
            key,
            requests: t.requests,
            errors: t.errors,
            prompt_tokens: t.prompt_tokens,
            completion_tokens: t.completion_tokens,
            estimated_requests: t.estimated_requests,
        })
        .collect();
    // Stable: equal counts keep the BTreeMap's key order.
    usage.sort_by_key(|u| std::cmp::Reverse(u.requests));
    (series, usage)
}

impl UsageTotals {
    /// Adds another group's sums to these.
    fn add(&mut self, o: &UsageTotals) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.estimated_requests += o.estimated_requests;
    }
}

pub(super) fn query_recent_errors(
    conn: &Connection,
    limit: usize,
) -> rusqlite::Result<Vec<RecentError>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT started_at_ms, {ERROR_KIND}, model, status, dialect, client FROM requests
         WHERE {IS_ERROR} ORDER BY started_at_ms DESC, id DESC LIMIT ?1"
    ))?;
    stmt.query_map(params![int(limit as u64)], |r| {
        let kind: String = r.get(1)?;
        let model: String = r.get(2)?;
        let status: u16 = r.get(3)?;
        Ok(RecentError {
            at: r.get(0)?,
            message: error_message(&kind, &model, status),
            kind,
            dialect: r.get(4)?,
            client: r.get(5)?,
        })
    })?
    .collect()
}

/// The user-facing sentence for an error row.
fn error_message(kind: &str, model: &str, status: u16) -> String {
    let what = match kind {
        "quota" => "Cursor's usage limit was reached".to_string(),
        "context_length_exceeded" => {
            "the conversation is longer than the model's context window".to_string()
        }
        "upstream" => "Cursor failed to answer".to_string(),
        "client_disconnected" => "the client disconnected before the answer was complete".into(),
        "not_signed_in" | "session_expired" | "unauthenticated" => {
            "Cursor Bridge is not signed in to Cursor (run `cursor-bridge login`)".into()
        }
        other => format!("the request failed ({other})"),
    };
    format!("{model}: {what} (HTTP {status})")
}

#[cfg(test)]
mod tests;
