//! How a user is shown by the API: never the password hash.

pub use contract::accounts::UserView;

use crate::platform::entity::user;

impl From<user::Model> for UserView {
    fn from(user: user::Model) -> Self {
        Self {
            id: user.id,
            name: user.name,
            email: user.email,
            role: user.role,
            plan: user.plan,
            status: user.status,
            created_at: user.created_at.into(),
            updated_at: user.updated_at.into(),
        }
    }
}
