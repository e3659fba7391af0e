//! The per-install local API key that guards the proxy port. Random, generated on first
//! use, kept in the data directory with mode 0600 (it is not a Cursor secret: it only
//! opens our loopback port, and OpenCode's config holds it in plain text anyway).
//! `CURSOR_BRIDGE_API_KEY` sets it explicitly.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::RngCore as _;

/// File name of the key inside the data directory.
pub(crate) const FILE_NAME: &str = "local-api-key";

/// Where the key lives.
pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// A fresh random key: `cb-` + 32 random bytes, base64url.
pub(crate) fn generate() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    format!(
        "cb-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

/// The explicit key if given, else the stored one, else a new one (stored 0600).
pub(crate) fn load_or_create(data_dir: &Path, explicit: Option<&str>) -> std::io::Result<String> {
    if let Some(k) = explicit.map(str::trim).filter(|k| !k.is_empty()) {
        return Ok(k.to_string());
    }
    let p = path(data_dir);
    match std::fs::read_to_string(&p) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_string()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let key = generate();
    crate::config::settings::write_atomic(&p, key.as_bytes(), true)?;
    Ok(key)
}

/// Replaces the stored key with a new one and returns it.
pub(crate) fn regenerate(data_dir: &Path) -> std::io::Result<String> {
    let key = generate();
    crate::config::settings::write_atomic(&path(data_dir), key.as_bytes(), true)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path(), None).unwrap();
        assert!(a.starts_with("cb-") && a.len() == 46, "{a}");
        assert_eq!(load_or_create(dir.path(), None).unwrap(), a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            load_or_create(dir.path(), Some(" explicit ")).unwrap(),
            "explicit"
        );
        let b = regenerate(dir.path()).unwrap();
        assert_ne!(a, b);
        assert_eq!(load_or_create(dir.path(), None).unwrap(), b);
    }
}
