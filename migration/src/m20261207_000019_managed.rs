//! The catalog as code (issue 19): a provider, model or plan's rate limits
//! declared in the catalog file name that file in `managed_by`; the admin API and UI
//! refuse to change it, saying where it comes from. `NULL`: made by an
//! admin.

use sea_orm_migration::{prelude::*, schema::string_len_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Providers::Table)
                    .add_column(string_len_null(Providers::ManagedBy, 255))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Models::Table)
                    .add_column(string_len_null(Models::ManagedBy, 255))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PlanRateLimits::Table)
                    .add_column(string_len_null(PlanRateLimits::ManagedBy, 255))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    ManagedBy,
}

#[derive(DeriveIden)]
enum Models {
    Table,
    ManagedBy,
}

#[derive(DeriveIden)]
enum PlanRateLimits {
    Table,
    ManagedBy,
}
