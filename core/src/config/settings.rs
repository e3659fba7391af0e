//! Typed settings: `settings.toml` + environment overrides, validated once.
//!
//! Everything enters through two seams: [`Env`] (a snapshot of the environment, built from
//! the process in `main` and from plain pairs in tests, so no test ever mutates the process
//! environment) and [`Paths`] (where our files live). [`Settings::load`] reads the file,
//! applies the environment, validates, and either returns a typed [`Settings`] or a
//! [`SettingsError`] that names the file or variable, the key and what was expected.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use url::Url;

pub use cursor_bridge_client::AgentTransport;
use cursor_bridge_client::auth::{PollPolicy, RefreshRoute};
use cursor_bridge_client::chat::ChatOptions;
use cursor_bridge_client::models::AUTO_MODEL;
use cursor_bridge_client::version;

/// Puts config, data and logs in this one directory (portable installs, tests, CI).
pub(crate) const ENV_HOME: &str = "CURSOR_BRIDGE_HOME";
/// Overrides `api_url`.
pub(crate) const ENV_API_URL: &str = "CURSOR_BRIDGE_API_URL";
/// Overrides `login_url`.
pub(crate) const ENV_LOGIN_URL: &str = "CURSOR_BRIDGE_LOGIN_URL";
/// Overrides `port`.
pub(crate) const ENV_PORT: &str = "CURSOR_BRIDGE_PORT";
// Opts in to the file credential store; defined with the store error whose advice names it.
pub(crate) use cursor_bridge_client::credentials::ENV_CREDENTIALS_FILE;
/// Overrides `client_version`.
pub(crate) const ENV_CLIENT_VERSION: &str = "CURSOR_BRIDGE_CLIENT_VERSION";
/// An access token that wins over stored credentials; never stored, never refreshed.
pub(crate) const ENV_ACCESS_TOKEN: &str = "CURSOR_ACCESS_TOKEN";
/// The local API key that guards the proxy port, set explicitly.
pub(crate) const ENV_API_KEY: &str = "CURSOR_BRIDGE_API_KEY";
/// The variables that hold secrets: read into [`Env`] at start, then removed from the
/// process environment (`cursor_bridge_harden::start`) so no child process inherits them.
pub const SECRET_ENV_VARS: [&str; 2] = [ENV_ACCESS_TOKEN, ENV_API_KEY];
/// Overrides `agent_transport` (`http2` or `http1`).
pub const ENV_AGENT_TRANSPORT: &str = "CURSOR_BRIDGE_AGENT_TRANSPORT";

