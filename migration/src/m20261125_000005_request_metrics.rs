//! `request_metrics`, as the admin API contract defines it: one row per HTTP
//! request, written in batches.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RequestMetrics::Table)
                    .col(big_pk_auto(RequestMetrics::Id))
                    .col(timestamp_with_time_zone(RequestMetrics::Ts))
                    .col(integer(RequestMetrics::DurationMs))
                    .col(integer(RequestMetrics::StatusCode))
                    // The route template (`/api/keys/{id}`), never the raw path.
                    .col(string_len(RequestMetrics::Route, 200))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_reqmetrics_ts")
                    .table(RequestMetrics::Table)
                    .col(RequestMetrics::Ts)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum RequestMetrics {
    Table,
    Id,
    Ts,
    DurationMs,
    StatusCode,
    Route,
}
