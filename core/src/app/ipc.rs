//! The serde types of `docs/IPC.md`, and [`CommandError`], the one error type of the
//! front-end boundary. Field names are camelCase (Tauri's default for arguments, and what
//! the UI's `ipc.ts` declares); timestamps are Unix milliseconds.
//!
//! This is the one IPC contract: every type that crosses IPC (what the shell's commands
//! take and return, the `status-changed` payload, errors) is defined or re-exported here,
//! and the shell imports them from here only. The UI's types are generated from these
//! (`ui/src/generated/ipc.ts`, by ts-rs); a unit test fails when the committed file
//! differs, and `UPDATE_IPC_TYPES=1 cargo test -p cursor-bridge-core --lib ipc_types`
//! rewrites it. ts-rs is a dev-dependency: the derives exist only in test builds, so the
//! library and the app never carry it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::settings::SettingsError;
use crate::cursor::CursorError;
use crate::cursor::auth::LoginError;
use crate::cursor::models::ModelInfo;
use crate::cursor::usage::{CurrentPeriodUsage, Pool};
use crate::cursor::version::Resolved;
use crate::proxy::StartError;
use crate::store::credentials::StoreError;

pub use super::alerts::{Alert, AlertKind};
pub use super::connections::{ClientSnippet, ConnectChoice, ConnectOptions};
pub use crate::config::settings::OnDemand;
pub use crate::connect::opencode::install::WriteOutcome;
pub use crate::connect::{
    Client, ConnectReport, ConnectionStatus, DisconnectReport, OpencodeShape,
};
pub use crate::cursor::AgentTransport;
pub use crate::cursor::models::LimitSource;
pub use crate::cursor::version::VersionSource;
pub use crate::engine::guard::{GuardRules, GuardStatus, Rule as GuardRule, Trip as GuardTrip};
pub use crate::store::ledger::{
    Bucket, ErrorCount, Latency, Range, RecentError, SplitPoint, SplitUsage, UsagePoint,
    UsageReport, UsageTotals,
};

#[cfg(test)]
mod typescript;

/// `ProxyState` in the contract.
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename = "ProxyState"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxyRunState {
    /// Listening, at the `host` and `port` of [`ProxyStatus`] (`"running"`).
    Running,
    /// Not listening, by choice or not started yet (`"stopped"`).
    Stopped,
    /// It failed to start or stopped on a failure; [`ProxyStatus::error`] says why (`"error"`).
    Error,
}

/// Who is signed in (`plan` stays `null`: Cursor's `GetMe` does not name the plan).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// The account's email from Cursor's `GetMe`; `null` when Cursor sent none.
    pub email: Option<String>,
    /// The plan's name; always `null` for now (see above).
    pub plan: Option<String>,
}

/// The proxy part of [`Status`].
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyStatus {
    /// Whether the proxy is listening.
    pub state: ProxyRunState,
    /// The address it listens on when running, else the one it would bind (setting `host`).
    pub host: String,
    /// The port it listens on when running, else the one it would bind (setting `port`).
    pub port: u16,
    /// `http://<host>:<port>/v1`, what OpenAI clients are given.
    pub base_url: String,
    /// Why the proxy is in `error` (a sentence for the user).
    pub error: Option<String>,
}

/// What the tray and the UI render; sent with every `status-changed` event.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Credentials are stored and the session has not been found expired.
    pub signed_in: bool,
    /// Who is signed in; `null` when signed out or not fetched yet.
    pub account: Option<Account>,
    /// Where the proxy is and whether it runs.
    pub proxy: ProxyStatus,
    /// Read back from the OS, never remembered.
    pub launch_at_login: bool,
    /// Cursor Bridge's own version (the core crate's `CARGO_PKG_VERSION`).
    pub version: String,
    /// The git commit it was built from (short hash, `unknown` outside a checkout).
    pub commit: String,
    /// The `x-cursor-client-version` Cursor is sent, and where it came from.
    pub client_version: ClientVersionInfo,
    /// The browser sign-in waiting for approval, if any.
    pub sign_in: Option<SignInProgress>,
    /// The spend guard at a glance (the full picture is `guard_status`).
    pub guard: GuardSummary,
}

