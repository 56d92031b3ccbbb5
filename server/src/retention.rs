//! Retention: the rows that only grow are deleted once they are old enough
//! (`[retention]` in the settings). `tollgate serve` prunes on a schedule
//! (see [`crate::housekeeping`]); `tollgate admin prune` does it on demand.
//!
//! - `request_metrics`: after `request_metrics_days` (30).
//! - `sessions`: `expired_sessions_days` (7) after they expired. Sessions
//!   that are revoked expire like the others, so they go too.
//! - `usage_records`: after `usage_days`, 0 by default: kept forever, since
//!   they are the per-request billing record. Rows with an overrun are kept
//!   whatever their age, because `admin verify-ledger` reads them to allow
//!   the negative balance they caused. The rollups (`daily_usage`,
//!   `daily_user_usage`, `llm_usage`), the ledger, balances and the audit
//!   log are never pruned, so charts, totals and the ledger's proof stay.
//!
//! Rows go in batches of [`BATCH`], each its own short statement with a
//! pause after it, so that a large table never holds the database (SQLite's
//! single writer above all) for long. Every deletion is a plain `DELETE …
//! WHERE key IN (SELECT key … LIMIT n)`, which SQLite and PostgreSQL both
//! run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, QueryTrait,
};

use crate::platform::{
    config::RetentionSettings,
    entity::{request_metric, session, usage_record},
    error::Result,
};

/// Rows deleted by one statement.
pub const BATCH: u64 = 1_000;
/// The pause after each batch: other writers get the database in between.
const PAUSE: Duration = Duration::from_millis(5);

/// What one pass deleted, per table; `None`: the table is kept forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub request_metrics: Option<u64>,
    pub sessions: Option<u64>,
    pub usage_records: Option<u64>,
}

impl Pruned {
    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        [self.request_metrics, self.sessions, self.usage_records]
            .into_iter()
            .flatten()
            .sum()
    }

    /// One line per table for people: what went, or that it is kept.
    pub fn report(&self, retention: &RetentionSettings) -> Vec<String> {
        let tables = [
            (
                "request_metrics",
                self.request_metrics,
                "request_metrics_days",
                retention.request_metrics_days,
                "older than",
            ),
            (
                "sessions",
                self.sessions,
                "expired_sessions_days",
                retention.expired_sessions_days,
                "expired more than",
            ),
            (
                "usage_records",
                self.usage_records,
                "usage_days",
                retention.usage_days,
                "older than",
            ),
        ];
        tables
            .into_iter()
            .map(|(table, deleted, setting, days, what)| match deleted {
                Some(1) => format!("{table}: deleted 1 row {what} {days} days"),
                Some(rows) => format!("{table}: deleted {rows} rows {what} {days} days"),
                None => format!("{table}: kept forever (retention.{setting} = 0)"),
            })
            .collect()
    }
}

/// Whether the caller wants the pass to end early (a shutdown): checked
/// between batches.
pub trait Stop {
    fn requested(&self) -> bool;
}

/// Never stops early (the CLI).
pub struct Never;

impl Stop for Never {
    fn requested(&self) -> bool {
        false
    }
}

/// Deletes what `retention` says is old at `now`, table by table.
#[tracing::instrument(skip_all)]
pub async fn prune(
    db: &DatabaseConnection,
    retention: &RetentionSettings,
    now: DateTime<Utc>,
    stop: &impl Stop,
) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    if let Some(cutoff) = cutoff(now, retention.request_metrics_days) {
        let old = Condition::all().add(request_metric::Column::Ts.lt(cutoff));
        pruned.request_metrics = Some(
            delete_in_batches::<request_metric::Entity, _>(
                db,
                request_metric::Column::Id,
                old,
                stop,
            )
            .await?,
        );
    }
    if let Some(cutoff) = cutoff(now, retention.expired_sessions_days) {
        let old = Condition::all().add(session::Column::ExpiresAt.lt(cutoff));
        pruned.sessions = Some(
            delete_in_batches::<session::Entity, _>(db, session::Column::Jti, old, stop).await?,
        );
    }
    if let Some(cutoff) = cutoff(now, retention.usage_days) {
        let old = Condition::all()
            .add(usage_record::Column::CreatedAt.lt(cutoff))
            .add(usage_record::Column::Overrun.eq(0));
        pruned.usage_records = Some(
            delete_in_batches::<usage_record::Entity, _>(db, usage_record::Column::Id, old, stop)
                .await?,
        );
    }
    if pruned.total() > 0 {
        tracing::info!(?pruned, "pruned old rows");
    }
    Ok(pruned)
}

/// `days` before `now`; `None` for 0 (kept forever).
fn cutoff(now: DateTime<Utc>, days: u32) -> Option<DateTime<Utc>> {
    (days > 0).then(|| now - chrono::Duration::days(i64::from(days)))
}

/// Deletes the rows of `E` matching `old`, at most [`BATCH`] a statement,
/// until none is left (or a stop is asked for); returns how many went.
async fn delete_in_batches<E, C>(
    db: &DatabaseConnection,
    key: C,
    old: Condition,
    stop: &impl Stop,
) -> Result<u64>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let mut deleted = 0;
    loop {
        let batch = E::find()
            .select_only()
            .column(key)
            .filter(old.clone())
            .limit(BATCH)
            .into_query();
        let done = E::delete_many()
            .filter(key.in_subquery(batch))
            .exec(db)
            .await?
            .rows_affected;
        deleted += done;
        if done < BATCH || stop.requested() {
            return Ok(deleted);
        }
        tokio::time::sleep(PAUSE).await;
    }
}
