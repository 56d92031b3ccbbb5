//! Each usage row keeps the prices it was charged at (changing a price
//! later does not change history) and what was actually taken from the
//! balance, which a nearly empty balance can make less than the cost.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            UsageRecords::Charged,
            UsageRecords::InputPrice,
            UsageRecords::OutputPrice,
            UsageRecords::CacheReadPrice,
            UsageRecords::CacheWritePrice,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(UsageRecords::Table)
                        .add_column(big_integer(column).default(0))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum UsageRecords {
    Table,
    Charged,
    InputPrice,
    OutputPrice,
    CacheReadPrice,
    CacheWritePrice,
}
