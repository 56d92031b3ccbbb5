//! API keys as their owner sees them: never the secret or its hash.

use serde::{Deserialize, Serialize};

use crate::{KeyStatus, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// Empty: every model the plan allows.
    pub models: Vec<String>,
    /// `null`: no limit.
    pub quota_limit_micro_credits: Option<i64>,
    pub quota_limit_credits: Option<String>,
    pub quota_used_micro_credits: i64,
    pub quota_used_credits: String,
    /// The key's own rate limits; `null`: the owner's plan decides.
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, format = DateTime))]
    pub expires_at: Option<Timestamp>,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, format = DateTime))]
    pub last_used_at: Option<Timestamp>,
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
    pub status: KeyStatus,
}
