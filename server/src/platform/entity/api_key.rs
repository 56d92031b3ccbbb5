//! `api_keys`: the keys LLM tools call Tollgate with. Only a SHA-256 of the
//! secret is stored; revoked keys stay for history.

pub use contract::KeyStatus;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    /// `key_<16 hex>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// `tg-` and the first 8 characters of the secret.
    pub prefix: String,
    /// SHA-256 of the whole key, lower-case hex.
    pub secret_hash: String,
    /// JSON array of public model names; `[]` means all the plan allows.
    pub models: String,
    /// Spending limit in micro-credits; `None` for no limit.
    pub quota_limit: Option<i64>,
    /// Spent so far, in micro-credits.
    pub quota_used: i64,
    /// The key's own rate limits; `None`: its owner's plan decides.
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    pub expires_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    pub fn status(&self, now: DateTimeUtc) -> KeyStatus {
        if self.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyStatus::Expired
        } else if self
            .quota_limit
            .is_some_and(|limit| self.quota_used >= limit)
        {
            KeyStatus::OverQuota
        } else {
            KeyStatus::Active
        }
    }

    /// The models the key is limited to (empty: all the plan allows).
    pub fn allowed_models(&self) -> Vec<String> {
        serde_json::from_str(&self.models).unwrap_or_default()
    }
}
