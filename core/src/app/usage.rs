//! What the Models and Usage screens read: the model list and Cursor's plan usage (both
//! from Cursor), and our own usage ledger (requests, tokens, latency, recent errors).

use std::sync::Mutex as StdMutex;

use super::{AlertKind, App, CommandError, Model, PlanUsage, blocking, lock, now_ms};
use crate::store::ledger::{Ledger, Range, RecentError, UsageReport};

/// The usage part's state.
#[derive(Default)]
pub(super) struct Usage {
    /// The usage ledger, opened on first use (reads; the proxy records through its own
    /// handle — SQLite's WAL lets both work at once).
    ledger: StdMutex<Option<Ledger>>,
}

impl App {
    /// The models the plan can use, with limits (`refresh` skips the cache).
    pub async fn list_models(&self, refresh: bool) -> Result<Vec<Model>, CommandError> {
        if refresh {
            self.client().invalidate_models().await;
        }
        let r = self.client().models().await;
        let models = self.cursor(r).await?;
        Ok(models.iter().map(Model::from).collect())
    }

    /// Cursor's plan usage for the billing cycle.
    pub async fn plan_usage(&self) -> Result<PlanUsage, CommandError> {
        let r = self.client().plan_usage().await;
        let u = self.cursor(r).await?;
        if u.plan_usage.as_ref().and_then(|p| p.has_room()) == Some(true) {
            self.inner.alerts.resolve(AlertKind::Quota);
        }
        Ok(PlanUsage::from_cursor(&u, now_ms()))
    }

    /// The ledger, opened on first use. Off the runtime: opening it waits out a lock held
    /// by another process (up to its busy timeout).
    pub(super) async fn ledger(&self) -> Result<Ledger, CommandError> {
        if let Some(l) = lock(&self.inner.usage.ledger).as_ref() {
            return Ok(l.clone());
        }
        let wiring = self.inner.wiring.clone();
        let opened = blocking("opening the usage ledger", move || wiring.ledger())
            .await?
            .map_err(|e| CommandError::io(e.to_string()))?;
        // Two first uses at once both open it; the first one kept is the one used.
        Ok(lock(&self.inner.usage.ledger).get_or_insert(opened).clone())
    }

    /// Requests, tokens, latency and errors from our own ledger over `range`.
    pub async fn usage_report(&self, range: Range) -> Result<UsageReport, CommandError> {
        self.ledger()
            .await?
            .report(range, now_ms())
            .await
            .map_err(|e| CommandError::io(e.to_string()))
    }

    /// The latest failed requests, newest first.
    pub async fn recent_errors(&self) -> Result<Vec<RecentError>, CommandError> {
        self.ledger()
            .await?
            .recent_errors(20)
            .await
            .map_err(|e| CommandError::io(e.to_string()))
    }
}
