//! API keys: what LLM tools authenticate with.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(string_len(ApiKeys::Id, 64).primary_key())
                    .col(string_len(ApiKeys::UserId, 64))
                    .col(string_len(ApiKeys::Name, 100))
                    // `tg-` and the first characters of the secret, for people
                    // to tell their keys apart.
                    .col(string_len(ApiKeys::Prefix, 16))
                    // SHA-256 of the whole key, hex: the secret is never stored.
                    .col(string_len(ApiKeys::SecretHash, 64))
                    // JSON array of public model names; empty means every
                    // model the plan allows.
                    .col(text(ApiKeys::Models))
                    // Spending limit and spend so far, in micro-credits.
                    .col(big_integer_null(ApiKeys::QuotaLimit))
                    .col(big_integer(ApiKeys::QuotaUsed).default(0))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone(ApiKeys::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_user")
                            .from(ApiKeys::Table, ApiKeys::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_secret_hash")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::SecretHash)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_api_keys_user")
                    .table(ApiKeys::Table)
                    .col(ApiKeys::UserId)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    UserId,
    Name,
    Prefix,
    SecretHash,
    Models,
    QuotaLimit,
    QuotaUsed,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
