//! Pool awareness for the guard's `guard_on_demand` rule: while requests flow, Cursor's
//! plan usage is refreshed in the background, at most once per [`REFRESH`], and the
//! guard learns whether the plan's included usage is used up (then requests are billed on
//! demand). A served request triggers the refresh as it ends (`Turn`'s drop) rather than
//! a timer, so an idle proxy asks Cursor nothing and no request waits for it.

use std::sync::Arc;
use std::time::Duration;

use super::Engine;

/// The least time between two plan-usage refreshes.
const REFRESH: Duration = Duration::from_secs(5 * 60);

impl Engine {
    /// Refreshes the plan usage in the background when [`REFRESH`] has passed.
    pub(crate) fn refresh_plan_soon(self: &Arc<Self>) {
        if !self.guard.plan_check_due(REFRESH) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let engine = self.clone();
        rt.spawn(async move {
            match engine.client.plan_usage().await {
                // Used up: no money left of the limit, else 100 % of the plan (the pools'
                // percentages are in Cursor's total; reference §9.11). Said nothing either
                // way: leave what the guard knows.
                Ok(usage) => {
                    let Some(room) = usage.plan_usage.as_ref().and_then(|p| p.has_room()) else {
                        return;
                    };
                    if engine.guard.set_on_demand(!room, &engine.guard_rules()) {
                        tracing::warn!(
                            "Cursor's plan usage is used up: requests are billed on demand now \
                             (guard_on_demand = \"warn\"; \"block\" refuses them)"
                        );
                    }
                }
                Err(e) => tracing::debug!(error = %e, "cannot refresh Cursor's plan usage"),
            }
        });
    }
}
