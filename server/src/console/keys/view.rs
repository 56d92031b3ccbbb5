//! How a key is shown: never its secret or hash.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::{
    entity::api_key,
    money::format_credits,
    time::{self, serde_iso},
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub models: Vec<String>,
    pub quota_limit_micro_credits: Option<i64>,
    pub quota_limit_credits: Option<String>,
    pub quota_used_micro_credits: i64,
    pub quota_used_credits: String,
    /// The key's own rate limits; `null`: the owner's plan decides.
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    #[serde(with = "serde_iso::option")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(with = "serde_iso")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "serde_iso::option")]
    pub last_used_at: Option<DateTime<Utc>>,
    #[serde(with = "serde_iso::option")]
    pub revoked_at: Option<DateTime<Utc>>,
    pub status: api_key::KeyStatus,
}

impl From<api_key::Model> for KeyView {
    fn from(key: api_key::Model) -> Self {
        Self {
            status: key.status(time::now()),
            models: key.allowed_models(),
            quota_limit_credits: key.quota_limit.map(format_credits),
            quota_used_credits: format_credits(key.quota_used),
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            quota_limit_micro_credits: key.quota_limit,
            quota_used_micro_credits: key.quota_used,
            requests_per_minute: key.requests_per_minute,
            tokens_per_minute: key.tokens_per_minute,
            expires_at: key.expires_at,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}
