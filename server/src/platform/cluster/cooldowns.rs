//! Deployments and keys cooling down, for every instance at once: a
//! failure is counted in Redis, the cooldown it starts is a key that
//! expires when it ends, and the trial after it is claimed by one request
//! of one instance. Each instance mirrors the cooldowns in memory
//! (`proxy::health`), told of new ones by the change bus, so a healthy
//! target costs no round trip.

use std::time::Duration;

use super::{Cluster, Unavailable};

use crate::platform::time;

impl Cluster {
    /// Counts a failure of `target` (`rate_limited`: a 429, which cools it
    /// down at once for `cool_for`); the end of the cooldown it started,
    /// in Unix milliseconds, if it started one.
    pub async fn target_failed(
        &self,
        target: &str,
        rate_limited: bool,
        cool_for: Duration,
        (failures, window): (u32, Duration),
    ) -> Result<Option<i64>, Unavailable> {
        let mut redis = self.connection();
        let until: i64 = self
            .scripts
            .cooldown
            .key(self.key("hc", target))
            .key(self.key("hf", target))
            .key(self.key("ht", target))
            .arg(time::now().timestamp_millis())
            .arg(if rate_limited { "rate" } else { "fail" })
            .arg(millis(cool_for))
            .arg(failures)
            .arg(millis(window).max(1))
            .invoke_async(&mut redis)
            .await?;
        Ok((until > 0).then_some(until))
    }

    /// Claims the trial of `target` for `lease`: `None` when the caller is
    /// the trial, else how long until another may be claimed.
    pub async fn claim_trial(
        &self,
        target: &str,
        lease: Duration,
    ) -> Result<Option<Duration>, Unavailable> {
        let mut redis = self.connection();
        let wait: i64 = self
            .scripts
            .trial
            .key(self.key("hc", target))
            .key(self.key("ht", target))
            .arg(millis(lease).max(1))
            .arg(&self.instance)
            .invoke_async(&mut redis)
            .await?;
        Ok((wait > 0).then(|| Duration::from_millis(wait.unsigned_abs())))
    }

    /// `target`'s trial succeeded: it is healthy again.
    pub async fn target_restored(&self, target: &str) -> Result<(), Unavailable> {
        let mut redis = self.connection();
        redis::cmd("DEL")
            .arg(self.key("hc", target))
            .arg(self.key("hf", target))
            .arg(self.key("ht", target))
            .query_async::<()>(&mut redis)
            .await?;
        Ok(())
    }

    /// Forgets a deployment's health and its keys': its cooldowns, failure
    /// counts and trials.
    pub async fn forget_targets(&self, deployment: &str) -> Result<(), Unavailable> {
        let mut doomed = Vec::new();
        for kind in ["hc", "hf", "ht"] {
            let own = self.key(kind, deployment);
            doomed.extend(self.keys_matching(&format!("{own}/*")).await?);
            doomed.push(own);
        }
        let mut redis = self.connection();
        redis::cmd("DEL")
            .arg(&doomed)
            .query_async::<()>(&mut redis)
            .await?;
        Ok(())
    }

    /// Every target cooling down, with the end of its cooldown (Unix ms).
    pub async fn cooling_targets(&self) -> Result<Vec<(String, i64)>, Unavailable> {
        let prefix = self.key("hc", "");
        let mut redis = self.connection();
        let mut cooling = Vec::new();
        for key in self.keys_matching(&format!("{prefix}*")).await? {
            let until: Option<i64> = redis::cmd("GET").arg(&key).query_async(&mut redis).await?;
            if let (Some(target), Some(until)) = (key.strip_prefix(&prefix), until) {
                cooling.push((target.to_owned(), until));
            }
        }
        Ok(cooling)
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
