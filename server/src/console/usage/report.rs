//! A user's own usage report: totals, one entry per day, the split by model
//! and by key, and one page of requests, all from `usage_records` filtered
//! by the caller. Sums and groups are computed by the database (`GROUP BY`
//! over the `(user_id, created_at)` index); only the days without usage
//! are filled in here.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Select,
    sea_query::{Alias, Expr, Func, SimpleExpr},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub use contract::usage::{Day, KeyUsage, ModelUsage, RequestRow, Totals};

use crate::platform::{
    entity::{api_key, usage_record},
    error::{Error, Result},
    money::format_credits,
    pricing::UsageSums,
    time::days::DateRange,
    validate,
};

pub const DEFAULT_PER_PAGE: u64 = 50;
pub const MAX_PER_PAGE: u64 = 200;

/// `GET /api/users/me/usage` (and `.csv`, which ignores the paging).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// `YYYY-MM-DD`, UTC; both ends included.
    pub from: Option<String>,
    pub to: Option<String>,
    pub key_id: Option<String>,
    /// The public model name, as clients sent it.
    pub model: Option<String>,
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// A checked query: whose rows, which days, which key and model.
#[derive(Debug, Clone)]
pub struct UsageFilter {
    pub user_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub key_id: Option<String>,
    pub model: Option<String>,
}

impl UsageFilter {
    /// Checks the query's dates and key. Without dates the range is the
    /// [`crate::platform::time::days::DEFAULT_DAYS`] days up to `today`; with one end only, the other is
    /// `today` or that many days before `to`. A key that is not the
    /// caller's is 404, as if it did not exist.
    pub fn new(
        user_id: &str,
        query: &UsageQuery,
        today: NaiveDate,
        keys: &KeyNames,
    ) -> Result<Self> {
        let range = DateRange::parse(
            nonblank(query.from.as_deref()).as_deref(),
            nonblank(query.to.as_deref()).as_deref(),
            today,
        )?;
        let key_id = nonblank(query.key_id.as_deref());
        if let Some(key_id) = &key_id
            && !keys.0.contains_key(key_id)
        {
            return Err(Error::not_found("key not found"));
        }
        Ok(Self {
            user_id: user_id.to_owned(),
            from: range.from,
            to: range.to,
            key_id,
            model: nonblank(query.model.as_deref()),
        })
    }

    fn range(&self) -> DateRange {
        DateRange {
            from: self.from,
            to: self.to,
        }
    }

    /// The first instant of `from`, UTC.
    pub fn start(&self) -> DateTime<Utc> {
        self.range().start()
    }

    /// The first instant after `to`, UTC.
    pub fn end(&self) -> DateTime<Utc> {
        self.range().end()
    }

    /// The rows this filter selects.
    pub fn condition(&self) -> Condition {
        let mut condition = Condition::all()
            .add(usage_record::Column::UserId.eq(self.user_id.as_str()))
            .add(usage_record::Column::CreatedAt.gte(self.start()))
            .add(usage_record::Column::CreatedAt.lt(self.end()));
        if let Some(key_id) = &self.key_id {
            condition = condition.add(usage_record::Column::ApiKeyId.eq(key_id.as_str()));
        }
        if let Some(model) = &self.model {
            condition = condition.add(usage_record::Column::Model.eq(model.as_str()));
        }
        condition
    }
}

/// The names of a user's keys by id, revoked ones included (their usage
/// stays).
#[derive(Debug, Clone, Default)]
pub struct KeyNames(HashMap<String, String>);

impl KeyNames {
    pub async fn of_user<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<Self> {
        let keys: Vec<(String, String)> = api_key::Entity::find()
            .select_only()
            .column(api_key::Column::Id)
            .column(api_key::Column::Name)
            .filter(api_key::Column::UserId.eq(user_id))
            .into_tuple()
            .all(db)
            .await?;
        Ok(Self(keys.into_iter().collect()))
    }

    pub fn name(&self, key_id: &str) -> Option<&str> {
        self.0.get(key_id).map(String::as_str)
    }
}

/// `row` as the report and the CSV show it.
pub fn request_row(row: usage_record::Model, keys: &KeyNames) -> RequestRow {
    RequestRow {
        key_name: keys.name(&row.api_key_id).map(str::to_owned),
        cost_credits: format_credits(row.cost),
        charged_credits: format_credits(row.charged),
        id: row.id,
        created_at: row.created_at.into(),
        model: row.model,
        key_id: row.api_key_id,
        endpoint: row.endpoint,
        streamed: row.streamed,
        status_code: row.status_code,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        cache_read_tokens: row.cache_read_tokens,
        cache_write_tokens: row.cache_write_tokens,
        reasoning_tokens: row.reasoning_tokens,
        cost_micro_credits: row.cost,
        charged_micro_credits: row.charged,
        duration_ms: row.duration_ms,
        error_kind: row.error_kind,
    }
}

