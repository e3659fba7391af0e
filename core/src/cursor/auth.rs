//! Signing in to Cursor (reference §1): the PKCE pair and login URL of the browser flow,
//! the login poll cadence, and reading the access JWT's expiry.
//!
//! Secrets (tokens, API key, PKCE verifier) never appear in logs, errors or `Debug`.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer};
use sha2::{Digest as _, Sha256};
use url::Url;

use super::http::Endpoints;

// ---------------------------------------------------------------------------------------
// PKCE and the login URL
// ---------------------------------------------------------------------------------------

/// One browser-login attempt: the secret verifier, its public challenge, and the uuid
/// that names the attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct Pkce {
    /// 32 random bytes, base64url without padding (43 chars). Secret: whoever has it can
    /// collect the tokens from the poll endpoint.
    pub verifier: String,
    /// base64url-no-pad(SHA-256(verifier text)).
    pub challenge: String,
    /// UUIDv4, lowercase, hyphenated.
    pub uuid: String,
}

impl Pkce {
    /// A fresh pair from the OS-seeded CSPRNG.
    pub fn generate() -> Pkce {
        let bytes: [u8; 32] = rand::random();
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        Pkce {
            challenge: challenge_for(&verifier),
            verifier,
            uuid: uuid::Uuid::new_v4().hyphenated().to_string(),
        }
    }
}

impl fmt::Debug for Pkce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkce")
            .field("verifier", &format_args!("<redacted>"))
            .field("challenge", &self.challenge)
            .field("uuid", &self.uuid)
            .finish()
    }
}

/// The challenge for a verifier: SHA-256 over the verifier's ASCII text (not its decoded
/// bytes), base64url without padding.
pub fn challenge_for(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The page the user opens to sign in:
/// `<login>/loginDeepControl?challenge=…&uuid=…&mode=login&redirectTarget=cli`.
pub fn login_url(endpoints: &Endpoints, pkce: &Pkce) -> Url {
    let mut url = endpoints.login("loginDeepControl");
    url.query_pairs_mut()
        .append_pair("challenge", &pkce.challenge)
        .append_pair("uuid", &pkce.uuid)
        .append_pair("mode", "login")
        .append_pair("redirectTarget", "cli");
    url
}

// ---------------------------------------------------------------------------------------
// The browser-login poll cadence
// ---------------------------------------------------------------------------------------

/// How often and how long to poll for a finished browser login.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    /// Delay after the first attempt.
    pub initial: Duration,
    /// Growth of the delay per attempt.
    pub factor: f64,
    /// Cap on the delay.
    pub max_delay: Duration,
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// Consecutive errors (anything but 404 "pending" and 200) before giving up.
    pub max_consecutive_errors: u32,
}

impl Default for PollPolicy {
    /// The official CLI's numbers (reference §1.1 step 6): 1 s × 1.2ⁿ capped at 10 s,
    /// 150 attempts (≈ 23.6 minutes), 3 consecutive errors.
    fn default() -> Self {
        PollPolicy {
            initial: Duration::from_millis(1000),
            factor: 1.2,
            max_delay: Duration::from_millis(10_000),
            max_attempts: 150,
            max_consecutive_errors: 3,
        }
    }
}

impl PollPolicy {
    /// The delay after attempt `n` (0-based): `min(initial × factorⁿ, max_delay)`.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.powi(exp);
        if secs.is_finite() && secs >= 0.0 && secs < self.max_delay.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max_delay
        }
    }
}

// ---------------------------------------------------------------------------------------
// JWT
// ---------------------------------------------------------------------------------------

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
    pub iss: Option<String>,
    /// `session` or `web`.
    #[serde(default, rename = "type")]
    pub token_type: Option<String>,
}

