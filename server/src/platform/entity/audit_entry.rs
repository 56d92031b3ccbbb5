//! `audit_log`: one row per admin change, with the public view of the
//! target before and after it (JSON text; never a secret).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The admin's user id.
    pub actor_id: String,
    /// `user.update`, `model.create`, `credits.grant`, …
    pub action: String,
    /// `user`, `provider`, `model`, `plan` or `grant`.
    pub target_type: String,
    pub target_id: String,
    /// JSON; `None` for a creation.
    pub before: Option<String>,
    /// JSON; `None` for a deletion that left nothing.
    pub after: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::ActorId",
        to = "super::user::Column::Id"
    )]
    Actor,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Actor.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
