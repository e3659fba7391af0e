//! [`Settings::validate`]: every value checked once, each error naming the key and what
//! is expected.

use url::Url;

use super::{
    MAX_RETRY_BACKOFF_MS, MAX_UPSTREAM_RETRIES, MIN_PARKED_BYTES, PORT_EXPECTED, Settings,
    SettingsError, check_url, is_loopback_url,
};

impl Settings {
    /// Checks every value. Errors name the key and what is expected.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let bad = |key: &'static str, expected: &str, got: String| SettingsError::Invalid {
            origin: "settings".into(),
            key,
            expected: expected.into(),
            got,
        };
        for (key, url) in [("api_url", &self.api_url), ("login_url", &self.login_url)] {
            check_url(url).map_err(|expected| bad(key, expected, url.to_string()))?;
            // Tokens, the refresh token and the PKCE verifier travel to these URLs.
            if url.scheme() == "http" && !is_loopback_url(url) {
                return Err(bad(
                    key,
                    "an https:// URL (plain http:// only to a loopback host: tokens and the \
                     login verifier would travel in clear text)",
                    url.to_string(),
                ));
            }
        }
        if !self.host.is_loopback() && !self.allow_non_loopback {
            return Err(bad(
                "host",
                "a loopback address such as 127.0.0.1 (set allow_non_loopback = true to expose \
                 the proxy to other machines)",
                self.host.to_string(),
            ));
        }
        if self.allow_non_loopback && !self.require_api_key {
            return Err(bad(
                "require_api_key",
                "true when allow_non_loopback is set (anyone on the network could use your \
                 Cursor account without the key)",
                "false".into(),
            ));
        }
        if self.max_connections == 0 {
            return Err(bad("max_connections", "at least 1", "0".into()));
        }
        if self.max_body_bytes < 1024 {
            return Err(bad(
                "max_body_bytes",
                "at least 1024 bytes",
                self.max_body_bytes.to_string(),
            ));
        }
        if self.max_parked_streams == 0 {
            return Err(bad("max_parked_streams", "at least 1", "0".into()));
        }
        if self.max_concurrent_runs == 0 {
            return Err(bad("max_concurrent_runs", "at least 1", "0".into()));
        }
        if self.max_parked_bytes < MIN_PARKED_BYTES {
            return Err(bad(
                "max_parked_bytes",
                &format!("at least {MIN_PARKED_BYTES} bytes (64 KiB)"),
                self.max_parked_bytes.to_string(),
            ));
        }
        if self.port == 0 {
            return Err(bad("port", PORT_EXPECTED, "0".into()));
        }
        for (pattern, target) in &self.model_aliases {
            if pattern.trim().is_empty()
                || pattern.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(bad(
                    "model_aliases",
                    "glob patterns without spaces, such as \"claude-*haiku*\"",
                    format!("{pattern:?}"),
                ));
            }
            if target.trim().is_empty() {
                return Err(bad(
                    "model_aliases",
                    "a Cursor model id (or \"auto\") for every pattern",
                    format!("an empty id for {pattern:?}"),
                ));
            }
        }
        if self.default_model.trim().is_empty() {
            return Err(bad(
                "default_model",
                "a model id such as \"auto\"",
                "an empty string".into(),
            ));
        }
        let cv = &self.client_version;
        if cv.is_empty()
            || !cv.is_ascii()
            || cv
                .chars()
                .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        {
            return Err(bad(
                "client_version",
                "non-empty ASCII without spaces, such as \"cli-2026.01.09-231024f\"",
                format!("{cv:?}"),
            ));
        }
        if let Some(u) = self
            .cli_installer_url
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            && !Url::parse(u.trim()).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            return Err(bad(
                "cli_installer_url",
                "an http:// or https:// URL, or \"\" to never fetch it",
                format!("{u:?}"),
            ));
        }
        if self
            .credentials_file
            .as_ref()
            .is_some_and(|p| p.as_os_str().is_empty())
        {
            return Err(bad(
                "credentials_file",
                "a file path",
                "an empty string".into(),
            ));
        }
        if self.login_poll_initial_ms == 0 {
            return Err(bad(
                "login_poll_initial_ms",
                "a delay above 0 ms",
                "0".into(),
            ));
        }
        if !(self.login_poll_factor.is_finite() && self.login_poll_factor >= 1.0) {
            return Err(bad(
                "login_poll_factor",
                "a number >= 1.0",
                self.login_poll_factor.to_string(),
            ));
        }
        if self.login_poll_max_ms < self.login_poll_initial_ms {
            return Err(bad(
                "login_poll_max_ms",
                &format!(
                    "at least login_poll_initial_ms ({})",
                    self.login_poll_initial_ms
                ),
                self.login_poll_max_ms.to_string(),
            ));
        }
        if self.login_poll_max_attempts == 0 {
            return Err(bad("login_poll_max_attempts", "at least 1", "0".into()));
        }
        if self.login_poll_max_errors == 0 {
            return Err(bad("login_poll_max_errors", "at least 1", "0".into()));
        }
        if self.upstream_retries > MAX_UPSTREAM_RETRIES {
            return Err(bad(
                "upstream_retries",
                &format!("at most {MAX_UPSTREAM_RETRIES}"),
                self.upstream_retries.to_string(),
            ));
        }
        if self.retry_backoff_ms > MAX_RETRY_BACKOFF_MS {
            return Err(bad(
                "retry_backoff_ms",
                &format!("at most {MAX_RETRY_BACKOFF_MS} ms"),
                self.retry_backoff_ms.to_string(),
            ));
        }
        if self.conversation_store_max_bytes < MIN_PARKED_BYTES {
            return Err(bad(
                "conversation_store_max_bytes",
                &format!("at least {MIN_PARKED_BYTES} bytes (64 KiB)"),
                self.conversation_store_max_bytes.to_string(),
            ));
        }
        if self.conversation_store_ttl_hours == 0 {
            return Err(bad(
                "conversation_store_ttl_hours",
                "a number of hours above 0",
                "0".into(),
            ));
        }
        for (key, value) in [
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("unary_timeout_secs", self.unary_timeout_secs),
            ("heartbeat_interval_secs", self.heartbeat_interval_secs),
            (
                "first_activity_timeout_secs",
                self.first_activity_timeout_secs,
            ),
            ("idle_timeout_secs", self.idle_timeout_secs),
            (
                "heartbeat_only_timeout_secs",
                self.heartbeat_only_timeout_secs,
            ),
            ("parked_ttl_secs", self.parked_ttl_secs),
            ("header_read_timeout_secs", self.header_read_timeout_secs),
        ] {
            if value == 0 {
                return Err(bad(key, "a number of seconds above 0", "0".into()));
            }
        }
        for (key, value, least) in [
            ("guard_repeat_limit", self.guard_repeat_limit, 2),
            ("guard_max_tool_steps", self.guard_max_tool_steps, 1),
            (
                "guard_requests_per_minute",
                self.guard_requests_per_minute,
                1,
            ),
        ] {
            if value < least {
                return Err(bad(key, &format!("at least {least}"), value.to_string()));
            }
        }
        if self.heartbeat_only_timeout_secs < self.idle_timeout_secs {
            return Err(bad(
                "heartbeat_only_timeout_secs",
                &format!(
                    "at least idle_timeout_secs ({} s): heartbeats mean the model is still working",
                    self.idle_timeout_secs
                ),
                self.heartbeat_only_timeout_secs.to_string(),
            ));
        }
        Ok(())
    }
}
