//! Plan usage and the account (reference §5.3): `DashboardService/GetCurrentPeriodUsage`
//! and `GetMe`, both Connect unary JSON. Money is in cents, as Cursor sends it; int64
//! values arrive as JSON strings.

use serde::{Deserialize, Deserializer, Serialize};

use super::error::CursorError;
use super::http::CursorHttp;

/// Spend of the billing cycle against the plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PlanUsage {
    pub total_spend: i64,
    pub included_spend: i64,
    pub bonus_spend: i64,
    pub remaining: i64,
    pub limit: i64,
}

/// On-demand (usage-based) spending limits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SpendLimitUsage {
    pub total_spend: i64,
    pub individual_limit: Option<i64>,
    pub individual_used: Option<i64>,
    pub individual_remaining: Option<i64>,
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
    pub plan_usage: Option<PlanUsage>,
    pub spend_limit_usage: Option<SpendLimitUsage>,
    pub display_threshold: Option<i64>,
    pub enabled: bool,
    pub display_message: String,
}

/// `GetMe`: who is signed in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Account {
    pub auth_id: String,
    #[serde(deserialize_with = "int_or_string")]
    pub user_id: i64,
    pub email: String,
    pub first_name: String,
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

/// Fetches the current billing cycle's usage.
pub async fn fetch_current_period(
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
pub async fn fetch_me(http: &CursorHttp, token: &str) -> Result<Account, CursorError> {
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
        assert_eq!(u.plan_usage.unwrap().remaining, 766);
        let me: Account = serde_json::from_str(r#"{"email":"a@b.c","userId":"42"}"#).unwrap();
        assert_eq!((me.email.as_str(), me.user_id), ("a@b.c", 42));
    }
}
