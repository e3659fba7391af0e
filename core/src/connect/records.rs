//! `<data_dir>/connections.json` (0600): per client, what connect changed, so disconnect
//! can put it back. It holds no key — only a hash of it, to tell a stale connection.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Client, ConnectError};
use crate::config::settings::write_atomic;

const FILE: &str = "connections.json";

/// One edited key: what it held before the first connect (`None`: absent; kept as is,
/// to be put back) and a hash of what we put there ([`value_hash`]: our value holds the
/// key, and telling "still ours" needs no more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Recorded {
    pub(crate) key: Vec<String>,
    pub(crate) previous: Option<Value>,
    pub(crate) ours: String,
}

/// One client's connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Record {
    /// The config file (symlinks followed).
    pub(crate) path: PathBuf,
    pub(crate) edits: Vec<Recorded>,
    /// Objects connect created on the way to its keys.
    pub(crate) created: Vec<Vec<String>>,
    /// Connect created the file.
    pub(crate) created_file: bool,
    /// The backup holding the bytes from before the first connect, usable while the file
    /// is still exactly what we wrote ([`Record::written`]).
    pub(crate) restore: Option<PathBuf>,
    /// SHA-256 of the text we last wrote.
    pub(crate) written: String,
    /// The proxy's root URL the config points at.
    pub(crate) root_url: String,
    /// SHA-256 of the key the config holds; empty when it holds none (it runs
    /// `cursor-bridge key` or reads an environment variable).
    pub(crate) key_hash: String,
}

/// Every recorded connection, by client id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Records(BTreeMap<Client, Record>);

impl Records {
    fn path(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE)
    }

    /// The records in `data_dir`; none when the file does not exist.
    pub(crate) fn load(data_dir: &Path) -> Result<Records, ConnectError> {
        let path = Self::path(data_dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Records::default()),
            Err(source) => {
                return Err(ConnectError::Record {
                    action: "read",
                    path,
                    source,
                });
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| ConnectError::Record {
            action: "read",
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Writes the records atomically, 0600.
    pub(crate) fn save(&self, data_dir: &Path) -> Result<(), ConnectError> {
        let path = Self::path(data_dir);
        // Serialising these types cannot fail; the fallback is never taken.
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        write_atomic(&path, text.as_bytes(), true).map_err(|source| ConnectError::Record {
            action: "write",
            path,
            source,
        })
    }

    pub(crate) fn get(&self, client: Client) -> Option<&Record> {
        self.0.get(&client)
    }

    pub(crate) fn set(&mut self, client: Client, record: Record) {
        self.0.insert(client, record);
    }

    pub(crate) fn remove(&mut self, client: Client) {
        self.0.remove(&client);
    }
}

/// SHA-256 of `text`, hex.
pub(crate) fn text_hash(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// SHA-256 of a value's JSON (`null` for an absent one), hex.
pub(crate) fn value_hash(v: Option<&Value>) -> String {
    text_hash(&v.map_or_else(|| "absent".to_string(), Value::to_string))
}
