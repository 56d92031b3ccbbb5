//! The rules for API keys. A user sees and changes only their own keys: a
//! key of someone else is "not found".

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    console::{
        audit::{self, Action, Target},
        auth::{CurrentUser, session},
        keys::KeyView,
    },
    gateway::api_keys::{
        cache::{KeyCache, KeyRejection},
        secret,
    },
    platform::{
        db,
        entity::{
            api_key,
            user::{self, Role},
        },
        error::{Error, Result},
        ids, time, validate,
    },
    state::App,
};

pub const MAX_KEY_NAME_LEN: usize = 100;
pub const MAX_MODELS_PER_KEY: usize = 100;

/// A key's settings, as its owner creates it.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    /// Public model names; empty (the default) means every model the plan allows.
    #[serde(default)]
    pub models: Vec<String>,
    /// Spending limit in micro-credits.
    #[serde(default)]
    pub quota_micro_credits: Option<i64>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// The key's own rate limits; absent: the owner's plan decides. The
    /// owner's own limits still apply on top.
    #[serde(default)]
    pub requests_per_minute: Option<i64>,
    #[serde(default)]
    pub tokens_per_minute: Option<i64>,
}

/// A change to a key. For quota and expiry, `null` removes the limit and a
/// missing field leaves it as it is.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyChange {
    pub name: Option<String>,
    pub models: Option<Vec<String>>,
    #[serde(default, deserialize_with = "validate::present")]
    pub quota_micro_credits: Option<Option<i64>>,
    #[serde(default, deserialize_with = "validate::present")]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "validate::present")]
    pub requests_per_minute: Option<Option<i64>>,
    #[serde(default, deserialize_with = "validate::present")]
    pub tokens_per_minute: Option<Option<i64>>,
}

/// A created key: the row, and the secret to show once.
pub struct CreatedKey {
    pub key: api_key::Model,
    pub secret: String,
}

/// Creates a key for `user_id`. Works inside a caller's transaction too.
pub async fn create<C: ConnectionTrait>(db: &C, user_id: &str, new: NewKey) -> Result<CreatedKey> {
    let name = validate::required_text("name", &new.name, MAX_KEY_NAME_LEN)?;
    let models = validate_models(new.models)?;
    let quota = validate_quota(new.quota_micro_credits)?;
    let expires_at = validate_expiry(new.expires_at)?;
    let requests_per_minute = validate_rate("requests_per_minute", new.requests_per_minute)?;
    let tokens_per_minute = validate_rate("tokens_per_minute", new.tokens_per_minute)?;
    let secret = secret::generate();
    let now = time::now();
    let key = api_key::ActiveModel {
        id: Set(ids::prefixed("key")),
        user_id: Set(user_id.to_owned()),
        name: Set(name),
        prefix: Set(secret::visible_prefix(&secret)),
        secret_hash: Set(secret::hash(&secret)),
        models: Set(encode_models(&models)?),
        quota_limit: Set(quota),
        quota_used: Set(0),
        requests_per_minute: Set(requests_per_minute),
        tokens_per_minute: Set(tokens_per_minute),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(CreatedKey { key, secret })
}

/// Creates one of the caller's own keys, unless they already hold
/// `keys.max_per_user` keys that are not revoked (409; 0: no limit), or
/// signed in with an API key (403: a key does not make keys). An admin's
/// keys are admin actions: the audit log records them, in the same
/// transaction.
pub async fn create_own(app: &App, caller: &CurrentUser, new: NewKey) -> Result<CreatedKey> {
    if caller.api_key_id.is_some() {
        return Err(Error::Forbidden(
            "signed in with an API key: sign in with a password to create keys".into(),
        ));
    }
    let (owner, max_per_user) = (&caller.user, app.settings.keys.max_per_user);
    let txn = db::begin_write(&app.db).await?;
    if max_per_user > 0 {
        // The owner's row is locked until the commit (PostgreSQL; SQLite's
        // write transaction is one at a time already), so concurrent
        // creations count one after another and none can pass the limit.
        user::Entity::find_by_id(owner.id.clone())
            .lock_exclusive()
            .one(&txn)
            .await?;
        let held = api_key::Entity::find()
            .filter(api_key::Column::UserId.eq(owner.id.as_str()))
            .filter(api_key::Column::RevokedAt.is_null())
            .count(&txn)
            .await?;
        if held >= u64::from(max_per_user) {
            return Err(Error::Conflict(format!(
                "you already have {max_per_user} API keys, the most allowed: revoke one first"
            )));
        }
    }
    let created = create(&txn, &owner.id, new).await?;
    audit_if_admin(&txn, owner, Action::KeyCreate, None, Some(&created.key)).await?;
    txn.commit().await?;
    Ok(created)
}

/// Records a change an admin made to one of their keys (`KeyView`s only:
/// never the hash).
async fn audit_if_admin<C: ConnectionTrait>(
    conn: &C,
    owner: &user::Model,
    action: Action,
    before: Option<&api_key::Model>,
    after: Option<&api_key::Model>,
) -> Result<()> {
    if owner.role != Role::Admin {
        return Ok(());
    }
    let view = |key: Option<&api_key::Model>| {
        key.map(|key| audit::snapshot(&KeyView::from(key.clone())))
            .transpose()
    };
    let id = after
        .or(before)
        .map(|key| key.id.clone())
        .unwrap_or_default();
    audit::record(
        conn,
        &owner.id,
        action,
        Target::key(id),
        view(before)?,
        view(after)?,
    )
    .await?;
    Ok(())
}

/// Every key of a user, newest first, revoked ones included.
pub async fn list(db: &DatabaseConnection, user_id: &str) -> Result<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::UserId.eq(user_id))
        .order_by_desc(api_key::Column::CreatedAt)
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await?)
}

