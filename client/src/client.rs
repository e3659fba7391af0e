//! `CursorClient`: the one object front ends use to talk to Cursor. It owns the HTTP
//! client, the token manager and the model cache, and gives every call the same auth
//! policy: a fresh token before the call, and on `unauthenticated` one refresh and one
//! retry (reference §6.4). Cheap to clone.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::auth::TokenManager;
use super::chat::{self, ChatOptions, ChatRequest, ChatRun};
use super::error::CursorError;
use super::http::CursorHttp;
use super::models::{self, ModelCache, ModelInfo};
use super::usage::{self, Account, CurrentPeriodUsage};

/// Handle to the embedded Cursor client.
#[derive(Clone, Debug)]
pub struct CursorClient {
    http: CursorHttp,
    tokens: TokenManager,
    models: ModelCache,
    chat_options: ChatOptions,
    observer: Option<CallObserver>,
}

/// Told the outcome of every authenticated Cursor call (after the refresh-and-retry), from
/// whichever front end made it: the tray app turns an expired session, a quota or an
/// unreachable Cursor met by a proxy request into a notification. Called inline on the
/// request path, so it must be quick and must not block.
#[derive(Clone)]
pub struct CallObserver(Arc<ObserveFn>);

type ObserveFn = dyn Fn(Result<(), &CursorError>) + Send + Sync;

impl CallObserver {
    /// Wraps `f`, called with each call's outcome.
    pub fn new(f: impl Fn(Result<(), &CursorError>) + Send + Sync + 'static) -> Self {
        CallObserver(Arc::new(f))
    }
}

impl std::fmt::Debug for CallObserver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallObserver")
    }
}

impl CursorClient {
    /// Wires the parts together; `wiring::cursor_client` in the core builds them from settings.
    pub fn new(
        http: CursorHttp,
        tokens: TokenManager,
        models_ttl: Duration,
        chat_options: ChatOptions,
    ) -> Self {
        Self {
            http,
            tokens,
            models: ModelCache::new(models_ttl),
            chat_options,
            observer: None,
        }
    }

    /// The same client with other chat timings (tests, benchmarks).
    pub fn with_chat_options(mut self, chat_options: ChatOptions) -> Self {
        self.chat_options = chat_options;
        self
    }

