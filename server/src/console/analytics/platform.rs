//! `GET /api/admin/stats`: platform figures for the admin dashboard over a
//! range of days. Usage per day and model, and what requests were charged,
//! come from `daily_usage` (a row per day and model); the top users from
//! `daily_user_usage`; grants, refunds and adjustments from the ledger
//! (indexed by kind and time, so the charges in between are not read);
//! sign-ups from `users.created_at`.

use std::collections::{BTreeMap, HashMap};

pub use contract::insights::{
    CreditFigures, DayCount, DayUsage, ErrorRate, ModelUsage, PlatformStats, TopUser, UserFigures,
};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};

use super::{
    llm_usage::{total, whole_range},
    range::{DateRange, day_key},
};
use crate::platform::{
    entity::{
        credit_entry::{self, EntryKind},
        daily_usage, daily_user_usage as rollup, user,
    },
    error::Result,
    money::format_credits,
    pricing::UsageSums,
};

/// How many users `top_users` lists.
pub const TOP_USERS: u64 = 10;

/// `daily_usage`'s sums for one day and model, as the query returns them.
#[derive(FromQueryResult)]
struct Group {
    date: String,
    model: String,
    #[sea_orm(nested)]
    sums: UsageSums,
}

/// A day's figures.
fn day_usage(date: String, sums: UsageSums) -> DayUsage {
    DayUsage {
        date,
        requests: sums.requests,
        errors: sums.errors,
        input_tokens: sums.input_tokens,
        output_tokens: sums.output_tokens,
        cache_read_tokens: sums.cache_read_tokens,
        cache_write_tokens: sums.cache_write_tokens,
        cost_micro_credits: sums.cost,
        cost_credits: format_credits(sums.cost),
    }
}

/// A model's figures over the range.
fn model_usage(model: String, sums: UsageSums) -> ModelUsage {
    ModelUsage {
        model,
        requests: sums.requests,
        errors: sums.errors,
        input_tokens: sums.input_tokens,
        output_tokens: sums.output_tokens,
        cache_read_tokens: sums.cache_read_tokens,
        cache_write_tokens: sums.cache_write_tokens,
        cost_micro_credits: sums.cost,
        cost_credits: format_credits(sums.cost),
    }
}

/// `daily_usage`'s rows in the range (one per day and model).
async fn daily_groups(db: &DatabaseConnection, range: &DateRange) -> Result<Vec<Group>> {
    use daily_usage::Column as C;
    let sum = |column: C| {
        Expr::col((daily_usage::Entity, column))
            .sum()
            .cast_as("BIGINT")
    };
    Ok(daily_usage::Entity::find()
        .select_only()
        .column(C::Date)
        .column(C::Model)
        .column_as(sum(C::TotalRequests), "requests")
        .column_as(sum(C::Errors), "errors")
        .column_as(sum(C::InputTokens), "input_tokens")
        .column_as(sum(C::OutputTokens), "output_tokens")
        .column_as(sum(C::CacheReadTokens), "cache_read_tokens")
        .column_as(sum(C::CacheWriteTokens), "cache_write_tokens")
        .column_as(sum(C::Cost), "cost")
        .column_as(sum(C::Charged), "charged")
        .filter(C::Date.between(range.from_key(), range.to_key()))
        .group_by(C::Date)
        .group_by(C::Model)
        .into_model()
        .all(db)
        .await?)
}

