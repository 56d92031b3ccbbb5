//! `credit_balances`: a user's balance, always the sum of their ledger.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_balances")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    /// Micro-credits; never negative.
    pub balance: i64,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A user's stored balance: 0 before their first ledger entry.
pub async fn of<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<i64, DbErr> {
    Ok(Entity::find_by_id(user_id.to_owned())
        .one(db)
        .await?
        .map_or(0, |row| row.balance))
}
