//! The data the fake serves from its unary endpoints: the model catalogue, plan usage and
//! the signed-in user. Each has realistic defaults and is replaceable from the builder.

use serde::Serialize;

/// One model, served by `GetUsableModels` (JSON and proto) and `AvailableModels`.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeModel {
    /// `modelId`: what the client sends on the wire.
    pub id: String,
    pub display_id: String,
    pub display_name: String,
    pub display_name_short: String,
    pub aliases: Vec<String>,
    /// A reasoning model: `thinkingDetails` is present.
    pub reasoning: bool,
    /// `AvailableModel.context_token_limit`.
    pub context_token_limit: i32,
    /// `AvailableModel.supports_images` (`None`: the field is absent).
    pub supports_images: Option<bool>,
}

impl FakeModel {
    /// A model whose display names equal its id, 200 000 tokens of context.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        Self {
            display_id: id.clone(),
            display_name: id.clone(),
            display_name_short: id.clone(),
            id,
            aliases: Vec::new(),
            reasoning: false,
            context_token_limit: 200_000,
            supports_images: None,
        }
    }

    pub fn display(mut self, display_id: &str, name: &str, short: &str) -> Self {
        self.display_id = display_id.into();
        self.display_name = name.into();
        self.display_name_short = short.into();
        self
    }

    pub fn aliases(mut self, aliases: &[&str]) -> Self {
        self.aliases = aliases.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn reasoning(mut self) -> Self {
        self.reasoning = true;
        self
    }

    /// Sets `supports_images` in `AvailableModels`.
    pub fn images(mut self, supported: bool) -> Self {
        self.supports_images = Some(supported);
        self
    }

    pub fn context(mut self, tokens: i32) -> Self {
        self.context_token_limit = tokens;
        self
    }

    /// The default catalogue: `default` (auto), two Claude variants (one reasoning),
    /// `gpt-5.1`, `gemini-3-pro`; all but `default` take images, `default` does not say
    /// (as the IDE catalogue lists no `default`).
    pub fn default_catalogue() -> Vec<FakeModel> {
        vec![
            FakeModel::new("default")
                .display("auto", "Auto", "Auto")
                .aliases(&["auto"]),
            FakeModel::new("claude-4.5-sonnet")
                .display("claude-4.5-sonnet", "Claude 4.5 Sonnet", "Sonnet 4.5")
                .aliases(&["sonnet-4.5"])
                .images(true),
            FakeModel::new("claude-4.5-sonnet-thinking")
                .display(
                    "claude-4.5-sonnet-thinking",
                    "Claude 4.5 Sonnet Thinking",
                    "Sonnet 4.5 Thinking",
                )
                .reasoning()
                .images(true),
            FakeModel::new("gpt-5.1")
                .display("gpt-5.1", "GPT-5.1", "GPT-5.1")
                .context(400_000)
                .images(true),
            FakeModel::new("gemini-3-pro")
                .display("gemini-3-pro", "Gemini 3 Pro", "Gemini 3 Pro")
                .context(1_048_576)
                .images(true),
        ]
    }

    /// proto3 JSON of `ModelDetails` (empty repeated fields omitted, as a proto3 JSON
    /// serializer does).
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::json!({
            "modelId": self.id,
            "displayModelId": self.display_id,
            "displayName": self.display_name,
            "displayNameShort": self.display_name_short,
        });
        if !self.aliases.is_empty() {
            m["aliases"] = serde_json::json!(self.aliases);
        }
        if self.reasoning {
            m["thinkingDetails"] = serde_json::json!({});
        }
        m
    }

    pub(crate) fn to_pb(&self) -> cursor_bridge_core::pb::agent_v1::ModelDetails {
        cursor_bridge_core::pb::agent_v1::ModelDetails {
            model_id: self.id.clone(),
            thinking_details: self
                .reasoning
                .then_some(cursor_bridge_core::pb::agent_v1::ThinkingDetails {}),
            display_model_id: self.display_id.clone(),
            display_name: self.display_name.clone(),
            display_name_short: self.display_name_short.clone(),
            aliases: self.aliases.clone(),
            max_mode: None,
        }
    }

    pub(crate) fn to_available(&self) -> cursor_bridge_core::pb::aiserver_v1::AvailableModel {
        cursor_bridge_core::pb::aiserver_v1::AvailableModel {
            name: self.id.clone(),
            default_on: true,
            supports_agent: Some(true),
            supports_thinking: Some(self.reasoning),
            supports_images: self.supports_images,
            context_token_limit: Some(self.context_token_limit),
            client_display_name: Some(self.display_name.clone()),
            server_model_name: Some(self.id.clone()),
            ..Default::default()
        }
    }
}

