//! `users`: people who sign in to the web UI or own API keys.

pub use contract::{Plan, Role, UserStatus};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// `user_<millis>_<16 hex>`, the contract's style.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    /// Lower-cased; `None` for users created by name and for deleted users.
    pub email: Option<String>,
    /// Argon2id PHC string; `None` for users who sign in with an API key.
    pub password_hash: Option<String>,
    pub role: Role,
    pub plan: Plan,
    pub status: UserStatus,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Set when an admin deletes the user; the row stays for history.
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
