//! "Connect your tools": writing each client's own config so it talks to this proxy —
//! OpenCode ([`opencode`]), Claude Code ([`claude_code`]), Codex CLI ([`codex`]). Each
//! client says where its config lives (honouring its own environment variables) and
//! which [`Edit`]s connect makes; [`edit`] makes them safely, one way for all three.
//!
//! Disconnect restores the previous state: connect records, per client, in
//! `<data_dir>/connections.json` (0600) what each edited key held before and what we put
//! there. If the file is still exactly what we wrote, the original bytes come back from
//! the backup; otherwise every key still holding our value gets its previous value back
//! (or goes), and a key the user has changed since is left alone.

pub(crate) mod claude_code;
pub(crate) mod codex;
pub(crate) mod edit;
pub mod opencode;
mod records;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use edit::{Edit, Format, WriteError, check_symlink};
use records::{Record, Recorded, Records};

use crate::config::settings::Env;

/// A client we can connect. Over IPC `"opencode"`, `"claude-code"`, `"codex"`.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    /// OpenCode (`opencode.json`, Chat Completions).
    Opencode,
    /// Claude Code (`~/.claude/settings.json`, Anthropic Messages).
    ClaudeCode,
    /// Codex CLI (`~/.codex/config.toml`, Responses).
    Codex,
}

impl Client {
    /// Every client, in the order the UI and the tray list them.
    pub const ALL: [Client; 3] = [Client::Opencode, Client::ClaudeCode, Client::Codex];

    /// The id on the command line and over IPC.
    pub fn id(self) -> &'static str {
        match self {
            Client::Opencode => "opencode",
            Client::ClaudeCode => "claude-code",
            Client::Codex => "codex",
        }
    }

    /// The name users know it by.
    pub fn name(self) -> &'static str {
        match self {
            Client::Opencode => "OpenCode",
            Client::ClaudeCode => "Claude Code",
            Client::Codex => "Codex CLI",
        }
    }

    /// The client whose [`Client::id`] is `id`.
    pub fn from_id(id: &str) -> Option<Client> {
        Client::ALL.into_iter().find(|c| c.id() == id)
    }
}

/// Which of OpenCode's config shapes to write.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpencodeShape {
    /// 1.x: `provider.<id>` with `npm`, `options`; 2.x still reads it.
    V1,
    /// 2.x: `providers.<id>` with `package`, `settings`, `capabilities`.
    V2,
}

/// What every client's block is made of.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    /// `http://<host>:<port>`, no path.
    pub(crate) root_url: String,
    /// The local API key.
    pub(crate) api_key: String,
    /// A program printing the key (`cursor-bridge key`), for clients that can run one
    /// instead of holding the key in their config.
    pub(crate) key_command: Option<PathBuf>,
    /// Make us the client's default provider where that is a separate choice (Codex).
    pub(crate) set_default: bool,
}

/// The note of a client config that holds the key itself (no key command to run).
const KEY_IN_PRIVATE_FILE: &str =
    "The local API key is written into the file, which is kept private (0600).";

/// What connecting one client means: its file, its format and the edits.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub(crate) client: Client,
    pub(crate) path: PathBuf,
    pub(crate) format: Format,
    /// Applied only to a file holding nothing yet (OpenCode's `$schema`).
    pub(crate) fresh: Vec<Edit>,
    pub(crate) edits: Vec<Edit>,
    /// Keep the file 0600 (the key is written into it and it was not private before).
    pub(crate) private: bool,
    /// The file holds the key itself, so a new key makes it stale (a key command or an
    /// environment variable picks a new key up by itself).
    pub(crate) key_in_file: bool,
    /// What the user should know (an export line, where the key is, how to run it).
    pub(crate) notes: Vec<String>,
    /// The minimal snippet a user can paste instead.
    pub(crate) snippet: String,
}

/// Why connect or disconnect did nothing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// The config file could not be read, merged or written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// No path was given and none of the variables locating the client's config is set.
    #[error("cannot find {client}'s config directory: none of {vars} is set; give the file's path")]
    NoHome {
        /// The client's name.
        client: &'static str,
        /// The variables looked at.
        vars: String,
    },
    /// Our own record of connections could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Record {
        /// What we were doing (`read`, `write`).
        action: &'static str,
        /// `connections.json`.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

impl ConnectError {
    /// The user's file (or our record) is not something we will edit until they fix it.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self, ConnectError::Write(w) if w.is_refusal())
    }
}

/// What a connect did (or, dry, would do). Over IPC `ConnectReport` (docs/IPC.md).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectReport {
    /// The client.
    pub client: Client,
    /// The config file (symlinks followed).
    pub path: PathBuf,
    /// The unified diff of the change, the key replaced by `<local API key>`; empty when
    /// the file already holds exactly this.
    pub diff: String,
    /// The copy of the previous contents, when a file was replaced.
    pub backup: Option<PathBuf>,
    /// The file did not exist (and was, unless dry, created).
    pub created: bool,
    /// Nothing was written: a dry run.
    pub dry_run: bool,
    /// What the user should know or do next.
    pub notes: Vec<String>,
}

