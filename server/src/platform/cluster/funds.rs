//! Balances, holds and key quotas in Redis, for several instances.
//!
//! A user's wallet (`w:<user>`) keeps `balance`, the ledger's balance less
//! the charges settled since it was loaded (written to the ledger or not),
//! `entry`, the last ledger entry it was loaded with, and one
//! `h:<instance>:<request>` field per request in flight holding part of it.
//! A key's quota (`q:<key>`) keeps `spent` and the same holds. Charges settled but not yet written are
//! also kept by usage id (`p:<user>`, `pk:<key>`) until the usage writer
//! has written them: a wallet loaded from the database (at first use, or
//! after Redis came back empty) subtracts them, so it is never loaded
//! richer than it is.

use std::{collections::BTreeSet, sync::Arc};

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{
    Cluster, LiveHold, Op, Unavailable, Unwritten, lock,
    windows::{Full, SharedWindow, Taken, add_windows, read_windows},
};
use crate::platform::{
    db,
    entity::{api_key, credit_balance, credit_entry, usage_record},
    error::Error,
    holds::{Insufficient, Settled, Short},
};

/// Why nothing could be decided.
#[derive(Debug)]
pub enum FundsError {
    Unavailable(Unavailable),
    /// Redis came back empty a moment ago; balances load again shortly.
    Rebuilding,
    Database(Error),
}

impl From<redis::RedisError> for FundsError {
    fn from(err: redis::RedisError) -> Self {
        Self::Unavailable(Unavailable(err))
    }
}

impl From<sea_orm::DbErr> for FundsError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Database(err.into())
    }
}

/// What a reservation decided.
pub enum Reserved<H> {
    /// A rate-limit window was full: nothing taken, nothing held.
    Full(Full),
    /// Every window gave a cell (their readings, in order); then the
    /// hold, or why there is none.
    Taken(Vec<Taken>, Result<Result<H, Short>, FundsError>),
}

impl<H> Reserved<H> {
    /// The hold of a reservation that asked no windows (none can be full).
    pub fn funds(self) -> Result<Result<H, Short>, FundsError> {
        match self {
            Self::Taken(_, funds) => funds,
            Self::Full(_) => Err(FundsError::Unavailable(Unavailable(
                redis::RedisError::from((
                    redis::ErrorKind::UnexpectedReturnType,
                    "a full rate-limit window where none was asked",
                )),
            ))),
        }
    }
}

/// A reservation on a wallet (and a quota), settled exactly once: settled
/// or dropped, the release is queued, never awaited in a destructor.
pub struct SharedHold {
    cluster: Arc<Cluster>,
    user: String,
    key: String,
    /// The request: its hold's name.
    request: String,
    pub amount: i64,
    quota_amount: i64,
}

/// Releases a reservation whose outcome is unknown: the reserving future
/// was dropped (the client hung up) or Redis did not answer in time after
/// the script may have run. Releasing a hold that was never made does
/// nothing.
struct Unsure<'a> {
    cluster: &'a Cluster,
    user: &'a str,
    key: &'a str,
    request: &'a str,
    armed: bool,
}

impl Drop for Unsure<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.cluster.send(Op::Released {
                user: self.user.to_owned(),
                key: self.key.to_owned(),
                hold: self.request.to_owned(),
            });
        }
    }
}

/// Loads in a row before a reservation gives up: each load answers one
/// missing account, and a concurrent one may have loaded it already.
const ATTEMPTS: usize = 4;

