//! Where the Cursor credentials live: the OS keychain by default, a 0600 JSON file only
//! when the user opts in. There is no silent plaintext fallback: when no keychain is
//! reachable the error says so and names the opt-in.
//!
//! Stores are synchronous (the keychain APIs are); async callers use `spawn_blocking`.
//! The environment override (`CURSOR_ACCESS_TOKEN`) is not a store: the token manager
//! uses it without ever persisting it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::settings::{CredentialStoreKind, Paths, Settings, write_atomic};
pub use crate::cursor::credentials::{
    CredentialStore, Credentials, StoreError, describe_json_error,
};

/// The store the settings ask for. The keychain unless the user opted in to a file.
pub(crate) fn open_store(settings: &Settings, paths: &Paths) -> Arc<dyn CredentialStore> {
    match (
        settings.credential_store,
        settings.credentials_file_path(paths),
    ) {
        (CredentialStoreKind::File, Some(path)) => Arc::new(FileStore::new(path)),
        _ => Arc::new(KeyringStore::default()),
    }
}

/// The OS keychain: the whole [`Credentials`] as one JSON secret in one entry.
///
/// Saving overwrites the entry with `set_password` and never deletes and recreates it:
/// on macOS a recreated item loses its access list and the user gets a keychain prompt
/// on every start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringStore {
    service: String,
    user: String,
}

/// The keychain service name we use.
pub(crate) const KEYRING_SERVICE: &str = "cursor-bridge";
/// The keychain account name we use.
pub(crate) const KEYRING_USER: &str = "cursor-session";

impl Default for KeyringStore {
    fn default() -> Self {
        KeyringStore::new(KEYRING_SERVICE, KEYRING_USER)
    }
}

impl KeyringStore {
    /// A store under another service/account (tests use a unique service).
    pub fn new(service: impl Into<String>, user: impl Into<String>) -> Self {
        KeyringStore {
            service: service.into(),
            user: user.into(),
        }
    }

    fn entry(&self) -> Result<keyring::Entry, StoreError> {
        keyring::Entry::new(&self.service, &self.user).map_err(keyring_error)
    }
}

impl CredentialStore for KeyringStore {
    fn load(&self) -> Result<Option<Credentials>, StoreError> {
        let secret = match self.entry()?.get_password() {
            Ok(s) => s,
            Err(keyring::Error::NoEntry) => return Ok(None),
            Err(e) => return Err(keyring_error(e)),
        };
        serde_json::from_str(&secret)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                location: self.describe(),
                detail: describe_json_error(&e),
            })
    }

    fn save(&self, c: &Credentials) -> Result<(), StoreError> {
        let secret = serde_json::to_string(c).map_err(|e| StoreError::Keychain {
            detail: e.to_string(),
        })?;
        self.entry()?.set_password(&secret).map_err(keyring_error)
    }

    fn delete(&self) -> Result<(), StoreError> {
        match self.entry()?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn describe(&self) -> String {
        format!(
            "the OS keychain (service \"{}\", account \"{}\")",
            self.service, self.user
        )
    }
}

/// Maps a keyring error. "Cannot reach the keychain" gets its own variant, whose message
/// names the explicit file opt-in.
pub(crate) fn keyring_error(e: keyring::Error) -> StoreError {
    match e {
        keyring::Error::PlatformFailure(err) | keyring::Error::NoStorageAccess(err) => {
            StoreError::NoKeychain {
                detail: err.to_string(),
            }
        }
        keyring::Error::BadEncoding(_) => StoreError::Corrupt {
            location: "the OS keychain".into(),
            detail: "the secret is not UTF-8 text".into(),
        },
        keyring::Error::Ambiguous(items) => StoreError::Keychain {
            detail: format!(
                "{} keychain items match our service and account; remove the extra ones",
                items.len()
            ),
        },
        // NoEntry is handled by the callers; the rest carry only attribute names/limits.
        other => StoreError::Keychain {
            detail: other.to_string(),
        },
    }
}

/// A JSON file readable only by the user. Explicit opt-in (settings or env).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        FileStore { path: path.into() }
    }
}