/// A snapshot of environment variables. Empty values count as unset.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// Snapshots the process environment (variables that are not UTF-8 are skipped).
    pub fn from_process() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    /// Builds an environment from pairs; what tests use.
    pub fn from_pairs<I, K, V>(pairs: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    /// This environment with `pairs` added (replacing a variable of the same name): the
    /// secrets `cursor_bridge_harden::start` took out of the process environment.
    pub fn with<I, K, V>(mut self, pairs: I) -> Env
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.0
            .extend(pairs.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The value of `key`, or `None` when unset or empty.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

impl fmt::Debug for Env {
    /// Names only: values may be secrets (`CURSOR_ACCESS_TOKEN`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// The directories Cursor Bridge uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// Where `settings.toml` lives.
    pub config_dir: PathBuf,
    /// Where our state lives: the ledger, the local API key, the kept conversations, the
    /// file credential store by default.
    pub data_dir: PathBuf,
    /// Where the log files go (`<data_dir>/logs` by the OS conventions).
    pub log_dir: PathBuf,
}

impl Paths {
    /// `CURSOR_BRIDGE_HOME` (all three in one directory) or the OS conventions.
    pub fn resolve(env: &Env) -> Result<Paths, SettingsError> {
        if let Some(home) = env.get(ENV_HOME) {
            let home = PathBuf::from(home);
            return Ok(Paths {
                config_dir: home.clone(),
                data_dir: home.clone(),
                log_dir: home,
            });
        }
        let dirs = directories::ProjectDirs::from("dev", "cursor-bridge", "cursor-bridge")
            .ok_or(SettingsError::NoHome)?;
        let data_dir = dirs.data_dir().to_path_buf();
        Ok(Paths {
            config_dir: dirs.config_dir().to_path_buf(),
            log_dir: data_dir.join("logs"),
            data_dir,
        })
    }

    /// All three directories are `dir`; convenient for tests.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Paths {
        let dir = dir.into();
        Paths {
            config_dir: dir.clone(),
            data_dir: dir.clone(),
            log_dir: dir,
        }
    }

    /// `<config_dir>/settings.toml`.
    pub fn settings_file(&self) -> PathBuf {
        self.config_dir.join("settings.toml")
    }

    /// `<data_dir>/credentials.json`: the file store's path when none is configured.
    pub fn default_credentials_file(&self) -> PathBuf {
        self.data_dir.join("credentials.json")
    }

    /// `<data_dir>/conversations.json`: the kept conversation checkpoints (see
    /// [`crate::engine::conversations`]).
    pub fn conversations_file(&self) -> PathBuf {
        self.data_dir.join(CONVERSATIONS_FILE)
    }

    /// `<data_dir>/ledger.sqlite3`: the usage ledger (see [`crate::store::ledger`]).
    pub fn ledger_file(&self) -> PathBuf {
        self.data_dir.join("ledger.sqlite3")
    }
}

/// The name of the conversation store's file in the data directory (named here with the
/// other files, so `config` needs nothing of the store).
pub(crate) const CONVERSATIONS_FILE: &str = "conversations.json";

/// Where credentials are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CredentialStoreKind {
    /// The OS keychain (macOS Keychain, Windows Credential Manager, Secret Service).
    #[default]
    Keychain,
    /// A JSON file readable only by the user (mode 0600). Explicit opt-in only.
    File,
}

