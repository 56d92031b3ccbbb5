//! API keys in memory, keyed by the SHA-256 of the secret, so that a proxied
//! request never waits on the database to know its caller. A miss loads the
//! key once; every change to a key or its owner drops the entry, so
//! revocation, expiry and edits apply at once on this instance.
//!
//! Each key's spend is a counter here too: requests add their cost as they
//! settle and the usage writer moves the stored `quota_used` in its batch,
//! so the quota check never waits on the database. Counters outlive cache
//! entries, so a reloaded key never forgets spend not yet written.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicI64, Ordering},
    },
};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::{secret, service};
use crate::{
    entity::{
        api_key,
        user::{self, Status},
    },
    error::Result,
    time,
};

/// A usable key and its owner, as cached.
#[derive(Debug, Clone)]
pub struct KeyCaller {
    pub key: api_key::Model,
    pub owner: user::Model,
    /// The key's allowed public model names, parsed once; empty: all.
    pub allowed_models: Vec<String>,
    /// Micro-credits spent through this key, including what is not yet written.
    spent: Arc<AtomicI64>,
}

impl KeyCaller {
    pub fn spent(&self) -> i64 {
        self.spent.load(Ordering::Acquire)
    }

    /// Whether the key's quota is used up.
    pub fn over_quota(&self) -> bool {
        self.key
            .quota_limit
            .is_some_and(|limit| self.spent() >= limit)
    }

    /// Adds a settled request's cost to the key's spend.
    pub fn charge(&self, cost: i64) {
        self.spent.fetch_add(cost, Ordering::AcqRel);
    }
}

/// Why a key cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRejection {
    /// Unknown, malformed, revoked or expired: the same answer for all.
    Invalid,
    /// The owner is suspended or deleted.
    OwnerSuspended,
}

#[derive(Default)]
pub struct KeyCache {
    // Only keys that exist are cached: unknown secrets cannot grow the map.
    entries: RwLock<HashMap<String, Arc<KeyCaller>>>,
    /// Spend per key id; entries are never dropped (one per key ever used).
    spend: RwLock<HashMap<String, Arc<AtomicI64>>>,
}

impl KeyCache {
    /// The caller for a presented secret, checked against the clock now.
    pub async fn resolve(
        &self,
        db: &DatabaseConnection,
        presented: &str,
    ) -> Result<std::result::Result<Arc<KeyCaller>, KeyRejection>> {
        if !secret::looks_like_key(presented) {
            return Ok(Err(KeyRejection::Invalid));
        }
        let hash = secret::hash(presented);
        let cached = self.read().get(&hash).cloned();
        let caller = match cached {
            Some(caller) => caller,
            None => match load(db, &hash).await? {
                Some((key, owner)) => {
                    let spent = self.spend_counter(&key);
                    let caller = Arc::new(KeyCaller {
                        allowed_models: service::models_of(&key),
                        key,
                        owner,
                        spent,
                    });
                    self.write().insert(hash, caller.clone());
                    caller
                }
                None => return Ok(Err(KeyRejection::Invalid)),
            },
        };
        Ok(check(caller))
    }

    /// Drops one key (after an edit or revocation).
    pub fn forget_key(&self, secret_hash: &str) {
        self.write().remove(secret_hash);
    }

    /// Drops every key of a user (after a change to the account).
    pub fn forget_user(&self, user_id: &str) {
        self.write().retain(|_, caller| caller.owner.id != user_id);
    }

    fn spend_counter(&self, key: &api_key::Model) -> Arc<AtomicI64> {
        let mut spend = self
            .spend
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        spend
            .entry(key.id.clone())
            .or_insert_with(|| Arc::new(AtomicI64::new(key.quota_used)))
            .clone()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<KeyCaller>>> {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<KeyCaller>>> {
        self.entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn check(caller: Arc<KeyCaller>) -> std::result::Result<Arc<KeyCaller>, KeyRejection> {
    use service::KeyStatus;
    match service::status(&caller.key, time::now()) {
        KeyStatus::Revoked | KeyStatus::Expired => Err(KeyRejection::Invalid),
        _ if caller.owner.deleted_at.is_some() => Err(KeyRejection::Invalid),
        _ if caller.owner.status != Status::Active => Err(KeyRejection::OwnerSuspended),
        _ => Ok(caller),
    }
}

async fn load(
    db: &DatabaseConnection,
    hash: &str,
) -> Result<Option<(api_key::Model, user::Model)>> {
    let found = api_key::Entity::find()
        .filter(api_key::Column::SecretHash.eq(hash))
        .find_also_related(user::Entity)
        .one(db)
        .await?;
    Ok(found.and_then(|(key, owner)| Some((key, owner?))))
}
