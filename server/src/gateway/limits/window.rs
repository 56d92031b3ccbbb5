//! One rate-limit window: `limit` cells a minute, refilled evenly (GCRA,
//! from `governor`), with a debt for tokens used beyond what was left.
//!
//! Requests take one cell each. Tokens are known only after the answer, so
//! a request takes one token to be let in and its real usage is added when
//! it settles; usage the bucket cannot cover becomes a debt, paid before the
//! next request is let in. Over any stretch of time the tokens counted are
//! exactly the tokens used.

use std::{num::NonZeroU32, sync::Mutex, time::Duration};

use governor::{
    Quota, RateLimiter,
    clock::{Clock, DefaultClock},
    middleware::StateInformationMiddleware,
    state::{InMemoryState, NotKeyed},
};

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// What a window looks like after a decision, for the `x-ratelimit-*`
/// headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    pub limit: u32,
    pub remaining: u32,
    /// Until the window is full again.
    pub reset: Duration,
}

/// A refusal: when to try again, and the window as it is.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub retry_after: Duration,
    pub reading: Reading,
}

pub struct Window {
    limit: NonZeroU32,
    /// The time one cell takes to come back.
    interval: Duration,
    limiter: Limiter,
    clock: DefaultClock,
    debt: Mutex<u64>,
}

impl Window {
    pub fn per_minute(limit: NonZeroU32) -> Self {
        let quota = Quota::per_minute(limit);
        Self {
            limit,
            interval: quota.replenish_interval(),
            limiter: RateLimiter::direct(quota).with_middleware::<StateInformationMiddleware>(),
            clock: DefaultClock::default(),
            debt: Mutex::new(0),
        }
    }

    /// Takes one cell, after paying any debt; refused while the debt or the
    /// cell cannot be covered.
    pub fn take_one(&self) -> Result<Reading, Wait> {
        let mut debt = self.debt.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            self.pay(&mut debt);
            match self.limiter.check() {
                Ok(snapshot) if *debt == 0 => {
                    return Ok(self.reading(snapshot.remaining_burst_capacity()));
                }
                // A cell came back since `pay` ran out: it goes to the debt.
                Ok(_) => *debt -= 1,
                Err(not_until) => {
                    // The window is empty: this request's cell comes after
                    // the next one and one for every token still owed.
                    let owed = self.cells(*debt);
                    let retry_after = not_until.wait_time_from(self.clock.now()) + owed;
                    return Err(Wait {
                        retry_after,
                        reading: Reading {
                            limit: self.limit.get(),
                            remaining: 0,
                            reset: retry_after + self.cells(u64::from(self.limit.get() - 1)),
                        },
                    });
                }
            }
        }
    }

    /// Counts `cells` more (a request's tokens beyond the one it was let in
    /// with); what the window cannot take now is owed.
    pub fn add(&self, cells: u64) {
        if cells == 0 {
            return;
        }
        let mut debt = self.debt.lock().unwrap_or_else(|p| p.into_inner());
        *debt += cells;
        self.pay(&mut debt);
    }

    /// Whether the window owes nothing. One that owes pays what it holds
    /// now instead, so that it is at rest a while later; an idle window
    /// with no debt is full again a minute after its last use.
    pub fn at_rest(&self) -> bool {
        let mut debt = self.debt.lock().unwrap_or_else(|p| p.into_inner());
        if *debt == 0 {
            return true;
        }
        self.pay(&mut debt);
        false
    }

    /// Pays as much of the debt as the window holds now. `governor` takes n
    /// cells only when all n are there, so the chunk halves until it fits.
    fn pay(&self, debt: &mut u64) {
        let mut chunk = (*debt).min(u64::from(self.limit.get()));
        while *debt > 0 && chunk > 0 {
            let cells = NonZeroU32::new(u32::try_from(chunk).unwrap_or(u32::MAX));
            match cells.map(|cells| self.limiter.check_n(cells)) {
                Some(Ok(Ok(_))) => {
                    *debt -= chunk;
                    chunk = chunk.min(*debt);
                }
                _ => chunk /= 2,
            }
        }
    }

    /// Until the window is full again: an upper bound, at most one cell's
    /// interval late, never early.
    fn reading(&self, remaining: u32) -> Reading {
        Reading {
            limit: self.limit.get(),
            remaining,
            reset: self.cells(u64::from(self.limit.get().saturating_sub(remaining))),
        }
    }

    fn cells(&self, count: u64) -> Duration {
        self.interval
            .saturating_mul(u32::try_from(count).unwrap_or(u32::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(limit: u32) -> Window {
        Window::per_minute(NonZeroU32::new(limit).unwrap())
    }

    #[test]
    fn requests_count_down_to_zero_then_wait() {
        let window = window(3);
        let remaining: Vec<u32> = (0..3)
            .map(|_| window.take_one().unwrap().remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let wait = window.take_one().unwrap_err();
        // One cell comes back every 20 s.
        assert!(wait.retry_after > Duration::from_secs(19));
        assert!(wait.retry_after <= Duration::from_secs(20));
        assert_eq!(wait.reading.remaining, 0);
    }

    #[test]
    fn reading_says_when_the_window_is_full_again() {
        let window = window(60);
        let reading = window.take_one().unwrap();
        assert_eq!(reading.remaining, 59);
        assert_eq!(reading.reset, Duration::from_secs(1));
    }

    #[test]
    fn usage_beyond_the_window_is_owed_before_the_next_request() {
        let window = window(1_000);
        window.take_one().unwrap();
        // 2,500 tokens used: 999 fit, the rest is owed.
        window.add(2_499);
        assert_eq!(*window.debt.lock().unwrap(), 1_500);
        let wait = window.take_one().unwrap_err();
        // 1,500 tokens owed, then this request's own: 60 ms a token.
        assert!(wait.retry_after > Duration::from_secs(90), "{wait:?}");
        assert!(
            wait.retry_after <= Duration::from_millis(90_060),
            "{wait:?}"
        );
        assert_eq!(*window.debt.lock().unwrap(), 1_500);
    }

    #[test]
    fn a_window_that_owes_is_not_at_rest_until_it_paid() {
        let window = window(1_000);
        window.take_one().unwrap();
        assert!(window.at_rest());
        window.add(1_500);
        assert_eq!(*window.debt.lock().unwrap(), 501);

        // Nothing came back yet: it still owes.
        assert!(!window.at_rest());
        assert!(*window.debt.lock().unwrap() > 0);
    }

    #[test]
    fn tokens_count_exactly_what_was_used() {
        let window = window(1_000_000);
        assert_eq!(window.take_one().unwrap().remaining, 999_999);
        window.add(41);
        assert_eq!(window.take_one().unwrap().remaining, 999_957);
    }
}
