//! `GET /api/admin/stats`: platform figures for the admin dashboard over a
//! range of days. Usage comes from `daily_user_usage`; credits from the
//! ledger's entries in the range (indexed by `created_at`); sign-ups from
//! `users.created_at`.

use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, JoinType, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationTrait,
    sea_query::{Expr, ExprTrait},
};
use serde::Serialize;

use super::{
    llm_usage::{in_range, total},
    range::{DateRange, day_key},
};
use crate::{
    entity::{
        credit_entry::{self, EntryKind},
        daily_user_usage as rollup, user,
    },
    error::Result,
    money::format_credits,
};

/// How many users `top_users` lists.
pub const TOP_USERS: u64 = 10;

#[derive(Debug, Serialize)]
pub struct PlatformStats {
    pub from: String,
    pub to: String,
    pub users: UserFigures,
    /// One entry per day of the range, zeros included.
    pub usage_per_day: Vec<DayUsage>,
    /// Per model, most requests first.
    pub models: Vec<ModelUsage>,
    pub credits: CreditFigures,
    pub top_users: Vec<TopUser>,
    pub error_rate: ErrorRate,
}

#[derive(Debug, Serialize)]
pub struct UserFigures {
    /// Accounts today, deleted ones left out.
    pub total: u64,
    /// Sign-ups per day of the range (accounts deleted since included).
    pub new_per_day: Vec<DayCount>,
}

#[derive(Debug, Serialize)]
pub struct DayCount {
    pub date: String,
    pub count: i64,
}

/// Requests, errors, tokens and cost, as summed from the rollup.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Totals {
    pub requests: i64,
    pub errors: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub cost_micro_credits: i64,
}

#[derive(Debug, Serialize)]
pub struct DayUsage {
    pub date: String,
    #[serde(flatten)]
    pub totals: Totals,
    pub cost_credits: String,
}

#[derive(Debug, Serialize)]
pub struct ModelUsage {
    pub model: String,
    #[serde(flatten)]
    pub totals: Totals,
    pub cost_credits: String,
}

/// Ledger movements in the range: `spent` is what requests were charged,
/// `refunded` what admins gave back, `adjusted` the signed sum of
/// corrections.
#[derive(Debug, Serialize)]
pub struct CreditFigures {
    pub granted_micro_credits: i64,
    pub granted_credits: String,
    pub spent_micro_credits: i64,
    pub spent_credits: String,
    pub refunded_micro_credits: i64,
    pub refunded_credits: String,
    pub adjusted_micro_credits: i64,
    pub adjusted_credits: String,
}

#[derive(Debug, Serialize)]
pub struct TopUser {
    pub user_id: String,
    pub name: String,
    pub email: Option<String>,
    pub requests: i64,
    pub cost_micro_credits: i64,
    pub cost_credits: String,
}

#[derive(Debug, Serialize)]
pub struct ErrorRate {
    pub requests: i64,
    pub errors: i64,
    /// `errors / requests × 100`, two decimals; 0 without requests.
    pub error_rate_pct: f64,
}

/// The rollup's sums for one day or model, as the query returns them.
#[derive(FromQueryResult)]
struct Group {
    key: String,
    requests: i64,
    errors: i64,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    cost: i64,
}

/// The rollup's sums, grouped by `key` (the date or the model).
async fn grouped(
    db: &DatabaseConnection,
    range: &DateRange,
    key: rollup::Column,
) -> Result<Vec<(String, Totals)>> {
    use rollup::Column as C;
    let groups: Vec<Group> = in_range(range, None)
        .select_only()
        .column_as(Expr::col((rollup::Entity, key)), "key")
        .column_as(total(C::Requests), "requests")
        .column_as(total(C::Errors), "errors")
        .column_as(total(C::InputTokens), "input_tokens")
        .column_as(total(C::OutputTokens), "output_tokens")
        .column_as(total(C::CacheReadTokens), "cache_read_tokens")
        .column_as(total(C::CacheWriteTokens), "cache_write_tokens")
        .column_as(total(C::Cost), "cost")
        .group_by(key)
        .into_model()
        .all(db)
        .await?;
    Ok(groups
        .into_iter()
        .map(|group| {
            let totals = Totals {
                requests: group.requests,
                errors: group.errors,
                input_tokens: group.input_tokens,
                output_tokens: group.output_tokens,
                cache_read_tokens: group.cache_read_tokens,
                cache_write_tokens: group.cache_write_tokens,
                cost_micro_credits: group.cost,
            };
            (group.key, totals)
        })
        .collect())
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

    let per_day: BTreeMap<String, Totals> = grouped(db, range, rollup::Column::Date)
        .await?
        .into_iter()
        .collect();
    let usage_per_day = days
        .iter()
        .map(|date| {
            let totals = per_day.get(date).copied().unwrap_or_default();
            DayUsage {
                date: date.clone(),
                cost_credits: format_credits(totals.cost_micro_credits),
                totals,
            }
        })
        .collect();
    let mut models: Vec<ModelUsage> = grouped(db, range, rollup::Column::Model)
        .await?
        .into_iter()
        .map(|(model, totals)| ModelUsage {
            model,
            cost_credits: format_credits(totals.cost_micro_credits),
            totals,
        })
        .collect();
    models.sort_by(|a, b| {
        b.totals
            .requests
            .cmp(&a.totals.requests)
            .then_with(|| a.model.cmp(&b.model))
    });
    let (requests, errors) = models.iter().fold((0, 0), |(r, e), m| {
        (r + m.totals.requests, e + m.totals.errors)
    });

    let top: Vec<(String, String, Option<String>, i64, i64)> = in_range(range, None)
        .select_only()
        .column(rollup::Column::UserId)
        .column(user::Column::Name)
        .column(user::Column::Email)
        .column_as(total(rollup::Column::Requests), "requests")
        .column_as(total(rollup::Column::Cost), "cost")
        .join(JoinType::InnerJoin, rollup::Relation::User.def())
        .group_by(rollup::Column::UserId)
        .group_by(user::Column::Name)
        .group_by(user::Column::Email)
        .order_by(total(rollup::Column::Requests), Order::Desc)
        .order_by(total(rollup::Column::Cost), Order::Desc)
        .order_by_asc(rollup::Column::UserId)
        .limit(TOP_USERS)
        .into_tuple()
        .all(db)
        .await?;
    let top_users = top
        .into_iter()
        .map(|(user_id, name, email, requests, cost)| TopUser {
            user_id,
            name,
            email,
            requests,
            cost_micro_credits: cost,
            cost_credits: format_credits(cost),
        })
        .collect();

    let ledger: Vec<(EntryKind, i64)> = credit_entry::Entity::find()
        .select_only()
        .column(credit_entry::Column::Kind)
        .column_as(
            Expr::col((credit_entry::Entity, credit_entry::Column::Amount))
                .sum()
                .cast_as("BIGINT"),
            "amount",
        )
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
    let (granted, spent) = (sum_of(EntryKind::Grant), -sum_of(EntryKind::Charge));
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
