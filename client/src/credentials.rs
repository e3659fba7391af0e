//! The credentials the client signs in with, and the trait of the place that keeps them.
//! The stores themselves (OS keychain, 0600 file) live with the app: the client only
//! needs something to load from and save to.
//!
//! Stores are synchronous (the keychain APIs are); the token manager runs them on
//! `spawn_blocking`.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::CursorError;

/// Opts in to the file credential store at this path (`credential_store = "file"`).
/// Defined here because [`StoreError::NoKeychain`] names it in its advice; the settings
/// re-export it.
pub const ENV_CREDENTIALS_FILE: &str = "CURSOR_BRIDGE_CREDENTIALS_FILE";

/// What a sign-in yields. Serialized as one JSON object (`accessToken`, `refreshToken`,
/// `apiKey`), the same shape Cursor's own CLI keeps in its `auth.json`. Every copy wipes
/// its secrets from memory when dropped (the token handed to a request is a copy that
/// lives as long as the request).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// The access JWT, sent as the bearer token.
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The refresh token, when the sign-in gave one.
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The user API key, when signed in with one (a renewal exchanges it again).
    pub api_key: Option<String>,
}

impl fmt::Debug for Credentials {
    /// Shows which secrets are present, never their text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let present = |o: &Option<String>| if o.is_some() { "<redacted>" } else { "<none>" };
        f.debug_struct("Credentials")
            .field(
                "access_token",
                &format_args!("<redacted, {} chars>", self.access_token.len()),
            )
            .field(
                "refresh_token",
                &format_args!("{}", present(&self.refresh_token)),
            )
            .field("api_key", &format_args!("{}", present(&self.api_key)))
            .finish()
    }
}

/// Why credentials could not be read, written or deleted. Messages never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No keychain service is reachable (typically: Linux without a Secret Service).
    #[error(
        "no OS keychain is reachable (on Linux this needs a Secret Service such as GNOME Keyring or \
         KWallet on the session bus): {detail}. Cursor Bridge never falls back to a plaintext file \
         on its own; to keep credentials in a file readable only by you instead, set \
         {ENV_CREDENTIALS_FILE}=<path> or put credential_store = \"file\" in settings.toml"
    )]
    NoKeychain {
        /// What the platform said.
        detail: String,
    },
    /// The keychain answered, but with an error.
    #[error("the OS keychain refused the operation: {detail}")]
    Keychain {
        /// What the keychain said.
        detail: String,
    },
    /// What is stored is not credentials we can read. Left in place for the user to inspect.
    #[error(
        "the credentials stored in {location} cannot be read ({detail}); fix or remove them \
         (`cursor-bridge logout` removes them) and sign in again"
    )]
    Corrupt {
        /// Where the credentials are (the store's description).
        location: String,
        /// What is wrong with them, without their text.
        detail: String,
    },
    /// A file-store I/O failure.
    #[error("cannot {action} credentials file {}: {source}", path.display())]
    Io {
        /// What we tried: `read`, `write`, `encode` or `delete`.
        action: &'static str,
        /// The credentials file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The background task running the store died.
    #[error("the credential store task failed: {0}")]
    Task(String),
}

/// A place to keep one set of credentials.
pub trait CredentialStore: Send + Sync + fmt::Debug {
    /// The stored credentials; `Ok(None)` when there are none.
    fn load(&self) -> Result<Option<Credentials>, StoreError>;
    /// Stores `c`, replacing what was there (updated in place where the platform allows).
    fn save(&self, c: &Credentials) -> Result<(), StoreError>;
    /// Removes the credentials; succeeds when there were none.
    fn delete(&self) -> Result<(), StoreError>;
    /// Where the credentials are, for status output.
    fn describe(&self) -> String;
}

// The token manager hands store failures on as Cursor errors.
impl From<StoreError> for CursorError {
    fn from(e: StoreError) -> Self {
        CursorError::CredentialStore {
            message: e.to_string(),
        }
    }
}

/// A JSON error without any of the input text: serde_json can quote values in its
/// messages, and the values here are secrets.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let at = format!("line {}, column {}", e.line(), e.column());
    match e.classify() {
        Category::Syntax | Category::Eof => format!("not valid JSON at {at}"),
        Category::Io => "could not read the JSON".into(),
        Category::Data => {
            let msg = e.to_string();
            match msg.strip_prefix("missing field ") {
                Some(rest) => format!("missing field {}", rest.split(' ').next().unwrap_or("")),
                None => format!("unexpected value at {at}"),
            }
        }
    }
}

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
    fn debug_redacts_every_secret() {
        let mut c = creds();
        c.api_key = Some("key-SECRET".into());
        let text = format!("{c:?} {c:#?}");
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("<redacted"), "{text}");
    }

    /// Every copy wipes its secrets when dropped: the type says so (`ZeroizeOnDrop`; a
    /// test cannot soundly read freed memory), and wiping empties every secret field (a
    /// new field left out of the wipe would fail here).
    #[test]
    fn credentials_wipe_their_secrets_when_dropped() {
        fn wiped_on_drop<T: ZeroizeOnDrop>() {}
        wiped_on_drop::<Credentials>();
        let mut c = creds();
        c.api_key = Some("key-SECRET".into());
        c.zeroize();
        assert_eq!(
            (c.access_token.as_str(), &c.refresh_token, &c.api_key),
            ("", &None, &None)
        );
    }

    #[test]
    fn json_uses_camel_case_and_omits_absent_fields() {
        let v = serde_json::to_value(creds()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"accessToken": "access-SECRET", "refreshToken": "refresh-SECRET"})
        );
        let back: Credentials =
            serde_json::from_str(r#"{"accessToken":"a","apiKey":"k"}"#).unwrap();
        assert_eq!(back.api_key.as_deref(), Some("k"));
        assert_eq!(back.refresh_token, None);
    }
}