    /// The same client (sharing tokens and model cache) reporting every call to `observer`.
    pub fn with_observer(mut self, observer: CallObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The same client (sharing tokens, model cache and observer) over another HTTP client,
    /// e.g. one with another `agent_transport`: the runs started from now on use it, the
    /// runs in flight keep theirs. Token refreshes keep using the token manager's own HTTP
    /// client (unary calls, whatever the agent transport).
    pub fn with_http(mut self, http: CursorHttp) -> Self {
        self.http = http;
        self
    }

    /// The HTTP client (endpoints, headers).
    pub fn http(&self) -> &CursorHttp {
        &self.http
    }

    /// The token manager (sign in/out, status).
    pub fn tokens(&self) -> &TokenManager {
        &self.tokens
    }

    /// Runs `call` with a valid token; on an auth error refreshes once and retries once.
    pub(crate) async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, CursorError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, CursorError>>,
    {
        let r = self.with_token_unobserved(call).await;
        if let Some(CallObserver(observe)) = &self.observer {
            observe(r.as_ref().map(|_| ()));
        }
        r
    }

    /// [`CursorClient::with_fresh_token`], and when Cursor refuses our client version as
    /// outdated: re-resolve it (bypassing the cache, skipping the refused one) and retry
    /// once with the new one (reference §9.10). The final refusal names the version sent.
    async fn with_token_unobserved<T, F, Fut>(&self, call: F) -> Result<T, CursorError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, CursorError>>,
    {
        let version = self.http.client_version();
        let sent = version.value();
        let outdated = |message: String, sent: &str| CursorError::OutdatedClient {
            message: format!("{message}; sent {sent}"),
        };
        match self.with_fresh_token(&call).await {
            Err(CursorError::OutdatedClient { message }) => {
                let Some(next) = version.after_rejection(&sent).await else {
                    tracing::warn!(version = %sent, "Cursor refused the client version and there is no other to try");
                    return Err(outdated(message, &sent));
                };
                tracing::warn!(rejected = %sent, retry_with = %next, "Cursor refused the client version; retrying once");
                match self.with_fresh_token(&call).await {
                    Err(CursorError::OutdatedClient { message }) => Err(outdated(message, &next)),
                    other => other,
                }
            }
            other => other,
        }
    }

    /// Runs `call` with a valid token; on an auth error refreshes once and retries once.
    async fn with_fresh_token<T, F, Fut>(&self, call: &F) -> Result<T, CursorError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, CursorError>>,
    {
        let token = self.tokens.access_token().await?;
        match call(token.clone()).await {
            Err(e) if e.is_auth() => {
                tracing::info!("Cursor refused the access token; refreshing once");
                let fresh = self.tokens.refresh_after_rejection(&token).await?;
                match call(fresh).await {
                    Err(e) if e.is_auth() => Err(CursorError::SessionExpired),
                    other => other,
                }
            }
            other => other,
        }
    }

    /// The model catalogue with limits (cached).
    pub async fn models(&self) -> Result<Arc<Vec<ModelInfo>>, CursorError> {
        self.models
            .get_or_fetch(|| {
                self.with_token(|t| async move { models::fetch_catalogue(&self.http, &t).await })
            })
            .await
    }

    /// Drops the cached catalogue so the next call fetches it again.
    pub async fn invalidate_models(&self) {
        self.models.invalidate().await;
    }

    /// Cursor's plan usage for the current billing cycle.
    pub async fn plan_usage(&self) -> Result<CurrentPeriodUsage, CursorError> {
        self.with_token(|t| async move { usage::fetch_current_period(&self.http, &t).await })
            .await
    }

    /// The signed-in account.
    pub async fn account(&self) -> Result<Account, CursorError> {
        self.with_token(|t| async move { usage::fetch_me(&self.http, &t).await })
            .await
    }

    /// Starts a chat run. An auth error that arrives before any event is retried once
    /// after a refresh — nothing has reached the caller yet, so the retry is invisible.
    pub async fn chat(&self, req: ChatRequest) -> Result<ChatRun, CursorError> {
        self.chat_with_retry(req, RetryPolicy::NONE).await
    }

    /// [`CursorClient::chat`], starting the run again after a transient failure (see
    /// [`CursorError::is_transient`]) up to `retry.retries` times, with exponential
    /// backoff. Only failures before the run produced anything are retried: a start that
    /// failed (unreachable, connect timeout, HTTP 502–504 …) or a run whose very first
    /// item is a transient error (Connect `unavailable`, a retryable `ErrorDetails`, the
    /// stream breaking at once). A run that stayed silent until the first-activity
    /// watchdog fired is not started again: it has already used up its timeout. The
    /// observer hears only the final outcome, so a blip that a retry hides alerts nobody.
    pub async fn chat_with_retry(
        &self,
        req: ChatRequest,
        retry: RetryPolicy,
    ) -> Result<ChatRun, CursorError> {
        let mut attempt = 0;
        let result = loop {
            let mut r = self
                .with_token_unobserved(|t| {
                    let req = req.clone();
                    async move {
                        let mut run =
                            chat::start_run(&self.http, &t, req, self.chat_options.clone()).await?;
                        if let Some(Err(e)) = run.peek().await {
                            // Handed to the refresh / client-version retries around us.
                            if e.is_auth() || matches!(e, CursorError::OutdatedClient { .. }) {
                                return Err(e.clone());
                            }
                        }
                        Ok(run)
                    }
                })
                .await;
            let transient = match &mut r {
                Err(e) => e.is_transient().then(|| e.clone()),
                Ok(run) => match run.peek().await {
                    Some(Err(e)) if e.is_transient() && !matches!(e, CursorError::Timeout(_)) => {
                        Some(e.clone())
                    }
                    _ => None,
                },
            };
            match transient {
                Some(e) if attempt < retry.retries => {
                    let wait = retry.delay(attempt);
                    attempt += 1;
                    tracing::info!(
                        kind = e.kind(),
                        "starting the Cursor run failed ({e}); retry {attempt} of {} in {} ms",
                        retry.retries,
                        wait.as_millis()
                    );
                    // A run that failed is over; dropping it only releases it.
                    drop(r);
                    tokio::time::sleep(wait).await;
                }
                _ => break r,
            }
        };
        if let Some(CallObserver(observe)) = &self.observer {
            observe(result.as_ref().map(|_| ()));
        }
        result
    }
}

/// How [`CursorClient::chat_with_retry`] retries a run that failed to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one; 0 turns retrying off.
    pub retries: u32,
    /// The wait before the first retry; each further retry waits twice as long.
    pub backoff: Duration,
}

/// No single wait between two attempts is longer than this.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

impl RetryPolicy {
    /// One attempt, no retry.
    pub(crate) const NONE: RetryPolicy = RetryPolicy {
        retries: 0,
        backoff: Duration::ZERO,
    };

    /// The wait before retry `n` (0 = the first): `backoff · 2ⁿ`, plus a random jitter of
    /// up to half of that so clients that failed together do not retry together.
    pub(crate) fn delay(&self, n: u32) -> Duration {
        let base = self
            .backoff
            .saturating_mul(1 << n.min(16))
            .min(MAX_RETRY_DELAY);
        let spread = u64::try_from(base.as_millis() / 2).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            rand::random_range(0..=spread)
        };
        base + Duration::from_millis(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_with_bounded_jitter() {
        let p = RetryPolicy {
            retries: 5,
            backoff: Duration::from_millis(100),
        };
        for _ in 0..50 {
            for (n, base) in [(0, 100), (1, 200), (2, 400)] {
                let d = p.delay(n).as_millis();
                assert!((base..=base + base / 2).contains(&d), "retry {n}: {d} ms");
            }
        }
        assert_eq!(RetryPolicy::NONE.delay(3), Duration::ZERO);
        let huge = RetryPolicy {
            retries: 10,
            backoff: Duration::from_secs(60),
        };
        assert!(huge.delay(40) <= MAX_RETRY_DELAY + MAX_RETRY_DELAY / 2);
    }
}
