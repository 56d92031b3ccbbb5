//! Usage: one `usage_records` row per proxied request, and the rollups the
//! admin contract names (`llm_usage`, `daily_usage`), all kept by the usage
//! writer in the same transaction.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(UsageRecords::Table)
                    .col(string_len(UsageRecords::Id, 64).primary_key())
                    .col(string_len(UsageRecords::UserId, 64))
                    .col(string_len(UsageRecords::ApiKeyId, 64))
                    // The public name the client sent; the model row may go.
                    .col(string_len(UsageRecords::Model, 100))
                    .col(string_len_null(UsageRecords::ModelId, 64))
                    .col(string_len_null(UsageRecords::ProviderId, 64))
                    .col(string_len(UsageRecords::UpstreamModel, 200))
                    .col(string_len(UsageRecords::Endpoint, 32))
                    .col(boolean(UsageRecords::Streamed))
                    .col(integer(UsageRecords::StatusCode))
                    .col(big_integer(UsageRecords::InputTokens))
                    .col(big_integer(UsageRecords::OutputTokens))
                    .col(big_integer(UsageRecords::CacheReadTokens))
                    .col(big_integer(UsageRecords::CacheWriteTokens))
                    .col(big_integer(UsageRecords::ReasoningTokens))
                    // Micro-credits, at the model's prices when it ran.
                    .col(big_integer(UsageRecords::Cost))
                    .col(integer(UsageRecords::DurationMs))
                    .col(integer_null(UsageRecords::TtftMs))
                    .col(string_len_null(UsageRecords::ErrorKind, 32))
                    .col(timestamp_with_time_zone(UsageRecords::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(UsageRecords::Table, UsageRecords::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(UsageRecords::Table, UsageRecords::ApiKeyId)
                            .to(ApiKeys::Table, ApiKeys::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_usage_user_created",
                vec![UsageRecords::UserId, UsageRecords::CreatedAt],
            ),
            (
                "idx_usage_key_created",
                vec![UsageRecords::ApiKeyId, UsageRecords::CreatedAt],
            ),
            ("idx_usage_created", vec![UsageRecords::CreatedAt]),
            ("idx_usage_model_id", vec![UsageRecords::ModelId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(UsageRecords::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(LlmUsage::Table)
                    .col(big_pk_auto(LlmUsage::Id))
                    .col(string_len(LlmUsage::UserId, 64))
                    .col(string_len(LlmUsage::Model, 100))
                    .col(big_integer(LlmUsage::Count).default(0))
                    .col(timestamp_with_time_zone_null(LlmUsage::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LlmUsage::Table, LlmUsage::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_llm_usage_user_model")
                    .table(LlmUsage::Table)
                    .col(LlmUsage::UserId)
                    .col(LlmUsage::Model)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(DailyUsage::Table)
                    .col(big_pk_auto(DailyUsage::Id))
                    // `YYYY-MM-DD`, UTC.
                    .col(string_len(DailyUsage::Date, 10))
                    .col(string_len(DailyUsage::Model, 100))
                    .col(big_integer(DailyUsage::TotalRequests).default(0))
                    .col(big_integer(DailyUsage::InputTokens).default(0))
                    .col(big_integer(DailyUsage::OutputTokens).default(0))
                    .col(big_integer(DailyUsage::CacheReadTokens).default(0))
                    .col(big_integer(DailyUsage::CacheWriteTokens).default(0))
                    .col(big_integer(DailyUsage::Cost).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_daily_usage_date_model")
                    .table(DailyUsage::Table)
                    .col(DailyUsage::Date)
                    .col(DailyUsage::Model)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum UsageRecords {
    Table,
    Id,
    UserId,
    ApiKeyId,
    Model,
    ModelId,
    ProviderId,
    UpstreamModel,
    Endpoint,
    Streamed,
    StatusCode,
    InputTokens,
    OutputTokens,
    CacheReadTokens,
    CacheWriteTokens,
    ReasoningTokens,
    Cost,
    DurationMs,
    TtftMs,
    ErrorKind,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LlmUsage {
    Table,
    Id,
    UserId,
    Model,
    Count,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum DailyUsage {
    Table,
    Id,
    Date,
    Model,
    TotalRequests,
    InputTokens,
    OutputTokens,
    CacheReadTokens,
    CacheWriteTokens,
    Cost,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
}
