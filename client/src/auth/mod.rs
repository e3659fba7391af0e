//! Signing in to Cursor and keeping the access token fresh (reference §1).
//!
//! - Browser login: a PKCE pair ([`Pkce`]) and a uuid open
//!   `<login>/loginDeepControl?…`; [`poll_login`] then polls `<api>/auth/poll` until the
//!   user finishes in the browser (404 = not yet), with the official CLI's cadence.
//! - API-key login: [`exchange_api_key`].
//! - Refresh: [`refresh`] (API-key exchange when a key is stored, else the refresh token
//!   on one [`RefreshRoute`] and, after a 4xx, on the other; the route that worked is
//!   tried first from then on).
//! - [`TokenManager`]: the only way the rest of the code gets an access token. It caches
//!   the credentials, refreshes shortly before expiry with one refresh shared by all
//!   concurrent callers, persists rotated tokens, and fails loudly.
//!
//! Secrets (tokens, API key, PKCE verifier) never appear in logs, errors or `Debug`.
//!
//! Files: `login` (PKCE, polling, API key), `refresh` (the two routes), `jwt` (claims,
//! expiry), `tokens` ([`TokenManager`]).

mod jwt;
mod login;
mod refresh;
mod tokens;

pub use jwt::{JwtClaims, decode_jwt, expires_at};
pub use login::{
    LoginError, Pkce, PollPolicy, challenge_for, exchange_api_key, login_url, poll_login,
};
pub use refresh::{OAUTH_CLIENT_ID, RefreshRoute, refresh};
pub use tokens::TokenManager;

#[cfg(test)]
mod tests;
