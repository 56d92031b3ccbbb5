//! Login and registration throttling. Every attempt is counted before
//! its work (the password check, the hash of a new account), atomically
//! with the check of the limit: checking, working and only then recording
//! would let a burst of concurrent attempts all be served against a limit
//! none of them had reached yet.
//!
//! Logins count in two windows: one email from one client address
//! (`auth.login_max_failures`), and one client address across emails (ten
//! times that); a successful login gives its attempt back. Registrations
//! count per client address (`auth.register_max_per_window`), whatever
//! their outcome. Both use `auth.login_window_secs`.
//!
//! With Redis the windows are shared by every instance; while Redis cannot
//! be reached, each instance counts on its own again.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use crate::platform::{cluster::Cluster, error::Error};

/// How many more attempts a client address gets than one email from it.
const PER_CLIENT_FACTOR: u32 = 10;

pub struct LoginThrottle {
    max_attempts: u32,
    windows: Windows,
}

/// An attempt let through: pass it back to [`LoginThrottle::succeeded`].
#[derive(Debug)]
pub struct Attempt {
    account: String,
    client: String,
}

impl LoginThrottle {
    pub fn new(max_attempts: u32, window: Duration, cluster: Option<Arc<Cluster>>) -> Self {
        Self {
            max_attempts,
            windows: Windows::new(window, cluster, "login"),
        }
    }

    /// Counts an attempt for `email` from `client`, or errs with 429 (and
    /// the seconds to wait) when either window is full.
    pub async fn attempt(&self, client: &str, email: &str) -> Result<Attempt, Error> {
        let attempt = Attempt {
            account: format!("{client}|{email}"),
            client: format!("{client}|*"),
        };
        self.windows
            .count(
                &[
                    (&attempt.account, self.max_attempts),
                    (
                        &attempt.client,
                        self.max_attempts.saturating_mul(PER_CLIENT_FACTOR),
                    ),
                ],
                "login attempts",
            )
            .await?;
        Ok(attempt)
    }

    /// A correct password: the email's window starts over, and the
    /// client's gets the attempt back.
    pub async fn succeeded(&self, attempt: Attempt) {
        if let Some(cluster) = &self.windows.cluster {
            let (account, client) = (
                self.windows.name(&attempt.account),
                self.windows.name(&attempt.client),
            );
            match cluster.give_back(&account, &client).await {
                Ok(()) => return,
                Err(err) => tracing::warn!(error = %err, "login throttle on this instance only"),
            }
        }
        let mut windows = self.windows.lock();
        windows.remove(&attempt.account);
        if let Some(window) = windows.get_mut(&attempt.client) {
            window.count = window.count.saturating_sub(1);
        }
    }
}

/// Registrations per client address.
pub struct RegistrationThrottle {
    max_per_client: u32,
    windows: Windows,
}

impl RegistrationThrottle {
    pub fn new(max_per_client: u32, window: Duration, cluster: Option<Arc<Cluster>>) -> Self {
        Self {
            max_per_client,
            windows: Windows::new(window, cluster, "register"),
        }
    }

    /// Counts a registration from `client`, or errs with 429 (and the
    /// seconds to wait) when its window is full.
    pub async fn attempt(&self, client: &str) -> Result<(), Error> {
        self.windows
            .count(&[(client, self.max_per_client)], "registrations")
            .await
    }
}

/// Fixed windows of counts by key, forgotten once they expire.
struct Windows {
    window: Duration,
    counts: Mutex<HashMap<String, Window>>,
    /// Where the windows live when instances share them.
    cluster: Option<Arc<Cluster>>,
    /// Names this throttle's windows in Redis.
    kind: &'static str,
}

struct Window {
    started: Instant,
    count: u32,
}

impl Windows {
    fn new(window: Duration, cluster: Option<Arc<Cluster>>, kind: &'static str) -> Self {
        Self {
            window,
            counts: Mutex::new(HashMap::new()),
            cluster,
            kind,
        }
    }

