//! Upstream providers and the shadow models clients call by public name.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Providers::Table)
                    .col(string_len(Providers::Id, 64).primary_key())
                    .col(string_len_uniq(Providers::Name, 100))
                    .col(string_len(Providers::Kind, 16))
                    .col(string_len(Providers::BaseUrl, 500))
                    // JSON array of upstream keys, each sealed with the
                    // server's encryption key: never stored in clear.
                    .col(text(Providers::ApiKeys))
                    .col(integer(Providers::TimeoutSecs))
                    .col(integer(Providers::ConnectTimeoutSecs))
                    // JSON object of extra request headers.
                    .col(text(Providers::ExtraHeaders))
                    .col(boolean(Providers::Enabled))
                    .col(timestamp_with_time_zone(Providers::CreatedAt))
                    .col(timestamp_with_time_zone(Providers::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Models::Table)
                    .col(string_len(Models::Id, 64).primary_key())
                    .col(string_len_uniq(Models::PublicName, 100))
                    .col(string_len(Models::ProviderId, 64))
                    .col(string_len(Models::UpstreamModel, 200))
                    // Micro-credits per million tokens.
                    .col(big_integer(Models::InputPrice))
                    .col(big_integer(Models::OutputPrice))
                    .col(big_integer(Models::CacheReadPrice))
                    .col(big_integer(Models::CacheWritePrice))
                    .col(boolean(Models::Enabled))
                    // JSON array of the plans that may use it; empty: all.
                    .col(text(Models::Plans))
                    .col(timestamp_with_time_zone(Models::CreatedAt))
                    .col(timestamp_with_time_zone(Models::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_models_provider")
                            .from(Models::Table, Models::ProviderId)
                            .to(Providers::Table, Providers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_models_provider")
                    .table(Models::Table)
                    .col(Models::ProviderId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
    Name,
    Kind,
    BaseUrl,
    ApiKeys,
    TimeoutSecs,
    ConnectTimeoutSecs,
    ExtraHeaders,
    Enabled,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Models {
    Table,
    Id,
    PublicName,
    ProviderId,
    UpstreamModel,
    InputPrice,
    OutputPrice,
    CacheReadPrice,
    CacheWritePrice,
    Enabled,
    Plans,
    CreatedAt,
    UpdatedAt,
}
