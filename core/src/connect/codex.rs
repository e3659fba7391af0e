//! Codex CLI: `config.toml` in `$CODEX_HOME` (else `~/.codex`), a
//! `[model_providers.cursor-bridge]` on the Responses wire API (0.169 accepts no other).
//!
//! The key: with a key command (the CLI's `cursor-bridge key`) the provider gets an
//! `auth` table (`command`/`args`, Codex's command-backed bearer token, rerun after a
//! 401), so no key is written or exported. Without one, `env_key` names
//! `CURSOR_BRIDGE_API_KEY` — the variable our proxy itself reads the key from — and the
//! notes give the exact `export` line.
//!
//! `model_provider` and `model` at the top level change Codex's default for every run,
//! so they are written only when asked (`--set-default`); `model = "auto"` also keeps
//! Codex from recognising the name and switching to its built-in tool shapes
//! (client-dialects.md).

use std::path::{Path, PathBuf};

use super::{Client, ConnectError, Edit, Format, Inputs, Setup, home, s};
use crate::config::settings::{ENV_API_KEY, Env};
use crate::connect::opencode::PROVIDER_ID;

/// Codex's own override of its home directory.
pub(crate) const ENV_CODEX_HOME: &str = "CODEX_HOME";

/// The model `--set-default` selects: Cursor's router, a name Codex does not know.
const DEFAULT_MODEL: &str = "auto";

/// `$CODEX_HOME/config.toml`, else `~/.codex/config.toml`.
pub(crate) fn config_path(env: &Env) -> Result<PathBuf, ConnectError> {
    match env.get(ENV_CODEX_HOME) {
        Some(dir) => Ok(Path::new(dir).join("config.toml")),
        None => home(env)
            .map(|h| h.join(".codex").join("config.toml"))
            .ok_or_else(|| ConnectError::NoHome {
                client: Client::Codex.name(),
                vars: format!("{ENV_CODEX_HOME}, {}", super::ENV_USER_HOME),
            }),
    }
}

/// The edits for `path`.
pub(crate) fn setup(path: PathBuf, inputs: &Inputs) -> Setup {
    let p = |k: &'static str| ["model_providers", PROVIDER_ID, k];
    let mut edits = vec![
        Edit::set(&p("name"), s("Cursor (via Cursor Bridge)")),
        Edit::set(&p("base_url"), s(&format!("{}/v1", inputs.root_url))),
        Edit::set(&p("wire_api"), s("responses")),
    ];
    let mut notes = Vec::new();
    match &inputs.key_command {
        Some(cmd) => {
            let auth = |k: &'static str| ["model_providers", PROVIDER_ID, "auth", k];
            edits.push(Edit::set(&auth("command"), s(&cmd.to_string_lossy())));
            edits.push(Edit::set(&auth("args"), serde_json::json!(["key"])));
            notes.push(format!(
                "Codex gets the key by running `{} key`; nothing to export.",
                cmd.display()
            ));
        }
        None => {
            edits.push(Edit::set(&p("env_key"), s(ENV_API_KEY)));
            notes.push(format!(
                "Codex reads the key from {ENV_API_KEY}: run `export {ENV_API_KEY}=$(cursor-bridge key)` in the shell you start it from."
            ));
        }
    }
    if inputs.set_default {
        edits.push(Edit::set(&["model_provider"], s(PROVIDER_ID)));
        edits.push(Edit::set(&["model"], s(DEFAULT_MODEL)));
        notes.push("Run `codex`: Cursor Bridge is its default provider now.".to_string());
    } else {
        notes.push(format!(
            "Run `codex -c model_provider={PROVIDER_ID} -m {DEFAULT_MODEL}` (or connect with --set-default to make it Codex's default)."
        ));
    }
    let snippet = super::edit::apply(Format::Toml, Some(""), &[], &edits).unwrap_or_default();
    Setup {
        client: Client::Codex,
        path,
        format: Format::Toml,
        fresh: Vec::new(),
        edits,
        private: false,
        key_in_file: false,
        notes,
        snippet,
    }
}
