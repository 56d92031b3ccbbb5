//! The audit log of admin actions.
//!
//! The usage report and its CSV export read `usage_records` by `user_id`
//! over a range of `created_at` (and by `api_key_id` with a key filter):
//! m06 already made both indexes, `idx_usage_user_created (user_id,
//! created_at)` and `idx_usage_key_created (api_key_id, created_at)`, so
//! this migration adds none.
//!
//! `audit_log` holds one row per admin change (who, what, on which target,
//! the public view before and after as JSON text), written in the change's
//! own transaction. Secrets never go in it: services store views that
//! leave them out.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_pk_auto(AuditLog::Id))
                    .col(string_len(AuditLog::ActorId, 64))
                    // `user.update`, `model.create`, `credits.grant`, …
                    .col(string_len(AuditLog::Action, 64))
                    // `user`, `provider`, `model`, `plan`, `grant`.
                    .col(string_len(AuditLog::TargetType, 32))
                    .col(string_len(AuditLog::TargetId, 128))
                    .col(text_null(AuditLog::Before))
                    .col(text_null(AuditLog::After))
                    .col(timestamp_with_time_zone(AuditLog::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditLog::Table, AuditLog::ActorId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_audit_created", vec![AuditLog::CreatedAt]),
            (
                "idx_audit_target",
                vec![AuditLog::TargetType, AuditLog::TargetId],
            ),
            ("idx_audit_actor", vec![AuditLog::ActorId]),
        ] {
            let mut index = Index::create();
            index.name(name).table(AuditLog::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    ActorId,
    Action,
    TargetType,
    TargetId,
    Before,
    After,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