impl CredentialStore for FileStore {
    fn load(&self) -> Result<Option<Credentials>, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StoreError::Io {
                    action: "read",
                    path: self.path.clone(),
                    source,
                });
            }
        };
        warn_if_readable_by_others(&self.path);
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                location: self.path.display().to_string(),
                detail: describe_json_error(&e),
            })
    }

    fn save(&self, c: &Credentials) -> Result<(), StoreError> {
        let mut bytes = serde_json::to_vec_pretty(c).map_err(|e| StoreError::Io {
            action: "encode",
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes, true).map_err(|source| StoreError::Io {
            action: "write",
            path: self.path.clone(),
            source,
        })
    }

    fn delete(&self) -> Result<(), StoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io {
                action: "delete",
                path: self.path.clone(),
                source,
            }),
        }
    }

    fn describe(&self) -> String {
        format!("the file {}", self.path.display())
    }
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{mode:o}"),
                "the credentials file is readable by other users; run `chmod 600` on it"
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials {
            access_token: "access-SECRET".into(),
            refresh_token: Some("refresh-SECRET".into()),
            api_key: None,
        }
    }

    #[test]
    fn file_store_round_trip_and_update() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("sub/dir/credentials.json"));
        assert_eq!(
            store.load().unwrap(),
            None,
            "missing file is no credentials"
        );
        store.save(&creds()).unwrap();
        assert_eq!(store.load().unwrap(), Some(creds()));
        let mut updated = creds();
        updated.access_token = "new".into();
        store.save(&updated).unwrap();
        assert_eq!(store.load().unwrap(), Some(updated));
        let names: Vec<_> = std::fs::read_dir(dir.path().join("sub/dir"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["credentials.json"], "no temp files left behind");
    }

    #[cfg(unix)]
    #[test]
    fn file_store_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new-dir/credentials.json");
        let store = FileStore::new(&path);
        store.save(&creds()).unwrap();
        store.save(&creds()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }

    #[test]
    fn corrupt_file_is_an_error_naming_the_path_and_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        std::fs::write(&path, "{\"accessToken\": \"half-a-SECRET").unwrap();
        let store = FileStore::new(&path);
        let msg = store.load().unwrap_err().to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(!msg.contains("SECRET"), "{msg}");
        assert!(path.exists(), "a corrupt file is left for the user");

        std::fs::write(&path, r#"{"refreshToken": "r-SECRET"}"#).unwrap();
        let msg = store.load().unwrap_err().to_string();
        assert!(
            msg.contains("accessToken") && !msg.contains("SECRET"),
            "{msg}"
        );
    }

    #[test]
    fn file_store_delete_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("credentials.json"));
        store.delete().unwrap();
        store.save(&creds()).unwrap();
        store.delete().unwrap();
        assert_eq!(store.load().unwrap(), None);
        store.delete().unwrap();
    }

    #[test]
    fn unreachable_keychain_names_the_file_opt_in() {
        for e in [
            keyring::Error::PlatformFailure(Box::new(std::io::Error::other("no session bus"))),
            keyring::Error::NoStorageAccess(Box::new(std::io::Error::other("locked"))),
        ] {
            let err = keyring_error(e);
            assert!(matches!(err, StoreError::NoKeychain { .. }));
            let msg = err.to_string();
            assert!(msg.contains("no OS keychain is reachable"), "{msg}");
            assert!(msg.contains("Secret Service"), "{msg}");
            assert!(
                msg.contains("CURSOR_BRIDGE_CREDENTIALS_FILE=<path>"),
                "{msg}"
            );
            assert!(msg.contains("credential_store = \"file\""), "{msg}");
        }
        assert!(matches!(
            keyring_error(keyring::Error::BadEncoding(vec![0xff])),
            StoreError::Corrupt { .. }
        ));
    }

    #[test]
    fn open_store_follows_settings() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::in_dir(dir.path());
        let keychain = open_store(&Settings::default(), &paths);
        assert!(keychain.describe().contains("keychain"));
        let file = Settings {
            credential_store: CredentialStoreKind::File,
            ..Settings::default()
        };
        let store = open_store(&file, &paths);
        assert!(
            store
                .describe()
                .contains(&paths.default_credentials_file().display().to_string())
        );
    }
}
