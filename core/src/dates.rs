//! Calendar dates from Unix time without a date crate: the two formats we print (the
//! CLI's `YYYY-MM-DD HH:MM UTC`, the OpenCode config backups' file-name stamp) share one
//! days → date conversion.

/// `YYYY-MM-DD HH:MM UTC` from unix seconds (no date crate needed for one format).
pub fn iso8601(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's algorithm.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso8601(0), "1970-01-01 00:00 UTC");
        assert_eq!(iso8601(1_768_399_334), "2026-01-14 14:02 UTC");
        assert_eq!(iso8601(951_782_400), "2000-02-29 00:00 UTC");
    }
}
