//! Printing helpers: one line to the command's output, money, durations, and the usage
//! reports as text.

use std::io::Write;
use std::time::Duration;

use cursor_bridge_core::cursor::usage::{CurrentPeriodUsage, PlanUsage, Pool};
use cursor_bridge_core::dates::iso8601;
use cursor_bridge_core::store::ledger::{LedgerError, Range, SplitUsage, UsageReport};

use crate::exit::{CliError, Exit};

/// Writes one line of output.
pub(crate) fn w(out: &mut (dyn Write + Send), s: impl AsRef<str>) -> Result<(), CliError> {
    writeln!(out, "{}", s.as_ref())
        .map_err(|e| CliError::new(Exit::Failure, format!("cannot write output: {e}")))
}

/// `$12.34` from cents; negative amounts (an overspent plan's `remaining`) as `-$0.05`.
pub(crate) fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}${}.{:02}", abs / 100, abs % 100)
}

/// A time left, as coarse as a person reads it: `42 s`, `5 min`, `1 h 1 min`, `3 days`.
pub(crate) fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=172_799 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} days", s / 86_400),
    }
}

/// `usage`'s first part: the ledger's reports (or a line saying they are unavailable).
pub(crate) fn print_local_usage(
    out: &mut (dyn Write + Send),
    local: &Result<Vec<UsageReport>, LedgerError>,
) -> Result<(), CliError> {
    w(out, "Local usage (requests through this machine's proxy):")?;
    let reports = match local {
        Ok(r) => r,
        Err(_) => {
            w(out, "  unavailable (see the error below)")?;
            return w(out, "");
        }
    };
    for r in reports {
        let label = match r.range {
            Range::Day => "Last 24 h:",
            Range::Week => "Last 7 d:",
            Range::Month => "Last 30 d:",
        };
        let t = &r.totals;
        if t.requests == 0 {
            w(out, format!("{label:<16}no requests"))?;
            continue;
        }
        w(
            out,
            format!(
                "{label:<16}{}, {}",
                plural(t.requests, "request"),
                plural(t.errors, "error")
            ),
        )?;
        // Cache and reasoning tokens are parts of the prompt and completion counts, known
        // only for the requests Cursor counted.
        let mut prompt_parts = Vec::new();
        if t.cache_read_tokens > 0 {
            prompt_parts.push(format!("{} cached", t.cache_read_tokens));
        }
        if t.cache_write_tokens > 0 {
            prompt_parts.push(format!("{} written to cache", t.cache_write_tokens));
        }
        let prompt_parts = if prompt_parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", prompt_parts.join(", "))
        };
        let reasoning = if t.reasoning_tokens > 0 {
            format!(" ({} reasoning)", t.reasoning_tokens)
        } else {
            String::new()
        };
        w(
            out,
            format!(
                "  tokens:       {} prompt{prompt_parts}, {} completion{reasoning}",
                t.prompt_tokens, t.completion_tokens
            ),
        )?;
        let counted = if t.estimated_requests == 0 {
            "exact (Cursor's own count)".to_string()
        } else {
            format!(
                "{} of {} estimated (Cursor sent no count; prompt inferred from the \
                 context size or ≈ 4 characters a token)",
                t.estimated_requests,
                plural(t.requests, "request"),
            )
        };
        w(out, format!("  counted:      {counted}"))?;
        let first_token = match (r.latency.ttft_p50_ms, r.latency.ttft_p95_ms) {
            (Some(p50), Some(p95)) => format!("p50 {p50} ms, p95 {p95} ms"),
            _ => "no data".into(),
        };
        w(out, format!("  first token:  {first_token}"))?;
        // A model's line reads as a client's or a dialect's.
        let top: Vec<SplitUsage> = r
            .by_model()
            .into_iter()
            .take(5)
            .map(|m| SplitUsage {
                key: Some(m.model),
                requests: m.usage.requests,
                errors: m.usage.errors,
                prompt_tokens: m.usage.prompt_tokens,
                completion_tokens: m.usage.completion_tokens,
                estimated_requests: m.usage.estimated_requests,
            })
            .collect();
        print_breakdown(out, "  top models:", &top)?;
        print_breakdown(out, "  by client:", &r.by_client)?;
        print_breakdown(out, "  by dialect:", &r.by_dialect)?;
    }
    w(out, "")
}

