//! API keys in memory, keyed by the SHA-256 of the secret, so that a proxied
//! request never waits on the database to know its caller. A miss loads the
//! key once; every change to a key or its owner drops the entry, so
//! revocation, expiry and edits apply at once on this instance.
//!
//! Each key's spend is kept here too: a request with a quota reserves its
//! worst case against it before it is forwarded and settles with what it
//! cost, so concurrent requests can never spend past the quota, and the
//! usage writer moves the stored `quota_used` in its batch, so the check
//! never waits on the database. Spend outlives cache entries, so a
//! reloaded key never forgets spend not yet written.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
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
    spend: Arc<Mutex<Spend>>,
}

/// Micro-credits spent through a key (including what is not yet written)
/// and promised to its requests in flight.
#[derive(Debug, Default)]
struct Spend {
    spent: i64,
    held: i64,
}

/// A reservation on a key's quota, settled exactly once.
#[derive(Debug)]
pub struct QuotaHold {
    spend: Arc<Mutex<Spend>>,
    amount: i64,
}

impl KeyCaller {
    pub fn spent(&self) -> i64 {
        lock(&self.spend).spent
    }

    /// Reserves `amount` of the key's quota. `Ok(None)`: the key has no
    /// quota. `Err(remaining)`: the quota cannot cover it.
    pub fn reserve_quota(&self, amount: i64) -> std::result::Result<Option<QuotaHold>, i64> {
        let Some(limit) = self.key.quota_limit else {
            return Ok(None);
        };
        let mut spend = lock(&self.spend);
        let remaining = limit - spend.spent - spend.held;
        if remaining < amount || remaining <= 0 {
            return Err(remaining.max(0));
        }
        spend.held += amount;
        Ok(Some(QuotaHold {
            spend: self.spend.clone(),
            amount,
        }))
    }

    /// Adds a settled request's charge to a key without a quota.
    pub fn charge(&self, charged: i64) {
        lock(&self.spend).spent += charged;
    }
}

impl QuotaHold {
    /// Releases the hold and adds what the request was charged.
    pub fn settle(mut self, charged: i64) {
        let mut spend = lock(&self.spend);
        spend.held -= std::mem::take(&mut self.amount);
        spend.spent += charged;
    }
}

impl Drop for QuotaHold {
    fn drop(&mut self) {
        if self.amount != 0 {
            lock(&self.spend).held -= self.amount;
        }
    }
}

fn lock(spend: &Mutex<Spend>) -> std::sync::MutexGuard<'_, Spend> {
    spend
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    spend: RwLock<HashMap<String, Arc<Mutex<Spend>>>>,
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
                    let spend = self.spend_of(&key);
                    let caller = Arc::new(KeyCaller {
                        allowed_models: service::models_of(&key),
                        key,
                        owner,
                        spend,
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

    fn spend_of(&self, key: &api_key::Model) -> Arc<Mutex<Spend>> {
        let mut spend = self
            .spend
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        spend
            .entry(key.id.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Spend {
                    spent: key.quota_used,
                    held: 0,
                }))
            })
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
