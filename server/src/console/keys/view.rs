//! How a key is shown: never its secret or hash.

pub use contract::keys::KeyView;

use crate::platform::{entity::api_key, money::format_credits, time};

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
            expires_at: key.expires_at.map(Into::into),
            created_at: key.created_at.into(),
            last_used_at: key.last_used_at.map(Into::into),
            revoked_at: key.revoked_at.map(Into::into),
        }
    }
}
