//! Which deployments and keys may be called now: a circuit breaker per
//! target. A deployment that failed `proxy.failures_to_cool_down` times
//! within `proxy.failure_window_secs`, or a deployment's key that answered
//! 429, is skipped until its cooldown ends; then exactly one request may
//! try it (half-open): success restores it, failure cools it down again.
//!
//! With Redis the failures, cooldowns and trials are counted there for
//! every instance (`cluster::cooldowns`), and each instance mirrors the
//! cooldowns here, told of others' by the change bus: a healthy target is
//! answered from memory. Fails open: a target with no record is healthy,
//! and with Redis away each instance decides alone.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use contract::catalog::{DeploymentHealth, HealthState, KeyHealth};

use crate::platform::{
    cluster::{
        Cluster, OutageLog, Unavailable,
        bus::{Bus, Change},
    },
    config::ProxySettings,
    time,
};

/// What a target may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Call it.
    Open,
    /// Call it: the request is its single trial after a cooldown, and must
    /// report how it went.
    Trial,
    /// Skip it until then.
    Cooling(Instant),
}

/// Why a call failed, as far as the target's health is concerned.
#[derive(Debug, Clone)]
pub enum Failure {
    /// 429: skip the target for this long (its `Retry-After`, or the
    /// configured default).
    RateLimited(Option<Duration>),
    /// Unreachable, timed out or 5xx: counts towards a cooldown.
    Failed,
}

/// A target's state, as the admin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Healthy,
    /// Failing, not (yet) cooled down: failures in the current window.
    Failing {
        failures: u32,
    },
    CoolingDown {
        until: DateTime<Utc>,
    },
    /// Its cooldown ended: the next request tries it.
    Trial,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub status: Status,
    /// What its last failure was (kept once it recovered).
    pub last_error: Option<String>,
}

impl Report {
    const HEALTHY: Self = Self {
        status: Status::Healthy,
        last_error: None,
    };

    /// As the wire has it: the state, failures while failing, the end of
    /// a cooldown while cooling down.
    fn parts(&self) -> (HealthState, Option<u32>, Option<contract::Timestamp>) {
        match &self.status {
            Status::Healthy => (HealthState::Healthy, None, None),
            Status::Failing { failures } => (HealthState::Failing, Some(*failures), None),
            Status::CoolingDown { until } => {
                (HealthState::CoolingDown, None, Some((*until).into()))
            }
            Status::Trial => (HealthState::Trial, None, None),
        }
    }
}

#[derive(Debug)]
struct Record {
    window_started: Instant,
    /// Failures in the window (with Redis: those seen here, for the view).
    failures: u32,
    cooling_until: Option<Instant>,
    /// A trial request is out since then.
    trial_since: Option<Instant>,
    last_error: String,
}

impl Record {
    fn new(now: Instant) -> Self {
        Self {
            window_started: now,
            failures: 0,
            cooling_until: None,
            trial_since: None,
            last_error: String::new(),
        }
    }

    fn cool_until(&mut self, until: Instant) {
        self.cooling_until = Some(until);
        self.trial_since = None;
        self.failures = 0;
        self.window_started = Instant::now();
    }
}

/// How failures turn into cooldowns.
#[derive(Debug, Clone, Copy)]
struct Rules {
    failures_to_cool_down: u32,
    window: Duration,
    cooldown: Duration,
    rate_limited: Duration,
}

pub struct Health {
    records: Mutex<HashMap<String, Record>>,
    /// How many records there are: zero (the usual case) answers without
    /// the lock.
    count: AtomicUsize,
    rules: Rules,
    /// Redis, and the bus that tells the other instances.
    shared: Option<(Arc<Cluster>, Bus)>,
}

impl Health {
    pub fn new(settings: &ProxySettings) -> Self {
        Self {
            records: Mutex::default(),
            count: AtomicUsize::new(0),
            rules: Rules {
                failures_to_cool_down: settings.failures_to_cool_down.max(1),
                window: Duration::from_secs(settings.failure_window_secs),
                cooldown: Duration::from_secs(settings.cooldown_secs),
                rate_limited: Duration::from_secs(settings.rate_limited_cooldown_secs),
            },
            shared: None,
        }
    }

    /// Shares the failures and cooldowns with the other instances.
    pub fn shared(self, cluster: Arc<Cluster>, bus: Bus) -> Self {
        Self {
            shared: Some((cluster, bus)),
            ..self
        }
    }

