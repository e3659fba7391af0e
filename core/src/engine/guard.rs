//! The spend and runaway-loop guard: rules that stop a costly agent with a clear error it
//! does not retry, before it costs money.
//!
//! Two kinds of rules, checked at two moments:
//! - **At admission** ([`Guard::admit`], every request, before any Cursor run starts): a
//!   manual pause (403), requests per rolling minute, requests and tokens per local
//!   calendar day, and on-demand billing when `guard_on_demand = "block"` (400).
//! - **At each tool step** ([`Guard::check_step`], when a run hands out tool calls): the
//!   same call (same name, identical arguments) made `guard_repeat_limit` times in a row,
//!   or more than `guard_max_tool_steps` tool steps in one user turn. The conversation is
//!   the request's own history — the messages every client re-sends, whatever way the run
//!   was started or continued — plus the calls of this step; a new user message ends the
//!   turn and the streak. A step that trips is never handed to the client: its run is
//!   cancelled and the client gets the error instead of the calls.
//!
//! Refusals are 400s, not 429s: most SDKs retry a 429, which is the loop this exists to
//! stop. A trip is kept (with its numbers) until **resume**, which clears the trips and, for
//! the budget that tripped, allows the rest of its window; a resumed repeat may run
//! `guard_repeat_limit` more times. The state lives outside the proxy's lifetime (the app
//! keeps one [`Guard`] across proxy restarts), and today's counts start from the ledger.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ApiError;
use super::history::Msg;
use crate::config::settings::{OnDemand, Settings};
use crate::cursor::chat::ToolCall;

/// The rules, as the settings give them.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardRules {
    /// `guard_enabled`.
    pub enabled: bool,
    /// `guard_repeat_limit`.
    pub repeat_limit: u32,
    /// `guard_max_tool_steps`.
    pub max_tool_steps: u32,
    /// `guard_requests_per_minute`.
    pub requests_per_minute: u32,
    /// `guard_daily_requests` (0 = off).
    pub daily_requests: u64,
    /// `guard_daily_tokens` (0 = off).
    pub daily_tokens: u64,
    /// `guard_on_demand`.
    pub on_demand: OnDemand,
}

impl GuardRules {
    /// The rules of `settings`.
    pub fn of(s: &Settings) -> Self {
        GuardRules {
            enabled: s.guard_enabled,
            repeat_limit: s.guard_repeat_limit,
            max_tool_steps: s.guard_max_tool_steps,
            requests_per_minute: s.guard_requests_per_minute,
            daily_requests: s.guard_daily_requests,
            daily_tokens: s.guard_daily_tokens,
            on_demand: s.guard_on_demand,
        }
    }
}

/// Which rule refused a request.
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename = "GuardRule"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Rule {
    /// A manual "Pause all".
    Paused,
    /// `guard_repeat_limit`.
    RepeatLimit,
    /// `guard_max_tool_steps`.
    MaxToolSteps,
    /// `guard_requests_per_minute`.
    RequestsPerMinute,
    /// `guard_daily_requests`.
    DailyRequests,
    /// `guard_daily_tokens`.
    DailyTokens,
    /// `guard_on_demand = "block"`.
    OnDemand,
}

impl Rule {
    /// The setting that holds the rule (`paused` for the manual pause).
    pub fn key(self) -> &'static str {
        match self {
            Rule::Paused => "paused",
            Rule::RepeatLimit => "guard_repeat_limit",
            Rule::MaxToolSteps => "guard_max_tool_steps",
            Rule::RequestsPerMinute => "guard_requests_per_minute",
            Rule::DailyRequests => "guard_daily_requests",
            Rule::DailyTokens => "guard_daily_tokens",
            Rule::OnDemand => "guard_on_demand",
        }
    }
}

/// One time a rule refused a request, with its numbers.
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename = "GuardTrip"))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Trip {
    /// The rule.
    pub rule: Rule,
    /// What the agent was told.
    pub message: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// The count that tripped it (calls in a row, steps, requests, tokens).
    pub count: u64,
    /// The limit it reached.
    pub limit: u64,
    /// Refusals since the trip (the first one included).
    pub refused: u64,
}

