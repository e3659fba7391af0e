//! The spend guard's front-end actions ([`App::guard_status`], [`App::guard_pause`],
//! [`App::guard_resume`]: the tray and the UI call the same ones) and its watcher: every
//! trip, pause and resume re-publishes the status, each new trip becomes one
//! notification ([`Event::GuardTripped`]) until it is resumed, and Cursor starting to
//! bill on demand one more with `guard_on_demand = "warn"` ([`Event::OnDemand`]).

use std::collections::HashSet;
use std::sync::Weak;

use super::{App, CommandError, Event, GuardStatus, Inner};
use crate::config::settings::OnDemand;
use crate::engine::guard::GuardRules;

impl App {
    /// The guard's rules (as the settings give them), today's counts and its trips.
    pub fn guard_status(&self) -> GuardStatus {
        self.inner
            .proxy
            .guard
            .status(&GuardRules::of(&self.settings()))
    }

    /// [`App::guard_status`] with today's counts at least what the ledger has (what a
    /// front end shows when no proxy of this app has counted them, e.g. the CLI while no
    /// proxy runs).
    pub async fn guard_status_today(&self) -> Result<GuardStatus, CommandError> {
        let since = crate::engine::guard::start_of_today_ms();
        let (requests, tokens) = self
            .ledger()
            .await?
            .counts_since(since)
            .await
            .map_err(|e| CommandError::io(e.to_string()))?;
        self.inner.proxy.guard.seed(requests, tokens);
        Ok(self.guard_status())
    }

    /// "Pause all": every request is refused with a 403 until resumed.
    pub async fn guard_pause(&self) -> GuardStatus {
        self.inner.proxy.guard.pause();
        self.publish().await;
        self.guard_status()
    }

    /// Clears the pause and every trip (a tripped budget lets the rest of its window
    /// through); the next trip notifies again.
    pub async fn guard_resume(&self) -> GuardStatus {
        let cleared = self.inner.proxy.guard.resume();
        tracing::info!(cleared, "guard resumed");
        self.inner.alerts.resolve(super::AlertKind::GuardTripped);
        self.publish().await;
        self.guard_status()
    }

    /// Starts the guard's watcher, once per app (it ends with the app).
    pub(super) fn watch_guard(&self) {
        if self
            .inner
            .proxy
            .guard_watched
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        let changes = self.inner.proxy.guard.subscribe();
        tokio::spawn(watch(std::sync::Arc::downgrade(&self.inner), changes));
    }
}

/// Re-publishes the status on every guard change and raises one alert per new trip. Holds
/// the app weakly: the channel closes when the app (and its guard) goes away.
async fn watch(app: Weak<Inner>, mut changes: tokio::sync::watch::Receiver<u64>) {
    let mut notified: HashSet<(&'static str, i64)> = HashSet::new();
    while changes.changed().await.is_ok() {
        let Some(inner) = app.upgrade() else { return };
        let app = App { inner };
        let status = app.guard_status();
        // A resume cleared them: the same rule tripping later is a new trip.
        notified.retain(|seen| {
            status
                .trips
                .iter()
                .any(|t| (t.rule.key(), t.at_ms) == *seen)
        });
        if !status.on_demand {
            app.inner.alerts.resolve(super::AlertKind::OnDemand);
        } else if status.rules.on_demand == OnDemand::Warn {
            app.inner.alerts.raise(Event::OnDemand);
        }
        if status.trips.is_empty() {
            // Resumed, perhaps not through the app (`cursor-bridge guard resume`).
            app.inner.alerts.resolve(super::AlertKind::GuardTripped);
        }
        for trip in &status.trips {
            if notified.insert((trip.rule.key(), trip.at_ms)) {
                app.inner.alerts.raise(Event::GuardTripped {
                    rule: trip.rule.key(),
                    at_ms: trip.at_ms,
                    message: trip.message.clone(),
                });
            }
        }
        app.publish().await;
    }
}
