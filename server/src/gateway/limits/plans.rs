//! Plans' rate limits as admins (or the catalog file) set them: stored in
//! `plan_rate_limits` (a row overrides the config file) and applied in
//! memory at once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait, sea_query::OnConflict,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::RateLimits;
use crate::{
    console::audit::{self, Action, Target},
    platform::{
        db,
        entity::plan_rate_limit,
        error::{Error, Result},
        plan::{Limits, PlanName},
        time::{self, serde_iso},
    },
};

/// A plan's limits and where they come from.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PlanLimitsView {
    pub plan: PlanName,
    /// 0: no limit.
    pub requests_per_minute: u32,
    pub tokens_per_minute: u32,
    /// `config` (the config file), `admin`, or `catalog` (the catalog file).
    pub source: &'static str,
    /// The catalog file that declares them, when one does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    pub updated_by: Option<String>,
    #[serde(with = "serde_iso::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Applies the stored limits over the config file's, at start.
pub async fn load(db: &DatabaseConnection, limits: &RateLimits) -> Result<()> {
    for row in plan_rate_limit::Entity::find().all(db).await? {
        if let Ok(plan) = row.plan.parse::<PlanName>() {
            limits.set_plan(plan, stored(&row));
        }
    }
    Ok(())
}

/// Every plan's limits again from `defaults` (the config file's) and the
/// stored rows, after the catalog file changed them.
pub async fn reload(
    db: &DatabaseConnection,
    limits: &RateLimits,
    defaults: &HashMap<PlanName, Limits>,
) -> Result<()> {
    let rows = plan_rate_limit::Entity::find().all(db).await?;
    for plan in PlanName::ALL {
        let row = rows.iter().find(|row| row.plan == plan.as_str());
        let configured = defaults.get(&plan).copied().unwrap_or(Limits::NONE);
        limits.set_plan(plan, row.map_or(configured, stored));
    }
    limits.announce_plans();
    Ok(())
}

/// Every plan's limits now.
pub async fn list(db: &DatabaseConnection, limits: &RateLimits) -> Result<Vec<PlanLimitsView>> {
    let rows = plan_rate_limit::Entity::find().all(db).await?;
    Ok(PlanName::ALL
        .into_iter()
        .map(|plan| {
            let row = rows.iter().find(|row| row.plan == plan.as_str());
            view(plan, limits.plan(plan), row)
        })
        .collect())
}

/// Sets a plan's limits; the next request of every user on it sees them.
/// The `rate_limits.update` audit entry (the plan's limits before and
/// after) commits with the row.
pub async fn set(
    db: &DatabaseConnection,
    limits: &RateLimits,
    plan: PlanName,
    new: Limits,
    admin_id: &str,
) -> Result<PlanLimitsView> {
    let txn = db::begin_write(db).await?;
    let previous = stored_row(&txn, plan).await?;
    if let Some(source) = previous.as_ref().and_then(|row| row.managed_by.as_ref()) {
        return Err(Error::managed_by_file(
            "rate limits of the plan",
            plan.as_str(),
            source,
        ));
    }
    let before = view(plan, limits.plan(plan), previous.as_ref());
    let row = store(&txn, plan, new, Some(admin_id), None).await?;
    let after = view(plan, new, Some(&row));
    audit::record(
        &txn,
        admin_id,
        Action::RateLimitsUpdate,
        Target::plan(plan.as_str()),
        Some(audit::snapshot(&before)?),
        Some(audit::snapshot(&after)?),
    )
    .await?;
    txn.commit().await?;
    limits.set_plan(plan, new);
    limits.announce_plans();
    Ok(after)
}

/// A plan's stored row, if it has one.
pub async fn stored_row<C: ConnectionTrait>(
    db: &C,
    plan: PlanName,
) -> Result<Option<plan_rate_limit::Model>> {
    Ok(
        plan_rate_limit::Entity::find_by_id(plan.as_str().to_owned())
            .one(db)
            .await?,
    )
}

/// Stores a plan's limits (no audit entry, and memory unchanged: [`set`],
/// or the catalog file's apply, which reloads them with [`reload`]).
pub async fn store<C: ConnectionTrait>(
    db: &C,
    plan: PlanName,
    new: Limits,
    updated_by: Option<&str>,
    managed_by: Option<&str>,
) -> Result<plan_rate_limit::Model> {
    let row = plan_rate_limit::Model {
        plan: plan.as_str().to_owned(),
        requests_per_minute: i64::from(new.requests_per_minute),
        tokens_per_minute: i64::from(new.tokens_per_minute),
        updated_by: updated_by.map(str::to_owned),
        managed_by: managed_by.map(str::to_owned),
        updated_at: time::now(),
    };
    plan_rate_limit::Entity::insert(plan_rate_limit::ActiveModel {
        plan: Set(row.plan.clone()),
        requests_per_minute: Set(row.requests_per_minute),
        tokens_per_minute: Set(row.tokens_per_minute),
        updated_by: Set(row.updated_by.clone()),
        managed_by: Set(row.managed_by.clone()),
        updated_at: Set(row.updated_at),
    })
    .on_conflict(
        OnConflict::column(plan_rate_limit::Column::Plan)
            .update_columns([
                plan_rate_limit::Column::RequestsPerMinute,
                plan_rate_limit::Column::TokensPerMinute,
                plan_rate_limit::Column::UpdatedBy,
                plan_rate_limit::Column::ManagedBy,
                plan_rate_limit::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(row)
}

/// Removes a plan's stored limits: the config file's apply again.
pub async fn unstore<C: ConnectionTrait>(db: &C, plan: PlanName) -> Result<()> {
    plan_rate_limit::Entity::delete_by_id(plan.as_str().to_owned())
        .exec(db)
        .await?;
    Ok(())
}

/// The limits a stored row says.
pub fn stored(row: &plan_rate_limit::Model) -> Limits {
    let clamp = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    Limits::new(clamp(row.requests_per_minute), clamp(row.tokens_per_minute))
}

fn view(plan: PlanName, limits: Limits, row: Option<&plan_rate_limit::Model>) -> PlanLimitsView {
    PlanLimitsView {
        plan,
        requests_per_minute: limits.requests_per_minute,
        tokens_per_minute: limits.tokens_per_minute,
        source: match row {
            Some(row) if row.managed_by.is_some() => "catalog",
            Some(_) => "admin",
            None => "config",
        },
        managed_by: row.and_then(|row| row.managed_by.clone()),
        updated_by: row.and_then(|row| row.updated_by.clone()),
        updated_at: row.map(|row| row.updated_at),
    }
}
