//! `GET /api/admin/llm-usage` (the admin contract's section 6): requests per
//! user and model in a range of days, their totals, and a sparkline of
//! requests per day.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
pub use contract::insights::{LlmUsage, LlmUsageTotals, Sparkline, UserModelUsage};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, QueryFilter,
    QuerySelect, QueryTrait,
    sea_query::{Alias, Expr, ExprTrait, Func, Query, SimpleExpr},
};
use serde::Deserialize;

use super::range::{DateRange, day_key};
use crate::platform::{
    entity::{daily_usage, daily_user_usage as rollup, user},
    error::{Error, Result},
};

/// `SUM(daily_user_usage.<column>)` as a 64-bit integer (PostgreSQL sums
/// `bigint`s into `numeric`).
pub(super) fn total(column: rollup::Column) -> Expr {
    Expr::col((rollup::Entity, column)).sum().cast_as("BIGINT")
}

/// `range` (and `model`) as a condition for sums per user, or per user and
/// model, over the whole range. Those read the covering `(user_id, model,
/// date, requests, cost, last_used_at)` index from end to end, already in
/// their groups' order: no sort, no table lookups. SQLite's planner, which
/// has no statistics, would rather take the date index and then sort a
/// few hundred thousand rows (several times slower), so there the column is
/// written `+date`, which SQLite documents as the way to keep a term off
/// the indexes. PostgreSQL plans with statistics and gets the plain column.
pub(super) fn whole_range(
    backend: DatabaseBackend,
    range: &DateRange,
    model: Option<&str>,
) -> SimpleExpr {
    let dates = match backend {
        DatabaseBackend::Sqlite => Expr::cust_with_values(
            r#"+"daily_user_usage"."date" BETWEEN ? AND ?"#,
            [range.from_key(), range.to_key()],
        ),
        _ => Expr::col((rollup::Entity, rollup::Column::Date))
            .between(range.from_key(), range.to_key()),
    };
    match model {
        Some(model) => dates.and(Expr::col((rollup::Entity, rollup::Column::Model)).eq(model)),
        None => dates,
    }
}

/// Requests per user and model in the range, with the user's email, in no
/// particular order. The groups come back as one JSON array in one row:
/// SQLite's driver hands rows over one at a time (about 4 µs each on the
/// benchmark's machine), which for the 32,000 groups of a busy month cost
/// twice what the query itself does.
async fn per_user_model(
    db: &DatabaseConnection,
    range: &DateRange,
    model: Option<&str>,
) -> Result<Vec<UserModelUsage>> {
    use rollup::Column as C;
    let backend = db.get_database_backend();
    // Grouped first, then joined for the email: one lookup per group
    // rather than one per rollup row.
    let grouped = Query::select()
        .column((rollup::Entity, C::UserId))
        .column((rollup::Entity, C::Model))
        .expr_as(total(C::Requests), Alias::new("count"))
        .expr_as(
            Expr::col((rollup::Entity, C::LastUsedAt)).max(),
            Alias::new("last_used_at"),
        )
        .from(rollup::Entity)
        .and_where(whole_range(backend, range, model))
        .group_by_col((rollup::Entity, C::UserId))
        .group_by_col((rollup::Entity, C::Model))
        .to_owned();
    let groups = Alias::new("per_user_model");
    let (aggregate, array) = match backend {
        DatabaseBackend::Postgres => ("json_agg", "json_build_array"),
        _ => ("json_group_array", "json_array"),
    };
    let row = Func::cust(Alias::new(array)).args([
        Expr::col((groups.clone(), C::UserId)),
        Expr::col((groups.clone(), C::Model)),
        Expr::col((user::Entity, user::Column::Email)),
        Expr::col((groups.clone(), Alias::new("count"))),
        Expr::col((groups.clone(), C::LastUsedAt)),
    ]);
    let query = Query::select()
        .expr_as(
            Func::cust(Alias::new(aggregate))
                .arg(row)
                .cast_as(Alias::new("TEXT")),
            Alias::new("groups"),
        )
        .from_subquery(grouped, groups.clone())
        .inner_join(
            user::Entity,
            Expr::col((user::Entity, user::Column::Id)).equals((groups, C::UserId)),
        )
        .to_owned();
    let json: Option<String> = match db.query_one(&query).await? {
        Some(row) => row.try_get("", "groups")?,
        None => None,
    };
    let Some(json) = json else {
        // PostgreSQL aggregates no rows to NULL (SQLite to `[]`).
        return Ok(Vec::new());
    };
    let groups: Vec<Group> =
        serde_json::from_str(&json).map_err(|err| Error::Internal(err.into()))?;
    Ok(groups
        .into_iter()
        .map(
            |Group(user_id, model, email, count, last_used_at)| UserModelUsage {
                user_id,
                model,
                email,
                count,
                last_used_at: last_used_at.into(),
            },
        )
        .collect())
}

/// One group as the JSON array holds it: user id, model, email, count and
/// last use.
#[derive(Deserialize)]
struct Group(String, String, Option<String>, i64, DateTime<Utc>);

/// `SUM(daily_usage.total_requests)` as a 64-bit integer.
fn day_total() -> Expr {
    Expr::col((daily_usage::Entity, daily_usage::Column::TotalRequests))
        .sum()
        .cast_as("BIGINT")
}

/// By user and model: most requests first, then by user id and model, so
/// that equal counts always come in the same order.
pub async fn llm_usage(
    db: &DatabaseConnection,
    range: &DateRange,
    model: Option<&str>,
) -> Result<LlmUsage> {
    let mut by_user = per_user_model(db, range, model).await?;
    by_user.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.user_id.cmp(&b.user_id))
            .then_with(|| a.model.cmp(&b.model))
    });
    let totals = LlmUsageTotals {
        requests: by_user.iter().map(|row| row.count).sum(),
        users: by_user
            .iter()
            .map(|row| row.user_id.as_str())
            .collect::<HashSet<_>>()
            .len(),
    };

    // Per day from `daily_usage` (a row per day and model), which counts
    // the same requests.
    let per_day: BTreeMap<String, i64> = daily_usage::Entity::find()
        .select_only()
        .column(daily_usage::Column::Date)
        .column_as(day_total(), "requests")
        .filter(daily_usage::Column::Date.between(range.from_key(), range.to_key()))
        .apply_if(model, |query, model| {
            query.filter(daily_usage::Column::Model.eq(model))
        })
        .group_by(daily_usage::Column::Date)
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
