//! How a client connects to this proxy: its base URL, the local API key, and each
//! client's config built from both (and, for OpenCode, the live model list) — printed as a
//! snippet, merged into the client's own config by connect, undone by disconnect. The
//! tray, the web UI and the CLI all go through these.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{App, CommandError, OpencodeSnippet, blocking};
use crate::config::settings::ENV_API_KEY;
use crate::connect::opencode::install::{self, WriteOutcome};
use crate::connect::{
    self, Client, ConnectError, ConnectReport, ConnectionStatus, DisconnectReport, Format, Inputs,
    OpencodeShape, Setup, claude_code, codex, opencode,
};
use crate::cursor::models::ModelInfo;
use crate::store::local_key;

/// How to connect a client: the CLI's `connect` flags (the web UI sends a [`ConnectChoice`]).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConnectOptions {
    /// The config file to edit instead of the client's own default.
    pub path: Option<PathBuf>,
    /// Only compute the diff; write nothing.
    pub dry_run: bool,
    /// Also make us the client's default provider where that is a separate setting
    /// (Codex's top-level `model_provider` and `model`).
    pub set_default: bool,
    /// OpenCode's config shape; `null` asks the installed `opencode --version`.
    pub opencode_shape: Option<OpencodeShape>,
    /// A program that prints the local key (the CLI passes its own path, run as
    /// `<it> key`); clients that can run one get it instead of the key itself.
    pub key_command: Option<PathBuf>,
    /// Edit the target of a config file that is a symlink out of its own directory
    /// (refused otherwise: a planted link could redirect the key anywhere).
    pub follow_symlink: bool,
}

/// What the web UI may choose when connecting a client. Over IPC `ConnectChoice` (every
/// field optional). No paths: the window edits only the client's own config file, with
/// the key itself rather than a program to run (a page that could name a file or a program
/// would reach anything the user can write or run); `ConnectOptions` with those stays for
/// the CLI. A field outside these three is refused, not ignored.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ConnectChoice {
    /// Only compute the diff; write nothing.
    pub dry_run: bool,
    /// Also make us the client's default provider where that is a separate setting
    /// (Codex's top-level `model_provider` and `model`).
    pub set_default: bool,
    /// OpenCode's config shape; `null` asks the installed `opencode --version`.
    pub opencode_shape: Option<OpencodeShape>,
}

impl From<ConnectChoice> for ConnectOptions {
    fn from(c: ConnectChoice) -> ConnectOptions {
        ConnectOptions {
            dry_run: c.dry_run,
            set_default: c.set_default,
            opencode_shape: c.opencode_shape,
            ..ConnectOptions::default()
        }
    }
}

/// A client's paste-ready snippet. Over IPC `ClientSnippet`.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientSnippet {
    /// The client.
    pub client: Client,
    /// The snippet (JSON for OpenCode and Claude Code, TOML for Codex), with the key.
    pub text: String,
    /// Where it goes.
    pub path: Option<PathBuf>,
    /// How to use it.
    pub notes: Vec<String>,
}

fn connect_error(e: ConnectError) -> CommandError {
    if e.is_refusal() {
        CommandError::invalid_input(e.to_string())
    } else {
        CommandError::io(e.to_string())
    }
}

fn format_of(client: Client) -> Format {
    match client {
        Client::Codex => Format::Toml,
        Client::Opencode => Format::Jsonc,
        Client::ClaudeCode => Format::Json,
    }
}

/// What merging the provider into OpenCode's config did, and how many models the block
/// lists (the CLI reports both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpencodeInstalled {
    /// The file written (or found up to date) and its backup.
    pub outcome: WriteOutcome,
    /// Models under the provider.
    pub models: usize,
}