/// What the tray and the status line need of the guard: re-published on every trip,
/// pause and resume.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardSummary {
    /// "Pause all" is on: every request is refused until resumed.
    pub paused: bool,
    /// The rules that tripped and are not resumed yet (setting keys, e.g.
    /// `guard_repeat_limit`), oldest first.
    pub tripped: Vec<String>,
}

impl GuardSummary {
    /// The guard refuses requests now (paused, or a rule tripped).
    pub fn stopped(&self) -> bool {
        self.paused || !self.tripped.is_empty()
    }
}

impl From<&GuardStatus> for GuardSummary {
    fn from(s: &GuardStatus) -> Self {
        GuardSummary {
            paused: s.paused,
            tripped: s.trips.iter().map(|t| t.rule.key().to_string()).collect(),
        }
    }
}

/// A browser sign-in waiting for approval (`None` when there is none).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInProgress {
    /// Attempt number, new per `sign_in` call.
    pub attempt: u64,
    /// When it started, Unix milliseconds.
    pub started_unix_ms: u64,
}

/// The Cursor client version in use (reference §9.10).
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename = "ClientVersion"))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientVersionInfo {
    /// e.g. `cli-2026.07.23-e383d2b`.
    pub version: String,
    /// `setting`, `installed_cli`, `installer` or `built_in`.
    pub source: VersionSource,
    /// The source in words, e.g. "newest installed Cursor CLI".
    pub source_label: String,
}

impl From<Resolved> for ClientVersionInfo {
    fn from(r: Resolved) -> ClientVersionInfo {
        ClientVersionInfo {
            source_label: r.source.describe().into(),
            version: r.version,
            source: r.source,
        }
    }
}

/// One model, as the UI lists it.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Model {
    /// What clients ask for (Cursor's display id, falling back to the wire id).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// Other ids Cursor accepts for it.
    pub aliases: Vec<String>,
    /// The model reasons (Cursor sent `thinking_details`).
    pub reasoning: bool,
    /// Whether it takes images; `null` when not known.
    pub supports_images: Option<bool>,
    /// Context window, in tokens.
    pub context_limit: u32,
    /// Output limit, in tokens.
    pub output_limit: u32,
    /// Where the two limits came from: `cursor`, `known_family` or `default`.
    pub limit_source: LimitSource,
}

impl From<&ModelInfo> for Model {
    fn from(m: &ModelInfo) -> Self {
        Model {
            id: m.id.clone(),
            name: m.name.clone(),
            aliases: m.aliases.clone(),
            reasoning: m.reasoning,
            supports_images: m.supports_images,
            context_limit: m.context_limit,
            output_limit: m.output_limit,
            limit_source: m.limit_source,
        }
    }
}

/// `Settings` in the contract: the few settings the UI edits. Everything else stays in
/// `settings.toml` for people who need it.
#[cfg_attr(test, derive(ts_rs::TS))]
#[cfg_attr(test, ts(rename = "Settings"))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettingsView {
    /// The address the proxy binds to, as text (setting `host`, default `127.0.0.1`); a
    /// non-loopback one needs `allow_non_loopback` in `settings.toml`.
    pub host: String,
    /// The port the proxy listens on (setting `port`, default 18741).
    pub port: u16,
    /// The model used when a client sends none (setting `default_model`, default `auto`).
    pub default_model: String,
    /// The tray app starts the proxy when it starts (setting `start_proxy_on_launch`,
    /// default on).
    pub start_proxy_on_launch: bool,
    /// Clients must send the local API key as `Authorization: Bearer …` (setting
    /// `require_api_key`, default on).
    pub require_api_key: bool,
    /// How agent runs reach Cursor: `"http2"` or `"http1"` (setting `agent_transport`).
    /// Text, not the enum, so an unknown value is an `invalid_input` naming the field
    /// (like `host`) rather than a deserialization failure outside the contract.
    #[cfg_attr(test, ts(as = "AgentTransport"))]
    pub agent_transport: String,
    /// The spend guard's master switch (setting `guard_enabled`, default on).
    pub guard_enabled: bool,
    /// The same tool call this many times in a row trips the guard (setting
    /// `guard_repeat_limit`, default 5).
    pub guard_repeat_limit: u32,
    /// Tool steps in one user turn (setting `guard_max_tool_steps`, default 100).
    pub guard_max_tool_steps: u32,
    /// Requests per rolling minute (setting `guard_requests_per_minute`, default 120).
    pub guard_requests_per_minute: u32,
    /// Requests per local day, 0 = off (setting `guard_daily_requests`).
    pub guard_daily_requests: u64,
    /// Tokens per local day, 0 = off (setting `guard_daily_tokens`).
    pub guard_daily_tokens: u64,
    /// Once Cursor bills on demand: allow, warn (one notification) or block (setting
    /// `guard_on_demand`, default warn).
    pub guard_on_demand: OnDemand,
}