/// Every setting, each with a default. Unknown keys in the file are an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the local proxy binds to. Loopback by default: never bind all interfaces
    /// unless the user asks for it.
    pub host: IpAddr,
    /// Port of the local proxy (18741: the port users of other bridges already know).
    pub port: u16,
    /// Model used when a client sends none.
    pub default_model: String,
    /// Cursor API base (tests point it at the fake server).
    #[serde(with = "url_text")]
    pub api_url: Url,
    /// Cursor website base (browser login page).
    #[serde(with = "url_text")]
    pub login_url: Url,
    /// `x-cursor-client-version` sent to Cursor: `"auto"` resolves it at run time (the
    /// newest installed Cursor CLI, else Cursor's CLI installer script, else a built-in
    /// one; see `cursor::version`); anything else pins it.
    pub client_version: String,
    /// `x-ghost-mode` (privacy mode); the official CLI defaults to true.
    pub ghost_mode: bool,
    /// Where credentials are kept.
    pub credential_store: CredentialStoreKind,
    /// Path of the file store; `<data_dir>/credentials.json` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// Login poll cadence (reference §1.1 step 6): first delay…
    pub login_poll_initial_ms: u64,
    /// …multiplied by this after each attempt…
    pub login_poll_factor: f64,
    /// …capped here…
    pub login_poll_max_ms: u64,
    /// …for at most this many attempts (≈ 23.6 minutes with the defaults)…
    pub login_poll_max_attempts: u32,
    /// …giving up after this many consecutive errors (a 404 "pending" resets the count).
    pub login_poll_max_errors: u32,
    /// Refresh the access token when less than this remains (the official CLI uses 300 s).
    pub refresh_margin_secs: u64,
    /// TCP connect timeout for Cursor.
    pub connect_timeout_secs: u64,
    /// Whole-request timeout for Cursor's unary calls.
    pub unary_timeout_secs: u64,
    /// Client heartbeat interval on agent streams.
    pub heartbeat_interval_secs: u64,
    /// How long a run may stay silent before its first real message.
    pub first_activity_timeout_secs: u64,
    /// How long a run may go without any frame from Cursor.
    pub idle_timeout_secs: u64,
    /// How long a run may receive nothing but Cursor's heartbeats (a model thinking for a
    /// long time) before it is cut; at least `idle_timeout_secs`.
    pub heartbeat_only_timeout_secs: u64,
    /// How agent runs reach Cursor: `"http2"` (one bidirectional `Run` stream, the
    /// official CLI's default) or `"http1"` (`RunSSE` + one `BidiAppend` per client
    /// message, all over HTTP/1.1) for networks whose proxies break HTTP/2.
    pub agent_transport: AgentTransport,
    /// How long the model list is cached.
    pub models_cache_ttl_secs: u64,
    /// Lets `host` be a non-loopback address. Off: the proxy is reachable from this
    /// machine only (bind-all defaults of other bridges were scanned and abused).
    pub allow_non_loopback: bool,
    /// Require the per-install local API key as `Authorization: Bearer …`.
    pub require_api_key: bool,
    /// Largest request body the proxy accepts (images arrive base64-encoded).
    pub max_body_bytes: u64,
    /// How long a Cursor stream parked on a tool call waits for the tool results.
    pub parked_ttl_secs: u64,
    /// How many parked streams are kept at most (the oldest is cancelled beyond that).
    pub max_parked_streams: u32,
    /// How much memory the parked streams may hold together, estimated from their tool
    /// calls, checkpoints and conversation blobs (the oldest are cancelled beyond that;
    /// their conversations continue in a fresh run from the history).
    pub max_parked_bytes: u64,
    /// How many fresh Cursor runs may stream at once (continuations of parked runs and
    /// the parked runs themselves do not count: `max_parked_streams` bounds those); one
    /// more is refused at once with a 503 and `Retry-After`, so a flood of requests cannot
    /// open Cursor streams without end.
    pub max_concurrent_runs: u32,
    /// On stop, how long in-flight responses may finish before they are cancelled.
    pub drain_grace_secs: u64,
    /// How long a client may take to send a request's headers, and how long an idle
    /// keep-alive connection waits for its next request (hyper runs one clock for both);
    /// a connection that sends no request within it is closed (slowloris).
    pub header_read_timeout_secs: u64,
    /// How many client connections the proxy keeps open at once; more wait in the
    /// listen backlog until one closes (a flood cannot exhaust descriptors or streams).
    pub max_connections: u32,
    /// The tray app starts the proxy when it starts.
    pub start_proxy_on_launch: bool,
    /// How many times the proxy starts a Cursor run again after a transient failure
    /// (unreachable, timed out, unavailable, 502/503/504), only before anything reached
    /// the client. 0 turns retrying off.
    pub upstream_retries: u32,
    /// The first retry waits this long (plus up to half again, at random); each further
    /// retry waits twice as long as the one before.
    pub retry_backoff_ms: u64,
    /// Whether the `input_tokens` of Cursor's turn usage already include the cache reads
    /// and writes. The reference does not say; off (the default) follows the Anthropic
    /// split Cursor's fields mirror, so `prompt_tokens` = input + cache read + cache write.
    pub cursor_input_includes_cache: bool,
    /// Which refresh route a refresh token tries first: `"exchange"`
    /// (`/auth/exchange_user_api_key`, what browser-login clients use) or `"oauth"`
    /// (`/oauth/token`). After any 4xx the other one is tried, and the one that worked is
    /// tried first for the rest of the process.
    pub refresh_route: RefreshRoute,
    /// The Cursor CLI's versions directory, scanned for the newest installed build when
    /// `client_version` is `"auto"`; `~/.local/share/cursor-agent/versions` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor_cli_versions_dir: Option<PathBuf>,
    /// Cursor's public CLI installer script, read for the version it installs when
    /// `client_version` is `"auto"` and no CLI is installed; `<login_url>/install` when
    /// unset, `""` to never fetch it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cli_installer_url: Option<String>,
    /// How many finished conversations keep their last Cursor checkpoint (and blobs) so
    /// their next user turn continues from it; 0 keeps none (every turn is rebuilt from
    /// the request's history).
    pub conversation_store_max: u32,
    /// How much the kept checkpoints may hold together (the oldest go first beyond it).
    pub conversation_store_max_bytes: u64,
    /// How long a kept checkpoint stays usable after its conversation's last turn.
    pub conversation_store_ttl_hours: u64,
    /// Keep the checkpoints across restarts in `<data_dir>/conversations.json` (mode
    /// 0600). They hold your prompts and code: off keeps them in memory only and deletes
    /// the file.
    pub conversation_store_persist: bool,
    /// Model names clients ask for that Cursor's catalogue does not have, mapped to a
    /// Cursor model id (or `auto`): a TOML table `[model_aliases]` of glob patterns (`*`
    /// any run of characters, `?` one; case-insensitive) → id, such as
    /// `"claude-*haiku*" = "claude-4.5-sonnet"`. The most specific pattern (most literal
    /// characters) wins; names no pattern matches fall back to the built-in defaults
    /// (Anthropic names → the newest Cursor Claude model of their family, else `auto`;
    /// `engine::models`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub model_aliases: BTreeMap<String, String>,
    /// The spend and runaway-loop guard's master switch (`engine::guard`).
    pub guard_enabled: bool,
    /// The same tool call (same name, identical arguments) made this many times in a row
    /// within one conversation stops the agent.
    pub guard_repeat_limit: u32,
    /// Tool steps within one user turn (tool calls with no new user message between them)
    /// past which the agent is stopped.
    pub guard_max_tool_steps: u32,
    /// Requests per rolling minute, all clients together.
    pub guard_requests_per_minute: u32,
    /// Requests per local calendar day; 0 = no limit.
    pub guard_daily_requests: u64,
    /// Prompt + completion tokens per local calendar day; 0 = no limit.
    pub guard_daily_tokens: u64,
    /// What to do once Cursor's plan usage says the included pool is used up and requests
    /// would be billed on demand.
    pub guard_on_demand: OnDemand,
}

