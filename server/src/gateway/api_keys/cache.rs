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
//!
//! Neither grows forever: a key unused for `caches.idle_secs` leaves the
//! cache ([`KeyCache::sweep`]), and its spend follows once nothing holds it
//! and the usage writer has stored every row recorded before
//! ([`KeyCache::sweep_spend`]): reloaded, the key reads the same spend from
//! its row.
//!
//! A load races the changes that drop entries: it may read a row from
//! before a revocation, or a `quota_used` from before the spend a sweep let
//! go was stored. Each such change bumps a generation, and a load that saw
//! one is not cached but loaded again.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};

use super::secret;
use crate::platform::{
    cluster::bus::{Bus, Change},
    entity::{
        api_key,
        user::{self, UserStatus},
    },
    error::Result,
    idle::IdleMap,
    telemetry::counters::KeyLookups,
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
    /// Bumped by every change of `spent`: a sweep drops the entry only if
    /// nothing was spent since it looked.
    changes: u64,
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
        let mut spend = lock(&self.spend);
        spend.spent += charged;
        spend.changes += 1;
    }
}

impl QuotaHold {
    /// Releases the hold and adds what the request was charged.
    pub fn settle(mut self, charged: i64) {
        let mut spend = lock(&self.spend);
        spend.held -= std::mem::take(&mut self.amount);
        spend.spent += charged;
        spend.changes += 1;
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
    entries: IdleMap<Arc<KeyCaller>>,
    /// Spend per key id, while the key is cached or a request holds it.
    spend: RwLock<HashMap<String, Arc<Mutex<Spend>>>>,
    /// Bumped by every forget and every spend sweep that dropped something;
    /// held while a load is cached, so neither slips between its check and
    /// its insert.
    generation: Mutex<u64>,
    /// Tells the other instances what was forgotten here.
    bus: Bus,
    /// Counts hits and misses for the metrics.
    lookups: KeyLookups,
}

/// Loads of one key in a row that may meet a change before the last is
/// cached as it is: changes that come faster than a row loads are not
/// worth more round trips.
const LOADS: usize = 4;

impl KeyCache {
    /// The caller for a presented secret, checked against the clock now.
    /// The key behind `presented`, from the cache or the database.
    pub async fn resolve(
        &self,
        db: &DatabaseConnection,
        presented: &str,
    ) -> Result<std::result::Result<Arc<KeyCaller>, KeyRejection>> {
        if !secret::looks_like_key(presented) {
            return Ok(Err(KeyRejection::Invalid));
        }
        let hash = secret::hash(presented);
        let now = Instant::now();
        let caller = match self.entries.get(&hash, now) {
            Some(caller) => {
                self.lookups.hit();
                caller
            }
            None => match self.load_and_cache(db, &hash, now).await? {
                Some(caller) => caller,
                None => return Ok(Err(KeyRejection::Invalid)),
            },
        };
        Ok(check(caller))
    }

    /// Loads a key and caches it, loading again when a change ran while
    /// the row was read.
    async fn load_and_cache(
        &self,
        db: &DatabaseConnection,
        hash: &str,
        now: Instant,
    ) -> Result<Option<Arc<KeyCaller>>> {
        self.lookups.miss();
        for _ in 1..LOADS {
            let seen = *self.lock_generation();
            let Some((key, owner)) = load(db, hash).await? else {
                return Ok(None);
            };
            if let Some(caller) = self.cache_if_current(hash, key, owner, now, seen) {
                return Ok(Some(caller));
            }
        }
        Ok(load(db, hash)
            .await?
            .map(|(key, owner)| self.cache(hash, key, owner, now)))
    }

    pub fn new(bus: Bus, lookups: KeyLookups) -> Self {
        Self {
            bus,
            lookups,
            ..Self::default()
        }
    }

    /// Drops one key (after an edit or revocation), here and on every
    /// other instance.
    pub fn forget_key(&self, secret_hash: &str) {
        self.drop_key(secret_hash);
        self.bus.publish(Change::Key(secret_hash.to_owned()));
    }

    /// Drops every key of a user (after a change to the account), here and
    /// on every other instance.
    pub fn forget_user(&self, user_id: &str) {
        self.drop_user(user_id);
        self.bus.publish(Change::User(user_id.to_owned()));
    }

    /// Drops one key on this instance.
    pub fn drop_key(&self, secret_hash: &str) {
        let mut generation = self.lock_generation();
        *generation += 1;
        self.entries.remove(secret_hash);
    }