    /// Whether `target` may be called now; claims the trial when it is due.
    pub async fn gate(&self, target: &str) -> Gate {
        if self.count.load(Ordering::Acquire) == 0 {
            return Gate::Open;
        }
        let now = Instant::now();
        {
            let mut records = self.lock();
            let Some(record) = records.get_mut(target) else {
                return Gate::Open;
            };
            match record.cooling_until {
                None => return Gate::Open,
                Some(until) if until > now => return Gate::Cooling(until),
                // The trial is due: with Redis, another instance may have
                // claimed it.
                Some(_) if self.shared.is_none() => return self.claim_here(record, now),
                Some(_) => {}
            }
        }
        let Some((cluster, _)) = &self.shared else {
            return Gate::Open;
        };
        match cluster.claim_trial(target, self.rules.cooldown).await {
            Ok(claimed) => {
                let mut records = self.lock();
                let record = records
                    .entry(target.to_owned())
                    .or_insert_with(|| Record::new(now));
                match claimed {
                    None => {
                        record.trial_since = Some(now);
                        Gate::Trial
                    }
                    Some(wait) => Gate::Cooling(now + wait),
                }
            }
            Err(err) => {
                outage(&err);
                let mut records = self.lock();
                match records.get_mut(target) {
                    Some(record) => self.claim_here(record, now),
                    None => Gate::Open,
                }
            }
        }
    }

    /// The trial decided in this instance alone: one at a time, and a trial
    /// that never reported (its task died) frees the next after a
    /// cooldown's time.
    fn claim_here(&self, record: &mut Record, now: Instant) -> Gate {
        match record.trial_since {
            Some(since) if now < since + self.rules.cooldown => {
                Gate::Cooling(since + self.rules.cooldown)
            }
            _ => {
                record.trial_since = Some(now);
                Gate::Trial
            }
        }
    }