/// Changes name, models, quota, expiry or rate limits of one of `owner`'s
/// keys.
pub async fn update(
    db: &DatabaseConnection,
    cache: &KeyCache,
    owner: &user::Model,
    id: &str,
    change: KeyChange,
) -> Result<api_key::Model> {
    let user_id = owner.id.as_str();
    if change.name.is_none()
        && change.models.is_none()
        && change.quota_micro_credits.is_none()
        && change.expires_at.is_none()
        && change.requests_per_minute.is_none()
        && change.tokens_per_minute.is_none()
    {
        return Err(Error::bad_request(
            "nothing to update: send name, models, quota_micro_credits, expires_at, requests_per_minute or tokens_per_minute",
        ));
    }
    let key = owned(db, user_id, id).await?;
    if key.revoked_at.is_some() {
        return Err(Error::bad_request("a revoked key cannot be changed"));
    }
    let before = key.clone();
    let mut model = key.into_active_model();
    if let Some(name) = change.name {
        model.name = Set(validate::required_text("name", &name, MAX_KEY_NAME_LEN)?);
    }
    if let Some(models) = change.models {
        model.models = Set(encode_models(&validate_models(models)?)?);
    }
    if let Some(quota) = change.quota_micro_credits {
        model.quota_limit = Set(validate_quota(quota)?);
    }
    if let Some(expires_at) = change.expires_at {
        model.expires_at = Set(validate_expiry(expires_at)?);
    }
    if let Some(limit) = change.requests_per_minute {
        model.requests_per_minute = Set(validate_rate("requests_per_minute", limit)?);
    }
    if let Some(limit) = change.tokens_per_minute {
        model.tokens_per_minute = Set(validate_rate("tokens_per_minute", limit)?);
    }
    model.updated_at = Set(time::now());
    let txn = db::begin_write(db).await?;
    let key = model.update(&txn).await?;
    audit_if_admin(&txn, owner, Action::KeyUpdate, Some(&before), Some(&key)).await?;
    txn.commit().await?;
    cache.forget_key(&key.secret_hash);
    Ok(key)
}

/// Revokes one of the user's keys; the row stays for history. Revoking a
/// revoked key changes nothing.
pub async fn revoke(
    db: &DatabaseConnection,
    cache: &KeyCache,
    owner: &user::Model,
    id: &str,
) -> Result<api_key::Model> {
    let key = owned(db, &owner.id, id).await?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let before = key.clone();
    let now = time::now();
    let mut model = key.into_active_model();
    model.revoked_at = Set(Some(now));
    model.updated_at = Set(now);
    // The key, and every web session opened with it, end together.
    let txn = db::begin_write(db).await?;
    let key = model.update(&txn).await?;
    audit_if_admin(&txn, owner, Action::KeyRevoke, Some(&before), Some(&key)).await?;
    session::revoke_all_for_key(&txn, &key.id).await?;
    txn.commit().await?;
    cache.forget_key(&key.secret_hash);
    Ok(key)
}

/// The key and its owner for a secret, if the key can be used now (through
/// the same cache as the LLM API): not revoked, not expired, its owner active.
/// Unknown, revoked and expired keys, and deleted owners, are the same 401; a
/// suspended owner is told why (403). An over-quota key may still sign in:
/// its owner needs to see why.
pub async fn authenticate(
    db: &DatabaseConnection,
    cache: &KeyCache,
    candidate: &str,
) -> Result<(api_key::Model, user::Model)> {
    match cache.resolve(db, candidate).await? {
        Ok(caller) => Ok((caller.key.clone(), caller.owner.clone())),
        Err(KeyRejection::Invalid) => Err(Error::Unauthorized(
            "invalid, revoked or expired API key".into(),
        )),
        Err(KeyRejection::OwnerSuspended) => {
            Err(Error::Forbidden("this account is suspended".into()))
        }
    }
}

async fn owned(db: &DatabaseConnection, user_id: &str, id: &str) -> Result<api_key::Model> {
    api_key::Entity::find_by_id(id.to_owned())
        .filter(api_key::Column::UserId.eq(user_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("API key not found"))
}

fn validate_models(models: Vec<String>) -> Result<Vec<String>> {
    let mut clean: Vec<String> = Vec::with_capacity(models.len());
    for model in models {
        let model = model.trim().to_owned();
        if model.is_empty() || model.chars().count() > 200 {
            return Err(Error::bad_request(
                "models must be model names of 1 to 200 characters",
            ));
        }
        if !clean.contains(&model) {
            clean.push(model);
        }
    }
    if clean.len() > MAX_MODELS_PER_KEY {
        return Err(Error::bad_request(format!(
            "models may list at most {MAX_MODELS_PER_KEY} models"
        )));
    }
    Ok(clean)
}

fn validate_quota(quota: Option<i64>) -> Result<Option<i64>> {
    match quota {
        Some(q) if q < 0 => Err(Error::bad_request(
            "quota_micro_credits must be zero or more",
        )),
        other => Ok(other),
    }
}

fn validate_rate(field: &str, limit: Option<i64>) -> Result<Option<i64>> {
    match limit {
        Some(n) if !(1..=i64::from(u32::MAX)).contains(&n) => Err(Error::bad_request(format!(
            "{field} must be between 1 and {}",
            u32::MAX
        ))),
        other => Ok(other),
    }
}

fn validate_expiry(expires_at: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>> {
    match expires_at {
        Some(at) if at <= time::now() => {
            Err(Error::bad_request("expires_at must be in the future"))
        }
        other => Ok(other),
    }
}

fn encode_models(models: &[String]) -> Result<String> {
    serde_json::to_string(models).map_err(|err| Error::Internal(err.into()))
}
