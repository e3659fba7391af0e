//! How a client connects to this proxy: its base URL, the local API key, and the OpenCode
//! provider block built from both and the live model list (printed, or merged into
//! OpenCode's config). The tray, the web UI and the CLI all go through these.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use super::{App, CommandError, OpencodeSnippet, blocking};
use crate::config::settings::ENV_API_KEY;
use crate::cursor::models::ModelInfo;
use crate::opencode::install::{self, WriteOutcome};
use crate::store::local_key;

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
        Ok(self.opencode_install_counted(path).await?.outcome)
    }

    /// [`App::opencode_install`], also saying how many models the block lists.
    pub async fn opencode_install_counted(
        &self,
        path: Option<PathBuf>,
    ) -> Result<OpencodeInstalled, CommandError> {
        let (models, base_url, key) = self.provider_inputs().await?;
        let block = crate::opencode::provider_block(&models, &base_url, &key);
        let count = block["models"].as_object().map_or(0, |m| m.len());
        let path = match path {
            Some(p) => p,
            None => install::default_config_path(self.env())
                .map_err(|e| CommandError::io(e.to_string()))?,
        };
        let outcome = blocking("writing the OpenCode config", move || {
            install::write_provider(&path, &block, SystemTime::now())
        })
        .await?
        .map_err(|e| {
            if e.is_refusal() {
                CommandError::invalid_input(e.to_string())
            } else {
                CommandError::io(e.to_string())
            }
        })?;
        Ok(OpencodeInstalled {
            outcome,
            models: count,
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
