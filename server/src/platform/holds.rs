//! What reserving a request's worst case and settling it come to, wherever
//! the balance lives (this instance's memory or Redis).

/// Why a hold was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insufficient {
    /// Balance minus open holds, in micro-credits.
    pub available: i64,
    /// The balance itself: below zero after a request that cost more than
    /// it held, which blocks every request until it is positive again.
    pub balance: i64,
}

/// Why a request's worst case was not reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Short {
    Balance(Insufficient),
    /// The key's quota: what is left of it.
    Quota(i64),
}

/// What settling a hold took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The request's whole cost: always charged in full.
    pub charged: i64,
    /// What it cost beyond the hold (a provider reported more than it was
    /// allowed); zero normally.
    pub overrun: i64,
}

impl Settled {
    /// A request that held `held` and cost `cost` is charged all of it.
    pub fn of(held: i64, cost: i64) -> Self {
        let charged = cost.max(0);
        Self {
            charged,
            overrun: (charged - held).max(0),
        }
    }
}
