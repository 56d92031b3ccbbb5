//! `invitations` (issue 15): codes an admin hands out so that someone can
//! register while `auth.registration = "invite"`. Only the code's SHA-256
//! is stored (the code is shown once, like an API key's secret). A code is
//! spent by one conditional update (`uses < max_uses`, not revoked, not
//! expired), so two registrations racing for the last use cannot both win.
//! Revoking sets `revoked_at` and keeps the row.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .col(string_len(Invitations::Id, 64).primary_key())
                    .col(string_len_uniq(Invitations::CodeHash, 64))
                    .col(string_len(Invitations::Prefix, 16))
                    .col(string_len_null(Invitations::Email, 254))
                    .col(string_len_null(Invitations::Note, 200))
                    .col(integer(Invitations::MaxUses))
                    .col(integer(Invitations::Uses).default(0))
                    .col(timestamp_with_time_zone(Invitations::ExpiresAt))
                    .col(string_len(Invitations::CreatedBy, 64))
                    .col(timestamp_with_time_zone(Invitations::CreatedAt))
                    .col(timestamp_with_time_zone_null(Invitations::LastUsedAt))
                    .col(timestamp_with_time_zone_null(Invitations::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::CreatedBy)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_invitations_created_at")
                    .table(Invitations::Table)
                    .col(Invitations::CreatedAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    Id,
    CodeHash,
    Prefix,
    Email,
    Note,
    MaxUses,
    Uses,
    ExpiresAt,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
