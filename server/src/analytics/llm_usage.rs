//! `GET /api/admin/llm-usage` (the admin contract's section 6): requests per
//! user and model in a range of days, their totals, and a sparkline of
//! requests per day.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, JoinType, QueryFilter,
    QuerySelect, QueryTrait, RelationTrait,
    sea_query::{Expr, ExprTrait},
};
use serde::Serialize;

use super::range::{DateRange, day_key};
use crate::{
    entity::{daily_user_usage as rollup, user},
    error::Result,
    time::serde_iso,
};

#[derive(Debug, Serialize)]
pub struct LlmUsage {
    pub totals: Totals,
    pub by_user: Vec<UserModelUsage>,
    pub sparkline: Sparkline,
}

#[derive(Debug, Serialize)]
pub struct Totals {
    /// Requests in the range.
    pub requests: i64,
    /// Distinct users who made them.
    pub users: usize,
}

/// One user's requests to one model in the range.
#[derive(Debug, Serialize, FromQueryResult)]
pub struct UserModelUsage {
    pub user_id: String,
    /// `None` for people created by name, and deleted accounts.
    pub email: Option<String>,
    pub model: String,
    pub count: i64,
    #[serde(with = "serde_iso")]
    pub last_used_at: DateTime<Utc>,
}

/// Requests per day, one entry for every day of the range, zeros included.
#[derive(Debug, Serialize)]
pub struct Sparkline {
    pub dates: Vec<String>,
    pub values: Vec<i64>,
}

/// `SUM(daily_user_usage.<column>)` as a 64-bit integer (PostgreSQL sums
/// `bigint`s into `numeric`).
pub(super) fn total(column: rollup::Column) -> Expr {
    Expr::col((rollup::Entity, column)).sum().cast_as("BIGINT")
}

/// The rollup's rows in `range`, for one model or all.
pub(super) fn in_range(range: &DateRange, model: Option<&str>) -> sea_orm::Select<rollup::Entity> {
    rollup::Entity::find()
        .filter(rollup::Column::Date.between(range.from_key(), range.to_key()))
        .apply_if(model, |query, model| {
            query.filter(rollup::Column::Model.eq(model))
        })
}

/// By user and model: most requests first, then by user id and model, so
/// that equal counts always come in the same order.
pub async fn llm_usage(
    db: &DatabaseConnection,
    range: &DateRange,
    model: Option<&str>,
) -> Result<LlmUsage> {
    let mut by_user: Vec<UserModelUsage> = in_range(range, model)
        .select_only()
        .column(rollup::Column::UserId)
        .column(rollup::Column::Model)
        .column(user::Column::Email)
        .column_as(total(rollup::Column::Requests), "count")
        .column_as(
            Expr::col((rollup::Entity, rollup::Column::LastUsedAt)).max(),
            "last_used_at",
        )
        .join(JoinType::InnerJoin, rollup::Relation::User.def())
        .group_by(rollup::Column::UserId)
        .group_by(rollup::Column::Model)
        .group_by(user::Column::Email)
        .into_model()
        .all(db)
        .await?;
    by_user.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.user_id.cmp(&b.user_id))
            .then_with(|| a.model.cmp(&b.model))
    });
    let totals = Totals {
        requests: by_user.iter().map(|row| row.count).sum(),
        users: by_user
            .iter()
            .map(|row| row.user_id.as_str())
            .collect::<HashSet<_>>()
            .len(),
    };

    let per_day: BTreeMap<String, i64> = in_range(range, model)
        .select_only()
        .column(rollup::Column::Date)
        .column_as(total(rollup::Column::Requests), "requests")
        .group_by(rollup::Column::Date)
        .into_tuple::<(String, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    let dates: Vec<String> = range.each_day().map(day_key).collect();
    let values = dates
        .iter()
        .map(|date| per_day.get(date).copied().unwrap_or(0))
        .collect();
    Ok(LlmUsage {
        totals,
        by_user,
        sparkline: Sparkline { dates, values },
    })
}
