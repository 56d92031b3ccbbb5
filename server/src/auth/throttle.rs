//! Login throttling: after too many failed logins for one email from one
//! client, further attempts answer 429 until the window ends.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::error::Error;

pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Window>>,
}

struct Window {
    started: Instant,
    count: u32,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Errs with 429 (and the seconds to wait) when `key` is locked out.
    pub fn check(&self, key: &str) -> Result<(), Error> {
        let now = Instant::now();
        let mut failures = self.lock();
        let Some(entry) = failures.get(key) else {
            return Ok(());
        };
        let elapsed = now.duration_since(entry.started);
        if elapsed >= self.window {
            failures.remove(key);
            return Ok(());
        }
        if entry.count >= self.max_failures {
            let retry_after_secs = (self.window - elapsed).as_secs().max(1);
            return Err(Error::TooManyRequests {
                message: format!("too many failed logins; try again in {retry_after_secs} seconds"),
                retry_after_secs,
            });
        }
        Ok(())
    }

    pub fn record_failure(&self, key: &str) {
        let now = Instant::now();
        let mut failures = self.lock();
        // Forget expired windows so the map cannot grow without bound.
        failures.retain(|_, w| now.duration_since(w.started) < self.window);
        let entry = failures.entry(key.to_owned()).or_insert(Window {
            started: now,
            count: 0,
        });
        entry.count += 1;
    }

    pub fn reset(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        // A poisoned map only holds counters; keep using it.
        self.failures
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_after_the_limit_and_reset_clears_it() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            throttle.check("a").unwrap();
            throttle.record_failure("a");
        }
        let err = throttle.check("a").unwrap_err();
        assert!(
            matches!(err, Error::TooManyRequests { retry_after_secs, .. } if retry_after_secs > 0 && retry_after_secs <= 60)
        );
        assert!(throttle.check("b").is_ok(), "other keys are unaffected");
        throttle.reset("a");
        assert!(throttle.check("a").is_ok());
    }

    #[test]
    fn the_window_expires() {
        let throttle = LoginThrottle::new(1, Duration::from_millis(20));
        throttle.record_failure("a");
        assert!(throttle.check("a").is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(throttle.check("a").is_ok());
    }
}