pub async fn platform_stats(db: &DatabaseConnection, range: &DateRange) -> Result<PlatformStats> {
    let total_users = user::Entity::find()
        .filter(user::Column::DeletedAt.is_null())
        .count(db)
        .await?;
    let mut signups: BTreeMap<String, i64> = BTreeMap::new();
    let created: Vec<chrono::DateTime<chrono::Utc>> = user::Entity::find()
        .select_only()
        .column(user::Column::CreatedAt)
        .filter(user::Column::CreatedAt.gte(range.start()))
        .filter(user::Column::CreatedAt.lt(range.end()))
        .into_tuple()
        .all(db)
        .await?;
    for at in created {
        *signups.entry(day_key(at.date_naive())).or_default() += 1;
    }
    let days: Vec<String> = range.each_day().map(day_key).collect();
    let new_per_day = days
        .iter()
        .map(|date| DayCount {
            date: date.clone(),
            count: signups.get(date).copied().unwrap_or(0),
        })
        .collect();

    let groups = daily_groups(db, range).await?;
    let mut per_day: BTreeMap<&str, UsageSums> = BTreeMap::new();
    let mut per_model: HashMap<&str, UsageSums> = HashMap::new();
    for group in &groups {
        per_day.entry(&group.date).or_default().add(&group.sums);
        per_model.entry(&group.model).or_default().add(&group.sums);
    }
    let usage_per_day = days
        .iter()
        .map(|date| {
            let sums = per_day.get(date.as_str()).copied().unwrap_or_default();
            day_usage(date.clone(), sums)
        })
        .collect();
    let mut models: Vec<ModelUsage> = per_model
        .into_iter()
        .map(|(model, sums)| model_usage(model.to_owned(), sums))
        .collect();
    models.sort_by(|a, b| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.model.cmp(&b.model))
    });
    let (requests, errors) = models
        .iter()
        .fold((0, 0), |(r, e), m| (r + m.requests, e + m.errors));

    let top_users = top_users(db, range).await?;

    // Charges are a row per request: what they took is summed per day and
    // model already (`daily_usage.charged`, written with them).
    let ledger: Vec<(EntryKind, i64)> = credit_entry::Entity::find()
        .select_only()
        .column(credit_entry::Column::Kind)
        .column_as(
            Expr::col((credit_entry::Entity, credit_entry::Column::Amount))
                .sum()
                .cast_as("BIGINT"),
            "amount",
        )
        .filter(credit_entry::Column::Kind.is_in([
            EntryKind::Grant,
            EntryKind::Refund,
            EntryKind::Adjustment,
        ]))
        .filter(credit_entry::Column::CreatedAt.gte(range.start()))
        .filter(credit_entry::Column::CreatedAt.lt(range.end()))
        .group_by(credit_entry::Column::Kind)
        .into_tuple()
        .all(db)
        .await?;
    let sum_of = |kind| {
        ledger
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, amount)| *amount)
            .sum::<i64>()
    };
    let granted = sum_of(EntryKind::Grant);
    let spent: i64 = groups.iter().map(|group| group.sums.charged).sum();
    let (refunded, adjusted) = (sum_of(EntryKind::Refund), sum_of(EntryKind::Adjustment));

    Ok(PlatformStats {
        from: range.from_key(),
        to: range.to_key(),
        users: UserFigures {
            total: total_users,
            new_per_day,
        },
        usage_per_day,
        models,
        credits: CreditFigures {
            granted_micro_credits: granted,
            granted_credits: format_credits(granted),
            spent_micro_credits: spent,
            spent_credits: format_credits(spent),
            refunded_micro_credits: refunded,
            refunded_credits: format_credits(refunded),
            adjusted_micro_credits: adjusted,
            adjusted_credits: format_credits(adjusted),
        },
        top_users,
        error_rate: ErrorRate {
            requests,
            errors,
            error_rate_pct: percent(errors, requests),
        },
    })
}

/// The [`TOP_USERS`] users with the most requests in the range (then the
/// higher cost, then by user id), with their names and emails.
async fn top_users(db: &DatabaseConnection, range: &DateRange) -> Result<Vec<TopUser>> {
    let top: Vec<(String, i64, i64)> = rollup::Entity::find()
        .select_only()
        .column(rollup::Column::UserId)
        .column_as(total(rollup::Column::Requests), "requests")
        .column_as(total(rollup::Column::Cost), "cost")
        .filter(whole_range(db.get_database_backend(), range, None))
        .group_by(rollup::Column::UserId)
        .order_by(total(rollup::Column::Requests), Order::Desc)
        .order_by(total(rollup::Column::Cost), Order::Desc)
        .order_by_asc(rollup::Column::UserId)
        .limit(TOP_USERS)
        .into_tuple()
        .all(db)
        .await?;
    let mut people: HashMap<String, (String, Option<String>)> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Name)
        .column(user::Column::Email)
        .filter(user::Column::Id.is_in(top.iter().map(|(id, _, _)| id.clone())))
        .into_tuple::<(String, String, Option<String>)>()
        .all(db)
        .await?
        .into_iter()
        .map(|(id, name, email)| (id, (name, email)))
        .collect();
    Ok(top
        .into_iter()
        .filter_map(|(user_id, requests, cost)| {
            let (name, email) = people.remove(&user_id)?;
            Some(TopUser {
                user_id,
                name,
                email,
                requests,
                cost_micro_credits: cost,
                cost_credits: format_credits(cost),
            })
        })
        .collect())
}

/// `part / whole × 100` rounded to two decimals.
fn percent(part: i64, whole: i64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    // Exact in integers to the hundredth, then one division for display.
    let hundredths = (i128::from(part) * 10_000 + i128::from(whole) / 2) / i128::from(whole);
    hundredths as f64 / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_to_two_decimals() {
        assert_eq!(percent(0, 0), 0.0);
        assert_eq!(percent(1, 3), 33.33);
        assert_eq!(percent(2, 3), 66.67);
        assert_eq!(percent(7, 1000), 0.7);
        assert_eq!(percent(5, 5), 100.0);
    }
}
