//! Giving, revoking and listing entitlement grants.

pub use contract::entitlements::GrantView;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, Set, SqlErr, sea_query::Expr,
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::Entitlements;
use crate::{
    console::audit::{self, Action, Target},
    platform::{
        db,
        entity::{
            entitlement::{self, GrantSource},
            user,
        },
        error::{Error, Result},
        time::{self},
        validate,
    },
};

pub const MAX_LABEL_LEN: usize = 100;
pub const MAX_NOTES_LEN: usize = 500;

/// `POST /api/admin/grants`. Fields are optional here so that a missing one
/// is refused naming it, like a blank one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGrant {
    pub user_id: Option<String>,
    pub label: Option<String>,
    pub source: Option<String>,
    pub notes: Option<String>,
}

/// `GET /api/admin/grants` filters.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GrantFilter {
    pub user_id: Option<String>,
    /// `true` or `false`.
    pub active: Option<String>,
}

/// Gives `user_id` the "Pro — Lifetime" plan. 409 when the user already has
/// an active grant (also when two grants race: the database allows one).
pub async fn grant(
    db: &DatabaseConnection,
    entitlements: &Entitlements,
    admin_id: &str,
    new: NewGrant,
) -> Result<entitlement::Model> {
    let user_id = validate::required_text("user_id", new.user_id.as_deref().unwrap_or(""), 64)?;
    let label =
        validate::required_text("label", new.label.as_deref().unwrap_or(""), MAX_LABEL_LEN)?;
    let source = parse_source(new.source.as_deref())?;
    let notes = validate::optional_text("notes", new.notes.as_deref(), MAX_NOTES_LEN)?;
    let txn = db::begin_write(db).await?;
    let user = user::Entity::find_by_id(user_id.clone())
        .one(&txn)
        .await?
        .filter(|user| user.deleted_at.is_none())
        .ok_or_else(|| Error::not_found("user not found"))?;
    let taken = || Error::Conflict("this user already has an active grant".into());
    if active_of(&txn, &user.id).await?.is_some() {
        return Err(taken());
    }
    let grant = entitlement::ActiveModel {
        user_id: Set(user.id.clone()),
        label: Set(label),
        source: Set(source),
        granted_by: Set(admin_id.to_owned()),
        notes: Set(notes),
        created_at: Set(time::now()),
        revoked_at: Set(None),
        revoked_by: Set(None),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|err| match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => taken(),
        _ => err.into(),
    })?;
    audit::record(
        &txn,
        admin_id,
        Action::GrantCreate,
        Target::grant(grant.id),
        None,
        Some(snapshot(&grant)),
    )
    .await?;
    txn.commit().await?;
    entitlements.forget(&user.id);
    Ok(grant)
}

/// Revokes a grant: `revoked_at` and `revoked_by` are set, the row stays.
/// 404 for an unknown grant, 400 for one already revoked.
pub async fn revoke(
    db: &DatabaseConnection,
    entitlements: &Entitlements,
    admin_id: &str,
    id: i64,
) -> Result<entitlement::Model> {
    let txn = db::begin_write(db).await?;
    let grant = entitlement::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or_else(|| Error::not_found("grant not found"))?;
    let already = || Error::bad_request("this grant is already revoked");
    if grant.revoked_at.is_some() {
        return Err(already());
    }
    let now = time::now();
    // Conditional, so that of two concurrent revocations one gets 400.
    let done = entitlement::Entity::update_many()
        .col_expr(entitlement::Column::RevokedAt, Expr::value(now))
        .col_expr(entitlement::Column::RevokedBy, Expr::value(admin_id))
        .filter(entitlement::Column::Id.eq(id))
        .filter(entitlement::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if done.rows_affected == 0 {
        return Err(already());
    }
    let revoked = entitlement::Model {
        revoked_at: Some(now),
        revoked_by: Some(admin_id.to_owned()),
        ..grant.clone()
    };
    audit::record(
        &txn,
        admin_id,
        Action::GrantRevoke,
        Target::grant(id),
        Some(snapshot(&grant)),
        Some(snapshot(&revoked)),
    )
    .await?;
    txn.commit().await?;
    entitlements.forget(&grant.user_id);
    Ok(revoked)
}

/// Grants, newest first, with the emails of the user and the granting admin.
pub async fn list(db: &DatabaseConnection, filter: GrantFilter) -> Result<Vec<GrantView>> {
    let active = match filter.active.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(Error::bad_request("active must be true or false")),
    };
    let mut condition = Condition::all();
    if let Some(user_id) = &filter.user_id {
        condition = condition.add(entitlement::Column::UserId.eq(user_id.as_str()));
    }
    match active {
        Some(true) => condition = condition.add(entitlement::Column::RevokedAt.is_null()),
        Some(false) => condition = condition.add(entitlement::Column::RevokedAt.is_not_null()),
        None => {}
    }
    let grants = entitlement::Entity::find()
        .filter(condition)
        .find_also_related(user::Entity)
        .order_by_desc(entitlement::Column::CreatedAt)
        .order_by_desc(entitlement::Column::Id)
        .all(db)
        .await?;
    let admin_ids: Vec<&str> = grants.iter().map(|(g, _)| g.granted_by.as_str()).collect();
    let admins = user::Entity::find()
        .filter(user::Column::Id.is_in(admin_ids))
        .all(db)
        .await?;
    Ok(grants
        .into_iter()
        .map(|(grant, user)| {
            let granted_by_email = admins
                .iter()
                .find(|admin| admin.id == grant.granted_by)
                .and_then(|admin| admin.email.clone());
            GrantView {
                id: grant.id,
                email: user.and_then(|user| user.email),
                active: grant.revoked_at.is_none(),
                user_id: grant.user_id,
                label: grant.label,
                source: grant.source,
                notes: grant.notes,
                granted_by: grant.granted_by,
                granted_by_email,
                created_at: grant.created_at.into(),
                revoked_at: grant.revoked_at.map(Into::into),
            }
        })
        .collect())
}

/// The user's active grant, if any.
pub async fn active_of<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
) -> Result<Option<entitlement::Model>> {
    Ok(entitlement::Entity::find()
        .filter(entitlement::Column::UserId.eq(user_id))
        .filter(entitlement::Column::RevokedAt.is_null())
        .one(db)
        .await?)
}

/// A grant as the audit log shows it.
fn snapshot(grant: &entitlement::Model) -> Value {
    json!({
        "id": grant.id,
        "user_id": grant.user_id,
        "label": grant.label,
        "source": grant.source,
        "notes": grant.notes,
        "active": grant.revoked_at.is_none(),
        "granted_by": grant.granted_by,
        "created_at": time::iso(&grant.created_at),
        "revoked_at": grant.revoked_at.as_ref().map(time::iso),
        "revoked_by": grant.revoked_by,
    })
}

fn parse_source(source: Option<&str>) -> Result<GrantSource> {
    let allowed = "source must be one of beta_comp, manual_override, partner_referral";
    match source.map(str::trim) {
        Some("beta_comp") => Ok(GrantSource::BetaComp),
        Some("manual_override") => Ok(GrantSource::ManualOverride),
        Some("partner_referral") => Ok(GrantSource::PartnerReferral),
        _ => Err(Error::bad_request(allowed)),
    }
}
