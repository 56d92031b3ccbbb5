//! Counters and heartbeats every instance sees: the login and registration
//! throttles' windows, and who is online.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::{Cluster, Op, Unavailable};

/// How long presence is kept (as in memory).
const PRESENCE_KEEP: chrono::Duration = chrono::Duration::hours(24);

impl Cluster {
    /// Adds one to each window (`name`, `limit`) lasting `window`, or to
    /// none when one is full: then how long until it ends.
    pub async fn count(
        &self,
        windows: &[(&str, u32)],
        window: Duration,
    ) -> Result<Result<(), Duration>, Unavailable> {
        let mut invocation = self.scripts.count.prepare_invoke();
        invocation.arg(super::millis(window));
        for (name, limit) in windows {
            invocation.key(self.key("t", name)).arg(*limit);
        }
        let mut redis = self.connection();
        let reply: Vec<i64> = invocation.invoke_async(&mut redis).await?;
        Ok(match reply.as_slice() {
            [1, left] => Err(Duration::from_millis(u64::try_from(*left).unwrap_or(0))),
            _ => Ok(()),
        })
    }

    /// Clears `reset` and takes one from `decrement`.
    pub async fn give_back(&self, reset: &str, decrement: &str) -> Result<(), Unavailable> {
        let mut redis = self.connection();
        self.scripts
            .give_back
            .key(self.key("t", reset))
            .key(self.key("t", decrement))
            .invoke_async::<()>(&mut redis)
            .await?;
        Ok(())
    }

    /// Records that `user` was here at `at` (queued: a heartbeat never
    /// waits on Redis).
    pub fn beat(&self, user: &str, at: DateTime<Utc>) {
        self.send_optional(Op::Beat {
            user: user.to_owned(),
            at_ms: at.timestamp_millis(),
            keep_ms: PRESENCE_KEEP.num_milliseconds(),
        });
    }

    /// Users seen at or after `since`, with when.
    pub async fn seen_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, Unavailable> {
        let mut redis = self.connection();
        let seen: Vec<(String, i64)> = redis::cmd("ZRANGE")
            .arg(self.presence_key())
            .arg(since.timestamp_millis().max(0))
            .arg("+inf")
            .arg("BYSCORE")
            .arg("WITHSCORES")
            .query_async(&mut redis)
            .await?;
        Ok(seen
            .into_iter()
            .filter_map(|(user, at)| Some((user, Utc.timestamp_millis_opt(at).single()?)))
            .collect())
    }

    pub(super) fn presence_key(&self) -> String {
        format!("{}presence", self.prefix)
    }
}
