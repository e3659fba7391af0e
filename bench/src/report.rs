//! Percentiles, units and the markdown table.

use std::time::Duration;

/// Nearest-rank percentile of unsorted samples (`p` in 0..=100).
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut s = samples.to_vec();
    s.sort_unstable();
    if s.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

pub fn median(samples: &[Duration]) -> Duration {
    percentile(samples, 50.0)
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A signed difference in milliseconds.
pub fn ms_diff(a: Duration, b: Duration) -> String {
    format!("{:+.2} ms", (a.as_secs_f64() - b.as_secs_f64()) * 1e3)
}

/// Decimal megabytes (the targets are in MB).
pub fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}

/// Decimal kilobytes.
pub fn kb(bytes: f64) -> String {
    format!("{:.1} kB", bytes / 1e3)
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub metric: String,
    pub baseline: String,
    pub proxy: String,
    pub diff: String,
    pub target: String,
    /// `None`: no target, or not judged (quick mode).
    pub pass: Option<bool>,
}

impl Row {
    pub fn new(metric: impl Into<String>) -> Row {
        Row {
            metric: metric.into(),
            baseline: "–".into(),
            proxy: "–".into(),
            diff: "–".into(),
            target: "–".into(),
            pass: None,
        }
    }

    pub fn baseline(mut self, s: impl Into<String>) -> Row {
        self.baseline = s.into();
        self
    }

    pub fn proxy(mut self, s: impl Into<String>) -> Row {
        self.proxy = s.into();
        self
    }

    pub fn diff(mut self, s: impl Into<String>) -> Row {
        self.diff = s.into();
        self
    }

    /// What the row is for, when it has no target.
    pub fn note(mut self, s: impl Into<String>) -> Row {
        self.target = s.into();
        self
    }

    /// A target and whether it is met.
    pub fn target(mut self, s: impl Into<String>, pass: bool) -> Row {
        self.target = s.into();
        self.pass = Some(pass);
        self
    }
}

/// The markdown table; verdicts are left out in quick mode (small samples, debug builds).
pub fn table(rows: &[Row], judge: bool) -> String {
    let mut out = String::from(
        "| metric | baseline | through the proxy | difference / ratio | target | result |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in rows {
        let verdict = match (judge, r.pass) {
            (false, Some(_)) => "(quick: not judged)",
            (_, None) => "",
            (true, Some(true)) => "pass",
            (true, Some(false)) => "**MISS**",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.metric, r.baseline, r.proxy, r.diff, r.target, verdict
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&s, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&s, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&s, 100.0), Duration::from_millis(100));
        assert_eq!(
            percentile(&[Duration::from_millis(7)], 99.0),
            Duration::from_millis(7)
        );
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
