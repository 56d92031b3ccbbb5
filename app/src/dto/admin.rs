//! What the admin pages show. Field names are the REST API's: the server
//! functions call the same handlers and read their JSON answers into these
//! types (fields the pages do not show are skipped).

use serde::{Deserialize, Serialize};

use super::{EntryKind, GrantSource, KeyInfo, Plan, PlanName, ProviderKind, UserInfo};

/// A user created by name, with their first key's secret (shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedUserInfo {
    pub user: UserInfo,
    pub secret: String,
}

/// Everything the admin sees about one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDetailInfo {
    pub user: UserInfo,
    /// The plan in effect (`pro_lifetime` with an active grant).
    pub effective_plan: PlanName,
    pub balance_credits: String,
    pub keys: Vec<KeyInfo>,
    pub grants: Vec<GrantInfo>,
    /// The latest ledger entries, newest first.
    pub entries: Vec<LedgerEntry>,
    /// The last 30 days.
    pub requests_30d: i64,
    pub tokens_30d: i64,
    pub spent_30d_credits: String,
}

/// One ledger row (`EntryView`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: i64,
    pub kind: EntryKind,
    pub amount_credits: String,
    pub balance_after_credits: String,
    pub reason: Option<String>,
    pub created_at: String,
}

/// An entitlement grant, as `GET /api/admin/grants` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantInfo {
    pub id: i64,
    pub user_id: String,
    pub email: Option<String>,
    pub label: String,
    pub source: GrantSource,
    pub notes: Option<String>,
    pub active: bool,
    pub granted_by_email: Option<String>,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// The answer to a credit grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedCredits {
    pub balance_credits: String,
}

/// An upstream provider; its keys are never sent back, only how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key_count: u64,
    pub enabled: bool,
    /// Why its models answer 502, when its stored keys or headers are not
    /// usable.
    #[serde(default)]
    pub problem: Option<String>,
    /// The catalog file that declares it: edited there, not here.
    #[serde(default)]
    pub managed_by: Option<String>,
}

/// A price as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceInfo {
    pub micro_credits_per_mtok: i64,
    /// Credits per million tokens, six decimals.
    pub credits_per_mtok: String,
}

/// A shadow model: the public name users call and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    pub id: String,
    pub public_name: String,
    pub provider_id: String,
    pub upstream_model: String,
    /// Who may serve it, in the admin's order.
    #[serde(default)]
    pub deployments: Vec<DeploymentInfo>,
    /// Public names tried when every deployment failed.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    pub input_price: PriceInfo,
    pub output_price: PriceInfo,
    pub cache_read_price: PriceInfo,
    pub cache_write_price: PriceInfo,
    /// The most output tokens a request may ask for; `None`: the configured
    /// default (`credits.max_output_tokens`).
    #[serde(default)]
    pub max_output_tokens: Option<i64>,
    pub enabled: bool,
    /// Empty: every plan.
    pub plans: Vec<PlanName>,
    /// The catalog file that declares it: edited there, not here.
    #[serde(default)]
    pub managed_by: Option<String>,
}

/// A provider and upstream model that may serve a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentInfo {
    pub id: String,
    pub provider_id: String,
    pub upstream_model: String,
    pub weight: i32,
    pub priority: i32,
    #[serde(default)]
    pub health: Option<HealthInfo>,
}

/// A deployment's health as the serving instance sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthInfo {
    /// `healthy`, `failing`, `cooling_down` or `trial`.
    pub status: String,
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub failures: Option<u32>,
    #[serde(default)]
    pub last_error: Option<String>,
    /// Its keys that failed (by tag), with the same fields.
    #[serde(default)]
    pub keys: Vec<KeyHealthInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHealthInfo {
    pub key: String,
    pub status: String,
    #[serde(default)]
    pub until: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// One deployment row of the model form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentForm {
    pub provider_id: String,
    pub upstream_model: String,
    /// Empty: 1.
    pub weight: String,
    /// Empty: 0.
    pub priority: String,
}