/// What a disconnect did. Over IPC `DisconnectReport`.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DisconnectReport {
    /// The client.
    pub client: Client,
    /// The config file; `null` when it was never connected.
    pub path: Option<PathBuf>,
    /// The copy of the file before disconnect changed it.
    pub backup: Option<PathBuf>,
    /// The file was put back byte for byte (nothing had changed it since connect).
    pub restored_exactly: bool,
    /// The file was removed: connect had created it and nothing else is in it.
    pub removed: bool,
    /// What was left alone and why.
    pub notes: Vec<String>,
}

/// One client's connection as it stands. Over IPC `ConnectionStatus`.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStatus {
    /// The client.
    pub client: Client,
    /// Its name, for display.
    pub name: String,
    /// Where its config is (or would be); `null` when no variable locates it.
    pub path: Option<PathBuf>,
    /// Connect wrote it and our values are still there.
    pub connected: bool,
    /// Connected, but to another port or key than this proxy's now: connect again.
    pub stale: bool,
}

/// The user's home as the clients' runtimes find it.
pub(crate) fn home(env: &Env) -> Option<PathBuf> {
    env.get(ENV_USER_HOME).map(PathBuf::from)
}

/// Where the clients look for the home directory (Node's `os.homedir()`, Rust's
/// `home_dir()`).
#[cfg(windows)]
pub(crate) const ENV_USER_HOME: &str = "USERPROFILE";
/// Where the clients look for the home directory (Node's `os.homedir()`, Rust's
/// `home_dir()`).
#[cfg(not(windows))]
pub(crate) const ENV_USER_HOME: &str = "HOME";

fn key_hash(key: &str) -> String {
    records::text_hash(key)
}

/// Connects `setup.client`: plans the edits, and unless `dry_run` backs up, writes and
/// records them in `data_dir`. A second connect with the same inputs writes nothing.
pub(crate) fn connect(
    setup: &Setup,
    inputs: &Inputs,
    data_dir: &Path,
    dry_run: bool,
    now: SystemTime,
) -> Result<ConnectReport, ConnectError> {
    let current = edit::read(&setup.path)?;
    let refused = |problem| WriteError::Refused {
        path: current.path.clone(),
        problem,
    };
    let text = current.text.as_deref();
    let before = edit::data(setup.format, text.unwrap_or("")).map_err(refused)?;
    let after = edit::apply(setup.format, text, &setup.fresh, &setup.edits).map_err(refused)?;
    let diff = if text == Some(after.as_str()) {
        String::new()
    } else {
        edit::diff(&current.path, text, &after, &[&inputs.api_key])
    };
    let mut report = ConnectReport {
        client: setup.client,
        path: current.path.clone(),
        diff,
        backup: None,
        created: text.is_none(),
        dry_run,
        notes: setup.notes.clone(),
    };
    if dry_run {
        return Ok(report);
    }
    let mut records = Records::load(data_dir)?;
    let old = records.get(setup.client).filter(|r| r.path == current.path);
    let written = old.map(|r| r.written.clone()).unwrap_or_default();
    // A reconnect keeps what the keys held before the *first* connect, where we still
    // hold them; the exact original bytes only while nobody touched the file since.
    let untouched = text.is_some_and(|t| records::text_hash(t) == written);
    let after_data = edit::data(setup.format, &after).map_err(refused)?;
    let mut recorded = Vec::new();
    for e in setup.fresh.iter().chain(&setup.edits) {
        let now_value = edit::get(&before, &e.key).cloned();
        let previous = match old.and_then(|r| r.edits.iter().find(|x| x.key == e.key)) {
            Some(x) if x.ours == records::value_hash(now_value.as_ref()) => x.previous.clone(),
            _ => now_value,
        };
        let ours = records::value_hash(edit::get(&after_data, &e.key));
        recorded.push(Recorded {
            key: e.key.clone(),
            previous,
            ours,
        });
    }
    let mut created: Vec<Vec<String>> = old
        .map(|r| r.created.clone())
        .filter(|_| untouched)
        .unwrap_or_default();
    for e in &setup.edits {
        for depth in 1..e.key.len() {
            let k = e.key[..depth].to_vec();
            if edit::get(&before, &k).is_none() && !created.contains(&k) {
                created.push(k);
            }
        }
    }
    if text != Some(after.as_str()) {
        report.backup = edit::write(&current, &after, setup.private, now)?;
    }
    let record = Record {
        path: current.path.clone(),
        edits: recorded,
        created,
        created_file: old.map_or(text.is_none(), |r| r.created_file && untouched) || text.is_none(),
        restore: match old {
            Some(r) if untouched || text == Some(after.as_str()) => r.restore.clone(),
            Some(_) => None,
            None => report.backup.clone(),
        },
        written: records::text_hash(&after),
        root_url: inputs.root_url.clone(),
        key_hash: if setup.key_in_file {
            key_hash(&inputs.api_key)
        } else {
            String::new()
        },
    };
    records.set(setup.client, record);
    records.save(data_dir)?;
    Ok(report)
}

