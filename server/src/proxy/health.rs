//! Which deployments and keys may be called now: a circuit breaker per
//! target. A deployment that failed `proxy.failures_to_cool_down` times
//! within `proxy.failure_window_secs`, or a deployment's key that answered
//! 429, is skipped until its cooldown ends; then exactly one request may
//! try it (half-open): success restores it, failure cools it down again.
//!
//! Fails open: a target with no record is healthy, and a lost record (a
//! restart) only means the next failures are counted again.

use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};

use crate::config::ProxySettings;

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
    pub last_error: Option<String>,
}

#[derive(Debug)]
struct Record {
    window_started: Instant,
    failures: u32,
    cooling_until: Option<Instant>,
    /// A trial request is out since then.
    trial_since: Option<Instant>,
    last_error: String,
}

#[derive(Debug)]
pub struct Health {
    records: Mutex<HashMap<String, Record>>,
    /// How many records there are: zero (the usual case) answers without
    /// the lock.
    count: AtomicUsize,
    failures_to_cool_down: u32,
    window: Duration,
    cooldown: Duration,
    rate_limited: Duration,
}

impl Health {
    pub fn new(settings: &ProxySettings) -> Self {
        Self {
            records: Mutex::default(),
            count: AtomicUsize::new(0),
            failures_to_cool_down: settings.failures_to_cool_down.max(1),
            window: Duration::from_secs(settings.failure_window_secs),
            cooldown: Duration::from_secs(settings.cooldown_secs),
            rate_limited: Duration::from_secs(settings.rate_limited_cooldown_secs),
        }
    }

    /// Whether `target` may be called now; claims the trial when it is due.
    pub fn gate(&self, target: &str) -> Gate {
        if self.count.load(Ordering::Acquire) == 0 {
            return Gate::Open;
        }
        let now = Instant::now();
        let mut records = self.lock();
        let Some(record) = records.get_mut(target) else {
            return Gate::Open;
        };
        match record.cooling_until {
            None => Gate::Open,
            Some(until) if until > now => Gate::Cooling(until),
            // A trial that never reported (its task died) frees the next
            // one after a cooldown's time.
            Some(_) => match record.trial_since {
                Some(since) if now < since + self.cooldown => Gate::Cooling(since + self.cooldown),
                _ => {
                    record.trial_since = Some(now);
                    Gate::Trial
                }
            },
        }
    }

    /// `target` answered: a trial's success restores it.
    pub fn succeeded(&self, target: &str) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut records = self.lock();
        if records
            .get(target)
            .is_some_and(|record| record.cooling_until.is_some())
        {
            records.remove(target);
            self.count.store(records.len(), Ordering::Release);
            tracing::info!(target, "restored after a successful trial");
        }
    }

    /// `target` failed with `error` (for the admin's view).
    pub fn failed(&self, target: &str, failure: Failure, error: &str) {
        let now = Instant::now();
        let mut records = self.lock();
        let record = records.entry(target.to_owned()).or_insert(Record {
            window_started: now,
            failures: 0,
            cooling_until: None,
            trial_since: None,
            last_error: String::new(),
        });
        record.last_error = error.chars().take(300).collect();
        let cool_for = match failure {
            Failure::RateLimited(retry_after) => Some(retry_after.unwrap_or(self.rate_limited)),
            // A failed trial cools it down again at once.
            Failure::Failed if record.trial_since.is_some() => Some(self.cooldown),
            Failure::Failed => {
                if now.duration_since(record.window_started) > self.window {
                    record.window_started = now;
                    record.failures = 0;
                }
                record.failures += 1;
                (record.failures >= self.failures_to_cool_down).then_some(self.cooldown)
            }
        };
        if let Some(cool_for) = cool_for {
            tracing::warn!(
                target,
                seconds = cool_for.as_secs_f64(),
                error,
                "cooling down"
            );
            record.cooling_until = Some(now + cool_for);
            record.trial_since = None;
            record.failures = 0;
            record.window_started = now;
        }
        self.count.store(records.len(), Ordering::Release);
    }

    /// Every target with a record, for the admin's view.
    pub fn reports(&self) -> HashMap<String, Report> {
        let now = Instant::now();
        let wall = crate::time::now();
        self.lock()
            .iter()
            .map(|(target, record)| {
                let status = match (record.cooling_until, record.trial_since) {
                    (Some(until), _) if until > now => Status::CoolingDown {
                        until: wall + chrono::Duration::from_std(until - now).unwrap_or_default(),
                    },
                    (Some(_), _) => Status::Trial,
                    (None, _) if record.failures > 0 => Status::Failing {
                        failures: record.failures,
                    },
                    (None, _) => Status::Healthy,
                };
                let report = Report {
                    status,
                    last_error: Some(record.last_error.clone()).filter(|e| !e.is_empty()),
                };
                (target.clone(), report)
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The health target of a deployment.
pub fn deployment_target(deployment_id: &str) -> String {
    deployment_id.to_owned()
}

/// The health target of one key of a deployment (a 429 is about the key
/// and the model it was asked for).
pub fn key_target(deployment_id: &str, key_tag: &str) -> String {
    format!("{deployment_id}/{key_tag}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health(failures: u32, cooldown_secs: u64) -> Health {
        Health::new(&ProxySettings {
            failures_to_cool_down: failures,
            cooldown_secs,
            ..ProxySettings::default()
        })
    }

    #[test]
    fn failures_below_the_threshold_leave_it_open_and_the_threshold_cools_it() {
        let health = health(3, 30);
        for _ in 0..2 {
            health.failed("d", Failure::Failed, "500");
            assert_eq!(health.gate("d"), Gate::Open);
        }
        health.failed("d", Failure::Failed, "500");
        assert!(matches!(health.gate("d"), Gate::Cooling(_)));
        assert_eq!(health.gate("other"), Gate::Open);
    }

    #[test]
    fn after_the_cooldown_one_trial_goes_and_its_outcome_decides() {
        let health = health_with_cooldown(Duration::from_millis(50));
        health.failed("d", Failure::Failed, "refused");
        assert!(matches!(health.gate("d"), Gate::Cooling(_)));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(health.gate("d"), Gate::Trial);
        assert!(
            matches!(health.gate("d"), Gate::Cooling(_)),
            "one trial at a time"
        );
        // A failed trial cools it down again.
        health.failed("d", Failure::Failed, "refused again");
        assert!(matches!(health.gate("d"), Gate::Cooling(_)));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(health.gate("d"), Gate::Trial);
        health.succeeded("d");
        assert_eq!(health.gate("d"), Gate::Open);
        assert!(health.reports().is_empty());
    }

    #[test]
    fn a_rate_limit_cools_for_its_retry_after() {
        let health = health(3, 30);
        health.failed(
            "d/k",
            Failure::RateLimited(Some(Duration::from_secs(7))),
            "429",
        );
        let Gate::Cooling(until) = health.gate("d/k") else {
            panic!("not cooling");
        };
        let left = until - Instant::now();
        assert!(left > Duration::from_millis(6_900) && left <= Duration::from_secs(7));
        assert!(matches!(
            health.reports()["d/k"].status,
            Status::CoolingDown { .. }
        ));
    }

    fn health_with_cooldown(cooldown: Duration) -> Health {
        let mut health = health(1, 0);
        health.cooldown = cooldown;
        health
    }
}
