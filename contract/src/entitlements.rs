//! Entitlement grants ("Pro — Lifetime") as the admin contract lists them.

use serde::{Deserialize, Serialize};

use crate::{GrantSource, Timestamp};

/// A grant, with the emails of the user and of the admin who granted it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct GrantView {
    pub id: i64,
    pub user_id: String,
    pub email: Option<String>,
    pub label: String,
    pub source: GrantSource,
    pub notes: Option<String>,
    pub active: bool,
    pub granted_by: String,
    pub granted_by_email: Option<String>,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// Who revoked it is in the audit log (`grant.revoke`), not here: the
    /// list keeps to the contract's fields.
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, format = DateTime))]
    pub revoked_at: Option<Timestamp>,
}