/// Cursor's own plan numbers for the billing cycle (they lag real use by about a minute).
/// A figure Cursor did not send is `null`, never 0 (reference §9.11).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanUsage {
    /// Spent against the plan this cycle, in cents (Cursor's `totalSpend`); `null` when
    /// Cursor sent no money figures.
    pub spent_cents: Option<i64>,
    /// The plan's limit; `null` when Cursor sent none (or 0).
    pub included_cents: Option<i64>,
    /// What is left of the limit, in cents (Cursor's `remaining`); `null` without a limit.
    pub remaining_cents: Option<i64>,
    /// Share of the whole plan used, %: Cursor's `totalPercentUsed`, else computed from
    /// the cents when there is a limit.
    pub total_percent_used: Option<f64>,
    /// Both pools (Auto + Composer, API models) when Cursor reports either; else empty.
    pub pools: Vec<PlanPool>,
    /// When the billing cycle began, Unix milliseconds; `null` when Cursor did not say.
    pub cycle_start: Option<i64>,
    /// When the billing cycle ends, Unix milliseconds; `null` when Cursor did not say.
    pub cycle_end: Option<i64>,
    /// When we asked Cursor for these numbers, Unix milliseconds.
    pub fetched_at: i64,
}

/// One pool of the plan.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanPool {
    /// `auto` or `api`.
    pub id: String,
    /// How Cursor's dashboard names it: "Auto + Composer" or "API models".
    pub label: String,
    /// Share of the pool used, %; `null` when Cursor did not report this pool.
    pub percent_used: Option<f64>,
}

impl PlanUsage {
    /// From `GetCurrentPeriodUsage`: `included` is the plan's limit (a $20 plan: 2000),
    /// `spent` its total spend; a cycle bound of 0 means Cursor did not send it.
    pub fn from_cursor(u: &CurrentPeriodUsage, fetched_at: i64) -> PlanUsage {
        let nonzero = |ms: i64| (ms > 0).then_some(ms);
        let plan = u.plan_usage.clone().unwrap_or_default();
        let pools = if plan.has_pools() {
            Pool::ALL
                .iter()
                .map(|p| PlanPool {
                    id: p.id().into(),
                    label: p.label().into(),
                    percent_used: plan.pool_percent(*p),
                })
                .collect()
        } else {
            Vec::new()
        };
        let limit = plan.limit_cents();
        PlanUsage {
            spent_cents: plan.total_spend,
            included_cents: limit,
            remaining_cents: plan.remaining.filter(|_| limit.is_some()),
            total_percent_used: plan.percent_used(),
            pools,
            cycle_start: nonzero(u.billing_cycle_start),
            cycle_end: nonzero(u.billing_cycle_end),
            fetched_at,
        }
    }
}

/// The OpenCode provider block, pretty-printed, and the base URL it points at.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpencodeSnippet {
    /// The provider block as pretty-printed JSON, with the live models and the local API
    /// key, ready to paste into OpenCode's config.
    pub text: String,
    /// The proxy's `http://<host>:<port>/v1` the block points at.
    pub base_url: String,
}

