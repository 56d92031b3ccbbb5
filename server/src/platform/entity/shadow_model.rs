//! `models`: the public ("shadow") model names clients send, each mapped to a
//! provider, an upstream model name and prices.

pub use contract::ModelKind;
use sea_orm::entity::prelude::*;

use crate::platform::plan::PlanName;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "models")]
pub struct Model {
    /// `model_<16 hex>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// What clients send, e.g. `sonnet-4.5`.
    pub public_name: String,
    /// Chat or embeddings: each endpoint takes models of its kind only.
    pub kind: ModelKind,
    /// The first deployment's provider and upstream model, kept in step
    /// with `model_deployments` by the models service (the shorthand for a
    /// model with one deployment).
    pub provider_id: String,
    pub upstream_model: String,
    /// Micro-credits per million tokens.
    pub input_price: i64,
    pub output_price: i64,
    pub cache_read_price: i64,
    pub cache_write_price: i64,
    /// The largest output a request may ask for; `None`: the configured
    /// `credits.max_output_tokens`.
    pub max_output_tokens: Option<i64>,
    pub enabled: bool,
    /// JSON array of plans (`trial`, `free`, `pro`, `pro_lifetime`); `[]`: all.
    pub plans: String,
    /// JSON array of public model names tried in order when every
    /// deployment failed.
    pub fallbacks: String,
    /// The catalog file that declares it (`NULL`: an admin made it).
    pub managed_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
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

impl Model {
    /// The plans that may use it (`[]`: all).
    pub fn plans(&self) -> Vec<PlanName> {
        serde_json::from_str(&self.plans).unwrap_or_default()
    }

    /// The public names tried in order when every deployment failed.
    pub fn fallbacks(&self) -> Vec<String> {
        serde_json::from_str(&self.fallbacks).unwrap_or_default()
    }
}
