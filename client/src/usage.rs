//! Plan usage and the account (reference §5.3, §9.11): `DashboardService/GetCurrentPeriodUsage`
//! and `GetMe`, both Connect unary JSON. Money is in cents, as Cursor sends it; int64
//! values arrive as JSON strings. Newer accounts report the plan as two pools (Auto +
//! Composer, third-party API models) in percent used, with the cents possibly absent: an
//! absent figure stays `None`, never a 0 that would read as "nothing used of nothing".

use serde::{Deserialize, Deserializer, Serialize};

use super::error::CursorError;
use super::http::CursorHttp;

/// Spend of the billing cycle against the plan. Every field is optional: older accounts
/// send only the cents, newer ones may send only the percentages.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlanUsage {
    #[serde(deserialize_with = "opt_int_or_string")]
    /// Spent this cycle, in cents.
    pub total_spend: Option<i64>,
    #[serde(deserialize_with = "opt_int_or_string")]
    /// Spent from the plan's included amount, in cents.
    pub included_spend: Option<i64>,
    #[serde(deserialize_with = "opt_int_or_string")]
    /// Spent from bonus credit, in cents.
    pub bonus_spend: Option<i64>,
    #[serde(deserialize_with = "opt_int_or_string")]
    /// What is left of the included amount, in cents.
    pub remaining: Option<i64>,
    #[serde(deserialize_with = "opt_int_or_string")]
    /// The plan's included amount, in cents.
    pub limit: Option<i64>,
    /// Share of the whole plan used, in percent (may exceed 100).
    #[serde(deserialize_with = "opt_percent")]
    pub total_percent_used: Option<f64>,
    /// Share of the Auto + Composer pool used, in percent.
    #[serde(deserialize_with = "opt_percent")]
    pub auto_percent_used: Option<f64>,
    /// Share of the third-party (API) models pool used, in percent.
    #[serde(deserialize_with = "opt_percent")]
    pub api_percent_used: Option<f64>,
}

/// One of the plan's two pools (reference §9.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// Cursor's own routing: Auto and Composer.
    Auto,
    /// Third-party models billed at API prices.
    Api,
}

impl Pool {
    /// Both pools, in display order.
    pub const ALL: [Pool; 2] = [Pool::Auto, Pool::Api];

    /// A stable id: `auto` or `api`.
    pub fn id(self) -> &'static str {
        match self {
            Pool::Auto => "auto",
            Pool::Api => "api",
        }
    }

    /// How Cursor's dashboard names it.
    pub fn label(self) -> &'static str {
        match self {
            Pool::Auto => "Auto + Composer",
            Pool::Api => "API models",
        }
    }
}

impl PlanUsage {
    /// The plan's limit in cents, when Cursor sent a real one (0 means "not told").
    pub fn limit_cents(&self) -> Option<i64> {
        self.limit.filter(|l| *l > 0)
    }

    /// Share of the plan used, %: Cursor's own figure, else computed from the cents when
    /// there is a limit to compute it against.
    pub fn percent_used(&self) -> Option<f64> {
        if let Some(p) = self.total_percent_used {
            return Some(p);
        }
        let limit = self.limit_cents()?;
        let spent = self
            .total_spend
            .or_else(|| self.remaining.map(|r| limit - r))?;
        Some(spent as f64 * 100.0 / limit as f64)
    }

    /// A pool's share used, %, if Cursor reported it.
    pub fn pool_percent(&self, pool: Pool) -> Option<f64> {
        match pool {
            Pool::Auto => self.auto_percent_used,
            Pool::Api => self.api_percent_used,
        }
    }

    /// Whether Cursor reports this plan in pools (either pool's percentage is present).
    pub fn has_pools(&self) -> bool {
        Pool::ALL.iter().any(|p| self.pool_percent(*p).is_some())
    }

    /// Whether some of the plan is left: money remaining, else a percentage below 100.
    /// `None` when Cursor said nothing either way.
    pub fn has_room(&self) -> Option<bool> {
        if self.limit_cents().is_some()
            && let Some(r) = self.remaining
        {
            return Some(r > 0);
        }
        self.percent_used().map(|p| p < 100.0)
    }
}

/// On-demand (usage-based) spending limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SpendLimitUsage {
    /// On-demand spend this cycle, in cents.
    pub total_spend: i64,
    /// The user's own on-demand limit, in cents.
    pub individual_limit: Option<i64>,
    /// How much of it is used, in cents.
    pub individual_used: Option<i64>,
    /// How much of it is left, in cents.
    pub individual_remaining: Option<i64>,
    /// Cursor's kind of limit, as sent.
    pub limit_type: Option<String>,
}

/// `GetCurrentPeriodUsage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CurrentPeriodUsage {
    /// Unix milliseconds.
    #[serde(deserialize_with = "int_or_string")]
    pub billing_cycle_start: i64,
    /// Unix milliseconds.
    #[serde(deserialize_with = "int_or_string")]
    pub billing_cycle_end: i64,
    /// Spend against the plan.
    pub plan_usage: Option<PlanUsage>,
    /// On-demand spending.
    pub spend_limit_usage: Option<SpendLimitUsage>,
    /// Cursor's `displayThreshold`, as sent.
    pub display_threshold: Option<i64>,
    /// Cursor's `enabled`, as sent.
    pub enabled: bool,
    /// The message Cursor shows about the usage.
    pub display_message: String,
}