/// The whole report; the handler adds `"success": true`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub totals: Totals,
    pub series: Vec<Day>,
    pub by_model: Vec<ModelUsage>,
    pub by_key: Vec<KeyUsage>,
    /// Newest first.
    pub requests: Vec<RequestRow>,
    pub page: u64,
    pub per_page: u64,
    /// Requests matching the filter, on every page.
    pub total: i64,
}

/// The checked filter of `user_id`'s `query`, and the names of their keys
/// (which the check needs, and the report and the CSV show).
pub async fn resolve<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    query: &UsageQuery,
    today: NaiveDate,
) -> Result<(UsageFilter, KeyNames)> {
    let keys = KeyNames::of_user(db, user_id).await?;
    let filter = UsageFilter::new(user_id, query, today, &keys)?;
    Ok((filter, keys))
}

/// `user_id`'s report for `query`, with `today` (UTC) as the default end.
pub async fn report<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    query: &UsageQuery,
    today: NaiveDate,
) -> Result<Report> {
    let (page, per_page) =
        validate::paging(query.page, query.per_page, DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    let (filter, keys) = resolve(db, user_id, query, today).await?;
    let condition = filter.condition();

    // One pass over the caller's rows in the range, grouped by day, model
    // and key: the totals, the series, the models and the keys are all
    // sums of these few groups (four scans of the same rows otherwise).
    let day = day_of(db.get_database_backend());
    let cells = with_sums(usage_record::Entity::find().filter(condition.clone()))
        .expr_as(day.clone(), "day")
        .column(usage_record::Column::Model)
        .column(usage_record::Column::ApiKeyId)
        .group_by(day)
        .group_by(usage_record::Column::Model)
        .group_by(usage_record::Column::ApiKeyId)
        .into_model::<Cell>()
        .all(db)
        .await?;
    let mut totals = UsageSums::default();
    let mut days: HashMap<&str, UsageSums> = HashMap::new();
    let mut models: HashMap<&str, UsageSums> = HashMap::new();
    let mut key_sums: HashMap<&str, UsageSums> = HashMap::new();
    for cell in &cells {
        totals.add(&cell.sums);
        days.entry(&cell.day).or_default().add(&cell.sums);
        models.entry(&cell.model).or_default().add(&cell.sums);
        key_sums
            .entry(&cell.api_key_id)
            .or_default()
            .add(&cell.sums);
    }
    let series = filter
        .from
        .iter_days()
        .take_while(|date| *date <= filter.to)
        .map(|date| {
            let date = date.format("%Y-%m-%d").to_string();
            let sums = days.get(date.as_str()).cloned().unwrap_or_default();
            Day {
                date,
                requests: sums.requests,
                input_tokens: sums.input_tokens,
                output_tokens: sums.output_tokens,
                cost_micro_credits: sums.cost,
                cost_credits: format_credits(sums.cost),
            }
        })
        .collect();
    let by_model = most_cost_first(models)
        .into_iter()
        .map(|(model, sums)| ModelUsage {
            model: model.to_owned(),
            usage: sums.into(),
        })
        .collect();
    let by_key = most_cost_first(key_sums)
        .into_iter()
        .map(|(key_id, sums)| KeyUsage {
            key_name: keys.name(key_id).map(str::to_owned),
            key_id: key_id.to_owned(),
            usage: sums.into(),
        })
        .collect();

    let requests = usage_record::Entity::find()
        .filter(condition)
        .order_by_desc(usage_record::Column::CreatedAt)
        .order_by_desc(usage_record::Column::Id)
        .offset((page - 1) * per_page)
        .limit(per_page)
        .all(db)
        .await?
        .into_iter()
        .map(|row| request_row(row, &keys))
        .collect();

    Ok(Report {
        from: filter.from.to_string(),
        to: filter.to.to_string(),
        total: totals.requests,
        totals: totals.into(),
        series,
        by_model,
        by_key,
        requests,
        page,
        per_page,
    })
}

impl From<UsageSums> for Totals {
    fn from(sums: UsageSums) -> Self {
        Self {
            requests: sums.requests,
            input_tokens: sums.input_tokens,
            output_tokens: sums.output_tokens,
            cache_read_tokens: sums.cache_read_tokens,
            cache_write_tokens: sums.cache_write_tokens,
            cost_micro_credits: sums.cost,
            cost_credits: format_credits(sums.cost),
            charged_micro_credits: sums.charged,
            charged_credits: format_credits(sums.charged),
        }
    }
}

/// [`UsageSums`] of one day, model and key.
#[derive(Debug, Clone, FromQueryResult)]
struct Cell {
    day: String,
    model: String,
    api_key_id: String,
    #[sea_orm(nested)]
    sums: UsageSums,
}

/// Largest cost first, then by name.
fn most_cost_first(groups: HashMap<&str, UsageSums>) -> Vec<(&str, UsageSums)> {
    let mut groups: Vec<(&str, UsageSums)> = groups.into_iter().collect();
    groups.sort_by(|a, b| b.1.cost.cmp(&a.1.cost).then_with(|| a.0.cmp(b.0)));
    groups
}

fn with_sums(select: Select<usage_record::Entity>) -> Select<usage_record::Entity> {
    use usage_record::Column as C;
    select
        .select_only()
        .expr_as(Func::count(Expr::col(C::Id)), "requests")
        .expr_as(
            sum_of(
                Expr::case(C::StatusCode.gte(400), 1i64)
                    .finally(0i64)
                    .into(),
            ),
            "errors",
        )
        .expr_as(sum(C::InputTokens), "input_tokens")
        .expr_as(sum(C::OutputTokens), "output_tokens")
        .expr_as(sum(C::CacheReadTokens), "cache_read_tokens")
        .expr_as(sum(C::CacheWriteTokens), "cache_write_tokens")
        .expr_as(sum(C::Cost), "cost")
        .expr_as(sum(C::Charged), "charged")
}

/// `CAST(COALESCE(SUM(col), 0) AS BIGINT)`: PostgreSQL sums `bigint` as
/// `numeric`, and an empty set sums to `NULL`.
fn sum(column: usage_record::Column) -> SimpleExpr {
    sum_of(Expr::col(column))
}

fn sum_of(value: SimpleExpr) -> SimpleExpr {
    Func::cast_as(
        Func::coalesce([Func::sum(value).into(), Expr::val(0i64)]),
        Alias::new("BIGINT"),
    )
    .into()
}

/// A row's UTC day as `YYYY-MM-DD`. SQLite stores timestamps as UTC text
/// that starts with the date; PostgreSQL's `timestamptz` is formatted in
/// UTC whatever the session's time zone.
fn day_of(backend: DatabaseBackend) -> SimpleExpr {
    match backend {
        DatabaseBackend::Postgres => {
            Expr::cust(r#"to_char("created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD')"#)
        }
        _ => Expr::cust(r#"substr("created_at", 1, 10)"#),
    }
}

/// `YYYY-MM-DD` exactly, or 400 naming the field.
fn nonblank(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(from: Option<&str>, to: Option<&str>) -> UsageQuery {
        UsageQuery {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
            ..UsageQuery::default()
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 10, 28).unwrap()
    }

    #[test]
    fn the_default_range_is_the_last_thirty_days_with_today() {
        let filter =
            UsageFilter::new("u", &query(None, None), today(), &KeyNames::default()).unwrap();
        assert_eq!(filter.from.to_string(), "2025-09-29");
        assert_eq!(filter.to.to_string(), "2025-10-28");
        assert_eq!(filter.start().to_rfc3339(), "2025-09-29T00:00:00+00:00");
        assert_eq!(filter.end().to_rfc3339(), "2025-10-29T00:00:00+00:00");
    }

    #[test]
    fn bad_dates_reversed_ranges_and_long_ranges_are_refused() {
        let keys = KeyNames::default();
        for (from, to) in [
            (Some("2025-13-01"), None),
            (Some("2025-1-01"), None),
            (Some("+2025-01-01"), None),
            (None, Some("yesterday")),
            (Some("2025-10-02"), Some("2025-10-01")),
            (Some("2024-01-01"), Some("2025-01-01")),
        ] {
            let err = UsageFilter::new("u", &query(from, to), today(), &keys).unwrap_err();
            assert!(
                matches!(err, Error::BadRequest(_)),
                "{from:?} {to:?}: {err}"
            );
        }
        // 366 days, both ends included, is the longest range.
        let longest = UsageFilter::new(
            "u",
            &query(Some("2024-01-02"), Some("2025-01-01")),
            today(),
            &keys,
        );
        assert!(longest.is_ok());
    }
}