/// `rows` (models, clients or dialects) as aligned lines, `head` on the first one;
/// nothing for no rows.
fn print_breakdown(
    out: &mut (dyn Write + Send),
    head: &str,
    rows: &[SplitUsage],
) -> Result<(), CliError> {
    // No `User-Agent`: nothing to name the client by.
    let name = |m: &SplitUsage| m.key.clone().unwrap_or_else(|| "(unknown)".into());
    let width = rows.iter().map(|m| name(m).len()).max().unwrap_or(0);
    for (i, m) in rows.iter().enumerate() {
        let head = if i == 0 { head } else { "" };
        w(
            out,
            format!(
                "{head:<16}{:<width$}  {}, {}, {} + {} tokens{}",
                name(m),
                plural(m.requests, "request"),
                plural(m.errors, "error"),
                m.prompt_tokens,
                m.completion_tokens,
                if m.estimated_requests > 0 {
                    " (some estimated)"
                } else {
                    ""
                }
            ),
        )?;
    }
    Ok(())
}

/// `n request`, `n requests`.
fn plural(n: u64, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// `usage`'s second part: Cursor's plan usage for the billing cycle.
pub(crate) fn print_plan_usage(
    out: &mut (dyn Write + Send),
    u: &CurrentPeriodUsage,
) -> Result<(), CliError> {
    w(out, "Cursor plan usage:")?;
    w(
        out,
        format!(
            "Billing cycle:  {} → {}",
            iso8601((u.billing_cycle_start / 1000) as u64),
            iso8601((u.billing_cycle_end / 1000) as u64)
        ),
    )?;
    if let Some(p) = &u.plan_usage {
        for line in plan_lines(p) {
            w(out, line)?;
        }
    }
    if let Some(s) = &u.spend_limit_usage {
        let limit = s
            .individual_limit
            .map(dollars)
            .unwrap_or_else(|| "none".into());
        w(
            out,
            format!(
                "On-demand:      {} spent, limit {limit}",
                dollars(s.total_spend)
            ),
        )?;
    }
    if !u.display_message.is_empty() {
        w(out, format!("Cursor says:    {}", u.display_message))?;
    }
    w(
        out,
        "Source: Cursor's dashboard API (it lags real use by about a minute).",
    )?;
    Ok(())
}

/// The plan's lines: money against a real limit, else the percentage Cursor reports,
/// then each pool (reference §9.11). A figure Cursor did not send is left out, so an
/// account reporting only percentages never reads "$0.00 of $0.00".
fn plan_lines(p: &PlanUsage) -> Vec<String> {
    let pct = |v: f64| format!("{v:.1}%");
    let mut lines = Vec::new();
    match (p.limit_cents(), p.total_spend) {
        (Some(limit), Some(spent)) => lines.push(format!(
            "Plan:           {} spent of {} included, {} remaining{}",
            dollars(spent),
            dollars(limit),
            p.remaining.map_or_else(|| "?".into(), dollars),
            p.percent_used()
                .map(|v| format!(" ({} used)", pct(v)))
                .unwrap_or_default()
        )),
        _ => match (p.percent_used(), p.total_spend.filter(|s| *s > 0)) {
            (Some(v), _) => lines.push(format!("Plan:           {} used", pct(v))),
            (None, Some(spent)) => lines.push(format!("Plan:           {} spent", dollars(spent))),
            (None, None) => lines.push("Plan:           no usage figures reported".into()),
        },
    }
    if p.has_pools() {
        for pool in Pool::ALL {
            let value = p
                .pool_percent(pool)
                .map_or_else(|| "not reported".into(), |v| format!("{} used", pct(v)));
            lines.push(format!("  {:<17}{value}", format!("{}:", pool.label())));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_durations() {
        assert_eq!(human_duration(Duration::from_secs(3_700)), "1 h 1 min");
        assert_eq!(dollars(1234), "$12.34");
        assert_eq!(dollars(0), "$0.00");
        assert_eq!(
            dollars(-5),
            "-$0.05",
            "the sign of small negatives was lost"
        );
        assert_eq!(dollars(-345), "-$3.45");
    }
}
