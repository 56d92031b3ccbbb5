//! Retention (issue 15): expired sessions are deleted some days after they
//! expire, found by `expires_at`. `request_metrics` (`idx_reqmetrics_ts`)
//! and `usage_records` (`idx_usage_created`) already have their index.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_expires")
                    .table(Sessions::Table)
                    .col(Sessions::ExpiresAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ExpiresAt,
}