impl JwtClaims {
    /// The user id: the part of `sub` after `|`.
    pub fn user_id(&self) -> Option<&str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An unsigned JWT expiring at `exp`; `tag` makes tokens distinguishable.
    fn jwt(exp: u64, tag: &str) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = serde_json::json!({"sub": "auth0|user_01TEST", "exp": exp, "tag": tag, "type": "session"});
        format!(
            "{header}.{}.sig",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    // ---- PKCE, URL, cadence, JWT ----

    #[test]
    fn pkce_challenge_matches_rfc_7636_appendix_b() {
        // The value printed in RFC 7636 appendix B (also what Python's hashlib gives).
        assert_eq!(
            challenge_for("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn pkce_shape() {
        let url_safe = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let a = Pkce::generate();
        let b = Pkce::generate();
        assert_ne!(a.verifier, b.verifier);
        assert_ne!(a.uuid, b.uuid);
        assert_eq!(a.verifier.len(), 43);
        assert_eq!(a.challenge.len(), 43);
        assert!(url_safe(&a.verifier) && url_safe(&a.challenge));
        assert_eq!(a.challenge, challenge_for(&a.verifier));
        let u = uuid::Uuid::parse_str(&a.uuid).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(a.uuid, a.uuid.to_lowercase());
        assert_eq!(a.uuid.len(), 36);
    }

    #[test]
    fn pkce_debug_hides_the_verifier() {
        let p = Pkce::generate();
        let text = format!("{p:?}");
        assert!(!text.contains(&p.verifier), "{text}");
        assert!(text.contains(&p.uuid));
    }

    #[test]
    fn login_url_carries_every_parameter() {
        let p = Pkce::generate();
        let endpoints = Endpoints {
            api: Url::parse("https://api2.cursor.sh").unwrap(),
            login: Url::parse("https://cursor.com").unwrap(),
        };
        let url = login_url(&endpoints, &p);
        assert_eq!(
            url.as_str(),
            format!(
                "https://cursor.com/loginDeepControl?challenge={}&uuid={}&mode=login&redirectTarget=cli",
                p.challenge, p.uuid
            )
        );
        assert!(!url.as_str().contains(&p.verifier));
    }

    #[test]
    fn poll_delays_follow_the_official_cadence() {
        let p = PollPolicy::default();
        let ms: Vec<u128> = (0..15).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(
            ms,
            [
                1000, 1200, 1440, 1728, 2073, 2488, 2985, 3583, 4299, 5159, 6191, 7430, 8916,
                10000, 10000
            ]
        );
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(10));
        let first13: f64 = (0..13).map(|n| p.delay(n).as_secs_f64()).sum();
        assert!((first13 - 48.5).abs() < 0.1, "{first13}");
        let total: f64 = (0..p.max_attempts).map(|n| p.delay(n).as_secs_f64()).sum();
        assert!((total / 60.0 - 23.6).abs() < 0.1, "{total}");
    }

    #[test]
    fn jwt_decoding() {
        let t = jwt(1_900_000_000, "a");
        let c = decode_jwt(&t).unwrap();
        assert_eq!(c.exp, Some(1_900_000_000));
        assert_eq!(c.sub.as_deref(), Some("auth0|user_01TEST"));
        assert_eq!(c.user_id(), Some("user_01TEST"));
        assert_eq!(c.token_type.as_deref(), Some("session"));
        assert_eq!(
            expires_at(&t),
            Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000))
        );

        // Padded payloads and float expiries are tolerated.
        let padded_payload = base64::engine::general_purpose::URL_SAFE.encode(br#"{"exp":1.5e9}"#);
        assert_eq!(
            decode_jwt(&format!("h.{padded_payload}.s")).unwrap().exp,
            Some(1_500_000_000)
        );

        for garbage in ["", "abc", "a.b.c", "a.!!!.c", "a.e30", "a.bnVsbA.c"] {
            assert_eq!(expires_at(garbage), None, "{garbage}");
        }
        assert_eq!(
            decode_jwt("a.e30.c"),
            Some(JwtClaims::default()),
            "{{}} has no exp"
        );
    }
}