/// `GetCurrentPeriodUsage` numbers (all money in cents; reference §5.3).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeUsage {
    pub billing_cycle_start_ms: i64,
    pub billing_cycle_end_ms: i64,
    pub plan: PlanUsage,
    pub spend_limit: SpendLimitUsage,
    /// Basis points.
    pub display_threshold: i32,
    pub enabled: bool,
    pub display_message: String,
}

/// `planUsage`. Absent fields are left out of the JSON, as Cursor leaves them out: older
/// accounts get the cents, newer ones the percentages with the cents possibly absent
/// (reference §9.11; see [`FakeUsage::percent_only`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_spend: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included_spend: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bonus_spend: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<i32>,
    /// Percent of the whole plan used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_percent_used: Option<f64>,
    /// Percent of the Auto + Composer pool used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_percent_used: Option<f64>,
    /// Percent of the third-party (API) models pool used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_percent_used: Option<f64>,
}

/// `spendLimitUsage`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpendLimitUsage {
    pub total_spend: i32,
    pub individual_limit: i32,
    pub individual_used: i32,
    pub individual_remaining: i32,
    pub limit_type: String,
}

impl Default for FakeUsage {
    /// A Pro plan 30 % into its $20 included usage, with a $50 on-demand limit.
    fn default() -> Self {
        Self {
            billing_cycle_start_ms: 1_767_225_600_000, // 2026-01-01T00:00:00Z
            billing_cycle_end_ms: 1_769_904_000_000,   // 2026-02-01T00:00:00Z
            plan: PlanUsage {
                total_spend: Some(600),
                included_spend: Some(600),
                bonus_spend: Some(0),
                remaining: Some(1400),
                limit: Some(2000),
                total_percent_used: None,
                auto_percent_used: None,
                api_percent_used: None,
            },
            spend_limit: SpendLimitUsage {
                total_spend: 0,
                individual_limit: 5000,
                individual_used: 0,
                individual_remaining: 5000,
                limit_type: "user".into(),
            },
            display_threshold: 8000,
            enabled: true,
            display_message: "You've used 30% of your included usage".into(),
        }
    }
}

impl FakeUsage {
    /// A newer account: the plan in percentages only, total and per pool, no cents.
    pub fn percent_only(total: f64, auto: f64, api: f64) -> Self {
        Self {
            plan: PlanUsage {
                total_spend: None,
                included_spend: None,
                bonus_spend: None,
                remaining: None,
                limit: None,
                total_percent_used: Some(total),
                auto_percent_used: Some(auto),
                api_percent_used: Some(api),
            },
            display_message: String::new(),
            ..Self::default()
        }
    }

    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            // int64 travels as a JSON string in proto3 JSON.
            "billingCycleStart": self.billing_cycle_start_ms.to_string(),
            "billingCycleEnd": self.billing_cycle_end_ms.to_string(),
            "planUsage": self.plan,
            "spendLimitUsage": self.spend_limit,
            "displayThreshold": self.display_threshold,
            "enabled": self.enabled,
            "displayMessage": self.display_message,
        })
    }
}

/// The signed-in user (`GetMe`, token `sub`, poll `authId`).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeUser {
    /// `user_…`; the token `sub` is `auth0|<id>`.
    pub id: String,
    pub numeric_id: i32,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

impl Default for FakeUser {
    fn default() -> Self {
        Self {
            id: "user_01JFAKECURSORBRIDGE0000000".into(),
            numeric_id: 4242,
            email: "dev@example.com".into(),
            first_name: "Dev".into(),
            last_name: "Example".into(),
        }
    }
}

impl FakeUser {
    /// `auth0|user_…`.
    pub fn auth_id(&self) -> String {
        format!("auth0|{}", self.id)
    }
}
