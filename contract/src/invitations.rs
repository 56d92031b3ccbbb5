//! Registration invitations as the admin sees them: never the code or its
//! hash.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct InvitationView {
    pub id: String,
    /// `inv-` and the code's first 8 characters.
    pub prefix: String,
    pub email: Option<String>,
    pub note: Option<String>,
    pub max_uses: i32,
    pub uses: i32,
    pub state: InvitationState,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub expires_at: Timestamp,
    pub created_by: String,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, format = DateTime))]
    pub last_used_at: Option<Timestamp>,
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
}

/// Whether an invitation can still be used, and if not why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub enum InvitationState {
    Active,
    /// Every use spent.
    Used,
    Expired,
    Revoked,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Used => "used",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}
