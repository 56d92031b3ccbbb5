//! The usage writer: one transaction per batch inserts the `usage_records`
//! rows, adds them to the rollups, moves each key's spend and last use,
//! writes the charges to the ledger and an audit entry for each overrun.
//! Rows come from the usage spool ([`super::spool`]) and are never dropped:
//! a batch whose commit fails is tried again until the database takes it,
//! and a retry (or a replay of the spool) first skips rows already stored,
//! so a commit that happened unseen is not counted twice.

use std::{borrow::Cow, collections::BTreeMap, sync::Arc};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, IntoActiveModel,
    QueryFilter, Set,
    sea_query::{Alias, Expr, ExprTrait, OnConflict},
};
use serde_json::json;

use crate::{
    console::{
        audit::{self, Action, Target},
        credits,
    },
    platform::{
        batch::{self, BatchWriter, FOREVER, Sink},
        cluster::Cluster,
        db,
        entity::{
            api_key,
            credit_entry::{self, EntryKind},
            daily_usage, daily_user_usage, llm_usage, usage_record,
        },
        pricing::UsageSums,
    },
};

pub type UsageWriter = BatchWriter<usage_record::Model>;

/// `cluster`: told which rows were written, so their charges stop being
/// pending in Redis.
pub fn start(db: DatabaseConnection, cluster: Option<Arc<Cluster>>) -> UsageWriter {
    BatchWriter::start(db, UsageRecords { cluster })
}

struct UsageRecords {
    cluster: Option<Arc<Cluster>>,
}

impl Sink for UsageRecords {
    type Row = usage_record::Model;
    const NAME: &'static str = "usage_records";
    const RETRIES: u32 = FOREVER;
    /// Eight full batches: enough to ride out a slow commit, small enough
    /// that a writer behind at saturation costs megabytes, not hundreds.
    const QUEUE: usize = 8_192;

    async fn write(
        &self,
        db: &DatabaseConnection,
        rows: &[usage_record::Model],
        retry: bool,
    ) -> Result<(), DbErr> {
        let txn = db::begin_write(db).await?;
        let new = if retry {
            Cow::Owned(not_stored(&txn, rows).await?)
        } else {
            Cow::Borrowed(rows)
        };
        store(&txn, &new).await?;
        txn.commit().await?;
        // All of them: those an unseen commit stored are written too.
        if let Some(cluster) = &self.cluster {
            cluster.written(rows);
        }
        Ok(())
    }
}

/// Stores the rows not stored yet (a spool's replay), in one transaction.
/// With Redis, the accounts they charged are loaded again afterwards: the
/// instance that spooled them may have been killed before telling Redis of
/// their charges, which the database has now.
pub async fn write_new(
    db: &DatabaseConnection,
    rows: &[usage_record::Model],
    cluster: Option<Arc<Cluster>>,
) -> Result<(), DbErr> {
    UsageRecords {
        cluster: cluster.clone(),
    }
    .write(db, rows, true)
    .await?;
    if let Some(cluster) = cluster {
        cluster.reload_charged(rows);
    }
    Ok(())
}

/// The rows whose ids are not in `usage_records` yet.
async fn not_stored(
    txn: &DatabaseTransaction,
    rows: &[usage_record::Model],
) -> Result<Vec<usage_record::Model>, DbErr> {
    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    let stored = usage_record::stored_among(txn, &ids).await?;
    Ok(rows
        .iter()
        .filter(|row| !stored.contains(&row.id))
        .cloned()
        .collect())
}

