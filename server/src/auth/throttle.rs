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

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::error::Error;

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
    pub fn new(max_attempts: u32, window: Duration) -> Self {
        Self {
            max_attempts,
            windows: Windows::new(window),
        }
    }

    /// Counts an attempt for `email` from `client`, or errs with 429 (and
    /// the seconds to wait) when either window is full.
    pub fn attempt(&self, client: &str, email: &str) -> Result<Attempt, Error> {
        let attempt = Attempt {
            account: format!("{client}|{email}"),
            client: format!("{client}|*"),
        };
        self.windows.count(
            &[
                (&attempt.account, self.max_attempts),
                (
                    &attempt.client,
                    self.max_attempts.saturating_mul(PER_CLIENT_FACTOR),
                ),
            ],
            "login attempts",
        )?;
        Ok(attempt)
    }

    /// A correct password: the email's window starts over, and the
    /// client's gets the attempt back.
    pub fn succeeded(&self, attempt: Attempt) {
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
    pub fn new(max_per_client: u32, window: Duration) -> Self {
        Self {
            max_per_client,
            windows: Windows::new(window),
        }
    }

    /// Counts a registration from `client`, or errs with 429 (and the
    /// seconds to wait) when its window is full.
    pub fn attempt(&self, client: &str) -> Result<(), Error> {
        self.windows
            .count(&[(client, self.max_per_client)], "registrations")
    }
}

/// Fixed windows of counts by key, forgotten once they expire.
struct Windows {
    window: Duration,
    counts: Mutex<HashMap<String, Window>>,
}

struct Window {
    started: Instant,
    count: u32,
}

impl Windows {
    fn new(window: Duration) -> Self {
        Self {
            window,
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Adds one to every key's window, or to none when any is at its
    /// limit: then 429 "too many `what`".
    fn count(&self, limits: &[(&str, u32)], what: &str) -> Result<(), Error> {
        let now = Instant::now();
        let mut counts = self.lock();
        // Forget expired windows so the map cannot grow without bound.
        counts.retain(|_, w| now.duration_since(w.started) < self.window);
        for (key, limit) in limits {
            if let Some(window) = counts.get(*key)
                && window.count >= *limit
            {
                let elapsed = now.duration_since(window.started);
                let retry_after_secs = self.window.saturating_sub(elapsed).as_secs().max(1);
                return Err(Error::TooManyRequests {
                    message: format!("too many {what}; try again in {retry_after_secs} seconds"),
                    retry_after_secs,
                });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_counted_before_they_are_checked_and_success_clears_them() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        let attempts: Vec<_> = (0..3)
            .map(|_| throttle.attempt("c", "a").unwrap())
            .collect();
        let err = throttle.attempt("c", "a").unwrap_err();
        assert!(
            matches!(err, Error::TooManyRequests { retry_after_secs, .. } if retry_after_secs > 0 && retry_after_secs <= 60)
        );
        assert!(
            throttle.attempt("c", "b").is_ok(),
            "other emails are unaffected"
        );
        assert!(
            throttle.attempt("d", "a").is_ok(),
            "other clients are unaffected"
        );
        let mut attempts = attempts.into_iter();
        throttle.succeeded(attempts.next().unwrap());
        assert!(throttle.attempt("c", "a").is_ok());
    }

    #[test]
    fn one_client_is_limited_across_emails() {
        let throttle = LoginThrottle::new(1, Duration::from_secs(60));
        for n in 0..PER_CLIENT_FACTOR {
            throttle.attempt("c", &format!("user{n}")).unwrap();
        }
        assert!(throttle.attempt("c", "someone-else").is_err());
        assert!(throttle.attempt("elsewhere", "someone-else").is_ok());
    }

    #[test]
    fn the_window_expires() {
        let throttle = LoginThrottle::new(1, Duration::from_millis(20));
        throttle.attempt("c", "a").unwrap();
        assert!(throttle.attempt("c", "a").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(throttle.attempt("c", "a").is_ok());
    }

    #[test]
    fn registrations_are_counted_per_client_address() {
        let throttle = RegistrationThrottle::new(2, Duration::from_secs(60));
        throttle.attempt("c").unwrap();
        throttle.attempt("c").unwrap();
        let err = throttle.attempt("c").unwrap_err();
        assert!(err.to_string().contains("too many registrations"), "{err}");
        assert!(
            throttle.attempt("d").is_ok(),
            "other clients are unaffected"
        );
    }
}
