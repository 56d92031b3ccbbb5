//! A hold is a ceiling (issue 14):
//!
//! - `models.max_output_tokens`: the largest output a request to the model
//!   may ask for (`NULL`: `credits.max_output_tokens` from the settings).
//!   A larger cap is refused, so the output held is what the provider is
//!   allowed to produce.
//! - `usage_records.overrun`: micro-credits a request cost beyond what was
//!   held for it (a provider reported more than it was allowed). Charged in
//!   full all the same, and kept here so that it can be found.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Models::Table)
                    .add_column(big_integer_null(Models::MaxOutputTokens))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UsageRecords::Table)
                    .add_column(big_integer(UsageRecords::Overrun).default(0))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Models {
    Table,
    MaxOutputTokens,
}

#[derive(DeriveIden)]
enum UsageRecords {
    Table,
    Overrun,
}
