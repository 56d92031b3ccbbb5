//! What admins watch: the overview, who is active, requests per user and
//! model (llm-usage) and the platform's figures over a range.

use serde::{Deserialize, Serialize};

use crate::{Plan, Timestamp, UserStatus};

/// The overview, as the admin contract nests it
/// (`GET /api/admin/stats/overview`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub overview: Counts,
    pub performance: Performance,
    pub system: System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = OverviewCounts))]
pub struct Counts {
    /// Users not deleted.
    pub total_users: u64,
    /// Distinct users with an open session seen in the last five minutes.
    pub active_now: u64,
    /// Proxied requests that reached a model, ever (the `daily_usage` rollup).
    pub total_title_generations: u64,
    /// The same, in the last 24 hours (`usage_records`).
    pub title_generations_24h: u64,
}

/// HTTP requests of the last 24 hours (`request_metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(
    feature = "server",
    derive(utoipa::ToSchema),
    schema(as = OverviewPerformance)
)]
pub struct Performance {
    pub requests_total_24h: u64,
    /// Rounded to the millisecond; 0 without requests.
    pub avg_response_ms: i64,
    /// Answers with status 400 or more, in percent to one decimal; 0
    /// without requests.
    pub error_rate_pct: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = OverviewSystem))]
pub struct System {
    pub api: Light,
    pub db: Light,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub refreshed_at: Timestamp,
}

/// A status light.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = StatusLight))]
pub enum Light {
    Green,
    Yellow,
    Red,
}

impl Light {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Yellow => "yellow",
            Self::Red => "red",
        }
    }
}

/// Someone using Tollgate now (`GET /api/admin/users/active`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ActiveUser {
    pub user_id: String,
    pub email: Option<String>,
    /// The user's own plan.
    pub plan: Plan,
    pub status: UserStatus,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub last_seen_at: Timestamp,
    /// Requests today (UTC).
    pub titles_generated_today: i64,
    /// Today's requests per model, most first.
    pub models_used: Vec<ModelCount>,
    /// Whether an entitlement grant is active.
    pub has_grant: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ModelCount {
    pub model: String,
    pub count: i64,
}

/// Requests per user and model over a range (the admin contract's
/// llm-usage).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct LlmUsage {
    pub totals: LlmUsageTotals,
    pub by_user: Vec<UserModelUsage>,
    pub sparkline: Sparkline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct LlmUsageTotals {
    /// Requests in the range.
    pub requests: i64,
    /// Distinct users who made them.
    pub users: usize,
}

/// One user's requests to one model in the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct UserModelUsage {
    pub user_id: String,
    /// `None` for people created by name, and deleted accounts.
    pub email: Option<String>,
    pub model: String,
    pub count: i64,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub last_used_at: Timestamp,
}

/// Requests per day, one entry for every day of the range, zeros included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Sparkline {
    pub dates: Vec<String>,
    pub values: Vec<i64>,
}

/// The platform's figures over a range (`GET /api/admin/stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct PlatformStats {
    pub from: String,
    pub to: String,
    pub users: UserFigures,
    /// One entry per day of the range, zeros included.
    pub usage_per_day: Vec<DayUsage>,
    /// Per model, most requests first.
    pub models: Vec<ModelUsage>,
    pub credits: CreditFigures,
    pub top_users: Vec<TopUser>,
    pub error_rate: ErrorRate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct UserFigures {
    /// Accounts today, deleted ones left out.
    pub total: u64,
    /// Sign-ups per day of the range (accounts deleted since included).
    pub new_per_day: Vec<DayCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct DayCount {
    pub date: String,
    pub count: i64,
}

/// One day's requests, errors, tokens and cost, summed from the rollup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct DayUsage {
    pub date: String,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub cost_micro_credits: i64,
    pub cost_credits: String,
}

/// One model's, over the range, as [`DayUsage`] has them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "server",
    derive(utoipa::ToSchema),
    schema(as = PlatformModelUsage)
)]
pub struct ModelUsage {
    pub model: String,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub cost_micro_credits: i64,
    pub cost_credits: String,
}

/// Ledger movements in the range: `spent` is what requests were charged,
/// `refunded` what admins gave back, `adjusted` the signed sum of
/// corrections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct CreditFigures {
    pub granted_micro_credits: i64,
    pub granted_credits: String,
    pub spent_micro_credits: i64,
    pub spent_credits: String,
    pub refunded_micro_credits: i64,
    pub refunded_credits: String,
    pub adjusted_micro_credits: i64,
    pub adjusted_credits: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct TopUser {
    pub user_id: String,
    pub name: String,
    pub email: Option<String>,
    pub requests: i64,
    pub cost_micro_credits: i64,
    pub cost_credits: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ErrorRate {
    pub requests: i64,
    pub errors: i64,
    /// `errors / requests × 100`, two decimals; 0 without requests.
    pub error_rate_pct: f64,
}