/// What a model form sends: prices in credits per million tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelForm {
    pub public_name: String,
    /// At least one.
    pub deployments: Vec<DeploymentForm>,
    /// Public names, separated by commas.
    pub fallbacks: String,
    pub input_price: String,
    pub output_price: String,
    pub cache_read_price: String,
    pub cache_write_price: String,
    /// Empty: the configured default.
    pub max_output_tokens: String,
    pub plans: Vec<String>,
    pub enabled: bool,
}

/// What a provider form sends. An empty `api_key` on an edit keeps the
/// stored keys (they are write-only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderForm {
    pub name: String,
    pub kind: String,
    pub base_url: String,
    pub api_key: String,
    pub enabled: bool,
}

/// The admin contract's overview (`GET /api/admin/stats/overview`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverviewInfo {
    pub overview: Counts,
    pub performance: Performance,
    pub system: Lights,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub total_users: u64,
    pub active_now: u64,
    pub total_title_generations: u64,
    pub title_generations_24h: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Performance {
    #[serde(default)]
    pub requests_total_24h: u64,
    pub avg_response_ms: i64,
    pub error_rate_pct: f64,
}

/// `green`, `yellow` or `red` each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lights {
    pub api: String,
    pub db: String,
}

/// How the admin pages are set up on this Tollgate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSettingsInfo {
    /// `sse`, `ws` or `polling` (`REALTIME_MODE`).
    pub realtime_mode: String,
    /// The page the upstream panel embeds, if one is configured.
    pub upstream_panel_url: Option<String>,
    /// The panel is a path on Tollgate's own site: framed without its
    /// origin, so it cannot act with the admin's session.
    pub upstream_panel_on_this_site: bool,
}

/// The admin contract's llm-usage answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmUsageInfo {
    pub totals: LlmTotals,
    pub by_user: Vec<UserModelCount>,
    pub sparkline: Sparkline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmTotals {
    pub requests: i64,
    pub users: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserModelCount {
    pub user_id: String,
    pub email: Option<String>,
    pub model: String,
    pub count: i64,
    pub last_used_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sparkline {
    pub dates: Vec<String>,
    pub values: Vec<i64>,
}

/// Platform figures over a date range (`GET /api/admin/stats`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlatformInfo {
    pub from: String,
    pub to: String,
    pub usage_per_day: Vec<DayFigures>,
    pub models: Vec<ModelFigures>,
    pub credits: CreditFigures,
    pub top_users: Vec<TopUserInfo>,
    pub error_rate: ErrorRateInfo,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayFigures {
    pub date: String,
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_credits: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelFigures {
    pub model: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_credits: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditFigures {
    pub granted_credits: String,
    pub spent_credits: String,
    pub refunded_credits: String,
    pub adjusted_credits: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopUserInfo {
    pub user_id: String,
    pub name: String,
    pub email: Option<String>,
    pub requests: i64,
    pub cost_credits: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorRateInfo {
    pub requests: i64,
    pub errors: i64,
    pub error_rate_pct: f64,
}

/// One page of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPageInfo {
    pub entries: Vec<AuditEntryInfo>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntryInfo {
    pub id: i64,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    /// The change, as compact JSON (`before → after`).
    #[serde(default)]
    pub change: String,
    pub created_at: String,
}

/// Someone using Tollgate now (`GET /api/admin/users/active`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveUserInfo {
    pub user_id: String,
    pub email: Option<String>,
    pub plan: Plan,
    pub last_seen_at: String,
    pub titles_generated_today: i64,
    pub has_grant: bool,
}

/// A registration invitation, as `GET /api/admin/invitations` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationInfo {
    pub id: String,
    /// `inv-` and the code's first 8 characters.
    pub prefix: String,
    pub email: Option<String>,
    pub note: Option<String>,
    pub max_uses: i32,
    pub uses: i32,
    /// `active`, `used`, `expired` or `revoked`.
    pub state: String,
    pub expires_at: String,
    pub created_at: String,
}

/// A new invitation and its code, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedInvitation {
    pub invitation: InvitationInfo,
    pub code: String,
}