/// The kinds of `docs/IPC.md`; the UI switches on them, so they are a closed set.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// No credentials are stored: sign in first (`not_signed_in`).
    NotSignedIn,
    /// Cursor no longer accepts the session: sign in again (`session_expired`).
    SessionExpired,
    /// The browser sign-in was cancelled: `cancel_sign_in`, or a second `sign_in`
    /// (`login_cancelled`).
    LoginCancelled,
    /// The browser sign-in was not approved within the login poll's attempts
    /// (`login_timed_out`).
    LoginTimedOut,
    /// Cursor refused or failed the request, or answered something we could not read
    /// (`upstream`).
    Upstream,
    /// Cursor could not be reached, or did not answer in time (`network`).
    Network,
    /// Cursor's usage limit or rate limit is reached (`quota`).
    Quota,
    /// Something else already listens on the proxy's port (`port_in_use`).
    PortInUse,
    /// A value the user gave is not acceptable; the message names the field
    /// (`invalid_input`).
    InvalidInput,
    /// A local file, directory, socket or the credential store failed (`io`).
    Io,
    /// A failure of Cursor Bridge itself (or a Cursor request cancelled midway), not of the
    /// user's input or the network (`internal`).
    Internal,
}

impl ErrorKind {
    /// The wire name (`"port_in_use"`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotSignedIn => "not_signed_in",
            ErrorKind::SessionExpired => "session_expired",
            ErrorKind::LoginCancelled => "login_cancelled",
            ErrorKind::LoginTimedOut => "login_timed_out",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Network => "network",
            ErrorKind::Quota => "quota",
            ErrorKind::PortInUse => "port_in_use",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every failure an action reports to a front end: `{kind, message}`, the message a
/// sentence for the user (never a stack trace, never a secret). Each source error type
/// owns its mapping below; the error is logged once, where it is built.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct CommandError {
    /// What went wrong, as a closed set the UI switches on.
    pub kind: ErrorKind,
    /// A sentence for the user, shown as is.
    pub message: String,
}