/// `guard_on_demand`: what the guard does once requests would be billed on demand.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDemand {
    /// Serve as usual.
    Allow,
    /// Serve, and raise one notification.
    #[default]
    Warn,
    /// Refuse, as a tripped guard does.
    Block,
}

/// The smallest `max_parked_bytes`: below it not even one small parked stream fits.
pub(crate) const MIN_PARKED_BYTES: u64 = 64 * 1024;

/// The default Cursor API base.
pub(crate) const DEFAULT_API_URL: &str = "https://api2.cursor.sh";
/// The default Cursor website base.
pub(crate) const DEFAULT_LOGIN_URL: &str = "https://cursor.com";

impl Default for Settings {
    /// Ours, and for the client's own knobs the client's defaults ([`PollPolicy`],
    /// [`ChatOptions`], the transports and routes), so each number is defined once.
    fn default() -> Self {
        let poll = PollPolicy::default();
        let chat = ChatOptions::default();
        Settings {
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 18741,
            default_model: AUTO_MODEL.into(),
            api_url: Url::parse(DEFAULT_API_URL).expect("constant URL parses"),
            login_url: Url::parse(DEFAULT_LOGIN_URL).expect("constant URL parses"),
            client_version: version::AUTO.into(),
            ghost_mode: true,
            credential_store: CredentialStoreKind::Keychain,
            credentials_file: None,
            login_poll_initial_ms: millis(poll.initial),
            login_poll_factor: poll.factor,
            login_poll_max_ms: millis(poll.max_delay),
            login_poll_max_attempts: poll.max_attempts,
            login_poll_max_errors: poll.max_consecutive_errors,
            refresh_margin_secs: 300,
            connect_timeout_secs: 10,
            unary_timeout_secs: 30,
            heartbeat_interval_secs: chat.heartbeat_interval.as_secs(),
            first_activity_timeout_secs: chat.first_activity_timeout.as_secs(),
            idle_timeout_secs: chat.idle_timeout.as_secs(),
            heartbeat_only_timeout_secs: chat.heartbeat_only_timeout.as_secs(),
            agent_transport: AgentTransport::default(),
            models_cache_ttl_secs: 300,
            allow_non_loopback: false,
            require_api_key: true,
            max_body_bytes: 32 * 1024 * 1024,
            parked_ttl_secs: 600,
            max_parked_streams: 64,
            max_parked_bytes: 64 * 1024 * 1024,
            max_concurrent_runs: 64,
            drain_grace_secs: 10,
            header_read_timeout_secs: 10,
            max_connections: 256,
            start_proxy_on_launch: true,
            upstream_retries: 2,
            retry_backoff_ms: 250,
            cursor_input_includes_cache: false,
            refresh_route: RefreshRoute::default(),
            cursor_cli_versions_dir: None,
            cli_installer_url: None,
            conversation_store_max: 256,
            conversation_store_max_bytes: 64 * 1024 * 1024,
            conversation_store_ttl_hours: 24,
            conversation_store_persist: true,
            model_aliases: BTreeMap::new(),
            guard_enabled: true,
            guard_repeat_limit: 5,
            guard_max_tool_steps: 100,
            guard_requests_per_minute: 120,
            guard_daily_requests: 0,
            guard_daily_tokens: 0,
            guard_on_demand: OnDemand::Warn,
        }
    }
}

