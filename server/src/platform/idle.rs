//! A map whose entries remember when they were last used, for the caches
//! keyed by key or user (the key cache, the rate-limit windows): a periodic
//! sweep ([`crate::housekeeping`]) drops the entries idle for too long, so
//! the map holds what is in use rather than everything ever seen.
//!
//! Not a cache crate (moka, quick_cache): an entry may leave only when its
//! owner says so (a key's spend must first be stored, a rate window must
//! have nothing owed), which their eviction does not ask.
//!
//! Time is passed in (`now`), so tests move it without waiting. A read
//! takes the read lock and stamps the entry with an atomic; only inserts,
//! removals and sweeps take the write lock.

use std::{
    collections::HashMap,
    sync::{
        RwLock, RwLockReadGuard, RwLockWriteGuard,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

pub struct IdleMap<V> {
    /// Stamps are milliseconds since this instant.
    epoch: Instant,
    entries: RwLock<HashMap<String, Slot<V>>>,
}

struct Slot<V> {
    value: V,
    used: AtomicU64,
}

impl<V> Default for IdleMap<V> {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl<V: Clone> IdleMap<V> {
    /// The entry of `key`, marked used at `now`.
    pub fn get(&self, key: &str, now: Instant) -> Option<V> {
        let entries = self.read();
        let slot = entries.get(key)?;
        slot.used.fetch_max(self.stamp(now), Ordering::Relaxed);
        Some(slot.value.clone())
    }

    /// Sets the entry of `key` to what `make` returns for the current one,
    /// marked used at `now`, and returns it.
    pub fn upsert(&self, key: &str, now: Instant, make: impl FnOnce(Option<&V>) -> V) -> V {
        let stamp = self.stamp(now);
        let mut entries = self.write();
        let value = make(entries.get(key).map(|slot| &slot.value));
        entries.insert(
            key.to_owned(),
            Slot {
                value: value.clone(),
                used: AtomicU64::new(stamp),
            },
        );
        value
    }

    pub fn insert(&self, key: &str, value: V, now: Instant) {
        self.upsert(key, now, |_| value);
    }

    pub fn remove(&self, key: &str) {
        self.write().remove(key);
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&self, keep: impl Fn(&V) -> bool) {
        self.write().retain(|_, slot| keep(&slot.value));
    }

    /// Drops the entries unused for `idle` or longer at `now` that
    /// `can_drop` lets go; one it holds back counts as used now, so it
    /// waits a whole `idle` again. Returns how many were dropped.
    pub fn sweep(&self, now: Instant, idle: Duration, can_drop: impl Fn(&V) -> bool) -> usize {
        let now = self.stamp(now);
        let idle = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX);
        let mut entries = self.write();
        let before = entries.len();
        entries.retain(|_, slot| {
            let used = slot.used.load(Ordering::Relaxed);
            if now.saturating_sub(used) < idle {
                return true;
            }
            if can_drop(&slot.value) {
                return false;
            }
            slot.used.store(now, Ordering::Relaxed);
            true
        });
        before - entries.len()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn stamp(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.epoch);
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<String, Slot<V>>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<String, Slot<V>>> {
        self.entries.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(900);

    #[test]
    fn an_entry_unused_for_the_idle_time_is_dropped_and_a_used_one_kept() {
        let map = IdleMap::default();
        let start = Instant::now();
        map.insert("old", 1, start);
        map.insert("busy", 2, start);
        // "busy" is read just before the sweep.
        assert_eq!(
            map.get("busy", start + IDLE - Duration::from_secs(1)),
            Some(2)
        );

        let dropped = map.sweep(start + IDLE, IDLE, |_| true);

        assert_eq!(dropped, 1);
        assert_eq!(map.get("old", start + IDLE), None);
        assert_eq!(map.get("busy", start + IDLE), Some(2));
    }

    #[test]
    fn nothing_is_dropped_before_the_idle_time() {
        let map = IdleMap::default();
        let start = Instant::now();
        map.insert("a", 1, start);

        let dropped = map.sweep(start + IDLE - Duration::from_millis(1), IDLE, |_| true);

        assert_eq!(dropped, 0);
        assert_eq!(map.len(), 1);
    }

    #[test]
    fn an_entry_held_back_waits_a_whole_idle_time_again() {
        let map = IdleMap::default();
        let start = Instant::now();
        map.insert("held", 1, start);

        assert_eq!(map.sweep(start + IDLE, IDLE, |_| false), 0);
        assert_eq!(map.sweep(start + IDLE + IDLE / 2, IDLE, |_| true), 0);
        assert_eq!(map.sweep(start + IDLE * 2, IDLE, |_| true), 1);
        assert!(map.is_empty());
    }

    #[test]
    fn upsert_sees_the_current_entry() {
        let map = IdleMap::default();
        let now = Instant::now();
        map.insert("a", 1, now);

        let value = map.upsert("a", now, |current| current.copied().unwrap_or(0) + 10);

        assert_eq!(value, 11);
        assert_eq!(map.get("a", now), Some(11));
    }
}
