//! Settings → the Cursor client: how the settings become the client's own option types
//! (endpoints, HTTP config, client-version policy, poll/retry policies) and the client
//! itself. Here, in the composition root, so that `config` knows nothing of the client
//! and the client knows nothing of our settings.

use std::time::Duration;

use url::Url;

use crate::config::settings::{ENV_ACCESS_TOKEN, Env, Paths, Settings};
use crate::cursor::auth::{PollPolicy, TokenManager};
use crate::cursor::chat::ChatOptions;
use crate::cursor::version::{self, ClientVersion, VersionConfig};
use crate::cursor::{CursorClient, CursorError, CursorHttp, Endpoints, HttpConfig, RetryPolicy};
use crate::store::credentials;

/// Builds the whole client from settings: the HTTP client, the credential store the
/// settings choose, and `CURSOR_ACCESS_TOKEN` from `env` as a token override.
pub fn cursor_client(
    settings: &Settings,
    paths: &Paths,
    env: &Env,
) -> Result<CursorClient, CursorError> {
    let version = ClientVersion::new(settings.client_version_config(Some(paths)));
    let http = CursorHttp::new(settings.http_config_with(version))?;
    let store = credentials::open_store(settings, paths);
    let env_token = env.get(ENV_ACCESS_TOKEN).map(str::to_string);
    let tokens = TokenManager::new(http.clone(), store, env_token, settings.refresh_margin())
        .with_refresh_route(settings.refresh_route);
    let chat = ChatOptions {
        heartbeat_interval: Duration::from_secs(settings.heartbeat_interval_secs),
        first_activity_timeout: Duration::from_secs(settings.first_activity_timeout_secs),
        idle_timeout: Duration::from_secs(settings.idle_timeout_secs),
        heartbeat_only_timeout: Duration::from_secs(settings.heartbeat_only_timeout_secs),
        ..ChatOptions::default()
    };
    Ok(CursorClient::new(
        http,
        tokens,
        Duration::from_secs(settings.models_cache_ttl_secs),
        chat,
    ))
}

// Inherent methods defined here rather than in `config`, so `settings.poll_policy()` keeps
// reading naturally while `config` imports nothing of the client.
impl Settings {
    /// How we talk to Cursor, with a client version resolved from these settings alone
    /// (no on-disk cache; [`cursor_client`] passes one that
    /// has it to [`Settings::http_config_with`]).
    #[cfg(test)]
    pub(crate) fn http_config(&self) -> HttpConfig {
        self.http_config_with(ClientVersion::new(self.client_version_config(None)))
    }

    /// Where the client version comes from (see `cursor::version`): the pin, the CLI's
    /// versions directory, the installer script, and the cache under `paths`' data dir.
    pub(crate) fn client_version_config(&self, paths: Option<&Paths>) -> VersionConfig {
        let pinned = (self.client_version.trim() != version::AUTO)
            .then(|| self.client_version.trim().to_string());
        let cli_versions_dir = self.cursor_cli_versions_dir.clone().or_else(|| {
            directories::BaseDirs::new().map(|b| version::default_cli_versions_dir(b.home_dir()))
        });
        let installer_url = match self.cli_installer_url.as_deref().map(str::trim) {
            Some("") => None,
            Some(u) => Url::parse(u).ok(),
            None => Some(Endpoints::join_onto(&self.login_url, "install")),
        };
        VersionConfig {
            pinned,
            cli_versions_dir,
            installer_url,
            cache_file: paths.map(|p| p.data_dir.join("client-version.json")),
        }
    }

    /// [`Settings::http_config`] with a given client-version handle (one shared by every
    /// HTTP client the app builds, so a resolved version survives a rebuild).
    pub(crate) fn http_config_with(&self, client_version: ClientVersion) -> HttpConfig {
        HttpConfig {
            endpoints: Endpoints {
                api: self.api_url.clone(),
                login: self.login_url.clone(),
            },
            client_version,
            ghost_mode: self.ghost_mode,
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            unary_timeout: Duration::from_secs(self.unary_timeout_secs),
            agent_transport: self.agent_transport,
        }
    }

    /// How the proxy retries starting a Cursor run after a transient failure.
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            retries: self.upstream_retries,
            backoff: Duration::from_millis(self.retry_backoff_ms),
        }
    }

    /// The browser-login poll cadence.
    pub(crate) fn poll_policy(&self) -> PollPolicy {
        PollPolicy {
            initial: Duration::from_millis(self.login_poll_initial_ms),
            factor: self.login_poll_factor,
            max_delay: Duration::from_millis(self.login_poll_max_ms),
            max_attempts: self.login_poll_max_attempts,
            max_consecutive_errors: self.login_poll_max_errors,
        }
    }

    /// Refresh the access token when less than this remains.
    pub(crate) fn refresh_margin(&self) -> Duration {
        Duration::from_secs(self.refresh_margin_secs)
    }
}
