//! Rate limits: a key may carry its own requests- and tokens-per-minute
//! limits (null: its owner's plan decides), and admins may change a plan's
//! limits at run time; a stored plan row overrides the config file.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [ApiKeys::RequestsPerMinute, ApiKeys::TokensPerMinute] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ApiKeys::Table)
                        .add_column(big_integer_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(PlanRateLimits::Table)
                    .col(string_len(PlanRateLimits::Plan, 32).primary_key())
                    .col(big_integer(PlanRateLimits::RequestsPerMinute))
                    .col(big_integer(PlanRateLimits::TokensPerMinute))
                    .col(string_len_null(PlanRateLimits::UpdatedBy, 64))
                    .col(timestamp_with_time_zone(PlanRateLimits::UpdatedAt))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    RequestsPerMinute,
    TokensPerMinute,
}

#[derive(DeriveIden)]
enum PlanRateLimits {
    Table,
    Plan,
    RequestsPerMinute,
    TokensPerMinute,
    UpdatedBy,
    UpdatedAt,
}
