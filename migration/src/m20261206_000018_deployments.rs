//! Deployments and fallbacks (issue 18):
//!
//! - `model_deployments`: the provider and upstream model pairs that may
//!   serve a shadow model, each with a weight (traffic share within its
//!   priority) and a priority (0 is tried first). Every existing model gets
//!   one deployment from its `provider_id` and `upstream_model`, which stay
//!   on the model as its first deployment (the one-deployment shorthand).
//! - `models.fallbacks`: JSON array of public model names tried, in order,
//!   when every deployment of the model failed.
//! - `usage_records.attempts`, `attempt_errors`, `served_model`: how many
//!   provider calls a request took, what the failed ones answered (JSON),
//!   and the public name of the model that answered (a fallback's, when
//!   one did).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ModelDeployments::Table)
                    .col(string_len(ModelDeployments::Id, 64).primary_key())
                    .col(string_len(ModelDeployments::ModelId, 64))
                    .col(string_len(ModelDeployments::ProviderId, 64))
                    .col(string_len(ModelDeployments::UpstreamModel, 200))
                    .col(integer(ModelDeployments::Weight))
                    .col(integer(ModelDeployments::Priority))
                    // The order the admin listed them in.
                    .col(integer(ModelDeployments::Position))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deployments_model")
                            .from(ModelDeployments::Table, ModelDeployments::ModelId)
                            .to(Models::Table, Models::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_deployments_provider")
                            .from(ModelDeployments::Table, ModelDeployments::ProviderId)
                            .to(Providers::Table, Providers::Id),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("idx_deployments_model", ModelDeployments::ModelId),
            ("idx_deployments_provider", ModelDeployments::ProviderId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(ModelDeployments::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO model_deployments \
                 (id, model_id, provider_id, upstream_model, weight, priority, position) \
                 SELECT 'deploy_' || substr(id, 7), id, provider_id, upstream_model, 1, 0, 0 \
                 FROM models",
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Models::Table)
                    .add_column(text(Models::Fallbacks).default("[]"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UsageRecords::Table)
                    .add_column(integer(UsageRecords::Attempts).default(1))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UsageRecords::Table)
                    .add_column(text_null(UsageRecords::AttemptErrors))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(UsageRecords::Table)
                    .add_column(string_len_null(UsageRecords::ServedModel, 100))
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum ModelDeployments {
    Table,
    Id,
    ModelId,
    ProviderId,
    UpstreamModel,
    Weight,
    Priority,
    Position,
}

#[derive(DeriveIden)]
enum Models {
    Table,
    Id,
    Fallbacks,
}

#[derive(DeriveIden)]
enum Providers {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum UsageRecords {
    Table,
    Attempts,
    AttemptErrors,
    ServedModel,
}
