//! Users as the API shows them: never the password hash.

use serde::{Deserialize, Serialize};

use crate::{Plan, Role, Timestamp, UserStatus};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    pub plan: Plan,
    pub status: UserStatus,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

impl UserView {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
