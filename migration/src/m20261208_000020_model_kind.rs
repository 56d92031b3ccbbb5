//! Embeddings (issue 21): a model is a chat model or an embedding model, and
//! each LLM endpoint takes models of its kind only. Every model made before
//! is a chat model.

use sea_orm_migration::{prelude::*, schema::string_len};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Models::Table)
                    .add_column(string_len(Models::Kind, 16).default("chat"))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Models {
    Table,
    Kind,
}