/// A default duration as the whole milliseconds a setting holds.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Settings {
    /// Reads `settings.toml` (missing = defaults), applies the environment overrides and
    /// validates the result.
    pub fn load(paths: &Paths, env: &Env) -> Result<Settings, SettingsError> {
        let file = paths.settings_file();
        let mut settings = match std::fs::read_to_string(&file) {
            Ok(text) => toml::from_str::<Settings>(&text).map_err(|e| SettingsError::Parse {
                path: file.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Settings::default(),
            Err(source) => return Err(SettingsError::Read { path: file, source }),
        };
        // Which keys the environment set, so a validation error names the variable.
        let mut from_env: HashMap<&'static str, &'static str> = HashMap::new();
        if let Some(v) = env.get(ENV_API_URL) {
            settings.api_url = parse_url_from_env(ENV_API_URL, "api_url", v)?;
            from_env.insert("api_url", ENV_API_URL);
        }
        if let Some(v) = env.get(ENV_LOGIN_URL) {
            settings.login_url = parse_url_from_env(ENV_LOGIN_URL, "login_url", v)?;
            from_env.insert("login_url", ENV_LOGIN_URL);
        }
        if let Some(v) = env.get(ENV_PORT) {
            settings.port = v.trim().parse().map_err(|_| SettingsError::Invalid {
                origin: ENV_PORT.into(),
                key: "port",
                expected: PORT_EXPECTED.into(),
                got: v.into(),
            })?;
            from_env.insert("port", ENV_PORT);
        }
        if let Some(v) = env.get(ENV_CREDENTIALS_FILE) {
            settings.credential_store = CredentialStoreKind::File;
            settings.credentials_file = Some(PathBuf::from(v));
            from_env.insert("credentials_file", ENV_CREDENTIALS_FILE);
        }
        if let Some(v) = env.get(ENV_CLIENT_VERSION) {
            settings.client_version = v.into();
            from_env.insert("client_version", ENV_CLIENT_VERSION);
        }
        if let Some(v) = env.get(ENV_AGENT_TRANSPORT) {
            settings.agent_transport =
                AgentTransport::parse(v).ok_or_else(|| SettingsError::Invalid {
                    origin: format!("environment variable {ENV_AGENT_TRANSPORT}"),
                    key: "agent_transport",
                    expected: "\"http2\" or \"http1\"".into(),
                    got: format!("{v:?}"),
                })?;
            from_env.insert("agent_transport", ENV_AGENT_TRANSPORT);
        }
        settings.validate().map_err(|e| match e {
            SettingsError::Invalid {
                key, expected, got, ..
            } => SettingsError::Invalid {
                origin: from_env
                    .get(key)
                    .map(|var| format!("environment variable {var}"))
                    .unwrap_or_else(|| file.display().to_string()),
                key,
                expected,
                got,
            },
            other => other,
        })?;
        Ok(settings)
    }

    /// Writes `settings.toml` atomically (temp file + rename), creating the directory.
    pub(crate) fn save(&self, paths: &Paths) -> Result<(), SettingsError> {
        let path = paths.settings_file();
        let text = toml::to_string_pretty(self).map_err(|e| SettingsError::Encode {
            message: e.to_string(),
        })?;
        write_atomic(&path, text.as_bytes(), false)
            .map_err(|source| SettingsError::Write { path, source })
    }

    /// The file store's path when `credential_store = "file"`, else `None`.
    pub(crate) fn credentials_file_path(&self, paths: &Paths) -> Option<PathBuf> {
        match self.credential_store {
            CredentialStoreKind::Keychain => None,
            CredentialStoreKind::File => Some(
                self.credentials_file
                    .clone()
                    .unwrap_or_else(|| paths.default_credentials_file()),
            ),
        }
    }
}

const PORT_EXPECTED: &str = "a port number from 1 to 65535";
/// More retries than this only make a client wait for an outage to end.
const MAX_UPSTREAM_RETRIES: u32 = 10;
/// A first retry delay above a minute is a typo.
const MAX_RETRY_BACKOFF_MS: u64 = 60_000;

fn check_url(url: &Url) -> Result<(), &'static str> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("an http:// or https:// URL");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("a URL with a host name");
    }
    Ok(())
}