/// What the guard shows (tray, UI, `/health`, `cursor-bridge guard status`).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardStatus {
    /// The rules in force.
    pub rules: GuardRules,
    /// Everything is refused until resumed.
    pub paused: bool,
    /// Trips not yet resumed, oldest first.
    pub trips: Vec<Trip>,
    /// The local calendar day the counts are for (`YYYY-MM-DD`).
    pub day: String,
    /// Requests today.
    pub requests_today: u64,
    /// Tokens today (prompt + completion, where known).
    pub tokens_today: u64,
    /// Requests in the last minute.
    pub requests_last_minute: u64,
    /// Cursor's plan usage says requests are billed on demand now.
    pub on_demand: bool,
}

/// The one guard of an app (or a `serve` process), shared by every proxy it runs.
#[derive(Debug, Default)]
pub struct Guard {
    state: Mutex<State>,
    /// Bumped on every trip, pause and resume, for the app's status and alerts.
    changes: tokio::sync::watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    paused: bool,
    trips: Vec<Trip>,
    minute: VecDeque<Instant>,
    day: String,
    requests_today: u64,
    tokens_today: u64,
    /// The budgets resumed after a trip, each with the day it lets through.
    budgets_waived: Vec<(Rule, String)>,
    /// Resumed repeats: the call and the streak it had reached.
    repeats_waived: Vec<(String, Value, u32)>,
    /// The last repeat that tripped, waived when the guard is resumed.
    pending_repeat: Option<(String, Value, u32)>,
    on_demand: bool,
    on_demand_warned: bool,
    /// When Cursor's plan usage was last asked for (see `engine::plan`).
    plan_checked: Option<Instant>,
}

/// The current local calendar day.
fn today() -> String {
    chrono::Local::now().date_naive().to_string()
}

/// Unix milliseconds of the start of the current local day (for the ledger's counts).
pub fn start_of_today_ms() -> i64 {
    let midnight = chrono::Local::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|t| t.and_local_timezone(chrono::Local).earliest());
    midnight.map_or(0, |t| t.timestamp_millis())
}

const WINDOW: Duration = Duration::from_secs(60);

const HOW_TO_GO_ON: &str = "Resume from the Cursor Bridge tray menu, run `cursor-bridge guard \
                            resume`, or raise";

impl Guard {
    /// A guard with nothing counted yet.
    pub fn new() -> Self {
        Guard::default()
    }

    /// Today's counts as the ledger has them (after a restart); counts already higher
    /// (this guard outlived a proxy) are kept.
    pub fn seed(&self, requests: u64, tokens: u64) {
        let mut s = self.lock();
        s.roll_day();
        s.requests_today = s.requests_today.max(requests);
        s.tokens_today = s.tokens_today.max(tokens);
    }

    /// Admits a request or refuses it (module doc); an admitted request is counted.
    pub(crate) fn admit(&self, rules: &GuardRules) -> Result<(), ApiError> {
        let mut s = self.lock();
        s.roll_day();
        let now = Instant::now();
        while s.minute.front().is_some_and(|t| now - *t >= WINDOW) {
            s.minute.pop_front();
        }
        if s.paused {
            drop(s);
            return Err(paused_error());
        }
        if rules.enabled {
            let waived = |r: Rule| s.budgets_waived.iter().any(|(w, d)| *w == r && *d == s.day);
            let checks = [
                (
                    Rule::RequestsPerMinute,
                    s.minute.len() as u64,
                    u64::from(rules.requests_per_minute),
                    false,
                ),
                (
                    Rule::DailyRequests,
                    s.requests_today,
                    rules.daily_requests,
                    waived(Rule::DailyRequests),
                ),
                (
                    Rule::DailyTokens,
                    s.tokens_today,
                    rules.daily_tokens,
                    waived(Rule::DailyTokens),
                ),
            ];
            let on_demand_waived = waived(Rule::OnDemand);
            for (rule, count, limit, skip) in checks {
                if limit > 0 && count >= limit && !skip {
                    return Err(self.trip(&mut s, rule, count, limit));
                }
            }
            if s.on_demand && rules.on_demand == OnDemand::Block && !on_demand_waived {
                return Err(self.trip(&mut s, Rule::OnDemand, 0, 0));
            }
        }
        s.minute.push_back(now);
        s.requests_today += 1;
        Ok(())
    }