    /// Drops every key of a user on this instance.
    pub fn drop_user(&self, user_id: &str) {
        let mut generation = self.lock_generation();
        *generation += 1;
        self.entries.retain(|caller| caller.owner.id != user_id);
    }

    /// Drops every key on this instance (changes may have gone unheard).
    pub fn drop_all(&self) {
        let mut generation = self.lock_generation();
        *generation += 1;
        self.entries.retain(|_| false);
    }

    /// Drops the keys unused for `idle` at `now`; returns how many.
    pub fn sweep(&self, now: Instant, idle: Duration) -> usize {
        self.entries.sweep(now, idle, |_| true)
    }

    /// Drops the spend of keys neither cached nor held by a request, once
    /// `flush` says every usage row recorded so far is stored (so each
    /// key's row has its whole spend). An entry that changed meanwhile
    /// stays. Returns how many went.
    pub async fn sweep_spend(&self, flush: impl Future<Output = bool>) -> usize {
        let unused: Vec<(String, u64)> = self
            .spend_map()
            .iter()
            .filter(|(_, spend)| Arc::strong_count(spend) == 1)
            .filter_map(|(id, spend)| {
                let spend = lock(spend);
                (spend.held == 0).then(|| (id.clone(), spend.changes))
            })
            .collect();
        if unused.is_empty() || !flush.await {
            return 0;
        }
        let mut generation = self.lock_generation();
        let mut map = self.spend_map();
        let before = map.len();
        for (id, changes) in unused {
            let still_unused = map.get(&id).is_some_and(|spend| {
                Arc::strong_count(spend) == 1 && lock(spend).changes == changes
            });
            if still_unused {
                map.remove(&id);
            }
        }
        let dropped = before - map.len();
        if dropped > 0 {
            *generation += 1;
        }
        dropped
    }

    /// Keys cached and keys with spend in memory.
    pub fn sizes(&self) -> (usize, usize) {
        (self.entries.len(), self.spend_map().len())
    }

    /// Caches a loaded key if nothing changed since `seen`; `None` when
    /// the row may be stale.
    fn cache_if_current(
        &self,
        hash: &str,
        key: api_key::Model,
        owner: user::Model,
        now: Instant,
        seen: u64,
    ) -> Option<Arc<KeyCaller>> {
        let generation = self.lock_generation();
        (*generation == seen).then(|| self.cache(hash, key, owner, now))
    }

    fn lock_generation(&self) -> std::sync::MutexGuard<'_, u64> {
        self.generation
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn cache(
        &self,
        hash: &str,
        key: api_key::Model,
        owner: user::Model,
        now: Instant,
    ) -> Arc<KeyCaller> {
        let spend = self.spend_of(&key);
        let caller = Arc::new(KeyCaller {
            allowed_models: key.allowed_models(),
            key,
            owner,
            spend,
        });
        self.entries.insert(hash, caller.clone(), now);
        caller
    }

    fn spend_of(&self, key: &api_key::Model) -> Arc<Mutex<Spend>> {
        self.spend_map()
            .entry(key.id.clone())
            .or_insert_with(|| {
                Arc::new(Mutex::new(Spend {
                    spent: key.quota_used,
                    held: 0,
                    changes: 0,
                }))
            })
            .clone()
    }