/// True for a URL whose host is `localhost` or a loopback address (where plain `http://`
/// never leaves the machine: the fake Cursor in tests, a local relay).
pub(crate) fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn parse_url_from_env(var: &str, key: &'static str, value: &str) -> Result<Url, SettingsError> {
    Url::parse(value.trim()).map_err(|e| SettingsError::Invalid {
        origin: format!("environment variable {var}"),
        key,
        expected: format!("an http:// or https:// URL ({e})"),
        got: value.into(),
    })
}

/// `Url` as TOML text, with the parse error in the message.
mod url_text {
    use super::*;

    pub(super) fn serialize<S: Serializer>(url: &Url, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(url.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Url, D::Error> {
        let text = String::deserialize(d)?;
        Url::parse(text.trim()).map_err(|e| {
            serde::de::Error::custom(format!(
                "expected an http:// or https:// URL, got {text:?} ({e})"
            ))
        })
    }
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, flushed to
/// disk, then renamed over the target, so a crash never leaves a half-written file.
/// Missing parent directories are created; with `private` they are created 0700 and the
/// file 0600 (unix), from the first byte on (no window where the file is readable).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    write_atomic_inner(path, bytes, private, None)
}

/// [`write_atomic`] over an existing file whose permissions the new file keeps (a user's
/// config that holds secrets and may be 0600, or deliberately shared). The temp file is
/// private until it gets `permissions`, just before the rename.
pub(crate) fn write_atomic_keeping(
    path: &Path,
    bytes: &[u8],
    permissions: std::fs::Permissions,
) -> std::io::Result<()> {
    write_atomic_inner(path, bytes, true, Some(permissions))
}

fn write_atomic_inner(
    path: &Path,
    bytes: &[u8],
    private: bool,
    keep: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)?;

    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let result = (|| {
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        if let Some(permissions) = keep {
            f.set_permissions(permissions)?;
        }
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Why settings could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Neither `CURSOR_BRIDGE_HOME` nor the OS gives a home directory for our files.
    #[error(
        "cannot find a home directory for Cursor Bridge's files; set {ENV_HOME} to a directory"
    )]
    NoHome,
    /// `settings.toml` exists but cannot be read.
    #[error("cannot read settings file {}: {source}", path.display())]
    Read {
        /// The settings file.
        path: PathBuf,
        /// Why reading it failed.
        source: std::io::Error,
    },
    /// `settings.toml` is not valid TOML, or has an unknown key or a value that does not parse.
    #[error("settings file {} is not valid: {message}", path.display())]
    Parse {
        /// The settings file.
        path: PathBuf,
        /// The TOML parser's account of what is wrong, and where.
        message: String,
    },
    /// A setting has a value it cannot take.
    #[error("invalid setting `{key}` in {origin}: expected {expected}, got {got}")]
    Invalid {
        /// Where the value came from: the settings file's path or the environment variable
        /// that set it ([`Settings::validate`] alone says `settings`).
        origin: String,
        /// The setting's key in `settings.toml` (`port`, `agent_transport`, …).
        key: &'static str,
        /// What the setting takes, in words.
        expected: String,
        /// The value it was given.
        got: String,
    },
    /// `settings.toml` cannot be written (nor its directory created).
    #[error("cannot write settings file {}: {source}", path.display())]
    Write {
        /// The settings file.
        path: PathBuf,
        /// Why writing it failed.
        source: std::io::Error,
    },
    /// The settings cannot be turned into TOML (a bug rather than a user error).
    #[error("cannot encode settings: {message}")]
    Encode {
        /// The TOML encoder's account of what failed.
        message: String,
    },
}

mod validate;

#[cfg(test)]
mod tests;
