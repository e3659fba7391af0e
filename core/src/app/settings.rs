//! The settings in use and their one editor, [`App::update_settings`]: validation, the
//! save of the fields the UI edits, the agent transport swap, and the restart of a running
//! proxy so the change applies at once.

use std::net::IpAddr;
use std::sync::Mutex as StdMutex;

use super::{App, CommandError, SettingsView, blocking, ipc, lock};
use crate::config::settings::{AgentTransport, ENV_AGENT_TRANSPORT, Env, Settings};
use crate::engine::guard::GuardRules;

/// The settings part's state: a `std::sync` lock held only to copy or replace the value.
pub(super) struct SettingsState {
    current: StdMutex<Settings>,
}

impl SettingsState {
    pub(super) fn new(settings: Settings) -> SettingsState {
        SettingsState {
            current: StdMutex::new(settings),
        }
    }
}

/// The fields of `settings.toml` the UI edits, parsed from its [`SettingsView`].
#[derive(Clone)]
struct Edit {
    host: IpAddr,
    port: u16,
    default_model: String,
    start_proxy_on_launch: bool,
    require_api_key: bool,
    agent_transport: AgentTransport,
    guard: GuardRules,
}

impl Edit {
    fn parse(view: &SettingsView) -> Result<Edit, CommandError> {
        let host: IpAddr = view.host.trim().parse().map_err(|_| {
            CommandError::invalid_input(format!(
                "host: expected an IP address such as 127.0.0.1, got {:?}",
                view.host
            ))
        })?;
        let agent_transport = AgentTransport::parse(&view.agent_transport).ok_or_else(|| {
            CommandError::invalid_input(format!(
                "{}: expected \"http2\" or \"http1\", got {:?}",
                ipc::ui_field("agent_transport"),
                view.agent_transport
            ))
        })?;
        Ok(Edit {
            host,
            port: view.port,
            default_model: view.default_model.trim().to_string(),
            start_proxy_on_launch: view.start_proxy_on_launch,
            require_api_key: view.require_api_key,
            agent_transport,
            guard: GuardRules {
                enabled: view.guard_enabled,
                repeat_limit: view.guard_repeat_limit,
                max_tool_steps: view.guard_max_tool_steps,
                requests_per_minute: view.guard_requests_per_minute,
                daily_requests: view.guard_daily_requests,
                daily_tokens: view.guard_daily_tokens,
                on_demand: view.guard_on_demand,
            },
        })
    }

    fn apply(&self, s: &mut Settings) {
        s.host = self.host;
        s.port = self.port;
        s.default_model.clone_from(&self.default_model);
        s.start_proxy_on_launch = self.start_proxy_on_launch;
        s.require_api_key = self.require_api_key;
        s.agent_transport = self.agent_transport;
        let g = &self.guard;
        s.guard_enabled = g.enabled;
        s.guard_repeat_limit = g.repeat_limit;
        s.guard_max_tool_steps = g.max_tool_steps;
        s.guard_requests_per_minute = g.requests_per_minute;
        s.guard_daily_requests = g.daily_requests;
        s.guard_daily_tokens = g.daily_tokens;
        s.guard_on_demand = g.on_demand;
    }
}

fn settings_view(s: &Settings) -> SettingsView {
    SettingsView {
        host: s.host.to_string(),
        port: s.port,
        default_model: s.default_model.clone(),
        start_proxy_on_launch: s.start_proxy_on_launch,
        require_api_key: s.require_api_key,
        agent_transport: s.agent_transport.as_str().to_string(),
        guard_enabled: s.guard_enabled,
        guard_repeat_limit: s.guard_repeat_limit,
        guard_max_tool_steps: s.guard_max_tool_steps,
        guard_requests_per_minute: s.guard_requests_per_minute,
        guard_daily_requests: s.guard_daily_requests,
        guard_daily_tokens: s.guard_daily_tokens,
        guard_on_demand: s.guard_on_demand,
    }
}

impl App {
    /// The settings in use.
    pub(crate) fn settings(&self) -> Settings {
        lock(&self.inner.settings.current).clone()
    }

    /// The settings the UI edits.
    pub fn get_settings(&self) -> SettingsView {
        settings_view(&lock(&self.inner.settings.current))
    }

    /// Validates and saves (atomically) the UI's settings; a running proxy restarts so a
    /// new host, port, key requirement, default model or agent transport applies at once.
    /// A new agent transport also replaces the Cursor client's HTTP client (keeping its
    /// tokens, model cache and observer), so the next run uses it, proxy running or not;
    /// runs in flight finish on the old one. A guard rule restarts it too (the guard's counts
    /// and trips outlive the restart). Only these fields are written: the rest
    /// of `settings.toml` (and anything the environment overrides) is kept as it is on
    /// disk. A transport the environment sets cannot be changed here (it would come back
    /// at the next launch).
    pub async fn update_settings(&self, view: SettingsView) -> Result<SettingsView, CommandError> {
        let edit = Edit::parse(&view)?;
        // The lifecycle lock makes read, save and restart one step against other settings
        // changes and starts (see `lifecycle::Proxy`); the file work under it runs on the
        // blocking pool.
        let mut lc = self.inner.proxy.lifecycle.lock().await;
        let current = self.settings();
        let mut next = current.clone();
        edit.apply(&mut next);
        next.validate()?;
        if next == current {
            return Ok(settings_view(&next));
        }
        let transport_changed = next.agent_transport != current.agent_transport;
        if transport_changed && self.env().get(ENV_AGENT_TRANSPORT).is_some() {
            return Err(CommandError::invalid_input(format!(
                "{}: set to {:?} by the {ENV_AGENT_TRANSPORT} environment variable; change it there",
                ipc::ui_field("agent_transport"),
                current.agent_transport.as_str()
            )));
        }
        // Built before anything is saved, so a failure leaves the settings as they were.
        let http = if transport_changed {
            let version = self.client().http().client_version().clone();
            Some(self.inner.wiring.http(&next, version)?)
        } else {
            None
        };
        let paths = self.paths().clone();
        blocking("saving the settings", move || {
            let mut on_disk = Settings::load(&paths, &Env::default())?;
            edit.apply(&mut on_disk);
            on_disk.validate()?;
            on_disk.save(&paths)
        })
        .await??;
        *lock(&self.inner.settings.current) = next.clone();
        if let Some(http) = http {
            let mut client = self.inner.client.write().unwrap_or_else(|p| p.into_inner());
            *client = client.clone().with_http(http);
            tracing::info!(
                transport = next.agent_transport.as_str(),
                "agent transport changed"
            );
        }
        // The engine reads the guard's rules from the settings it was started with.
        let proxy_changed = transport_changed
            || GuardRules::of(&next) != GuardRules::of(&current)
            || (
                next.host,
                next.port,
                next.require_api_key,
                &next.default_model,
            ) != (
                current.host,
                current.port,
                current.require_api_key,
                &current.default_model,
            );
        let restarted = if proxy_changed {
            self.restart_if_running(&mut lc).await
        } else {
            Ok(())
        };
        drop(lc);
        self.publish().await;
        restarted.map(|()| settings_view(&next))
    }
}