impl App {
    /// What the OpenCode provider block is made of: the live models, this proxy's base URL
    /// and its key.
    async fn provider_inputs(&self) -> Result<(Arc<Vec<ModelInfo>>, String, String), CommandError> {
        let r = self.client().models().await;
        let models = self.cursor(r).await?;
        let key = self.api_key()?;
        let base_url = self.base_url();
        Ok((models, base_url, key))
    }

    /// The OpenCode provider block for the live model list, this proxy and its key.
    pub async fn opencode_snippet(&self) -> Result<OpencodeSnippet, CommandError> {
        let (models, base_url, key) = self.provider_inputs().await?;
        let value = crate::opencode::config_snippet(&models, &base_url, &key);
        let text = serde_json::to_string_pretty(&value)
            .map_err(|e| CommandError::internal(format!("Cannot format the snippet: {e}")))?;
        Ok(OpencodeSnippet { text, base_url })
    }

    /// Merges our provider block into OpenCode's config (`path`, else OpenCode's global
    /// config), keeping comments and everything else, after a backup.
    pub async fn opencode_install(
        &self,
        path: Option<PathBuf>,
    ) -> Result<WriteOutcome, CommandError> {
        Ok(self.opencode_install_counted(path, false).await?.outcome)
    }

    /// [`App::opencode_install`], also saying how many models the block lists; with
    /// `follow_symlink` a config that is a symlink out of its directory is edited too
    /// (see [`ConnectOptions::follow_symlink`]).
    pub async fn opencode_install_counted(
        &self,
        path: Option<PathBuf>,
        follow_symlink: bool,
    ) -> Result<OpencodeInstalled, CommandError> {
        let (models, base_url, key) = self.provider_inputs().await?;
        let block = crate::opencode::provider_block(&models, &base_url, &key);
        let count = block["models"].as_object().map_or(0, |m| m.len());
        let path = opencode::path_or_default(path.as_deref(), self.env()).map_err(connect_error)?;
        let outcome = blocking("writing the OpenCode config", move || {
            connect::check_symlink(&path, follow_symlink)?;
            install::write_provider(&path, &block, SystemTime::now())
        })
        .await?
        .map_err(|e| connect_error(e.into()))?;
        Ok(OpencodeInstalled {
            outcome,
            models: count,
        })
    }

    /// The proxy's root URL (`http://<host>:<port>`, the base URL without `/v1`).
    fn root_url(&self) -> String {
        let base = self.base_url();
        base.strip_suffix("/v1").unwrap_or(&base).to_string()
    }

    /// The client's config path for these options (theirs, else the client's default).
    fn config_path(&self, client: Client, path: Option<&PathBuf>) -> Result<PathBuf, ConnectError> {
        if let Some(p) = path {
            return Ok(p.clone());
        }
        match client {
            Client::Opencode => opencode::default_config_path(self.env()),
            Client::ClaudeCode => claude_code::config_path(self.env()),
            Client::Codex => codex::config_path(self.env()),
        }
    }

    /// What connecting `client` with `options` means. OpenCode's block needs the live
    /// model list; the others need no call to Cursor.
    async fn setup(
        &self,
        client: Client,
        path: PathBuf,
        options: &ConnectOptions,
    ) -> Result<(Setup, Inputs), CommandError> {
        let inputs = Inputs {
            root_url: self.root_url(),
            api_key: self.api_key()?,
            key_command: options.key_command.clone(),
            set_default: options.set_default,
        };
        let setup = match client {
            Client::Opencode => {
                let r = self.client().models().await;
                let models = self.cursor(r).await?;
                let shape = match options.opencode_shape {
                    Some(s) => s,
                    None => {
                        let v = blocking("asking opencode --version", opencode::installed_version)
                            .await?;
                        opencode::shape_of_version(v.as_deref())
                    }
                };
                opencode::setup(path, &inputs, &models, shape)
            }
            Client::ClaudeCode => claude_code::setup(path, &inputs),
            Client::Codex => codex::setup(path, &inputs),
        };
        Ok((setup, inputs))
    }

