//! Claude Code: `settings.json` in its config directory (`$CLAUDE_CONFIG_DIR`, else
//! `~/.claude`), its `env` block pointing it at our Anthropic Messages endpoint.
//!
//! The key: with a key command (the CLI's `cursor-bridge key`) we set `apiKeyHelper`,
//! which Claude Code runs through the shell and sends as both `x-api-key` and Bearer —
//! the key never lands in the file. Without one (the tray app has no CLI path to give)
//! it goes into `env.ANTHROPIC_AUTH_TOKEN` (Bearer; `ANTHROPIC_API_KEY` would make the
//! interactive client ask whether to trust the key) and the file is kept 0600.
//!
//! Model names are left alone: Claude Code asks for its own (`claude-opus-…`,
//! `claude-…-haiku-…` for background work) and the proxy's `model_aliases` setting maps
//! them to Cursor models, so one setting decides for every Anthropic client. Nor do we set
//! `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC`: it also turns off things a user wants
//! (update checks, error reports) and is not needed to talk to us — only what makes it
//! use this proxy goes in.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{Client, ConnectError, Edit, Format, Inputs, Setup, home, s};
use crate::config::settings::Env;

/// Claude Code's own override of its config directory.
pub(crate) const ENV_CONFIG_DIR: &str = "CLAUDE_CONFIG_DIR";

/// `$CLAUDE_CONFIG_DIR/settings.json`, else `~/.claude/settings.json`.
pub(crate) fn config_path(env: &Env) -> Result<PathBuf, ConnectError> {
    match env.get(ENV_CONFIG_DIR) {
        Some(dir) => Ok(Path::new(dir).join("settings.json")),
        None => home(env)
            .map(|h| h.join(".claude").join("settings.json"))
            .ok_or_else(|| ConnectError::NoHome {
                client: Client::ClaudeCode.name(),
                vars: format!("{ENV_CONFIG_DIR}, {}", super::ENV_USER_HOME),
            }),
    }
}

/// A command line `/bin/sh` runs as the one program `path` with `args`.
pub(crate) fn shell_command(path: &Path, args: &[&str]) -> String {
    let quote = |s: &str| {
        if cfg!(windows) {
            format!("\"{s}\"")
        } else {
            format!("'{}'", s.replace('\'', "'\\''"))
        }
    };
    std::iter::once(quote(&path.to_string_lossy()))
        .chain(args.iter().map(|a| (*a).to_string()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The edits for `path`.
pub(crate) fn setup(path: PathBuf, inputs: &Inputs) -> Setup {
    let mut edits = vec![Edit::set(
        &["env", "ANTHROPIC_BASE_URL"],
        s(&inputs.root_url),
    )];
    let mut notes = Vec::new();
    let private = match &inputs.key_command {
        Some(cmd) => {
            edits.push(Edit::set(
                &["apiKeyHelper"],
                s(&shell_command(cmd, &["key"])),
            ));
            notes.push(format!(
                "Claude Code gets the key by running `{}`; it is not written into the file.",
                shell_command(cmd, &["key"])
            ));
            false
        }
        None => {
            edits.push(Edit::set(
                &["env", "ANTHROPIC_AUTH_TOKEN"],
                s(&inputs.api_key),
            ));
            notes.push(super::KEY_IN_PRIVATE_FILE.to_string());
            true
        }
    };
    notes.push(
        "Run `claude`: Claude Code's model names are mapped to Cursor models by the proxy (the model_aliases setting)."
            .to_string(),
    );
    let mut snippet = json!({});
    for e in &edits {
        super::edit::set_data(&mut snippet, &e.key, e.value.clone());
    }
    Setup {
        client: Client::ClaudeCode,
        path,
        format: Format::Json,
        fresh: Vec::new(),
        edits,
        private,
        key_in_file: private,
        notes,
        snippet: serde_json::to_string_pretty(&snippet).unwrap_or_default(),
    }
}
