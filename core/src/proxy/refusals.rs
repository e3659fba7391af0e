//! Refused requests in the log, in summary: one `warn` line per refusal (method, path cut
//! to [`PATH_CHARS`] characters, status, the error's code — never a header, a query or a
//! body, so never the key), at most [`PER_MINUTE`] a minute; past that, one line saying
//! further refusals are counted, and the first refusal after that minute logs how many
//! were not shown.
//! A client hammering the proxy with bad keys or junk paths cannot flood the log file.
//!
//! "Refused" is any 4xx error answer but 429 (that is Cursor's rate limit, not the
//! client's fault): the security checks' 401/403/415, unknown paths and methods, bodies
//! over the limit, bad fields, the guard's refusals.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};

/// Refusals logged one by one per minute.
pub(crate) const PER_MINUTE: u32 = 10;

/// The longest path a log line shows (longer ones end in `…`).
pub(crate) const PATH_CHARS: usize = 80;

const WINDOW: Duration = Duration::from_secs(60);

/// The rate limiter (a std mutex: held for a few instructions, never across an await).
#[derive(Debug, Default)]
pub(crate) struct RefusalLog {
    window: Mutex<Option<Window>>,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    logged: u32,
    suppressed: u64,
}

/// What one refusal does to the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Verdict {
    /// Refusals counted but not logged in the minute that just ended.
    ended_with: u64,
    /// Log this one on its own line.
    log: bool,
    /// This one is the first not logged this minute: say so.
    first_suppressed: bool,
}

impl RefusalLog {
    /// Logs (or counts) one refused request.
    pub(crate) fn note(&self, method: &Method, path: &str, status: StatusCode, code: &str) {
        let v = self.admit(Instant::now());
        if v.ended_with > 0 {
            tracing::warn!(
                "{} more refused request(s) in the previous minute were not logged one by one",
                v.ended_with
            );
        }
        if v.log {
            tracing::warn!(
                %method,
                path = %truncate(path),
                status = status.as_u16(),
                code,
                "refused a request"
            );
        } else if v.first_suppressed {
            tracing::warn!(
                "over {PER_MINUTE} refused requests this minute: further ones are counted, \
                 not logged"
            );
        }
    }

    fn admit(&self, now: Instant) -> Verdict {
        let mut guard = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut ended_with = 0;
        let w = match &mut *guard {
            Some(w) if now.duration_since(w.start) < WINDOW => w,
            slot => {
                ended_with = slot.map_or(0, |w| w.suppressed);
                slot.insert(Window {
                    start: now,
                    logged: 0,
                    suppressed: 0,
                })
            }
        };
        let log = w.logged < PER_MINUTE;
        if log {
            w.logged += 1;
        } else {
            w.suppressed += 1;
        }
        Verdict {
            ended_with,
            log,
            first_suppressed: !log && w.suppressed == 1,
        }
    }
}

/// Whether an answer with `status` counts as a refusal (module doc).
pub(crate) fn is_refusal(status: StatusCode) -> bool {
    status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS
}

/// `path` cut to [`PATH_CHARS`] characters.
fn truncate(path: &str) -> std::borrow::Cow<'_, str> {
    match path.char_indices().nth(PATH_CHARS) {
        None => path.into(),
        Some((at, _)) => format!("{}…", &path[..at]).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_ten_a_minute_are_logged_then_counted_then_summed_up() {
        let log = RefusalLog::default();
        let t0 = Instant::now();
        for i in 0..PER_MINUTE {
            let v = log.admit(t0 + Duration::from_secs(u64::from(i)));
            assert!(
                v.log && v.ended_with == 0 && !v.first_suppressed,
                "{i}: {v:?}"
            );
        }
        let first = log.admit(t0 + Duration::from_secs(30));
        assert_eq!(
            (first.log, first.first_suppressed, first.ended_with),
            (false, true, 0)
        );
        for _ in 0..24 {
            let v = log.admit(t0 + Duration::from_secs(59));
            assert!(!v.log && !v.first_suppressed, "{v:?}");
        }
        let next = log.admit(t0 + WINDOW);
        assert_eq!(
            next,
            Verdict {
                ended_with: 25,
                log: true,
                first_suppressed: false
            }
        );
    }

    #[test]
    fn paths_are_cut_to_80_characters_on_a_character_boundary() {
        assert_eq!(truncate("/v1/x"), "/v1/x");
        let long = format!("/{}", "é".repeat(200));
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), PATH_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate(&"a".repeat(80)), "a".repeat(80));
    }

    #[test]
    fn refusals_are_client_errors_but_rate_limits() {
        assert!(is_refusal(StatusCode::UNAUTHORIZED));
        assert!(is_refusal(StatusCode::PAYLOAD_TOO_LARGE));
        assert!(!is_refusal(StatusCode::TOO_MANY_REQUESTS));
        assert!(!is_refusal(StatusCode::OK));
        assert!(!is_refusal(StatusCode::BAD_GATEWAY));
    }
}