    /// Writes `client`'s config so it uses this proxy (or, with `dry_run`, only says how):
    /// everything else in the file kept, a backup first, recorded for [`App::disconnect`].
    pub async fn connect(
        &self,
        client: Client,
        options: ConnectOptions,
    ) -> Result<ConnectReport, CommandError> {
        let path = self
            .config_path(client, options.path.as_ref())
            .map_err(connect_error)?;
        let (setup, inputs) = self.setup(client, path, &options).await?;
        let data_dir = self.paths().data_dir.clone();
        blocking("writing the client's config", move || {
            connect::check_symlink(&setup.path, options.follow_symlink)?;
            connect::connect(
                &setup,
                &inputs,
                &data_dir,
                options.dry_run,
                SystemTime::now(),
            )
        })
        .await?
        .map_err(connect_error)
    }

    /// Undoes [`App::connect`] for `client`: what connect added goes, what it replaced
    /// comes back, and what the user changed since stays.
    pub async fn disconnect(&self, client: Client) -> Result<DisconnectReport, CommandError> {
        let data_dir = self.paths().data_dir.clone();
        blocking("restoring the client's config", move || {
            connect::disconnect(client, format_of(client), &data_dir, SystemTime::now())
        })
        .await?
        .map_err(connect_error)
    }

    /// Every client's connection: its config path, connected or not, and whether it
    /// points at another port or key than this proxy's.
    pub async fn connection_status(&self) -> Result<Vec<ConnectionStatus>, CommandError> {
        let (root_url, key) = (self.root_url(), self.api_key()?);
        let paths: Vec<_> = Client::ALL
            .into_iter()
            .map(|c| (c, self.config_path(c, None).ok()))
            .collect();
        let data_dir = self.paths().data_dir.clone();
        blocking("reading the clients' configs", move || {
            paths
                .into_iter()
                .map(|(c, p)| connect::status(c, p, format_of(c), &data_dir, &root_url, &key))
                .collect()
        })
        .await
    }

    /// `client`'s config snippet to paste by hand, holding the key itself.
    pub async fn client_snippet(&self, client: Client) -> Result<ClientSnippet, CommandError> {
        let options = ConnectOptions {
            opencode_shape: Some(OpencodeShape::V1),
            ..ConnectOptions::default()
        };
        // A snippet is for pasting anywhere: not knowing the client's config is no failure.
        let path = self.config_path(client, None).ok();
        let (setup, _) = self
            .setup(client, path.clone().unwrap_or_default(), &options)
            .await?;
        Ok(ClientSnippet {
            client,
            text: setup.snippet,
            path,
            notes: setup.notes,
        })
    }

    /// The local API key clients send as `Authorization: Bearer …`.
    pub fn api_key(&self) -> Result<String, CommandError> {
        let data_dir = &self.paths().data_dir;
        local_key::load_or_create(data_dir, self.env().get(ENV_API_KEY)).map_err(|e| {
            CommandError::io(format!(
                "Cannot read or create the local API key in {}: {e}",
                data_dir.display()
            ))
        })
    }

    /// Replaces the local API key; a running proxy restarts so only the new key works.
    pub async fn regenerate_api_key(&self) -> Result<String, CommandError> {
        if self.env().get(ENV_API_KEY).is_some() {
            return Err(CommandError::invalid_input(format!(
                "The key is set by the {ENV_API_KEY} environment variable; change it there"
            )));
        }
        let data_dir = self.paths().data_dir.clone();
        let mut lc = self.inner.proxy.lifecycle.lock().await;
        let key = blocking("writing a new local API key", move || {
            local_key::regenerate(&data_dir)
        })
        .await?
        .map_err(|e| CommandError::io(format!("Cannot write a new local API key: {e}")))?;
        let restarted = self.restart_if_running(&mut lc).await;
        drop(lc);
        self.publish().await;
        restarted.map(|()| key)
    }
}
