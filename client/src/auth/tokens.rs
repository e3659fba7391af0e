//! [`TokenManager`]: the only way the rest of the code gets an access token — cached,
//! refreshed single-flight shortly before expiry, rotated tokens persisted.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::jwt::expires_at;
use super::refresh::{RefreshRoute, refresh};
use crate::credentials::{CredentialStore, Credentials, StoreError};
use crate::error::CursorError;
use crate::http::CursorHttp;
use zeroize::Zeroizing;

/// After a failed refresh, callers get the same answer for this long instead of each
/// trying again (a dead network would otherwise cost every request a full timeout).
const REFRESH_RETRY_AFTER: Duration = Duration::from_secs(15);

/// The only way the rest of the code gets an access token. Cheap to clone.
///
/// Lock choice: one `tokio::sync::Mutex` guards the cached credentials and is held across
/// the store I/O and the refresh call, so a refresh is single-flight: concurrent callers
/// queue on the lock, re-check the token when they get it, and find the fresh one. The
/// fast path (token good for longer than the margin) holds it only to clone a string.
/// Refreshes run in a spawned task, so a caller that goes away (a client disconnects)
/// cannot abort a refresh halfway and lose a rotated refresh token.
#[derive(Clone)]
pub struct TokenManager {
    inner: Arc<Inner>,
}

struct Inner {
    http: CursorHttp,
    store: Arc<dyn CredentialStore>,
    /// Wiped from memory with the manager.
    env_token: Option<Zeroizing<String>>,
    margin: Duration,
    /// The refresh route tried first: the setting at start, then the last one that
    /// worked. In memory only: after a restart re-learning it costs one 4xx.
    route: std::sync::Mutex<RefreshRoute>,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The store has been read (its answer, possibly "nothing", is in `creds`).
    loaded: bool,
    creds: Option<Credentials>,
    /// `exp` of `creds.access_token`; `None` = unreadable = expired.
    expires: Option<SystemTime>,
    /// The last failed refresh, replayed for [`REFRESH_RETRY_AFTER`].
    failure: Option<(Instant, CursorError)>,
}

impl State {
    fn set(&mut self, creds: Option<Credentials>) {
        self.expires = creds.as_ref().and_then(|c| expires_at(&c.access_token));
        self.creds = creds;
        self.loaded = true;
        self.failure = None;
    }

    /// The token if it is good for at least `margin` more.
    fn fresh_token(&self, margin: Duration, now: SystemTime) -> Option<String> {
        let left = self.expires?.duration_since(now).ok()?;
        (left >= margin)
            .then(|| self.creds.as_ref().map(|c| c.access_token.clone()))
            .flatten()
    }

    fn recent_failure(&self) -> Option<&CursorError> {
        self.failure
            .as_ref()
            .filter(|(at, _)| at.elapsed() < REFRESH_RETRY_AFTER)
            .map(|(_, e)| e)
    }
}

enum Trigger {
    /// The token is (nearly) expired.
    Expiring,
    /// Cursor answered 401 for this token.
    Rejected(String),
}

impl fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenManager")
            .field("store", &self.inner.store)
            .field(
                "env_token",
                &self.inner.env_token.as_ref().map(|_| "<redacted>"),
            )
            .field("margin", &self.inner.margin)
            .finish()
    }
}

impl TokenManager {
    /// `env_token` is `CURSOR_ACCESS_TOKEN`: when set it always wins and is never stored
    /// or refreshed. `refresh_margin`: refresh when less than this remains (300 s).
    pub fn new(
        http: CursorHttp,
        store: Arc<dyn CredentialStore>,
        env_token: Option<String>,
        refresh_margin: Duration,
    ) -> TokenManager {
        TokenManager {
            inner: Arc::new(Inner {
                http,
                store,
                env_token: env_token
                    .filter(|t| !t.trim().is_empty())
                    .map(Zeroizing::new),
                margin: refresh_margin,
                route: std::sync::Mutex::new(RefreshRoute::default()),
                state: tokio::sync::Mutex::new(State::default()),
            }),
        }
    }

    /// Tries `route` first when refreshing with a refresh token (setting `refresh_route`).
    pub fn with_refresh_route(self, route: RefreshRoute) -> TokenManager {
        *self.inner.route.lock().unwrap_or_else(|p| p.into_inner()) = route;
        self
    }

