//! Plans' rate limits as admins set them: stored in `plan_rate_limits`
//! (a row overrides the config file) and applied in memory at once.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait, sea_query::OnConflict};
use serde::Serialize;

use super::RateLimits;
use crate::{
    audit::{self, Action, Target},
    db,
    entity::plan_rate_limit,
    error::Result,
    plan::{Limits, PlanName},
    time,
    time::serde_iso,
};

/// A plan's limits and where they come from.
#[derive(Debug, Clone, Serialize)]
pub struct PlanLimitsView {
    pub plan: PlanName,
    /// 0: no limit.
    pub requests_per_minute: u32,
    pub tokens_per_minute: u32,
    /// `config` (the file) or `admin`.
    pub source: &'static str,
    pub updated_by: Option<String>,
    #[serde(with = "serde_iso::option")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Applies the stored limits over the config file's, at start.
pub async fn load(db: &DatabaseConnection, limits: &RateLimits) -> Result<()> {
    for row in plan_rate_limit::Entity::find().all(db).await? {
        if let Some(plan) = PlanName::parse(&row.plan) {
            limits.set_plan(plan, stored(&row));
        }
    }
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
    let row = plan_rate_limit::Model {
        plan: plan.as_str().to_owned(),
        requests_per_minute: i64::from(new.requests_per_minute),
        tokens_per_minute: i64::from(new.tokens_per_minute),
        updated_by: Some(admin_id.to_owned()),
        updated_at: time::now(),
    };
    let txn = db::begin_write(db).await?;
    let previous = plan_rate_limit::Entity::find_by_id(row.plan.clone())
        .one(&txn)
        .await?;
    let before = view(plan, limits.plan(plan), previous.as_ref());
    plan_rate_limit::Entity::insert(plan_rate_limit::ActiveModel {
        plan: Set(row.plan.clone()),
        requests_per_minute: Set(row.requests_per_minute),
        tokens_per_minute: Set(row.tokens_per_minute),
        updated_by: Set(row.updated_by.clone()),
        updated_at: Set(row.updated_at),
    })
    .on_conflict(
        OnConflict::column(plan_rate_limit::Column::Plan)
            .update_columns([
                plan_rate_limit::Column::RequestsPerMinute,
                plan_rate_limit::Column::TokensPerMinute,
                plan_rate_limit::Column::UpdatedBy,
                plan_rate_limit::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
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

fn stored(row: &plan_rate_limit::Model) -> Limits {
    let clamp = |n: i64| u32::try_from(n.max(0)).unwrap_or(u32::MAX);
    Limits::new(clamp(row.requests_per_minute), clamp(row.tokens_per_minute))
}

fn view(plan: PlanName, limits: Limits, row: Option<&plan_rate_limit::Model>) -> PlanLimitsView {
    PlanLimitsView {
        plan,
        requests_per_minute: limits.requests_per_minute,
        tokens_per_minute: limits.tokens_per_minute,
        source: if row.is_some() { "admin" } else { "config" },
        updated_by: row.and_then(|row| row.updated_by.clone()),
        updated_at: row.map(|row| row.updated_at),
    }
}
