//! Data the server functions send to the browser. Plain serde types, so the
//! WASM build needs none of the server's crates.

use serde::{Deserialize, Serialize};

/// The signed-in user, as the UI shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    /// `user` or `admin`.
    pub role: String,
    /// `trial`, `free` or `pro`.
    pub plan: String,
    /// `active` or `suspended`.
    pub status: String,
    /// ISO 8601.
    pub created_at: String,
}

impl UserInfo {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// What the dashboard greets the user with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardData {
    pub user: UserInfo,
    /// Sessions of this user that are signed in right now (this one included).
    pub active_sessions: u64,
    /// The credit balance, exact, with six decimals.
    pub balance_credits: String,
}

/// One page of the admin's user list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPage {
    pub users: Vec<UserInfo>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// One API key as its owner sees it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// Empty: every model the plan allows.
    pub models: Vec<String>,
    /// Decimal credits, e.g. `"12.500000"`; `None` for no limit.
    pub quota_limit_credits: Option<String>,
    pub quota_used_credits: String,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// `active`, `expired`, `revoked` or `over_quota`.
    pub status: String,
}

/// A key just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedKeyInfo {
    pub key: KeyInfo,
    pub secret: String,
}
