//! Balances and holds in memory, so that admitting a request never waits on
//! the database and concurrent requests can never spend more than a
//! balance: a hold is a ceiling, since the proxy sends the provider the
//! output cap it held for.
//!
//! A wallet is loaded from `credit_balances` the first time its user makes
//! a request and stays for the life of the process. From then on every
//! change goes through it first: a request reserves its worst case (a
//! hold), settles by releasing the hold and subtracting what it actually
//! cost, and the usage writer later writes the same charge to the ledger.
//! So the in-memory balance is the stored one minus charges still queued,
//! never more. Grants and adjustments hold [`Wallets::loading`] across
//! their transaction, so a wallet cannot be loaded between their commit
//! and their update of it (which would count them twice).
//!
//! With several instances the wallets live in Redis instead
//! (`crate::platform::cluster::funds`), where ledger entries are applied by id, and
//! `loading` only orders this instance's own changes.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, RwLock},
};

use sea_orm::DatabaseConnection;

use crate::{
    gateway::api_keys::cache::{KeyCaller, QuotaHold},
    platform::{
        cluster::{
            Cluster,
            funds::{FundsError, Reserved, SharedHold},
            windows::SharedWindow,
        },
        entity::credit_balance,
        error::{Error, Result},
        holds::{Insufficient, Settled, Short},
    },
};

#[derive(Debug, Default)]
struct Wallet {
    /// Micro-credits: the ledger's balance minus charges not yet written.
    balance: i64,
    /// Micro-credits promised to requests in flight.
    held: i64,
}

#[derive(Default)]
pub struct Wallets {
    wallets: RwLock<HashMap<String, Arc<Mutex<Wallet>>>>,
    /// Taken to load a wallet, and by balance changes outside requests.
    pub loading: tokio::sync::Mutex<()>,
    /// With several instances the wallets live in Redis instead.
    cluster: Option<Arc<Cluster>>,
    /// While Redis cannot be reached, a request with nothing to hold goes
    /// on without one.
    free_when_down: bool,
}

/// A request's reservations: in this instance's memory, or shared in
/// Redis.
pub enum Holds {
    /// The owner's balance, and the key's quota if it has one.
    Local(Hold, Option<QuotaHold>),
    Shared(SharedHold),
}

/// A reservation on a user's balance, to be settled exactly once.
#[derive(Debug)]
pub struct Hold {
    wallet: Arc<Mutex<Wallet>>,
    pub amount: i64,
}

impl Wallets {
    /// Reserves `amount` of `user_id`'s balance in memory, or says how
    /// much is free.
    async fn reserve(
        &self,
        db: &DatabaseConnection,
        user_id: &str,
        amount: i64,
    ) -> Result<std::result::Result<Hold, Insufficient>> {
        let wallet = self.wallet(db, user_id).await?;
        let mut held = lock(&wallet);
        let available = held.balance - held.held;
        if available < amount || held.balance < 0 {
            return Ok(Err(Insufficient {
                available,
                balance: held.balance,
            }));
        }
        held.held += amount;
        drop(held);
        Ok(Ok(Hold { wallet, amount }))
    }

    pub fn new(cluster: Option<Arc<Cluster>>, free_when_down: bool) -> Self {
        Self {
            cluster,
            free_when_down,
            ..Self::default()
        }
    }