impl Cluster {
    /// Takes the request's rate-limit `windows` (none: taken already),
    /// then reserves `amount` on the user's balance and, if the key has a
    /// quota, on the quota, as `request`'s hold: one round trip. An error:
    /// Redis never answered, so whether the windows were taken is unknown.
    pub async fn reserve(
        self: &Arc<Self>,
        db: &DatabaseConnection,
        user: &str,
        key: &api_key::Model,
        request: &str,
        amount: i64,
        windows: &[SharedWindow],
    ) -> Result<Reserved<SharedHold>, FundsError> {
        let wallet = self.key("w", user);
        let quota = self.key("q", &key.id);
        let limit = key.quota_limit.unwrap_or(-1);
        let (mut windows, mut taken, mut answered) = (windows, Vec::new(), false);
        // Once Redis answered, the windows are taken and what fails is the
        // funds' alone.
        let funds = |taken, funds| Ok(Reserved::Taken(taken, funds));
        for _ in 0..ATTEMPTS {
            let mut unsure = Unsure {
                cluster: self,
                user,
                key: &key.id,
                request,
                armed: true,
            };
            let mut invocation = self.scripts.reserve.prepare_invoke();
            invocation
                .key(&wallet)
                .key(&quota)
                .arg(&self.prefix)
                .arg(&self.instance)
                .arg(amount)
                .arg(limit)
                .arg(request);
            add_windows(&mut invocation, windows);
            let mut redis = self.connection();
            let reply: Vec<i64> = match invocation.invoke_async(&mut redis).await {
                Ok(reply) => reply,
                Err(err) if answered => return funds(taken, Err(err.into())),
                Err(err) => return Err(err.into()),
            };
            answered = true;
            // Redis answered in a shape this code knows: what it did is
            // known. Otherwise the hold it may have made is released.
            let parsed = read_windows(&reply, windows.len());
            unsure.armed = !matches!(
                parsed,
                Ok((Err(_), _) | (Ok(_), [0] | [1, _, _] | [2, _] | [3] | [4] | [5]))
            );
            let reply = match parsed {
                Ok((Err(full), _)) => return Ok(Reserved::Full(full)),
                Ok((Ok(readings), reply)) => {
                    if !windows.is_empty() {
                        (windows, taken) = (&[], readings);
                    }
                    reply
                }
                Err(err) => return funds(taken, Err(FundsError::Unavailable(err))),
            };
            let loaded = match reply {
                [0] => {
                    let quota_amount = if limit >= 0 { amount } else { 0 };
                    lock(&self.live).insert(
                        request.to_owned(),
                        LiveHold {
                            user: user.to_owned(),
                            key: key.id.clone(),
                            amount,
                            quota_amount,
                        },
                    );
                    return funds(
                        taken,
                        Ok(Ok(SharedHold {
                            cluster: self.clone(),
                            user: user.to_owned(),
                            key: key.id.clone(),
                            request: request.to_owned(),
                            amount,
                            quota_amount,
                        })),
                    );
                }
                [1, available, balance] => {
                    return funds(
                        taken,
                        Ok(Err(Short::Balance(Insufficient {
                            available: *available,
                            balance: *balance,
                        }))),
                    );
                }
                [2, remaining] => return funds(taken, Ok(Err(Short::Quota(*remaining)))),
                [3] => self.load_wallet(db, user).await,
                [4] => self.load_quota(db, &key.id).await,
                [5] => self.register(true).await.map_err(FundsError::Unavailable),
                _ => Err(FundsError::Unavailable(Unavailable(
                    redis::RedisError::from((
                        redis::ErrorKind::UnexpectedReturnType,
                        "unexpected reply from the reserve script",
                    )),
                ))),
            };
            if let Err(err) = loaded {
                return funds(taken, Err(err));
            }
        }
        funds(taken, Err(FundsError::Rebuilding))
    }

    /// Applies a ledger entry made outside requests (a grant, an
    /// adjustment, a refund) to the user's wallet, and waits (a little) for
    /// Redis to have it, so that it is spendable on every instance at once.
    pub async fn credit(&self, user: &str, entry_id: i64, amount: i64) {
        let mut redis = self.connection();
        let applied: Result<i64, _> = self
            .scripts
            .credit
            .key(self.key("w", user))
            .key(self.key("c", user))
            .key(format!("{}:e:{entry_id}", self.key("w", user)))
            .arg(entry_id)
            .arg(amount)
            .invoke_async(&mut redis)
            .await;
        if let Err(err) = applied {
            // The wallet goes, so that it is loaded again from the ledger.
            tracing::warn!(error = %err, user, "cannot apply a ledger entry in Redis; dropping the wallet");
            self.send(Op::Forget {
                account: self.key("w", user),
            });
        }
    }

