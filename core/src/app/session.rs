//! Who is signed in: the browser sign-in (one attempt waiting at a time, cancellable, and
//! shown in the status as [`SignInProgress`]), sign-out, the account shown, and whether
//! Cursor refused the stored session.

use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use super::{Account, AlertKind, App, CommandError, SignInProgress, Status, lock, now_ms};
use crate::cursor::auth::{self, LoginError, Pkce};
use crate::store::credentials::{Credentials, StoreError};

/// The session part's state: `std::sync` locks and atomics, only ever held to copy a value.
#[derive(Default)]
pub(super) struct Session {
    account: StdMutex<Option<Account>>,
    /// Cursor refused the stored session: it reads as signed out until the next sign-in.
    expired: AtomicBool,
    /// The sign-in waiting for approval.
    waiting: StdMutex<Option<Waiting>>,
    /// Attempts so far; each `sign_in` takes the next number.
    attempts: AtomicU64,
}

struct Waiting {
    progress: SignInProgress,
    cancel: CancellationToken,
}

impl Session {
    /// Marks the session refused by Cursor (or accepted again); true when that changed it.
    pub(super) fn set_expired(&self, expired: bool) -> bool {
        self.expired.swap(expired, Ordering::SeqCst) != expired
    }

    pub(super) fn expired(&self) -> bool {
        self.expired.load(Ordering::SeqCst)
    }

    pub(super) fn account(&self) -> Option<Account> {
        lock(&self.account).clone()
    }

    /// The sign-in waiting for approval, as the status shows it.
    pub(super) fn progress(&self) -> Option<SignInProgress> {
        lock(&self.waiting).as_ref().map(|w| w.progress.clone())
    }

    /// Starts attempt number n (returned with its cancel token); a waiting one is cancelled.
    fn begin(&self) -> (u64, CancellationToken) {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let cancel = CancellationToken::new();
        let waiting = Waiting {
            progress: SignInProgress {
                attempt,
                started_unix_ms: u64::try_from(now_ms()).unwrap_or(0),
            },
            cancel: cancel.clone(),
        };
        if let Some(previous) = lock(&self.waiting).replace(waiting) {
            previous.cancel.cancel();
        }
        (attempt, cancel)
    }

    /// Forgets attempt `mine` unless a newer sign-in has replaced it.
    fn end(&self, mine: u64) {
        let mut slot = lock(&self.waiting);
        if slot.as_ref().is_some_and(|w| w.progress.attempt == mine) {
            *slot = None;
        }
    }
}

impl App {
    /// Fetches the account shown in the status.
    pub(super) async fn refresh_account(&self) -> Result<Account, CommandError> {
        let r = self.client().account().await;
        let acc = self.cursor(r).await?;
        let account = Account {
            email: Some(acc.email).filter(|e| !e.is_empty()),
            plan: None,
        };
        *lock(&self.inner.session.account) = Some(account.clone());
        Ok(account)
    }

    /// Browser sign-in: opens Cursor's login page (PKCE) and waits until the user approves
    /// it there. A second call cancels the first. Cancellable by [`App::cancel_sign_in`].
    /// The status carries the waiting attempt ([`Status::sign_in`]) from the moment the
    /// page is about to open until the attempt ends, however it ends.
    pub async fn sign_in(&self) -> Result<Status, CommandError> {
        self.ensure_store_usable().await?;
        let client = self.client();
        let http = client.http();
        let pkce = Pkce::generate();
        let url = auth::login_url(http.endpoints(), &pkce);
        let (attempt, cancel) = self.inner.session.begin();
        self.publish().await;
        let policy = self.settings().poll_policy();
        let polled = match (self.inner.opener)(url.as_str()) {
            Ok(()) => auth::poll_login(http, &pkce, &policy, &cancel)
                .await
                .map_err(|e| self.login_failed(e)),
            Err(e) => Err(CommandError::io(format!(
                "Cannot open your browser to sign in: {e}"
            ))),
        };
        self.inner.session.end(attempt);
        let signed_in = match polled {
            Ok(creds) => self.accept(creds).await,
            Err(e) => Err(e),
        };
        let status = self.publish().await;
        signed_in.map(|()| status)
    }

    /// Signs in with a Cursor user API key (the CLI's `login --api-key-stdin`): exchanged
    /// for a session, the key kept so the session can be renewed. Fails before the
    /// exchange when the credential store cannot be used, so no session is minted for
    /// nothing.
    pub async fn sign_in_with_api_key(&self, key: &str) -> Result<Status, CommandError> {
        self.ensure_store_usable().await?;
        // Not reported to the call observer: a refused key says nothing about the session
        // stored now, which must not read as expired because of it.
        let creds = auth::exchange_api_key(self.client().http(), key).await?;
        self.accept(creds).await?;
        Ok(self.publish().await)
    }

    /// Fails when the credential store cannot be used (typically: no keychain), so the
    /// user learns it before approving in the browser or spending an API-key exchange, not
    /// after. Unreadable stored credentials are fine: signing in replaces them.
    pub async fn ensure_store_usable(&self) -> Result<(), CommandError> {
        match self.client().tokens().current().await {
            Ok(_) | Err(StoreError::Corrupt { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn login_failed(&self, e: LoginError) -> CommandError {
        if let LoginError::Failed(e) = &e {
            // Not through the client's observed calls: report it the same way.
            self.observe_cursor(Err(e));
        }
        e.into()
    }

    /// Stores approved credentials and shows their account.
    async fn accept(&self, creds: Credentials) -> Result<(), CommandError> {
        self.client().tokens().sign_in(creds).await?;
        self.inner.session.set_expired(false);
        self.inner.alerts.resolve(AlertKind::SessionExpired);
        *lock(&self.inner.session.account) = None;
        if let Err(e) = self.refresh_account().await {
            tracing::warn!(error = %e, "signed in, but the account details are unavailable");
        }
        Ok(())
    }

    /// Cancels a sign-in in progress (it then fails with `login_cancelled`).
    pub fn cancel_sign_in(&self) {
        if let Some(w) = lock(&self.inner.session.waiting).take() {
            w.cancel.cancel();
        }
    }

    /// True while a browser sign-in waits for approval.
    pub fn signing_in(&self) -> bool {
        lock(&self.inner.session.waiting).is_some()
    }

    /// Removes the stored credentials. The proxy keeps running (it answers "not signed
    /// in" until the next sign-in).
    pub async fn sign_out(&self) -> Result<Status, CommandError> {
        let r = self.client().tokens().sign_out().await;
        *lock(&self.inner.session.account) = None;
        self.inner.session.set_expired(false);
        self.inner.alerts.resolve(AlertKind::SessionExpired);
        let status = self.publish().await;
        r?;
        Ok(status)
    }
}
