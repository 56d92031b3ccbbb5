//! `plan_rate_limits`: a plan's rate limits as an admin set them; a row
//! overrides the config file's `[rate_limits.<plan>]`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "plan_rate_limits")]
pub struct Model {
    /// `trial`, `free`, `pro` or `pro_lifetime`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub plan: String,
    /// 0: no limit.
    pub requests_per_minute: i64,
    pub tokens_per_minute: i64,
    /// The admin who set them.
    pub updated_by: Option<String>,
    /// The catalog file that declares them (`NULL`: an admin set them).
    pub managed_by: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
