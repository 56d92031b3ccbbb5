//! Credits: one balance per user and the append-only ledger whose sum it
//! always equals. Both change in one transaction.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CreditBalances::Table)
                    .col(string_len(CreditBalances::UserId, 64).primary_key())
                    // Micro-credits.
                    .col(big_integer(CreditBalances::Balance).default(0))
                    .col(timestamp_with_time_zone(CreditBalances::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CreditBalances::Table, CreditBalances::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CreditLedger::Table)
                    .col(big_pk_auto(CreditLedger::Id))
                    .col(string_len(CreditLedger::UserId, 64))
                    // grant, charge, refund, adjustment
                    .col(string_len(CreditLedger::Kind, 16))
                    // Signed micro-credits.
                    .col(big_integer(CreditLedger::Amount))
                    .col(big_integer(CreditLedger::BalanceAfter))
                    // A request id, or the admin who granted.
                    .col(string_len_null(CreditLedger::Reference, 100))
                    .col(string_len_null(CreditLedger::Reason, 500))
                    .col(string_len_null(CreditLedger::IdempotencyKey, 200))
                    .col(timestamp_with_time_zone(CreditLedger::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CreditLedger::Table, CreditLedger::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_credit_ledger_user")
                    .table(CreditLedger::Table)
                    .col(CreditLedger::UserId)
                    .col(CreditLedger::Id)
                    .to_owned(),
            )
            .await?;
        // NULLs are distinct in both SQLite and PostgreSQL: only rows that
        // carry a key are held to it.
        manager
            .create_index(
                Index::create()
                    .name("idx_credit_ledger_idempotency")
                    .table(CreditLedger::Table)
                    .col(CreditLedger::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum CreditBalances {
    Table,
    UserId,
    Balance,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum CreditLedger {
    Table,
    Id,
    UserId,
    Kind,
    Amount,
    BalanceAfter,
    Reference,
    Reason,
    IdempotencyKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