/// Everything a batch of new rows changes, on `txn`.
async fn store(txn: &DatabaseTransaction, rows: &[usage_record::Model]) -> Result<(), DbErr> {
    {
        for chunk in batch::chunks(rows) {
            usage_record::Entity::insert_many(
                chunk.iter().map(|row| row.clone().into_active_model()),
            )
            .exec_without_returning(txn)
            .await?;
        }

        let per_user_model = rollup(rows.iter().filter(|r| r.model_id.is_some()), |row| {
            (row.user_id.clone(), row.model.clone())
        });
        let per_user_model: Vec<_> = per_user_model
            .into_iter()
            .map(|((user_id, model), sum)| llm_usage::ActiveModel {
                user_id: Set(user_id),
                model: Set(model),
                count: Set(sum.sums.requests),
                last_used_at: Set(Some(sum.last_at)),
                ..Default::default()
            })
            .collect();
        for chunk in batch::chunks(&per_user_model) {
            llm_usage::Entity::insert_many(chunk.iter().cloned())
                .on_conflict(
                    OnConflict::columns([llm_usage::Column::UserId, llm_usage::Column::Model])
                        .value(
                            llm_usage::Column::Count,
                            added(llm_usage::Entity, llm_usage::Column::Count),
                        )
                        .update_column(llm_usage::Column::LastUsedAt)
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }

        let per_day_model = rollup(rows.iter().filter(|r| r.model_id.is_some()), |row| {
            (
                row.created_at.format("%Y-%m-%d").to_string(),
                row.model.clone(),
            )
        });
        let per_day_model: Vec<_> = per_day_model
            .into_iter()
            .map(|((date, model), sum)| daily_usage::ActiveModel {
                date: Set(date),
                model: Set(model),
                total_requests: Set(sum.sums.requests),
                input_tokens: Set(sum.sums.input_tokens),
                output_tokens: Set(sum.sums.output_tokens),
                cache_read_tokens: Set(sum.sums.cache_read_tokens),
                cache_write_tokens: Set(sum.sums.cache_write_tokens),
                cost: Set(sum.sums.cost),
                errors: Set(sum.sums.errors),
                charged: Set(sum.sums.charged),
                ..Default::default()
            })
            .collect();
        for chunk in batch::chunks(&per_day_model) {
            use daily_usage::Column as C;
            daily_usage::Entity::insert_many(chunk.iter().cloned())
                .on_conflict(
                    OnConflict::columns([C::Date, C::Model])
                        .value(
                            C::TotalRequests,
                            added(daily_usage::Entity, C::TotalRequests),
                        )
                        .value(C::InputTokens, added(daily_usage::Entity, C::InputTokens))
                        .value(C::OutputTokens, added(daily_usage::Entity, C::OutputTokens))
                        .value(
                            C::CacheReadTokens,
                            added(daily_usage::Entity, C::CacheReadTokens),
                        )
                        .value(
                            C::CacheWriteTokens,
                            added(daily_usage::Entity, C::CacheWriteTokens),
                        )
                        .value(C::Cost, added(daily_usage::Entity, C::Cost))
                        .value(C::Errors, added(daily_usage::Entity, C::Errors))
                        .value(C::Charged, added(daily_usage::Entity, C::Charged))
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }

        let per_day_user_model = rollup(rows.iter().filter(|r| r.model_id.is_some()), |row| {
            (
                row.created_at.format("%Y-%m-%d").to_string(),
                row.user_id.clone(),
                row.model.clone(),
            )
        });
        let per_day_user_model: Vec<_> = per_day_user_model
            .into_iter()
            .map(
                |((date, user_id, model), sum)| daily_user_usage::ActiveModel {
                    date: Set(date),
                    user_id: Set(user_id),
                    model: Set(model),
                    requests: Set(sum.sums.requests),
                    input_tokens: Set(sum.sums.input_tokens),
                    output_tokens: Set(sum.sums.output_tokens),
                    cache_read_tokens: Set(sum.sums.cache_read_tokens),
                    cache_write_tokens: Set(sum.sums.cache_write_tokens),
                    cost: Set(sum.sums.cost),
                    errors: Set(sum.sums.errors),
                    last_used_at: Set(sum.last_at),
                    ..Default::default()
                },
            )
            .collect();
        for chunk in batch::chunks(&per_day_user_model) {
            use daily_user_usage::{Column as C, Entity as T};
            daily_user_usage::Entity::insert_many(chunk.iter().cloned())
                .on_conflict(
                    OnConflict::columns([C::Date, C::UserId, C::Model])
                        .value(C::Requests, added(T, C::Requests))
                        .value(C::InputTokens, added(T, C::InputTokens))
                        .value(C::OutputTokens, added(T, C::OutputTokens))
                        .value(C::CacheReadTokens, added(T, C::CacheReadTokens))
                        .value(C::CacheWriteTokens, added(T, C::CacheWriteTokens))
                        .value(C::Cost, added(T, C::Cost))
                        .value(C::Errors, added(T, C::Errors))
                        .value(C::LastUsedAt, latest(T, C::LastUsedAt))
                        .to_owned(),
                )
                .exec_without_returning(txn)
                .await?;
        }

        for (key_id, sum) in rollup(rows.iter(), |row| row.api_key_id.clone()) {
            api_key::Entity::update_many()
                .col_expr(
                    api_key::Column::QuotaUsed,
                    Expr::col(api_key::Column::QuotaUsed).add(sum.sums.charged),
                )
                .col_expr(api_key::Column::LastUsedAt, Expr::value(Some(sum.last_at)))
                .filter(api_key::Column::Id.eq(key_id))
                .exec(txn)
                .await?;
        }
        write_charges(txn, rows).await?;
        write_overruns(txn, rows).await
    }
}

/// An audit entry for each request that cost more than it held, so that an
/// admin sees it (the user is the actor: their request caused it).
async fn write_overruns(
    txn: &DatabaseTransaction,
    rows: &[usage_record::Model],
) -> Result<(), DbErr> {
    for row in rows.iter().filter(|row| row.overrun > 0) {
        let after = json!({
            "model": row.model,
            "cost": row.cost,
            "charged": row.charged,
            "held": row.charged - row.overrun,
            "overrun": row.overrun,
        });
        audit::record(
            txn,
            &row.user_id,
            Action::CreditsOverrun,
            Target::request(&row.id),
            None,
            Some(after),
        )
        .await
        .map_err(|err| DbErr::Custom(err.to_string()))?;
    }
    Ok(())
}

/// The batch's charges in the credit ledger: per user, one statement moves
/// the stored balance by the batch's total (taking the row's lock), then
/// one `charge` entry per request, each with the balance after it.
async fn write_charges(
    txn: &DatabaseTransaction,
    rows: &[usage_record::Model],
) -> Result<(), DbErr> {
    // By user id, so that writers lock balances in one order (see `rollup`).
    let mut per_user: BTreeMap<&str, Vec<&usage_record::Model>> = BTreeMap::new();
    for row in rows.iter().filter(|row| row.charged > 0) {
        per_user.entry(&row.user_id).or_default().push(row);
    }
    let mut entries = Vec::new();
    for (user_id, charges) in per_user {
        let total: i64 = charges.iter().map(|row| row.charged).sum();
        // A request that cost more than its hold (a provider reported more
        // than it was allowed) is charged in full: the balance may go below
        // zero, and the user is refused until it is positive again.
        let after = credits::service::change_balance(txn, user_id, -total, true)
            .await
            .map_err(|err| DbErr::Custom(err.to_string()))?
            .unwrap_or(-total);
        // Walk back from the final balance to each request's balance after.
        let mut balance_after = after + total;
        for row in charges {
            balance_after -= row.charged;
            entries.push(credit_entry::ActiveModel {
                user_id: Set(row.user_id.clone()),
                kind: Set(EntryKind::Charge),
                amount: Set(-row.charged),
                balance_after: Set(balance_after),
                reference: Set(Some(row.id.clone())),
                created_at: Set(row.created_at),
                ..Default::default()
            });
        }
    }
    for chunk in batch::chunks(&entries) {
        credit_entry::Entity::insert_many(chunk.iter().cloned())
            .exec_without_returning(txn)
            .await?;
    }
    Ok(())
}

/// `existing + incoming` for an upsert: the row's value plus the one the
/// insert proposed (`excluded`, in both SQLite and PostgreSQL).
fn added<E: EntityTrait, C: ColumnTrait>(table: E, column: C) -> Expr {
    Expr::col((Alias::new("excluded"), column)).add(Expr::col((table, column)))
}

/// The later of the row's timestamp and the proposed one, for an upsert: a
/// later batch can carry an older request (a long stream settles after
/// short ones that started after it), and several instances may write.
fn latest<E: EntityTrait, C: ColumnTrait>(table: E, column: C) -> Expr {
    let incoming = Expr::col((Alias::new("excluded"), column));
    let existing = Expr::col((table, column));
    Expr::case(incoming.clone().gt(existing.clone()), incoming)
        .finally(existing)
        .into()
}

/// A rollup row's sums, and its latest request.
#[derive(Debug, Default)]
struct Sum {
    sums: UsageSums,
    last_at: DateTime<Utc>,
}

/// Sums by `key`, in the keys' order: every writer (of every instance)
/// then updates rows in the same order, so that two cannot each hold a
/// row the other waits for.
fn rollup<'a, K: Ord>(
    rows: impl Iterator<Item = &'a usage_record::Model>,
    key: impl Fn(&usage_record::Model) -> K,
) -> BTreeMap<K, Sum> {
    let mut sums: BTreeMap<K, Sum> = BTreeMap::new();
    for row in rows {
        let sum = sums.entry(key(row)).or_default();
        sum.sums.add(&UsageSums::of(row));
        sum.last_at = Ord::max(sum.last_at, row.created_at);
    }
    sums
}
