//! The audit log: who changed what, as admin (and requests that cost more
//! than they held), with the target's public view
//! before and after. Services call [`record`] inside the transaction of the
//! change, so the entry commits (or rolls back) with it.
//!
//! Entries hold views, never rows: a provider's sealed keys, a key's hash,
//! a password hash have no place in them. Callers pass [`snapshot`]s of
//! `UserView`, `ProviderView`, `ModelView` and the like, or fields picked
//! by hand.

pub mod handlers;
pub mod log;

use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};
use serde::Serialize;
use serde_json::Value;

use crate::platform::{
    entity::audit_entry,
    error::{Error, Result},
    time,
};

/// What an admin did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    UserCreate,
    UserUpdate,
    UserDelete,
    ProviderCreate,
    ProviderUpdate,
    ProviderDelete,
    ModelCreate,
    ModelUpdate,
    ModelDelete,
    CreditsGrant,
    CreditsRefund,
    /// A request cost more than it held: charged in full all the same.
    CreditsOverrun,
    RateLimitsUpdate,
    GrantCreate,
    GrantRevoke,
    KeyCreate,
    KeyUpdate,
    KeyRevoke,
    InvitationCreate,
    InvitationRevoke,
}

impl Action {
    /// `user.create`, `credits.grant`, …: what the log stores and filters on.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreate => "user.create",
            Self::UserUpdate => "user.update",
            Self::UserDelete => "user.delete",
            Self::ProviderCreate => "provider.create",
            Self::ProviderUpdate => "provider.update",
            Self::ProviderDelete => "provider.delete",
            Self::ModelCreate => "model.create",
            Self::ModelUpdate => "model.update",
            Self::ModelDelete => "model.delete",
            Self::CreditsGrant => "credits.grant",
            Self::CreditsRefund => "credits.refund",
            Self::CreditsOverrun => "credits.overrun",
            Self::RateLimitsUpdate => "rate_limits.update",
            Self::GrantCreate => "grant.create",
            Self::GrantRevoke => "grant.revoke",
            Self::KeyCreate => "key.create",
            Self::KeyUpdate => "key.update",
            Self::KeyRevoke => "key.revoke",
            Self::InvitationCreate => "invitation.create",
            Self::InvitationRevoke => "invitation.revoke",
        }
    }
}

/// What an action was done to: a type (`user`, `provider`, `model`, `plan`,
/// `grant`, `key`, `invitation`) and that thing's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: &'static str,
    pub id: String,
}

impl Target {
    pub fn user(id: impl Into<String>) -> Self {
        Self::new("user", id)
    }

    pub fn provider(id: impl Into<String>) -> Self {
        Self::new("provider", id)
    }

    pub fn model(id: impl Into<String>) -> Self {
        Self::new("model", id)
    }

    /// A plan's rate limits, by plan name (`trial`, `pro`, …).
    pub fn plan(name: impl Into<String>) -> Self {
        Self::new("plan", name)
    }

    /// An API key, by its id (`key_…`).
    pub fn key(id: impl Into<String>) -> Self {
        Self::new("key", id)
    }

    /// A proxied request, by its id (`req_…`).
    pub fn request(id: impl Into<String>) -> Self {
        Self::new("request", id)
    }

    /// A registration invitation, by its id (`inv_…`).
    pub fn invitation(id: impl Into<String>) -> Self {
        Self::new("invitation", id)
    }

    /// An entitlement grant, by its numeric id.
    pub fn grant(id: i64) -> Self {
        Self::new("grant", id.to_string())
    }

    fn new(kind: &'static str, id: impl Into<String>) -> Self {
        Self {
            kind,
            id: id.into(),
        }
    }
}

/// A public view as the JSON an entry stores.
pub fn snapshot<T: Serialize + ?Sized>(view: &T) -> Result<Value> {
    serde_json::to_value(view).map_err(|err| Error::Internal(err.into()))
}

/// Writes one entry on `conn`: give it the change's transaction so that
/// both commit together. `before` is `None` for a creation, `after` for a
/// deletion that leaves nothing.
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    actor_id: &str,
    action: Action,
    target: Target,
    before: Option<Value>,
    after: Option<Value>,
) -> Result<audit_entry::Model> {
    let entry = audit_entry::ActiveModel {
        actor_id: Set(actor_id.to_owned()),
        action: Set(action.as_str().to_owned()),
        target_type: Set(target.kind.to_owned()),
        target_id: Set(target.id),
        before: Set(before.map(|value| value.to_string())),
        after: Set(after.map(|value| value.to_string())),
        created_at: Set(time::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(entry)
}
