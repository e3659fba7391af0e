//! Reading Cursor's access JWT: its claims and its expiry (the signature is not checked).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer};

/// The claims we read from Cursor's access JWT (reference §1.4). The signature is not
/// checked: we only need to know when to refresh.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct JwtClaims {
    /// `<idp>|user_<id>`, e.g. `auth0|user_01ABC`.
    #[serde(default)]
    pub sub: Option<String>,
    /// Expiry, unix seconds.
    #[serde(default, deserialize_with = "unix_seconds")]
    pub exp: Option<u64>,
    #[serde(default)]
    /// Issuer.
    pub iss: Option<String>,
    /// `session` or `web`.
    #[serde(default, rename = "type")]
    pub token_type: Option<String>,
}

impl JwtClaims {
    /// The user id: the part of `sub` after `|`.
    #[cfg(test)]
    pub(crate) fn user_id(&self) -> Option<&str> {
        let sub = self.sub.as_deref()?;
        Some(sub.split_once('|').map_or(sub, |(_, id)| id))
    }
}

fn unix_seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::Number(n)) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    })
}

/// Decodes the claims (middle segment, base64url with or without padding). `None` when
/// the token is not a JWT.
pub fn decode_jwt(token: &str) -> Option<JwtClaims> {
    let mut parts = token.trim().split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    let payload = payload.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .or_else(|_| STANDARD_NO_PAD.decode(payload))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// When the token expires; `None` (treat as expired) when it cannot be read.
pub fn expires_at(token: &str) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(decode_jwt(token)?.exp?))
}
