//! `invitations`: codes that let someone register while registration is by
//! invitation. Only the code's SHA-256 is stored; revoked and spent
//! invitations stay for history.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invitations")]
pub struct Model {
    /// `inv_<16 hex>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the whole code, lower-case hex.
    #[sea_orm(unique)]
    pub code_hash: String,
    /// `inv-` and the first 8 characters of the code.
    pub prefix: String,
    /// The only email that may register with it (lower-cased); `None`: any.
    pub email: Option<String>,
    /// Who it is for, as the admin wrote it.
    pub note: Option<String>,
    pub max_uses: i32,
    pub uses: i32,
    pub expires_at: DateTimeUtc,
    /// The admin's user id.
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::CreatedBy",
        to = "super::user::Column::Id"
    )]
    Creator,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Creator.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
