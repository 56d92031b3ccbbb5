//! `model_deployments`: a provider and upstream model that may serve a
//! shadow model, with its share of the traffic.

use std::collections::HashMap;

use sea_orm::{QueryOrder, entity::prelude::*};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "model_deployments")]
pub struct Model {
    /// `deploy_<16 hex>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub model_id: String,
    pub provider_id: String,
    /// What the provider is asked for.
    pub upstream_model: String,
    /// Its share of its priority's traffic, relative to the others'.
    pub weight: i32,
    /// 0 is tried first; a higher number only when every deployment before
    /// it is failing or cooling down.
    pub priority: i32,
    /// Where the admin listed it.
    pub position: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::shadow_model::Entity",
        from = "Column::ModelId",
        to = "super::shadow_model::Column::Id"
    )]
    Model,
    #[sea_orm(
        belongs_to = "super::provider::Entity",
        from = "Column::ProviderId",
        to = "super::provider::Column::Id"
    )]
    Provider,
}

impl Related<super::provider::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Provider.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

/// Every deployment, grouped by model id, each group in the admin's order.
pub async fn all_by_model<C: ConnectionTrait>(
    db: &C,
) -> Result<HashMap<String, Vec<Model>>, DbErr> {
    let rows = Entity::find()
        .order_by_asc(Column::ModelId)
        .order_by_asc(Column::Position)
        .all(db)
        .await?;
    let mut grouped: HashMap<String, Vec<Model>> = HashMap::new();
    for row in rows {
        grouped.entry(row.model_id.clone()).or_default().push(row);
    }
    Ok(grouped)
}
