//! JWT-shaped tokens: `base64url(header).base64url(claims).signature`, the layout Cursor
//! issues (reference §1.4). Clients decode the claims without verifying the signature; the
//! fake itself trusts only tokens it remembers issuing.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// `{"alg":"HS256","typ":"JWT"}`, as Cursor's tokens start.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Mints a token for `sub` expiring at `exp` (unix seconds). `typ` is `session` for access
/// tokens (and `id` for the `id_token` of `/oauth/token`).
pub(crate) fn mint(secret: &[u8], sub: &str, exp: u64, typ: &str) -> String {
    let claims = serde_json::json!({
        "sub": sub,
        "time": now_unix().to_string(),
        "randomness": hex::encode(rand::random::<[u8; 8]>()),
        "exp": exp,
        "iss": "https://authentication.cursor.sh",
        "scope": "openid profile email offline_access",
        "aud": "https://cursor.com",
        "type": typ,
    });
    let head = URL_SAFE_NO_PAD.encode(HEADER);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = Sha256::new();
    mac.update(secret);
    mac.update(head.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize());
    format!("{head}.{body}.{sig}")
}

/// The `exp` claim (unix seconds) of a JWT-shaped token, if it decodes.
pub fn exp_of(token: &str) -> Option<u64> {
    let claims = token.split('.').nth(1)?;
    let json: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()?;
    json.get("exp")?.as_u64()
}

/// `exp` for a token living `ttl` from now.
pub(crate) fn exp_in(ttl: Duration) -> u64 {
    now_unix() + ttl.as_secs().max(1)
}

/// An opaque refresh token.
pub(crate) fn opaque(prefix: &str) -> String {
    format!("{prefix}_{}", hex::encode(rand::random::<[u8; 16]>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_has_jwt_shape_and_claims() {
        let t = mint(b"k", "auth0|user_1", 1234, "session");
        let parts: Vec<_> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");
        assert_eq!(exp_of(&t), Some(1234));
    }
}