    /// What a user may still reserve, if the wallet is loaded.
    pub async fn available(&self, user: &str) -> Result<Option<i64>, Unavailable> {
        let mut redis = self.connection();
        let fields: Vec<(String, i64)> = redis::cmd("HGETALL")
            .arg(self.key("w", user))
            .query_async(&mut redis)
            .await?;
        let balance = fields
            .iter()
            .find(|(field, _)| field == "balance")
            .map(|(_, value)| *value);
        let held: i64 = fields
            .iter()
            .filter(|(field, _)| field.starts_with("h:"))
            .map(|(_, value)| *value)
            .sum();
        Ok(balance.map(|balance| balance - held))
    }

    /// The usage writer stored these rows: their charges are in the ledger.
    /// Rows another process settled count too (a spool's replay).
    pub fn written(&self, rows: &[usage_record::Model]) {
        let mut unwritten = lock(&self.unwritten);
        for row in rows {
            if unwritten.remove(&row.id).is_some() || row.charged > 0 {
                self.send(Op::Written {
                    user: row.user_id.clone(),
                    key: row.api_key_id.clone(),
                    usage: row.id.clone(),
                });
            }
        }
    }

    /// The wallets and quotas these rows charged are loaded again from the
    /// database at their next use.
    pub fn reload_charged(&self, rows: &[usage_record::Model]) {
        let accounts: BTreeSet<String> = rows
            .iter()
            .filter(|row| row.charged > 0)
            .flat_map(|row| [self.key("w", &row.user_id), self.key("q", &row.api_key_id)])
            .collect();
        for account in accounts {
            self.send(Op::Forget { account });
        }
    }

    /// Loads a wallet: the stored balance and the ledger's last entry, less
    /// the charges pending in Redis that the database does not have yet,
    /// plus the entries made while it was not loaded.
    async fn load_wallet(&self, db: &DatabaseConnection, user: &str) -> Result<(), FundsError> {
        let pending = self.key("p", user);
        let charges = self.pending(&pending).await?;
        let txn = db::begin_snapshot(db).await?;
        let balance = credit_balance::of(&txn, user).await?;
        let last_entry: Option<i64> = credit_entry::Entity::find()
            .select_only()
            .column(credit_entry::Column::Id)
            .filter(credit_entry::Column::UserId.eq(user))
            .order_by_desc(credit_entry::Column::Id)
            .into_tuple::<i64>()
            .one(&txn)
            .await?;
        let written = written_among(&txn, &charges).await?;
        txn.commit().await?;
        let load = Load {
            keys: [self.key("w", user), pending, self.key("c", user)],
            field: "balance",
            stored: balance,
            last_entry: Some(last_entry.unwrap_or(0)),
            sign: -1,
        };
        self.load(load, &charges, &written).await
    }

    /// Loads a key's quota: its stored spend plus what is pending.
    async fn load_quota(&self, db: &DatabaseConnection, key_id: &str) -> Result<(), FundsError> {
        let pending = self.key("pk", key_id);
        let charges = self.pending(&pending).await?;
        let txn = db::begin_snapshot(db).await?;
        let spent = api_key::Entity::find_by_id(key_id.to_owned())
            .one(&txn)
            .await?
            .map_or(0, |key| key.quota_used);
        let written = written_among(&txn, &charges).await?;
        txn.commit().await?;
        let load = Load {
            keys: [self.key("q", key_id), pending, self.key("c", key_id)],
            field: "spent",
            stored: spent,
            last_entry: None,
            sign: 1,
        };
        self.load(load, &charges, &written).await
    }

