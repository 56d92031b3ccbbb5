//! What the admin pages show besides the contract's views (`contract`):
//! answers made for a page, and the forms the pages send.

use serde::{Deserialize, Serialize};

use contract::{
    ModelKind, credits::EntryView, entitlements::GrantView, invitations::InvitationView,
};

use super::{KeyView, PlanName, UserView};

/// A user created by name, with their first key's secret (shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedUserInfo {
    pub user: UserView,
    pub secret: String,
}

/// Everything the admin sees about one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDetailInfo {
    pub user: UserView,
    /// The plan in effect (`pro_lifetime` with an active grant).
    pub effective_plan: PlanName,
    pub balance_credits: String,
    pub keys: Vec<KeyView>,
    pub grants: Vec<GrantView>,
    /// The latest ledger entries, newest first.
    pub entries: Vec<EntryView>,
    /// The last 30 days.
    pub requests_30d: i64,
    pub tokens_30d: i64,
    pub spent_30d_credits: String,
}

/// The answer to a credit grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedCredits {
    pub balance_credits: String,
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
    /// Chat (the default) or embeddings.
    pub kind: ModelKind,
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

/// A new invitation and its code, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedInvitation {
    pub invitation: InvitationView,
    pub code: String,
}