    /// Reserves `amount` on the caller's key quota and its owner's
    /// balance for `request`, both or neither: in memory, or in Redis when
    /// instances share them, where the request's rate-limit `windows` are
    /// taken first in the same round trip (in memory there are none here:
    /// they were taken before the body was read). A hold of `None`: Redis
    /// is away and there was nothing to hold. An error: Redis never
    /// answered, so whether the windows were taken is unknown.
    pub async fn hold(
        &self,
        db: &DatabaseConnection,
        caller: &KeyCaller,
        request: &str,
        amount: i64,
        windows: &[SharedWindow],
    ) -> std::result::Result<Reserved<Option<Holds>>, FundsError> {
        let Some(cluster) = &self.cluster else {
            debug_assert!(windows.is_empty(), "in memory, windows are not taken here");
            let quota_hold = match caller.reserve_quota(amount) {
                Ok(quota_hold) => quota_hold,
                Err(remaining) => {
                    return Ok(Reserved::Taken(
                        Vec::new(),
                        Ok(Err(Short::Quota(remaining))),
                    ));
                }
            };
            let hold = self
                .reserve(db, &caller.owner.id, amount)
                .await
                .map_err(FundsError::Database)
                .map(|hold| {
                    hold.map(|hold| Some(Holds::Local(hold, quota_hold)))
                        .map_err(Short::Balance)
                });
            return Ok(Reserved::Taken(Vec::new(), hold));
        };
        let reserved = cluster
            .reserve(db, &caller.owner.id, &caller.key, request, amount, windows)
            .await;
        let (taken, funds) = match reserved {
            Ok(Reserved::Full(full)) => return Ok(Reserved::Full(full)),
            Ok(Reserved::Taken(taken, funds)) => (taken, funds),
            // With no windows asked, nothing is unknown but the funds.
            Err(err) if windows.is_empty() => (Vec::new(), Err(err)),
            Err(err) => return Err(err),
        };
        let funds = match funds {
            Ok(held) => Ok(held.map(|hold| Some(Holds::Shared(hold)))),
            Err(FundsError::Unavailable(err)) if amount == 0 && self.free_when_down => {
                tracing::warn!(error = %err, "a free request goes on without Redis");
                Ok(Ok(None))
            }
            // Nothing to hold while balances are rebuilt: as when Redis is away.
            Err(FundsError::Rebuilding) if amount == 0 && self.free_when_down => Ok(Ok(None)),
            Err(err) => Err(err),
        };
        Ok(Reserved::Taken(taken, funds))
    }

    /// Applies a ledger entry made outside requests (a grant, an
    /// adjustment, a refund), if the wallet is loaded. Call while holding
    /// `loading`.
    pub async fn credit(&self, user_id: &str, entry_id: i64, amount: i64) {
        if let Some(cluster) = &self.cluster {
            return cluster.credit(user_id, entry_id, amount).await;
        }
        if let Some(wallet) = self.read().get(user_id) {
            lock(wallet).balance += amount;
        }
    }

    /// Balance minus holds, if the wallet is loaded. Call while holding
    /// `loading` to decide on a negative adjustment.
    pub async fn available(&self, user_id: &str) -> Result<Option<i64>> {
        if let Some(cluster) = &self.cluster {
            return cluster
                .available(user_id)
                .await
                .map_err(|err| Error::Unavailable(err.to_string()));
        }
        Ok(self.read().get(user_id).map(|wallet| {
            let wallet = lock(wallet);
            wallet.balance - wallet.held
        }))
    }

    async fn wallet(&self, db: &DatabaseConnection, user_id: &str) -> Result<Arc<Mutex<Wallet>>> {
        if let Some(wallet) = self.read().get(user_id) {
            return Ok(wallet.clone());
        }
        let _loading = self.loading.lock().await;
        if let Some(wallet) = self.read().get(user_id) {
            return Ok(wallet.clone());
        }
        let balance = credit_balance::of(db, user_id).await?;
        let wallet = Arc::new(Mutex::new(Wallet { balance, held: 0 }));
        self.wallets
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(user_id.to_owned(), wallet.clone());
        Ok(wallet)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Mutex<Wallet>>>> {
        self.wallets
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Hold {
    /// Releases the hold and charges `cost` in full, even beyond the hold
    /// (and so possibly below zero): every answered request is charged
    /// what it cost, and an overrun is reported, never dropped.
    pub fn settle(mut self, cost: i64) -> Settled {
        let held = std::mem::take(&mut self.amount);
        let settled = Settled::of(held, cost);
        let mut wallet = lock(&self.wallet);
        wallet.held -= held;
        wallet.balance = wallet.balance.saturating_sub(settled.charged);
        settled
    }
}

impl Drop for Hold {
    /// A hold that was never settled (the request's task ended early) is
    /// released without a charge rather than kept forever.
    fn drop(&mut self) {
        if self.amount != 0 {
            lock(&self.wallet).held -= self.amount;
        }
    }
}

fn lock(wallet: &Mutex<Wallet>) -> std::sync::MutexGuard<'_, Wallet> {
    wallet
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