    /// The charges pending on an account, by usage id.
    async fn pending(&self, pending: &str) -> Result<Vec<(String, i64)>, FundsError> {
        let mut redis = self.connection();
        Ok(redis::cmd("HGETALL")
            .arg(pending)
            .query_async(&mut redis)
            .await?)
    }

    /// Runs the load script. Of `charges` (pending when the snapshot was
    /// read), those the snapshot has not `written` are taken off.
    async fn load(
        &self,
        load: Load,
        charges: &[(String, i64)],
        written: &[String],
    ) -> Result<(), FundsError> {
        let [account, pending, kept] = load.keys;
        let unwritten: Vec<&(String, i64)> = charges
            .iter()
            .filter(|(id, _)| !written.contains(id))
            .collect();
        let mut invocation = self.scripts.load.key(account);
        invocation
            .key(pending)
            .key(kept)
            .arg(&self.prefix)
            .arg(load.field)
            .arg(load.stored)
            .arg(load.last_entry.map(|id| id.to_string()).unwrap_or_default())
            .arg(load.sign)
            .arg(unwritten.len());
        for (id, amount) in unwritten {
            invocation.arg(id).arg(amount);
        }
        for id in written {
            invocation.arg(id);
        }
        let mut redis = self.connection();
        match invocation.invoke_async::<i64>(&mut redis).await? {
            0 => Ok(()),
            _ => Err(FundsError::Rebuilding),
        }
    }
}

/// What an account is loaded from.
struct Load {
    /// The account, its pending charges, the entries kept aside for it.
    keys: [String; 3],
    field: &'static str,
    /// The database's figure in the snapshot.
    stored: i64,
    /// Wallets: the ledger's last entry in the snapshot.
    last_entry: Option<i64>,
    /// How a pending charge moves the figure.
    sign: i64,
}

/// Of the `charges`' usage ids, those the database has.
async fn written_among(
    txn: &sea_orm::DatabaseTransaction,
    charges: &[(String, i64)],
) -> Result<Vec<String>, sea_orm::DbErr> {
    let ids: Vec<&str> = charges.iter().map(|(id, _)| id.as_str()).collect();
    Ok(usage_record::stored_among(txn, &ids)
        .await?
        .into_iter()
        .collect())
}

impl SharedHold {
    /// Releases the hold and charges `cost` in full (see
    /// [`crate::gateway::wallets::Hold::settle`]); the charge stays pending
    /// under `usage` until the usage writer has written it.
    pub fn settle(mut self, cost: i64, usage: &str) -> Settled {
        let held = std::mem::take(&mut self.amount);
        let quota_held = std::mem::take(&mut self.quota_amount);
        lock(&self.cluster.live).remove(&self.request);
        let Settled { charged, overrun } = Settled::of(held, cost);
        if charged > 0 {
            lock(&self.cluster.unwritten).insert(
                usage.to_owned(),
                Unwritten {
                    user: self.user.clone(),
                    key: self.key.clone(),
                    charged,
                },
            );
        }
        if held == 0 && quota_held == 0 && charged == 0 {
            return Settled { charged, overrun };
        }
        self.cluster.send(Op::Settled {
            user: std::mem::take(&mut self.user),
            key: std::mem::take(&mut self.key),
            usage: usage.to_owned(),
            hold: std::mem::take(&mut self.request),
            charged,
        });
        Settled { charged, overrun }
    }
}

impl Drop for SharedHold {
    /// Never settled (the request's task ended early): released without a
    /// charge.
    fn drop(&mut self) {
        if self.amount != 0 || self.quota_amount != 0 {
            lock(&self.cluster.live).remove(&self.request);
            self.cluster.send(Op::Released {
                user: std::mem::take(&mut self.user),
                key: std::mem::take(&mut self.key),
                hold: std::mem::take(&mut self.request),
            });
        }
    }
}
