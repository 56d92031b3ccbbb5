//! `request_metrics`: one row per HTTP request (the admin contract's table).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "request_metrics")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub ts: DateTimeUtc,
    pub duration_ms: i32,
    pub status_code: i32,
    /// The route template, e.g. `/api/keys/{id}`.
    pub route: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
