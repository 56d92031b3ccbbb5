//! What the analytics need to answer in well under 200 ms on a large
//! history (measured with `cargo bench -p demo --bench analytics`: 10,000
//! users, 1,000,000 requests, 90 days; see `docs/benchmarks.md`).
//!
//! - `daily_usage` gets `errors` (requests answered with a status of 400 or
//!   more) and `charged` (micro-credits taken from balances), kept by the
//!   usage writer like its other sums. The admin statistics' days, models,
//!   error rate and credits spent then read one row per day and model
//!   instead of grouping `daily_user_usage` (a row per user, model and day:
//!   413,000 rows for that history) and the ledger (a row per charge).
//!   Both are filled in here from `usage_records`, with the writer's rules.
//! - `daily_user_usage (user_id, model, date, requests, cost, last_used_at)`:
//!   per-user sums over a range of days read this index alone, in the order
//!   of their `GROUP BY`, with no sort and no table lookups. It replaces
//!   `(user_id, date)`, which nothing reads and which has the same prefix;
//!   `(date)` goes too, a prefix of the unique `(date, user_id, model)`.
//! - `credit_ledger (kind, created_at, amount)`: grants, refunds and
//!   adjustments in a range without reading the charges between them. It
//!   replaces `(created_at)`, which only that query read.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{DatabaseBackend, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for column in [DailyUsage::Errors, DailyUsage::Charged] {
            manager
                .alter_table(
                    Table::alter()
                        .table(DailyUsage::Table)
                        .add_column(big_integer(column).default(0))
                        .to_owned(),
                )
                .await?;
        }
        fill_daily_usage(manager).await?;

        manager
            .create_index(
                Index::create()
                    .name("idx_daily_user_usage_user_model_date")
                    .table(DailyUserUsage::Table)
                    .col(DailyUserUsage::UserId)
                    .col(DailyUserUsage::Model)
                    .col(DailyUserUsage::Date)
                    .col(DailyUserUsage::Requests)
                    .col(DailyUserUsage::Cost)
                    .col(DailyUserUsage::LastUsedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_credit_ledger_kind_created")
                    .table(CreditLedger::Table)
                    .col(CreditLedger::Kind)
                    .col(CreditLedger::CreatedAt)
                    .col(CreditLedger::Amount)
                    .to_owned(),
            )
            .await?;
        for (name, table) in [
            (
                "idx_daily_user_usage_user_date",
                DailyUserUsage::Table.into_iden(),
            ),
            (
                "idx_daily_user_usage_date",
                DailyUserUsage::Table.into_iden(),
            ),
            ("idx_credit_ledger_created", CreditLedger::Table.into_iden()),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

/// `errors` and `charged` of the usage recorded so far, one `UPDATE` per
/// day and model (the rollup's rows), summed in one pass over the records.
async fn fill_daily_usage(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let backend = manager.get_database_backend();
    // The UTC day of a stored timestamp, as m11 computes it.
    let day = match backend {
        DatabaseBackend::Postgres => "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
        _ => "substr(created_at, 1, 10)",
    };
    let db = manager.get_connection();
    let sums = db
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT {day} AS day, model, \
                 CAST(SUM(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END) AS BIGINT) AS errors, \
                 CAST(SUM(charged) AS BIGINT) AS charged \
                 FROM usage_records WHERE model_id IS NOT NULL GROUP BY {day}, model"
            ),
        ))
        .await?;
    for row in sums {
        let errors: i64 = row.try_get("", "errors")?;
        let charged: i64 = row.try_get("", "charged")?;
        if errors == 0 && charged == 0 {
            continue;
        }
        let date: String = row.try_get("", "day")?;
        let model: String = row.try_get("", "model")?;
        manager
            .exec_stmt(
                Query::update()
                    .table(DailyUsage::Table)
                    .value(DailyUsage::Errors, errors)
                    .value(DailyUsage::Charged, charged)
                    .and_where(Expr::col(DailyUsage::Date).eq(date))
                    .and_where(Expr::col(DailyUsage::Model).eq(model))
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

#[derive(DeriveIden)]
enum DailyUsage {
    Table,
    Date,
    Model,
    Errors,
    Charged,
}

#[derive(DeriveIden)]
enum DailyUserUsage {
    Table,
    UserId,
    Model,
    Date,
    Requests,
    Cost,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum CreditLedger {
    Table,
    Kind,
    CreatedAt,
    Amount,
}