/// `GetMe`: who is signed in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Account {
    /// The identity provider's id (`auth0|user_…`).
    pub auth_id: String,
    #[serde(deserialize_with = "int_or_string")]
    /// Cursor's numeric user id.
    pub user_id: i64,
    /// The account's e-mail address.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

/// Accepts `123`, `"123"` or null (proto3 JSON writes int64 as strings).
fn int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        S(String),
        Null,
    }
    match Option::<N>::deserialize(d)? {
        Some(N::I(i)) => Ok(i),
        Some(N::S(s)) => s.trim().parse().map_err(serde::de::Error::custom),
        Some(N::Null) | None => Ok(0),
    }
}

/// Accepts a number, a numeric string or null; absent stays `None`.
fn opt_int_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        I(i64),
        F(f64),
        S(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        Some(N::I(i)) => Some(i),
        Some(N::F(f)) if f.is_finite() => Some(f.round() as i64),
        Some(N::F(_)) => None,
        Some(N::S(s)) => Some(s.trim().parse().map_err(serde::de::Error::custom)?),
        None => None,
    })
}

/// A percentage: a number or numeric string; non-finite values (`"NaN"`) count as absent.
fn opt_percent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum N {
        F(f64),
        S(String),
    }
    Ok(match Option::<N>::deserialize(d)? {
        Some(N::F(f)) => Some(f),
        Some(N::S(s)) => s.trim().parse::<f64>().ok(),
        None => None,
    }
    .filter(|f| f.is_finite()))
}

/// Fetches the current billing cycle's usage.
pub(crate) async fn fetch_current_period(
    http: &CursorHttp,
    token: &str,
) -> Result<CurrentPeriodUsage, CursorError> {
    http.unary_json(
        "aiserver.v1.DashboardService/GetCurrentPeriodUsage",
        token,
        &serde_json::json!({}),
    )
    .await
}

/// Fetches the signed-in account.
pub(crate) async fn fetch_me(http: &CursorHttp, token: &str) -> Result<Account, CursorError> {
    http.unary_json(
        "aiserver.v1.DashboardService/GetMe",
        token,
        &serde_json::json!({}),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proto3_json_with_string_int64() {
        let u: CurrentPeriodUsage = serde_json::from_str(
            r#"{"billingCycleStart":"1768399334000","billingCycleEnd":1770991334000,
                "planUsage":{"totalSpend":1234,"includedSpend":1000,"remaining":766,"limit":2000},
                "spendLimitUsage":{"totalSpend":0,"limitType":"user"},"enabled":true,
                "displayMessage":"ok","someNewField":1}"#,
        )
        .unwrap();
        assert_eq!(u.billing_cycle_start, 1_768_399_334_000);
        assert_eq!(u.billing_cycle_end, 1_770_991_334_000);
        let plan = u.plan_usage.unwrap();
        assert_eq!(plan.remaining, Some(766));
        assert_eq!(plan.total_percent_used, None);
        assert!(!plan.has_pools());
        assert_eq!(plan.percent_used(), Some(61.7));
        assert_eq!(plan.has_room(), Some(true));
        let me: Account = serde_json::from_str(r#"{"email":"a@b.c","userId":"42"}"#).unwrap();
        assert_eq!((me.email.as_str(), me.user_id), ("a@b.c", 42));
    }

    #[test]
    fn parses_the_pool_percentages_with_the_cents_absent() {
        let u: CurrentPeriodUsage = serde_json::from_str(
            r#"{"billingCycleStart":"1768399334000","billingCycleEnd":"1770991334000",
                "planUsage":{"totalPercentUsed":62.5,"autoPercentUsed":40,"apiPercentUsed":"101.2"},
                "enabled":true}"#,
        )
        .unwrap();
        let plan = u.plan_usage.unwrap();
        assert_eq!(
            (plan.total_spend, plan.limit, plan.remaining),
            (None, None, None)
        );
        assert_eq!(plan.percent_used(), Some(62.5));
        assert_eq!(plan.pool_percent(Pool::Auto), Some(40.0));
        assert_eq!(plan.pool_percent(Pool::Api), Some(101.2));
        assert!(plan.has_pools());
        assert_eq!(plan.has_room(), Some(true));
    }

    #[test]
    fn a_zero_limit_is_no_limit_and_nothing_reported_is_unknown() {
        let plan: PlanUsage = serde_json::from_str(
            r#"{"totalSpend":0,"limit":0,"remaining":0,"autoPercentUsed":"NaN"}"#,
        )
        .unwrap();
        assert_eq!(plan.limit_cents(), None);
        assert_eq!(plan.percent_used(), None);
        assert_eq!(plan.has_room(), None);
        assert!(!plan.has_pools());
    }
}
