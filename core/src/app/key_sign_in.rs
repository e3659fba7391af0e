//! Signing in without Cursor's browser page — with a Cursor user API key (the CLI's
//! `login --api-key-stdin`) — and the two steps every sign-in shares: checking the
//! credential store before anything is asked of Cursor, and taking the credentials in.

use std::sync::atomic::Ordering;

use super::{AlertKind, App, CommandError, Status, lock};
use crate::cursor::auth;
use crate::store::credentials::{Credentials, StoreError};

impl App {
    /// Signs in with a Cursor user API key: exchanged for a session, the key kept so the
    /// session can be renewed. Fails before the exchange when the credential store cannot
    /// be used, so no session is minted for nothing.
    pub async fn sign_in_with_api_key(&self, key: &str) -> Result<Status, CommandError> {
        self.ensure_store_usable().await?;
        // Not reported to the call observer: a refused key says nothing about the session
        // stored now, which must not read as expired because of it.
        let creds = auth::exchange_api_key(self.client().http(), key).await?;
        self.finish_sign_in(creds).await
    }

    /// Fails when the credential store cannot be used (typically: no keychain), so the
    /// user learns it before approving in the browser or spending an API-key exchange, not
    /// after. Unreadable stored credentials are fine: signing in replaces them. Both
    /// sign-ins call it; a front end may call it before it even asks for a key.
    pub async fn ensure_store_usable(&self) -> Result<(), CommandError> {
        match self.client().tokens().current().await {
            Ok(_) | Err(StoreError::Corrupt { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Stores the new credentials, forgets the old session's state (expired, its alert,
    /// its account) and learns the new account for the status.
    pub(super) async fn finish_sign_in(&self, creds: Credentials) -> Result<Status, CommandError> {
        self.client().tokens().sign_in(creds).await?;
        self.inner.session_expired.store(false, Ordering::SeqCst);
        self.inner.alerts.resolve(AlertKind::SessionExpired);
        *lock(&self.inner.account) = None;
        if let Err(e) = self.refresh_account().await {
            tracing::warn!(error = %e, "signed in, but the account details are unavailable");
        }
        Ok(self.publish().await)
    }
}