/// Undoes [`connect`] for `client` (see the module doc).
pub(crate) fn disconnect(
    client: Client,
    format: Format,
    data_dir: &Path,
    now: SystemTime,
) -> Result<DisconnectReport, ConnectError> {
    let mut records = Records::load(data_dir)?;
    let mut report = DisconnectReport {
        client,
        path: None,
        backup: None,
        restored_exactly: false,
        removed: false,
        notes: Vec::new(),
    };
    let Some(record) = records.get(client).cloned() else {
        report.notes.push(format!(
            "{} was not connected by Cursor Bridge; nothing to undo.",
            client.name()
        ));
        return Ok(report);
    };
    report.path = Some(record.path.clone());
    let current = edit::read(&record.path)?;
    let Some(text) = current.text.as_deref() else {
        report.notes.push(format!(
            "{} no longer exists; nothing to undo.",
            record.path.display()
        ));
        records.remove(client);
        records.save(data_dir)?;
        return Ok(report);
    };
    let untouched = records::text_hash(text) == record.written;
    let exact = match (&record.restore, untouched) {
        (Some(b), true) => std::fs::read_to_string(b).ok(),
        _ => None,
    };
    let restored = if let Some(original) = exact {
        report.restored_exactly = true;
        Some(original)
    } else {
        let refused = |problem| WriteError::Refused {
            path: current.path.clone(),
            problem,
        };
        let data = edit::data(format, text).map_err(refused)?;
        let mut undo = Vec::new();
        for r in &record.edits {
            if records::value_hash(edit::get(&data, &r.key)) == r.ours {
                undo.push(Edit {
                    key: r.key.clone(),
                    value: r.previous.clone(),
                });
            } else {
                report.notes.push(format!(
                    "`{}` was changed since connect; left as it is.",
                    r.key.join(".")
                ));
            }
        }
        let mut out = edit::apply(format, Some(text), &[], &undo).map_err(refused)?;
        // Objects connect created and that are empty again go too, innermost first.
        let mut created = record.created.clone();
        created.sort_by_key(|k| std::cmp::Reverse(k.len()));
        for k in created {
            let d = edit::data(format, &out).map_err(refused)?;
            if edit::get(&d, &k).is_some_and(|v| v.as_object().is_some_and(|o| o.is_empty())) {
                out = edit::apply(format, Some(&out), &[], &[Edit::remove(&k)]).map_err(refused)?;
            }
        }
        let d = edit::data(format, &out).map_err(refused)?;
        let empty = d.is_null() || d.as_object().is_some_and(|o| o.is_empty());
        if record.created_file && empty && untouched {
            std::fs::remove_file(&current.path).map_err(|e| WriteError::Io {
                action: "remove",
                path: current.path.clone(),
                source: e,
            })?;
            report.removed = true;
            None
        } else {
            Some(out)
        }
    };
    if let Some(out) = restored
        && out != text
    {
        report.backup = edit::write(&current, &out, false, now)?;
    }
    records.remove(client);
    records.save(data_dir)?;
    Ok(report)
}

/// `client`'s connection as recorded and as its file stands now.
pub(crate) fn status(
    client: Client,
    path: Option<PathBuf>,
    format: Format,
    data_dir: &Path,
    root_url: &str,
    api_key: &str,
) -> ConnectionStatus {
    let record = Records::load(data_dir)
        .ok()
        .and_then(|r| r.get(client).cloned());
    let connected = record.as_ref().is_some_and(|r| {
        edit::read(&r.path)
            .ok()
            .and_then(|c| c.text)
            .and_then(|t| edit::data(format, &t).ok())
            .is_some_and(|d| {
                r.edits
                    .iter()
                    .all(|e| records::value_hash(edit::get(&d, &e.key)) == e.ours)
            })
    });
    let stale = connected
        && record.as_ref().is_some_and(|r| {
            r.root_url != root_url || (!r.key_hash.is_empty() && r.key_hash != key_hash(api_key))
        });
    ConnectionStatus {
        client,
        name: client.name().to_string(),
        path: record.map(|r| r.path).or(path),
        connected,
        stale,
    }
}

/// A string value.
pub(crate) fn s(v: &str) -> Value {
    Value::String(v.to_string())
}