    /// Checks a step's tool `calls` against the conversation `history` (module doc).
    pub(crate) fn check_step(
        &self,
        rules: &GuardRules,
        history: &[Msg],
        calls: &[ToolCall],
    ) -> Result<(), ApiError> {
        if !rules.enabled || calls.is_empty() {
            return Ok(());
        }
        let turn = current_turn(history);
        let steps = turn
            .iter()
            .filter(|m| matches!(m, Msg::Assistant { calls, .. } if !calls.is_empty()))
            .count() as u64
            + 1;
        let mut s = self.lock();
        if steps > u64::from(rules.max_tool_steps) {
            let limit = u64::from(rules.max_tool_steps);
            return Err(self.trip(&mut s, Rule::MaxToolSteps, steps, limit));
        }
        // Every call of the turn in order, this step's last.
        let mut seq: Vec<(&str, &Value)> = turn
            .iter()
            .flat_map(|m| match m {
                Msg::Assistant { calls, .. } => calls
                    .iter()
                    .map(|c| (c.name.as_str(), &c.args))
                    .collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        seq.extend(calls.iter().map(|c| (c.name.as_str(), &c.arguments)));
        let last = seq.len() - 1;
        let (name, args) = seq[last];
        let streak = seq.iter().rev().take_while(|c| **c == (name, args)).count() as u32;
        let waived = s
            .repeats_waived
            .iter()
            .find(|(n, a, _)| n == name && a == args)
            .map_or(0, |w| w.2);
        let limit = rules.repeat_limit;
        if streak >= limit && streak - waived.min(streak) >= limit {
            let message = format!(
                "Cursor Bridge's guard stopped this agent: it called the tool `{name}` with \
                 the same arguments {streak} times in a row (guard_repeat_limit = {limit}); \
                 the Cursor run is cancelled. {HOW_TO_GO_ON} `guard_repeat_limit` in \
                 settings.toml."
            );
            let e = self.trip_with(
                &mut s,
                Rule::RepeatLimit,
                u64::from(streak),
                u64::from(limit),
                message,
            );
            s.repeats_waived
                .retain(|(n, a, _)| !(n == name && a == args));
            s.pending_repeat = Some((name.to_string(), args.clone(), streak));
            return Err(e);
        }
        Ok(())
    }

    /// Counts a response's tokens towards today's budget.
    pub(crate) fn add_tokens(&self, tokens: u64) {
        let mut s = self.lock();
        s.roll_day();
        s.tokens_today += tokens;
    }

    /// Cursor's plan usage: requests are billed on demand now (or no longer). Returns true
    /// the first time it becomes true with `warn` in force, for the one notification.
    pub fn set_on_demand(&self, on_demand: bool, rules: &GuardRules) -> bool {
        let mut s = self.lock();
        let changed = s.on_demand != on_demand;
        s.on_demand = on_demand;
        let warn = on_demand && rules.on_demand == OnDemand::Warn && !s.on_demand_warned;
        if warn {
            s.on_demand_warned = true;
        }
        if !on_demand {
            s.on_demand_warned = false;
        }
        drop(s);
        if changed {
            // The app shows it (and notifies once with `warn`).
            self.changed();
        }
        warn
    }

    /// True (and the clock restarts) when Cursor's plan usage was last asked for at least
    /// `every` ago, or never: one refresh per period, however many requests flow, and
    /// across proxy restarts.
    pub(crate) fn plan_check_due(&self, every: Duration) -> bool {
        let mut s = self.lock();
        let now = Instant::now();
        if s.plan_checked.is_some_and(|t| now - t < every) {
            return false;
        }
        s.plan_checked = Some(now);
        true
    }

    /// "Pause all": every request is refused with a 403 until [`Guard::resume`].
    pub fn pause(&self) {
        self.lock().paused = true;
        self.changed();
    }

    /// Clears the pause and every trip; a tripped budget lets the rest of today through,
    /// a tripped repeat may run `guard_repeat_limit` more times. Returns the trips cleared.
    pub fn resume(&self) -> usize {
        let mut s = self.lock();
        let n = s.trips.len() + usize::from(s.paused);
        let day = s.day.clone();
        let budgets: Vec<Rule> = s
            .trips
            .iter()
            .map(|t| t.rule)
            .filter(|r| matches!(r, Rule::DailyRequests | Rule::DailyTokens | Rule::OnDemand))
            .collect();
        s.budgets_waived.retain(|(_, d)| *d == day);
        s.budgets_waived
            .extend(budgets.into_iter().map(|r| (r, day.clone())));
        if let Some(r) = s.pending_repeat.take() {
            s.repeats_waived.push(r);
        }
        if s.trips.iter().any(|t| t.rule == Rule::RequestsPerMinute) {
            s.minute.clear();
        }
        s.trips.clear();
        s.paused = false;
        drop(s);
        self.changed();
        n
    }

    /// What the guard shows.
    pub fn status(&self, rules: &GuardRules) -> GuardStatus {
        let mut s = self.lock();
        s.roll_day();
        let now = Instant::now();
        GuardStatus {
            rules: *rules,
            paused: s.paused,
            trips: s.trips.clone(),
            day: s.day.clone(),
            requests_today: s.requests_today,
            tokens_today: s.tokens_today,
            requests_last_minute: s.minute.iter().filter(|t| now - **t < WINDOW).count() as u64,
            on_demand: s.on_demand,
        }
    }

    /// Changes (trips, pauses, resumes) as they happen.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Counters only: a panic elsewhere cannot leave them half-written.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// Records a trip of `rule` (or one more refusal of an open one) and returns the error.
    fn trip(&self, s: &mut State, rule: Rule, count: u64, limit: u64) -> ApiError {
        let message = match rule {
            Rule::RequestsPerMinute => format!(
                "Cursor Bridge's guard refused this request: {count} requests in the last \
                 minute (guard_requests_per_minute = {limit}). Wait a minute; or {HOW_TO_GO_ON} \
                 `guard_requests_per_minute` in settings.toml."
            ),
            Rule::DailyRequests => format!(
                "Cursor Bridge's guard refused this request: {count} requests today \
                 (guard_daily_requests = {limit}). {HOW_TO_GO_ON} `guard_daily_requests` in \
                 settings.toml."
            ),
            Rule::DailyTokens => format!(
                "Cursor Bridge's guard refused this request: {count} tokens today \
                 (guard_daily_tokens = {limit}). {HOW_TO_GO_ON} `guard_daily_tokens` in \
                 settings.toml."
            ),
            Rule::OnDemand => format!(
                "Cursor Bridge's guard refused this request: your Cursor plan's included usage \
                 is used up and it would be billed on demand (guard_on_demand = \"block\"). \
                 {HOW_TO_GO_ON} set `guard_on_demand` to \"warn\" or \"allow\" in settings.toml."
            ),
            Rule::MaxToolSteps => format!(
                "Cursor Bridge's guard stopped this agent: {count} tool steps in one turn \
                 without a new message from you (guard_max_tool_steps = {limit}); the Cursor \
                 run is cancelled. {HOW_TO_GO_ON} `guard_max_tool_steps` in settings.toml."
            ),
            Rule::RepeatLimit | Rule::Paused => String::new(),
        };
        self.trip_with(s, rule, count, limit, message)
    }

    fn trip_with(
        &self,
        s: &mut State,
        rule: Rule,
        count: u64,
        limit: u64,
        message: String,
    ) -> ApiError {
        let at_ms = crate::store::ledger::unix_now_ms();
        if let Some(t) = s.trips.iter_mut().find(|t| t.rule == rule) {
            t.refused += 1;
            t.count = count;
            t.message.clone_from(&message);
        } else {
            s.trips.push(Trip {
                rule,
                message: message.clone(),
                at_ms,
                count,
                limit,
                refused: 1,
            });
            self.changed();
        }
        tracing::warn!(
            rule = rule.key(),
            count,
            limit,
            "the guard refused a request"
        );
        ApiError::guard(rule.key(), message)
    }
}

fn paused_error() -> ApiError {
    ApiError::guard_paused(
        "Cursor Bridge is paused (Pause all): every request is refused until you resume. \
         Resume from the Cursor Bridge tray menu or run `cursor-bridge guard resume`."
            .into(),
    )
}

impl State {
    /// A new local day starts the daily counts (and ends a day's waiver) afresh.
    fn roll_day(&mut self) {
        let day = today();
        if self.day != day {
            self.day = day;
            self.requests_today = 0;
            self.tokens_today = 0;
            self.trips
                .retain(|t| !matches!(t.rule, Rule::DailyRequests | Rule::DailyTokens));
        }
    }
}

/// The messages since the last user message: the current user turn.
fn current_turn(history: &[Msg]) -> &[Msg] {
    let start = history
        .iter()
        .rposition(|m| matches!(m, Msg::User(_)))
        .map_or(0, |i| i + 1);
    &history[start..]
}

impl ApiError {
    /// 400 for a request a guard rule refused (`code: guard_tripped`; the ledger records
    /// the rule).
    pub(crate) fn guard(rule_key: &'static str, message: String) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message,
            kind: "invalid_request_error",
            code: Some("guard_tripped"),
            param: None,
            retry_after: None,
            recorded_as: Some(rule_key),
        }
    }

    /// 403 while "Pause all" is on.
    pub(crate) fn guard_paused(message: String) -> Self {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message,
            kind: "permission_error",
            code: Some("guard_paused"),
            param: None,
            retry_after: None,
            recorded_as: Some("guard_paused"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::history::Call;

    fn rules() -> GuardRules {
        GuardRules::of(&Settings::default())
    }

    fn call(args: Value) -> ToolCall {
        ToolCall {
            call_id: "c".into(),
            name: "bash".into(),
            arguments: args,
        }
    }

    /// A user message, then `n` steps each calling `bash` with `args` and getting a result.
    fn looped(n: usize, args: &Value) -> Vec<Msg> {
        steps(n, |_| args.clone())
    }

    /// A user message, then `n` steps, step `i` calling `bash` with `args(i)` and getting a
    /// result.
    fn steps(n: usize, args: impl Fn(usize) -> Value) -> Vec<Msg> {
        let mut h = vec![Msg::User("go".into())];
        for i in 0..n {
            h.push(Msg::Assistant {
                text: String::new(),
                calls: vec![Call {
                    id: format!("c{i}"),
                    name: "bash".into(),
                    args: args(i),
                }],
            });
            h.push(Msg::Tool {
                call_id: format!("c{i}"),
                name: "bash".into(),
                result: "same".into(),
                is_error: false,
            });
        }
        h
    }

    #[test]
    fn the_same_call_trips_at_exactly_the_repeat_limit_and_a_new_user_message_resets_it() {
        let g = Guard::new();
        let args = json!({"command": "ls"});
        for n in 0..4 {
            g.check_step(&rules(), &looped(n, &args), &[call(args.clone())])
                .expect("below the limit");
        }
        let e = g
            .check_step(&rules(), &looped(4, &args), &[call(args.clone())])
            .expect_err("the fifth identical call trips");
        assert_eq!((e.status.as_u16(), e.code), (400, Some("guard_tripped")));
        assert_eq!(e.code_str(), "guard_repeat_limit");
        assert!(e.message.contains("5 times in a row"), "{}", e.message);
        assert!(
            e.message.contains("cursor-bridge guard resume"),
            "{}",
            e.message
        );
        // Other arguments, or the user speaking up, break the streak.
        g.check_step(
            &rules(),
            &looped(4, &args),
            &[call(json!({"command": "pwd"}))],
        )
        .expect("a different call");
        let mut h = looped(4, &args);
        h.push(Msg::User("try something else".into()));
        g.check_step(&rules(), &h, &[call(args.clone())])
            .expect("a new turn");
        assert_eq!(g.status(&rules()).trips.len(), 1);
    }

    #[test]
    fn resume_lets_a_tripped_repeat_run_the_limit_again() {
        let g = Guard::new();
        let args = json!({"command": "ls"});
        assert!(
            g.check_step(&rules(), &looped(4, &args), &[call(args.clone())])
                .is_err()
        );
        assert_eq!(g.resume(), 1);
        for n in 5..9 {
            g.check_step(&rules(), &looped(n, &args), &[call(args.clone())])
                .expect("waived after resume");
        }
        assert!(
            g.check_step(&rules(), &looped(9, &args), &[call(args.clone())])
                .is_err()
        );
    }

    #[test]
    fn too_many_tool_steps_in_one_turn_trip() {
        let g = Guard::new();
        let r = GuardRules {
            max_tool_steps: 3,
            ..rules()
        };
        let varied = |n: usize| steps(n, |i| json!({ "step": i }));
        g.check_step(&r, &varied(2), &[call(json!({"step": 2}))])
            .expect("third step");
        let e = g
            .check_step(&r, &varied(3), &[call(json!({"step": 3}))])
            .unwrap_err();
        assert_eq!(e.code_str(), "guard_max_tool_steps");
    }

    #[test]
    fn budgets_count_admitted_requests_and_resume_allows_the_rest_of_the_day() {
        let g = Guard::new();
        let r = GuardRules {
            daily_requests: 2,
            ..rules()
        };
        g.admit(&r).expect("one");
        g.admit(&r).expect("two");
        let e = g.admit(&r).unwrap_err();
        assert_eq!(e.code_str(), "guard_daily_requests");
        assert!(g.admit(&r).is_err(), "still refused");
        assert_eq!(g.status(&r).trips[0].refused, 2);
        g.resume();
        g.admit(&r).expect("resumed for the rest of today");
        assert_eq!(g.status(&r).requests_today, 3);
        g.add_tokens(500);
        let t = GuardRules {
            daily_tokens: 400,
            ..rules()
        };
        assert_eq!(g.admit(&t).unwrap_err().code_str(), "guard_daily_tokens");
    }

    #[test]
    fn pause_refuses_everything_with_a_403_until_resumed_even_with_the_guard_off() {
        let g = Guard::new();
        let off = GuardRules {
            enabled: false,
            ..rules()
        };
        g.pause();
        let e = g.admit(&off).unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (403, Some("guard_paused")));
        g.resume();
        g.admit(&off).expect("resumed");
    }

    #[test]
    fn the_minute_and_on_demand_rules() {
        let g = Guard::new();
        let r = GuardRules {
            requests_per_minute: 2,
            ..rules()
        };
        g.admit(&r).unwrap();
        g.admit(&r).unwrap();
        assert_eq!(
            g.admit(&r).unwrap_err().code_str(),
            "guard_requests_per_minute"
        );
        g.resume();
        g.admit(&r).expect("resume starts a fresh minute");
        let block = GuardRules {
            on_demand: OnDemand::Block,
            ..rules()
        };
        assert!(!g.set_on_demand(true, &block), "block does not warn");
        assert_eq!(g.admit(&block).unwrap_err().code_str(), "guard_on_demand");
        let warn = rules();
        let g = Guard::new();
        assert!(g.set_on_demand(true, &warn), "the first time warns");
        assert!(!g.set_on_demand(true, &warn), "once");
        g.admit(&warn).expect("warn serves");
    }
}