    fn spend_map(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Mutex<Spend>>>> {
        self.spend
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn check(caller: Arc<KeyCaller>) -> std::result::Result<Arc<KeyCaller>, KeyRejection> {
    use api_key::KeyStatus;
    match caller.key.status(time::now()) {
        KeyStatus::Revoked | KeyStatus::Expired => Err(KeyRejection::Invalid),
        _ if caller.owner.deleted_at.is_some() => Err(KeyRejection::Invalid),
        _ if caller.owner.status != UserStatus::Active => Err(KeyRejection::OwnerSuspended),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::entity::user::{Plan, Role};

    const IDLE: Duration = Duration::from_secs(900);

    fn caller_rows(id: &str, quota_used: i64) -> (api_key::Model, user::Model) {
        let now = time::now();
        let key = api_key::Model {
            id: id.to_owned(),
            user_id: "usr_1".to_owned(),
            name: id.to_owned(),
            prefix: "tg-test".to_owned(),
            secret_hash: format!("hash of {id}"),
            models: "[]".to_owned(),
            quota_limit: Some(1_000),
            quota_used,
            requests_per_minute: None,
            tokens_per_minute: None,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            created_at: now,
            updated_at: now,
        };
        let owner = user::Model {
            id: "usr_1".to_owned(),
            name: "One".to_owned(),
            email: None,
            password_hash: None,
            role: Role::User,
            plan: Plan::Trial,
            status: UserStatus::Active,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        (key, owner)
    }

    fn cache_key(cache: &KeyCache, id: &str, quota_used: i64, now: Instant) -> Arc<KeyCaller> {
        let (key, owner) = caller_rows(id, quota_used);
        cache.cache(&format!("hash of {id}"), key, owner, now)
    }

    #[test]
    fn a_row_loaded_while_its_key_was_forgotten_is_not_cached() {
        let cache = KeyCache::default();
        let seen = *cache.lock_generation();
        let (key, owner) = caller_rows("key_revoked", 0);

        // The revocation commits and forgets the key while the row loads.
        cache.forget_key("hash of key_revoked");
        let cached =
            cache.cache_if_current("hash of key_revoked", key, owner, Instant::now(), seen);

        assert!(
            cached.is_none(),
            "a row read before the revocation was cached"
        );
        assert_eq!(cache.sizes(), (0, 0));
    }

    #[tokio::test]
    async fn a_row_loaded_while_a_sweep_let_its_spend_go_is_not_cached() {
        let cache = KeyCache::default();
        let start = Instant::now();
        let caller = cache_key(&cache, "key_spent", 0, start);
        caller.charge(300);
        drop(caller);
        cache.sweep(start + IDLE, IDLE);
        // A request misses the cache and reads the row before the writer
        // stored the 300 µc; the sweep's flush completes meanwhile.
        let seen = *cache.lock_generation();
        let (stale_key, owner) = caller_rows("key_spent", 0);
        assert_eq!(cache.sweep_spend(async { true }).await, 1);

        let cached = cache.cache_if_current("hash of key_spent", stale_key, owner, start, seen);
        let (fresh_key, owner) = caller_rows("key_spent", 300);
        let seen_again = *cache.lock_generation();
        let reloaded = cache
            .cache_if_current("hash of key_spent", fresh_key, owner, start, seen_again)
            .unwrap();

        assert!(
            cached.is_none(),
            "a quota_used read before the spend was stored was cached"
        );
        assert_eq!(reloaded.spent(), 300);
    }

    #[tokio::test]
    async fn a_key_unused_for_the_idle_time_leaves_the_cache_and_then_its_spend() {
        let cache = KeyCache::default();
        let start = Instant::now();
        let caller = cache_key(&cache, "key_old", 0, start);
        caller.charge(40);
        drop(caller);
        cache_key(&cache, "key_busy", 0, start + IDLE / 2);

        let dropped = cache.sweep(start + IDLE, IDLE);
        let spend_dropped = cache.sweep_spend(async { true }).await;

        assert_eq!(dropped, 1);
        assert_eq!(spend_dropped, 1);
        assert_eq!(cache.sizes(), (1, 1));
    }

    #[tokio::test]
    async fn spend_stays_while_a_request_holds_it_or_the_writer_is_behind() {
        let cache = KeyCache::default();
        let start = Instant::now();
        let caller = cache_key(&cache, "key_1", 0, start);
        let hold = caller.reserve_quota(100).unwrap();
        drop(caller);
        cache.sweep(start + IDLE, IDLE);

        // A request in flight holds it.
        assert_eq!(cache.sweep_spend(async { true }).await, 0);
        hold.unwrap().settle(30);
        // The usage writer could not store every row.
        assert_eq!(cache.sweep_spend(async { false }).await, 0);
        assert_eq!(cache.sizes(), (0, 1));

        // Reloaded meanwhile, the key still knows its spend.
        let reloaded = cache_key(&cache, "key_1", 0, start + IDLE);
        assert_eq!(reloaded.spent(), 30);
    }

    #[tokio::test]
    async fn spend_changed_while_the_writer_flushed_stays() {
        let cache = KeyCache::default();
        drop(cache_key(&cache, "key_1", 0, Instant::now()));
        cache.forget_key("hash of key_1");

        // A request charges the key while the writer flushes.
        let dropped = cache
            .sweep_spend(async {
                if let Some(spend) = cache.spend_map().get("key_1") {
                    lock(spend).changes += 1;
                }
                true
            })
            .await;

        assert_eq!(dropped, 0);
        assert_eq!(cache.sizes(), (0, 1));
    }
}