    fn name(&self, key: &str) -> String {
        format!("{}:{key}", self.kind)
    }

    /// Adds one to every key's window, or to none when any is at its
    /// limit: then 429 "too many `what`".
    async fn count(&self, limits: &[(&str, u32)], what: &str) -> Result<(), Error> {
        if let Some(cluster) = &self.cluster {
            let names: Vec<String> = limits.iter().map(|(key, _)| self.name(key)).collect();
            let windows: Vec<(&str, u32)> = names
                .iter()
                .zip(limits)
                .map(|(name, (_, limit))| (name.as_str(), *limit))
                .collect();
            match cluster.count(&windows, self.window).await {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(left)) => return Err(too_many(what, left)),
                Err(err) => tracing::warn!(error = %err, "{what} counted on this instance only"),
            }
        }
        let now = Instant::now();
        let mut counts = self.lock();
        // Forget expired windows so the map cannot grow without bound.
        counts.retain(|_, w| now.duration_since(w.started) < self.window);
        for (key, limit) in limits {
            if let Some(window) = counts.get(*key)
                && window.count >= *limit
            {
                let elapsed = now.duration_since(window.started);
                return Err(too_many(what, self.window.saturating_sub(elapsed)));
            }
        }
        for (key, _) in limits {
            counts
                .entry((*key).to_owned())
                .or_insert(Window {
                    started: now,
                    count: 0,
                })
                .count += 1;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        // A poisoned map only holds counters; keep using it.
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// 429: the window ends in `left` (a second at least).
fn too_many(what: &str, left: Duration) -> Error {
    let retry_after_secs = left.as_secs().max(1);
    Error::TooManyRequests {
        message: format!("too many {what}; try again in {retry_after_secs} seconds"),
        retry_after_secs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn attempts_are_counted_before_they_are_checked_and_success_clears_them() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60), None);
        let mut attempts = Vec::new();
        for _ in 0..3 {
            attempts.push(throttle.attempt("c", "a").await.unwrap());
        }
        let err = throttle.attempt("c", "a").await.unwrap_err();
        assert!(
            matches!(err, Error::TooManyRequests { retry_after_secs, .. } if retry_after_secs > 0 && retry_after_secs <= 60)
        );
        assert!(
            throttle.attempt("c", "b").await.is_ok(),
            "other emails are unaffected"
        );
        assert!(
            throttle.attempt("d", "a").await.is_ok(),
            "other clients are unaffected"
        );
        let mut attempts = attempts.into_iter();
        throttle.succeeded(attempts.next().unwrap()).await;
        assert!(throttle.attempt("c", "a").await.is_ok());
    }

    #[tokio::test]
    async fn one_client_is_limited_across_emails() {
        let throttle = LoginThrottle::new(1, Duration::from_secs(60), None);
        for n in 0..PER_CLIENT_FACTOR {
            throttle.attempt("c", &format!("user{n}")).await.unwrap();
        }
        assert!(throttle.attempt("c", "someone-else").await.is_err());
        assert!(throttle.attempt("elsewhere", "someone-else").await.is_ok());
    }

    #[tokio::test]
    async fn the_window_expires() {
        let throttle = LoginThrottle::new(1, Duration::from_millis(20), None);
        throttle.attempt("c", "a").await.unwrap();
        assert!(throttle.attempt("c", "a").await.is_err());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(throttle.attempt("c", "a").await.is_ok());
    }

    #[tokio::test]
    async fn registrations_are_counted_per_client_address() {
        let throttle = RegistrationThrottle::new(2, Duration::from_secs(60), None);
        throttle.attempt("c").await.unwrap();
        throttle.attempt("c").await.unwrap();
        let err = throttle.attempt("c").await.unwrap_err();
        assert!(err.to_string().contains("too many registrations"), "{err}");
        assert!(
            throttle.attempt("d").await.is_ok(),
            "other clients are unaffected"
        );
    }
}
