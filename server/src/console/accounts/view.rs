//! How a user is shown by the API: never the password hash.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::{
    entity::user::{self, Plan, Role, UserStatus},
    time::serde_iso,
};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    pub plan: Plan,
    pub status: UserStatus,
    #[serde(with = "serde_iso")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "serde_iso")]
    pub updated_at: DateTime<Utc>,
}

impl From<user::Model> for UserView {
    fn from(user: user::Model) -> Self {
        Self {
            id: user.id,
            name: user.name,
            email: user.email,
            role: user.role,
            plan: user.plan,
            status: user.status,
            created_at: user.created_at,
            updated_at: user.updated_at,
        }
    }
}
