//! `entitlements`, as the admin contract defines it: grants of the
//! "Pro — Lifetime" plan. Revoking sets `revoked_at` (and who did it) and
//! keeps the row. At most one active grant per user, enforced by a partial
//! unique index, so two concurrent grants cannot both succeed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Entitlements::Table)
                    .col(big_pk_auto(Entitlements::Id))
                    .col(string_len(Entitlements::UserId, 64))
                    .col(string_len(Entitlements::Label, 100))
                    .col(string_len(Entitlements::Source, 32))
                    .col(string_len(Entitlements::GrantedBy, 64))
                    .col(text_null(Entitlements::Notes))
                    .col(timestamp_with_time_zone(Entitlements::CreatedAt))
                    .col(timestamp_with_time_zone_null(Entitlements::RevokedAt))
                    .col(string_len_null(Entitlements::RevokedBy, 64))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Entitlements::Table, Entitlements::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_entitlements_user")
                    .table(Entitlements::Table)
                    .col(Entitlements::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_entitlements_active")
                    .table(Entitlements::Table)
                    .col(Entitlements::UserId)
                    .col(Entitlements::RevokedAt)
                    .to_owned(),
            )
            .await?;
        // Partial indexes read the same in SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX idx_entitlements_one_active \
                 ON entitlements (user_id) WHERE revoked_at IS NULL",
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Entitlements {
    Table,
    Id,
    UserId,
    Label,
    Source,
    GrantedBy,
    Notes,
    CreatedAt,
    RevokedAt,
    RevokedBy,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