    /// The refresh route tried first next time: the setting, or the last one that worked.
    pub fn refresh_route(&self) -> RefreshRoute {
        *self.inner.route.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when `CURSOR_ACCESS_TOKEN` is in use.
    pub fn uses_env_token(&self) -> bool {
        self.inner.env_token.is_some()
    }

    /// Where credentials are stored, for status output.
    pub fn store_description(&self) -> String {
        self.inner.store.describe()
    }

    /// A usable access token, refreshed first when it expires within the margin.
    ///
    /// Errors: [`CursorError::NotSignedIn`], [`CursorError::SessionExpired`] (sign in
    /// again; the stored credentials are kept), [`CursorError::CredentialStore`], or the
    /// refresh call's error when the current token has already expired. When a refresh
    /// fails for a transient reason while the current token is still valid, the current
    /// token is returned and the failure logged.
    pub async fn access_token(&self) -> Result<String, CursorError> {
        if let Some(t) = &self.inner.env_token {
            return Ok(t.to_string());
        }
        {
            let mut st = self.inner.state.lock().await;
            self.inner.ensure_loaded(&mut st).await?;
            if st.creds.is_none() {
                return Err(CursorError::NotSignedIn);
            }
            if let Some(token) = st.fresh_token(self.inner.margin, SystemTime::now()) {
                return Ok(token);
            }
        }
        self.refresh_in_task(Trigger::Expiring).await
    }

    /// Cursor answered 401 for `rejected`: returns the current token if someone already
    /// replaced it, else forces one (shared) refresh.
    pub(crate) async fn refresh_after_rejection(
        &self,
        rejected: &str,
    ) -> Result<String, CursorError> {
        if self.inner.env_token.is_some() {
            return Err(CursorError::Unauthenticated {
                message: "the token in CURSOR_ACCESS_TOKEN was refused; replace it, or unset it \
                          to use the stored sign-in"
                    .into(),
            });
        }
        self.refresh_in_task(Trigger::Rejected(rejected.to_owned()))
            .await
    }

    /// Stores new credentials (after a login) and uses them from now on.
    pub async fn sign_in(&self, creds: Credentials) -> Result<(), StoreError> {
        let mut st = self.inner.state.lock().await;
        self.inner.save(creds.clone()).await?;
        st.set(Some(creds));
        Ok(())
    }

    /// Deletes the stored credentials. The in-memory copy is dropped even when the store
    /// fails (the error is returned so the user learns the store still holds them).
    pub async fn sign_out(&self) -> Result<(), StoreError> {
        let mut st = self.inner.state.lock().await;
        st.set(None);
        let store = self.inner.store.clone();
        run_blocking(move || store.delete()).await
    }

    /// The credentials in use, for status display: the `CURSOR_ACCESS_TOKEN` override
    /// (as an access token alone) or what is stored.
    pub async fn current(&self) -> Result<Option<Credentials>, StoreError> {
        if let Some(t) = &self.inner.env_token {
            return Ok(Some(Credentials {
                access_token: t.to_string(),
                refresh_token: None,
                api_key: None,
            }));
        }
        let mut st = self.inner.state.lock().await;
        self.inner.ensure_loaded(&mut st).await?;
        Ok(st.creds.clone())
    }

    async fn refresh_in_task(&self, trigger: Trigger) -> Result<String, CursorError> {
        let inner = self.inner.clone();
        tokio::spawn(async move { inner.refresh_single_flight(trigger).await })
            .await
            .unwrap_or_else(|e| {
                Err(CursorError::Protocol(format!(
                    "the token refresh task failed: {e}"
                )))
            })
    }
}

impl Inner {
    async fn ensure_loaded(&self, st: &mut State) -> Result<(), StoreError> {
        if !st.loaded {
            let store = self.store.clone();
            let creds = run_blocking(move || store.load()).await?;
            st.set(creds);
        }
        Ok(())
    }

    async fn save(&self, creds: Credentials) -> Result<(), StoreError> {
        let store = self.store.clone();
        run_blocking(move || store.save(&creds)).await
    }

    async fn refresh_single_flight(&self, trigger: Trigger) -> Result<String, CursorError> {
        let mut st = self.state.lock().await;
        self.ensure_loaded(&mut st).await?;
        let Some(creds) = st.creds.clone() else {
            return Err(CursorError::NotSignedIn);
        };
        let now = SystemTime::now();
        // Someone may have refreshed while we waited for the lock.
        let still_valid = match &trigger {
            Trigger::Expiring => {
                if let Some(token) = st.fresh_token(self.margin, now) {
                    return Ok(token);
                }
                st.expires.is_some_and(|exp| exp > now)
            }
            Trigger::Rejected(rejected) => {
                if creds.access_token != *rejected {
                    return Ok(creds.access_token.clone());
                }
                false
            }
        };
        let renewable = creds
            .refresh_token
            .as_deref()
            .is_some_and(|t| !t.is_empty())
            || creds.api_key.as_deref().is_some_and(|k| !k.is_empty());
        if !renewable && still_valid {
            // Nothing to refresh with (e.g. a bare imported token): use it until it expires.
            return Ok(creds.access_token.clone());
        }
        if let Some(err) = st.recent_failure() {
            return match err {
                CursorError::SessionExpired => Err(CursorError::SessionExpired),
                _ if still_valid => Ok(creds.access_token.clone()),
                err => Err(err.clone()),
            };
        }
        let first = *self.route.lock().unwrap_or_else(|p| p.into_inner());
        match refresh(&self.http, &creds, first).await {
            Ok((new, route)) => {
                if let Some(route) = route {
                    *self.route.lock().unwrap_or_else(|p| p.into_inner()) = route;
                }
                let token = new.access_token.clone();
                if let Err(e) = self.save(new.clone()).await {
                    // The new token works; keep it in memory. If the refresh token rotated,
                    // the next start will need a new sign-in — say so loudly.
                    tracing::error!(
                        error = %e,
                        "refreshed the Cursor token but could not store it; after a restart you may have to sign in again"
                    );
                }
                st.set(Some(new));
                Ok(token)
            }
            Err(e) => {
                st.failure = Some((Instant::now(), e.clone()));
                match e {
                    CursorError::SessionExpired => {
                        tracing::warn!("the Cursor session has expired; a new sign-in is needed");
                        Err(e)
                    }
                    e if still_valid => {
                        tracing::warn!(error = %e, "token refresh failed; using the current token until it expires");
                        Ok(creds.access_token.clone())
                    }
                    e => {
                        tracing::error!(error = %e, "token refresh failed");
                        Err(e)
                    }
                }
            }
        }
    }
}

async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(StoreError::Task(e.to_string())))
}
