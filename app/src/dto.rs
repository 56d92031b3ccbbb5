//! Data the server functions send to the browser. Plain serde types, so the
//! WASM build needs none of the server's crates.

pub mod admin;
pub mod reference;

pub use contract::{
    EntryKind, GrantSource, KeyStatus, Plan, PlanName, ProviderKind, Role, UserStatus,
    accounts::UserView, credits::EntryView, keys::KeyView, usage,
};
use serde::{Deserialize, Serialize};

/// What the dashboard greets the user with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardData {
    pub user: UserView,
    /// Sessions of this user that are signed in right now (this one included).
    pub active_sessions: u64,
    /// The credit balance, exact, with six decimals.
    pub balance_credits: String,
}

/// One page of the admin's user list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPage {
    pub users: Vec<UserView>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// A key just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedKeyInfo {
    pub key: KeyView,
    pub secret: String,
}

/// The parts of the UI this Tollgate has switched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiFeatures {
    /// The leaderboard and who is online (`features.gamification`).
    pub gamification: bool,
    /// Who may register (`auth.registration`).
    pub registration: RegistrationMode,
}

/// Who may register (`auth.registration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegistrationMode {
    Open,
    /// With an invitation code.
    Invite,
    Closed,
}

/// A moment, as the UI shows it: relative, with the exact time on hover.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moment {
    /// ISO 8601, UTC.
    pub at: String,
    /// `5 minutes ago`, as of when the server answered.
    pub ago: String,
}

/// A view of the API and when it was made, as the UI shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dated<T> {
    pub view: T,
    pub created: Moment,
}

/// The balance and one page of the ledger, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditHistoryData {
    pub balance_credits: String,
    pub entries: Vec<Dated<EntryView>>,
    /// Entries matching the filter, on every page.
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// A key to filter by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChoice {
    pub id: String,
    pub name: String,
}

/// The usage page: the report for the filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageData {
    /// The range the report covers (`YYYY-MM-DD`), defaults resolved.
    pub from: String,
    pub to: String,
    pub totals: usage::Totals,
    /// Every day of the range, zeros included.
    pub series: Vec<usage::Day>,
    /// Most cost first.
    pub by_model: Vec<usage::ModelUsage>,
    /// One page, newest first.
    pub requests: Vec<Dated<usage::RequestRow>>,
    pub page: u64,
    pub per_page: u64,
    /// Requests matching the filter, on every page.
    pub total: i64,
}

/// What the usage filters offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageChoices {
    /// The range shown when the URL names none (`YYYY-MM-DD`).
    pub default_from: String,
    pub default_to: String,
    pub keys: Vec<KeyChoice>,
    pub models: Vec<String>,
}

/// The dashboard's figures for the last 30 days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageSummary {
    pub from: String,
    pub to: String,
    pub totals: usage::Totals,
    /// The model with the most requests, and how many.
    pub top_model: Option<(String, i64)>,
    /// The latest five requests.
    pub recent: Vec<Dated<usage::RequestRow>>,
}

/// One place on the leaderboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderInfo {
    pub rank: u64,
    pub name: String,
    pub requests: i64,
    pub top_model: String,
    pub models_used: i64,
    pub last_active: Moment,
    /// The signed-in user's own entry.
    pub is_you: bool,
}

/// Someone online now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineInfo {
    pub name: String,
    pub last_seen: Moment,
    pub is_you: bool,
}

/// The setup page's blanks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetupInfo {
    /// `http://host:port`, no trailing slash.
    pub base_url: String,
    /// The newest active key's prefix, if the user has one.
    pub key_prefix: Option<String>,
    /// A model the user may call, if any is offered.
    pub model: Option<String>,
}

/// The key form's fields, as typed: empty means "none" for the optional
/// ones (no quota, no expiry, the plan's rate limits).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDraft {
    pub name: String,
    /// Empty: every model the plan allows.
    pub models: Vec<String>,
    /// Decimal credits.
    pub quota_credits: String,
    /// `YYYY-MM-DD`; the key works through the end of that day (UTC).
    pub expires_on: String,
    pub requests_per_minute: String,
    pub tokens_per_minute: String,
}
