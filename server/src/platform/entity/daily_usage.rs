//! `daily_usage` (the admin contract's rollup): per UTC day and model.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "daily_usage")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `YYYY-MM-DD`.
    pub date: String,
    pub model: String,
    pub total_requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    /// Micro-credits.
    pub cost: i64,
    /// Requests answered with a status of 400 or more.
    pub errors: i64,
    /// Micro-credits taken from balances: the cost, unless a balance ran
    /// out first. Equals the day's `charge` entries in the ledger.
    pub charged: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