    /// `target` answered: a trial's success restores it.
    pub async fn succeeded(&self, target: &str) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let restored = {
            let mut records = self.lock();
            let cooled = records
                .get(target)
                .is_some_and(|record| record.cooling_until.is_some());
            if cooled {
                records.remove(target);
                self.count.store(records.len(), Ordering::Release);
            }
            cooled
        };
        if !restored {
            return;
        }
        tracing::info!(target, "restored after a successful trial");
        if let Some((cluster, bus)) = &self.shared {
            match cluster.target_restored(target).await {
                Ok(()) => bus.publish(Change::Restored(target.to_owned())),
                Err(err) => outage(&err),
            }
        }
    }

    /// `target` failed with `error` (kept for the admin's view); whether
    /// this failure started a cooldown.
    pub async fn failed(&self, target: &str, failure: Failure, error: &str) -> bool {
        let now = Instant::now();
        let (rate_limited, cool_for) = match failure {
            Failure::RateLimited(retry_after) => {
                (true, retry_after.unwrap_or(self.rules.rate_limited))
            }
            Failure::Failed => (false, self.rules.cooldown),
        };
        {
            let mut records = self.lock();
            let record = records
                .entry(target.to_owned())
                .or_insert_with(|| Record::new(now));
            record.last_error = error.chars().take(300).collect();
            self.count.store(records.len(), Ordering::Release);
        }
        if let Some((cluster, bus)) = &self.shared {
            let rules = (self.rules.failures_to_cool_down, self.rules.window);
            match cluster
                .target_failed(target, rate_limited, cool_for, rules)
                .await
            {
                Ok(Some(until_ms)) => {
                    self.cooled_elsewhere(target, until_ms);
                    tracing::warn!(
                        target,
                        seconds = cool_for.as_secs_f64(),
                        error,
                        "cooling down"
                    );
                    bus.publish(Change::Cooling {
                        target: target.to_owned(),
                        until_ms,
                    });
                    return true;
                }
                Ok(None) => {
                    let mut records = self.lock();
                    if let Some(record) = records.get_mut(target) {
                        count_failure(record, now, self.rules.window);
                    }
                    return false;
                }
                Err(err) => outage(&err),
            }
        }
        let mut records = self.lock();
        let Some(record) = records.get_mut(target) else {
            return false;
        };
        let cool = rate_limited
            // A failed trial cools it down again at once.
            || record.trial_since.is_some()
            || count_failure(record, now, self.rules.window) >= self.rules.failures_to_cool_down;
        if cool {
            tracing::warn!(
                target,
                seconds = cool_for.as_secs_f64(),
                error,
                "cooling down"
            );
            record.cool_until(now + cool_for);
        }
        cool
    }

    /// How many targets are cooling down now.
    pub fn cooling(&self) -> usize {
        if self.count.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let now = Instant::now();
        self.lock()
            .values()
            .filter(|record| record.cooling_until.is_some_and(|until| until > now))
            .count()
    }

    /// Another instance cooled `target` down until `until_ms` (Unix ms).
    pub fn cooled_elsewhere(&self, target: &str, until_ms: i64) {
        let left = until_ms - time::now().timestamp_millis();
        let Ok(left) = u64::try_from(left) else {
            return;
        };
        let now = Instant::now();
        let mut records = self.lock();
        records
            .entry(target.to_owned())
            .or_insert_with(|| Record::new(now))
            .cool_until(now + Duration::from_millis(left));
        self.count.store(records.len(), Ordering::Release);
    }

    /// Another instance's trial of `target` succeeded, or the deployment
    /// `target` was forgotten there ([`Self::forget`]): it is healthy, and
    /// so are its keys.
    pub fn restored_elsewhere(&self, target: &str) {
        let mut records = self.lock();
        records.retain(|seen, _| {
            seen.strip_prefix(target)
                .is_none_or(|rest| !rest.is_empty() && !rest.starts_with('/'))
        });
        self.count.store(records.len(), Ordering::Release);
    }

    /// Forgets what was seen of `deployments` and their keys, here and on
    /// every instance: their provider was edited, and what failed before
    /// says nothing of it now (an admin who fixed an address or a key
    /// expects the next request to go there).
    pub async fn forget(&self, deployments: &[String]) {
        for id in deployments {
            self.restored_elsewhere(id);
        }
        let Some((cluster, bus)) = &self.shared else {
            return;
        };
        for id in deployments {
            match cluster.forget_targets(id).await {
                Ok(()) => bus.publish(Change::Restored(id.clone())),
                Err(err) => outage(&err),
            }
        }
    }

    /// Mirrors the cooldowns in Redis again (on start, and when the change
    /// bus reconnects: changes may have gone unheard).
    pub async fn reload(&self) {
        let Some((cluster, _)) = &self.shared else {
            return;
        };
        match cluster.cooling_targets().await {
            Ok(cooling) => {
                {
                    let mut records = self.lock();
                    records.retain(|_, record| record.cooling_until.is_none());
                    self.count.store(records.len(), Ordering::Release);
                }
                for (target, until_ms) in cooling {
                    self.cooled_elsewhere(&target, until_ms);
                }
            }
            Err(err) => outage(&err),
        }
    }

    /// Every target with a record, for the admin's view.
    pub fn reports(&self) -> HashMap<String, Report> {
        let now = Instant::now();
        let wall = time::now();
        self.lock()
            .iter()
            .map(|(target, record)| {
                let status = match record.cooling_until {
                    Some(until) if until > now => Status::CoolingDown {
                        until: wall + chrono::Duration::from_std(until - now).unwrap_or_default(),
                    },
                    Some(_) => Status::Trial,
                    None if record.failures > 0
                        && now.duration_since(record.window_started) <= self.rules.window =>
                    {
                        Status::Failing {
                            failures: record.failures,
                        }
                    }
                    None => Status::Healthy,
                };
                let report = Report {
                    status,
                    last_error: Some(record.last_error.clone()).filter(|e| !e.is_empty()),
                };
                (target.clone(), report)
            })
            .collect()
    }

    /// The health of deployment `id` and its keys, as this instance sees it.
    pub fn of_deployment(&self, id: &str) -> DeploymentHealth {
        let mut reports = self.reports();
        let mut keys: Vec<KeyHealth> = reports
            .iter()
            .filter_map(|(target, report)| {
                let key = target.strip_prefix(id)?.strip_prefix('/')?;
                let (status, failures, until) = report.parts();
                Some(KeyHealth {
                    key: key.to_owned(),
                    status,
                    failures,
                    until,
                    last_error: report.last_error.clone(),
                })
            })
            .collect();
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        let deployment = reports.remove(id).unwrap_or(Report::HEALTHY);
        let (status, failures, until) = deployment.parts();
        DeploymentHealth {
            status,
            failures,
            until,
            last_error: deployment.last_error,
            keys,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Counts one failure in the record's window; the failures in it now.
fn count_failure(record: &mut Record, now: Instant, window: Duration) -> u32 {
    if now.duration_since(record.window_started) > window {
        record.window_started = now;
        record.failures = 0;
    }
    record.failures += 1;
    record.failures
}

fn outage(err: &Unavailable) {
    static OUTAGE: OutageLog = OutageLog::new();
    if let Some(held_back) = OUTAGE.due(time::now().timestamp_millis()) {
        tracing::warn!(error = %err.0, held_back, "Redis is unavailable: deployment health is decided by this instance alone");
    }
}

/// The health target of one key of a deployment (a 429 is about the key
/// and the model it was asked for); a deployment's own target is its id.
pub fn key_target(deployment_id: &str, key_tag: &str) -> String {
    format!("{deployment_id}/{key_tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(failures: u32, cooldown: Duration) -> Health {
        let mut health = Health::new(&ProxySettings {
            failures_to_cool_down: failures,
            ..ProxySettings::default()
        });
        health.rules.cooldown = cooldown;
        health
    }

    #[tokio::test]
    async fn failures_below_the_threshold_leave_it_open_and_the_threshold_cools_it() {
        let health = health(3, Duration::from_secs(30));
        for _ in 0..2 {
            health.failed("d", Failure::Failed, "500").await;
            assert_eq!(health.gate("d").await, Gate::Open);
        }
        health.failed("d", Failure::Failed, "500").await;
        assert!(matches!(health.gate("d").await, Gate::Cooling(_)));
        assert_eq!(health.gate("other").await, Gate::Open);
    }

    #[tokio::test]
    async fn after_the_cooldown_one_trial_goes_and_its_outcome_decides() {
        let health = health(1, Duration::from_millis(50));
        health.failed("d", Failure::Failed, "refused").await;
        assert!(matches!(health.gate("d").await, Gate::Cooling(_)));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(health.gate("d").await, Gate::Trial);
        assert!(
            matches!(health.gate("d").await, Gate::Cooling(_)),
            "one trial at a time"
        );
        // A failed trial cools it down again.
        health.failed("d", Failure::Failed, "refused again").await;
        assert!(matches!(health.gate("d").await, Gate::Cooling(_)));
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(health.gate("d").await, Gate::Trial);
        health.succeeded("d").await;
        assert_eq!(health.gate("d").await, Gate::Open);
        assert!(health.reports().is_empty());
    }

    #[tokio::test]
    async fn a_rate_limit_cools_for_its_retry_after() {
        let health = health(3, Duration::from_secs(30));
        let seven = Duration::from_secs(7);
        health
            .failed("d/k", Failure::RateLimited(Some(seven)), "429")
            .await;
        let Gate::Cooling(until) = health.gate("d/k").await else {
            panic!("not cooling");
        };
        let left = until - Instant::now();
        assert!(left > Duration::from_millis(6_900) && left <= seven);
        assert!(matches!(
            health.reports()["d/k"].status,
            Status::CoolingDown { .. }
        ));
    }

    #[tokio::test]
    async fn another_instances_cooldown_and_restoration_are_mirrored() {
        let health = health(3, Duration::from_secs(30));
        let until_ms = crate::platform::time::now().timestamp_millis() + 5_000;
        health.cooled_elsewhere("d", until_ms);
        assert!(matches!(health.gate("d").await, Gate::Cooling(_)));
        health.restored_elsewhere("d");
        assert_eq!(health.gate("d").await, Gate::Open);
        // A cooldown already over when it arrives changes nothing.
        health.cooled_elsewhere("e", until_ms - 10_000);
        assert_eq!(health.gate("e").await, Gate::Open);
    }

    #[tokio::test]
    async fn forgetting_a_deployment_forgets_its_keys_and_nothing_else() {
        let health = health(1, Duration::from_secs(30));
        for target in ["d1", "d1/k1", "d1/k2", "d10", "d10/k1", "d2/k1"] {
            health.failed(target, Failure::Failed, "500").await;
        }
        health.forget(&["d1".to_owned()]).await;
        for target in ["d1", "d1/k1", "d1/k2"] {
            assert_eq!(health.gate(target).await, Gate::Open, "{target}");
        }
        for target in ["d10", "d10/k1", "d2/k1"] {
            assert!(
                matches!(health.gate(target).await, Gate::Cooling(_)),
                "{target}"
            );
        }
    }
}
