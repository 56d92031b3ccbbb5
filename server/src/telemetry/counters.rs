//! Counts kept in memory only: what would cost a row each if written, such
//! as requests refused before they were admitted (a flood must not fill the
//! usage writer's queue), and requests that cost more than they held.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use crate::proxy::error::ErrorKind;

/// The refusal kinds counted, in the order of [`Counters::refusals`].
const REFUSALS: [&str; 7] = [
    "invalid_api_key",
    "rate_limited",
    "invalid_request",
    "payload_too_large",
    "model_not_found",
    "unavailable",
    "other",
];

#[derive(Default)]
pub struct Counters {
    refused: [AtomicU64; REFUSALS.len()],
    overruns: AtomicU64,
    overrun_micro_credits: AtomicI64,
}

impl Counters {
    /// A request turned away before it was admitted (no usage row).
    pub fn refused(&self, kind: ErrorKind) {
        let label = kind.label();
        let slot = REFUSALS
            .iter()
            .position(|known| *known == label)
            .unwrap_or(REFUSALS.len() - 1);
        self.refused[slot].fetch_add(1, Ordering::Relaxed);
    }

    /// A request that cost `amount` micro-credits more than it held.
    pub fn overran(&self, amount: i64) {
        self.overruns.fetch_add(1, Ordering::Relaxed);
        self.overrun_micro_credits
            .fetch_add(amount, Ordering::Relaxed);
    }

    /// Refusals so far, by kind.
    pub fn refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        REFUSALS
            .iter()
            .zip(&self.refused)
            .map(|(label, count)| (*label, count.load(Ordering::Relaxed)))
    }

    /// All refusals so far.
    pub fn refusals_total(&self) -> u64 {
        self.refusals().map(|(_, count)| count).sum()
    }

    /// Overruns so far: how many, and their micro-credits.
    pub fn overruns(&self) -> (u64, i64) {
        (
            self.overruns.load(Ordering::Relaxed),
            self.overrun_micro_credits.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_kind() {
        let counters = Counters::default();
        counters.refused(ErrorKind::RateLimited);
        counters.refused(ErrorKind::RateLimited);
        counters.refused(ErrorKind::Internal);
        let counts: Vec<_> = counters.refusals().filter(|(_, n)| *n > 0).collect();
        assert_eq!(counts, [("rate_limited", 2), ("other", 1)]);
        assert_eq!(counters.refusals_total(), 3);
    }
}
