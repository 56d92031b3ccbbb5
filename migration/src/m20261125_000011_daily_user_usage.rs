//! `daily_user_usage`: requests, tokens, cost and errors per UTC day, user
//! and model, kept by the usage writer in the same transaction as the
//! `usage_records` rows, so that date-ranged per-user analytics (the admin
//! contract's `llm-usage`, active users, the leaderboard, the CSV export)
//! read a row per user, model and day instead of a row per request.
//!
//! Usage recorded before this migration is rolled up here once, from
//! `usage_records`, with the same rules as the writer: requests that
//! resolved no model are left out. Also an index on `credit_ledger
//! (created_at)`, for the admin statistics' credits granted and spent in a
//! date range.

use sea_orm_migration::{prelude::*, schema::*, sea_orm::DatabaseBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DailyUserUsage::Table)
                    .col(big_pk_auto(DailyUserUsage::Id))
                    // `YYYY-MM-DD`, UTC.
                    .col(string_len(DailyUserUsage::Date, 10))
                    .col(string_len(DailyUserUsage::UserId, 64))
                    // The public model name the client sent.
                    .col(string_len(DailyUserUsage::Model, 100))
                    .col(big_integer(DailyUserUsage::Requests).default(0))
                    .col(big_integer(DailyUserUsage::InputTokens).default(0))
                    .col(big_integer(DailyUserUsage::OutputTokens).default(0))
                    .col(big_integer(DailyUserUsage::CacheReadTokens).default(0))
                    .col(big_integer(DailyUserUsage::CacheWriteTokens).default(0))
                    // Micro-credits.
                    .col(big_integer(DailyUserUsage::Cost).default(0))
                    // Requests answered with a status of 400 or more.
                    .col(big_integer(DailyUserUsage::Errors).default(0))
                    .col(timestamp_with_time_zone(DailyUserUsage::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(DailyUserUsage::Table, DailyUserUsage::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns, unique) in [
            (
                "idx_daily_user_usage_date_user_model",
                vec![
                    DailyUserUsage::Date,
                    DailyUserUsage::UserId,
                    DailyUserUsage::Model,
                ],
                true,
            ),
            (
                "idx_daily_user_usage_user_date",
                vec![DailyUserUsage::UserId, DailyUserUsage::Date],
                false,
            ),
            (
                "idx_daily_user_usage_date",
                vec![DailyUserUsage::Date],
                false,
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(DailyUserUsage::Table);
            for column in columns {
                index.col(column);
            }
            if unique {
                index.unique();
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_credit_ledger_created")
                    .table(CreditLedger::Table)
                    .col(CreditLedger::CreatedAt)
                    .to_owned(),
            )
            .await?;

        // The UTC day of a stored timestamp: SQLite keeps RFC 3339 text
        // (`2025-10-28T12:34:56.789+00:00`), PostgreSQL a `timestamptz`.
        let day = match manager.get_database_backend() {
            DatabaseBackend::Postgres => "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            _ => "substr(created_at, 1, 10)",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "INSERT INTO daily_user_usage (date, user_id, model, requests, input_tokens, \
                 output_tokens, cache_read_tokens, cache_write_tokens, cost, errors, last_used_at) \
                 SELECT {day}, user_id, model, COUNT(*), SUM(input_tokens), SUM(output_tokens), \
                 SUM(cache_read_tokens), SUM(cache_write_tokens), SUM(cost), \
                 SUM(CASE WHEN status_code >= 400 THEN 1 ELSE 0 END), MAX(created_at) \
                 FROM usage_records WHERE model_id IS NOT NULL \
                 GROUP BY {day}, user_id, model"
            ))
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum DailyUserUsage {
    Table,
    Id,
    Date,
    UserId,
    Model,
    Requests,
    InputTokens,
    OutputTokens,
    CacheReadTokens,
    CacheWriteTokens,
    Cost,
    Errors,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum CreditLedger {
    Table,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