impl CommandError {
    /// An error of `kind` with `message`, logged (at debug) as it is built.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CommandError {
        let e = CommandError {
            kind,
            message: message.into(),
        };
        tracing::debug!(kind = %e.kind, message = %e.message, "action failed");
        e
    }

    /// An `invalid_input` error; `message` should name the field, as the UI calls it.
    pub fn invalid_input(message: impl Into<String>) -> CommandError {
        CommandError::new(ErrorKind::InvalidInput, message)
    }

    /// An `io` error: something local (a file, a directory, the credential store) failed.
    pub fn io(message: impl Into<String>) -> CommandError {
        CommandError::new(ErrorKind::Io, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> CommandError {
        CommandError::new(ErrorKind::Internal, message)
    }
}

impl From<CursorError> for CommandError {
    fn from(e: CursorError) -> Self {
        let kind = match &e {
            CursorError::NotSignedIn => ErrorKind::NotSignedIn,
            CursorError::SessionExpired | CursorError::Unauthenticated { .. } => {
                ErrorKind::SessionExpired
            }
            CursorError::CredentialStore { .. } => ErrorKind::Io,
            CursorError::Quota { .. } => ErrorKind::Quota,
            CursorError::Network(_) | CursorError::Timeout(_) => ErrorKind::Network,
            CursorError::ContextTooLong { .. }
            | CursorError::BadModel { .. }
            | CursorError::OutdatedClient { .. }
            | CursorError::PermissionDenied { .. }
            | CursorError::Unavailable { .. }
            | CursorError::Upstream { .. }
            | CursorError::Http { .. }
            | CursorError::Protocol(_) => ErrorKind::Upstream,
            CursorError::Cancelled => ErrorKind::Internal,
        };
        // The CLI's wording says "run `cursor-bridge login`"; in the app the way is the
        // Sign in… item, so these two get their own sentence.
        let message = match &e {
            CursorError::NotSignedIn => "Not signed in to Cursor: choose Sign in… first.".into(),
            CursorError::SessionExpired => "Your Cursor session has expired: sign in again.".into(),
            other => capitalize(&other.to_string()),
        };
        CommandError::new(kind, message)
    }
}

impl From<LoginError> for CommandError {
    fn from(e: LoginError) -> Self {
        match e {
            LoginError::Cancelled => {
                CommandError::new(ErrorKind::LoginCancelled, "Sign-in was cancelled.")
            }
            LoginError::TimedOut { .. } => CommandError::new(
                ErrorKind::LoginTimedOut,
                "The browser sign-in was not completed in time; try Sign in… again.",
            ),
            LoginError::Failed(e) => e.into(),
            LoginError::BadResponse(_) => {
                CommandError::new(ErrorKind::Upstream, capitalize(&e.to_string()))
            }
        }
    }
}

impl From<StartError> for CommandError {
    fn from(e: StartError) -> Self {
        let kind = match &e {
            StartError::PortInUse { .. } => ErrorKind::PortInUse,
            StartError::NotLoopback(_) | StartError::Unprotected(_) => ErrorKind::InvalidInput,
            StartError::Io { .. } => ErrorKind::Io,
        };
        CommandError::new(kind, capitalize(&e.to_string()))
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        CommandError::io(capitalize(&e.to_string()))
    }
}

impl From<SettingsError> for CommandError {
    fn from(e: SettingsError) -> Self {
        match e {
            SettingsError::Invalid {
                key, expected, got, ..
            } => CommandError::invalid_input(format!(
                "{}: expected {expected}, got {got}",
                ui_field(key)
            )),
            other @ (SettingsError::NoHome
            | SettingsError::Read { .. }
            | SettingsError::Parse { .. }
            | SettingsError::Write { .. }
            | SettingsError::Encode { .. }) => CommandError::io(capitalize(&other.to_string())),
        }
    }
}

/// A settings key as the UI names the field (`default_model` → `defaultModel`).
pub(crate) fn ui_field(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_serialize_as_kind_and_message() {
        let e = CommandError::from(CursorError::Network("connection refused".into()));
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "network");
        assert_eq!(v["message"], "Cannot reach Cursor: connection refused");
        assert_eq!(v.as_object().unwrap().len(), 2);
        let back: CommandError = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn every_kind_has_its_wire_name() {
        for k in [
            ErrorKind::NotSignedIn,
            ErrorKind::SessionExpired,
            ErrorKind::LoginCancelled,
            ErrorKind::LoginTimedOut,
            ErrorKind::Upstream,
            ErrorKind::Network,
            ErrorKind::Quota,
            ErrorKind::PortInUse,
            ErrorKind::InvalidInput,
            ErrorKind::Io,
            ErrorKind::Internal,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }

    #[test]
    fn settings_errors_name_the_ui_field() {
        let e = CommandError::from(SettingsError::Invalid {
            origin: "settings".into(),
            key: "default_model",
            expected: "a model id".into(),
            got: "\"\"".into(),
        });
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(e.message.starts_with("defaultModel: expected"), "{e}");
    }

    #[test]
    fn status_is_camel_case() {
        let s = Status {
            signed_in: true,
            account: Some(Account {
                email: Some("a@b.c".into()),
                plan: None,
            }),
            proxy: ProxyStatus {
                state: ProxyRunState::Running,
                host: "127.0.0.1".into(),
                port: 18741,
                base_url: "http://127.0.0.1:18741/v1".into(),
                error: None,
            },
            launch_at_login: false,
            version: "0.1.0".into(),
            commit: "6a334c3a1b".into(),
            client_version: Resolved {
                version: "cli-2026.07.23-e383d2b".into(),
                source: VersionSource::InstalledCli,
            }
            .into(),
            sign_in: Some(SignInProgress {
                attempt: 2,
                started_unix_ms: 1_767_225_600_000,
            }),
            guard: GuardSummary {
                paused: true,
                tripped: vec!["guard_repeat_limit".into()],
            },
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["guard"],
            serde_json::json!({"paused": true, "tripped": ["guard_repeat_limit"]})
        );
        assert_eq!(
            v["clientVersion"],
            serde_json::json!({"version": "cli-2026.07.23-e383d2b", "source": "installed_cli",
                "sourceLabel": "newest installed Cursor CLI"})
        );
        assert_eq!(v["signedIn"], true);
        assert_eq!(v["proxy"]["baseUrl"], "http://127.0.0.1:18741/v1");
        assert_eq!(v["proxy"]["state"], "running");
        assert_eq!(v["launchAtLogin"], false);
        assert_eq!(v["commit"], "6a334c3a1b");
        assert_eq!(
            v["signIn"],
            serde_json::json!({"attempt": 2, "startedUnixMs": 1_767_225_600_000_u64})
        );
    }
}
