//! The admin overview's figures, read from the tables the rest of Tollgate
//! keeps: users, sessions, the usage rollup and records, and the request
//! metrics. The live telemetry reads the same functions, so the stream and
//! the overview never disagree about what a figure means.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
pub use contract::insights::{Counts, Light, Overview, Performance, System};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect,
    sea_query::{Alias, Expr, ExprTrait, Func},
};

use crate::platform::{
    entity::{daily_usage, request_metric, session, usage_record, user},
    error::Result,
    time::{self},
};

/// A session seen this recently counts its user as active now.
const ACTIVE_WINDOW: TimeDelta = TimeDelta::minutes(5);
/// The window of the "24h" figures.
const DAY: TimeDelta = TimeDelta::hours(24);
/// The window the API's light judges.
const API_WINDOW: TimeDelta = TimeDelta::minutes(5);
/// A `SELECT 1` slower than this turns the database's light yellow…
const DB_GREEN_BELOW: Duration = Duration::from_millis(100);
/// …and one slower than this (or failing) red; it is not waited for longer.
const DB_YELLOW_BELOW: Duration = Duration::from_secs(1);

/// The two lights, without a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lights {
    pub api: Light,
    pub db: Light,
}

/// Everything the overview shows, measured now.
#[tracing::instrument(skip_all)]
pub async fn overview(db: &DatabaseConnection) -> Result<Overview> {
    let now = time::now();
    let (total_users, active_now, total_title_generations, title_generations_24h, performance) = tokio::try_join!(
        total_users(db),
        active_now(db, now),
        total_title_generations(db),
        title_generations_since(db, now - DAY),
        performance(db, now),
    )?;
    let lights = lights(db, now).await;
    Ok(Overview {
        overview: Counts {
            total_users,
            active_now,
            total_title_generations,
            title_generations_24h,
        },
        performance,
        system: System {
            api: lights.api,
            db: lights.db,
            refreshed_at: now.into(),
        },
    })
}

/// Users not deleted (suspended ones included: they still have accounts).
pub async fn total_users(db: &DatabaseConnection) -> Result<u64> {
    Ok(user::Entity::find()
        .filter(user::Column::DeletedAt.is_null())
        .count(db)
        .await?)
}

/// Distinct users with a session that is open (neither revoked nor expired)
/// and was seen within five minutes of `now`. Sessions are touched at most
/// once a minute, so this is exact to about a minute.
pub async fn active_now(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<u64> {
    let count: Option<i64> = session::Entity::find()
        .select_only()
        .expr(Func::count_distinct(Expr::col(session::Column::UserId)))
        .filter(session::Column::LastSeenAt.gte(now - ACTIVE_WINDOW))
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(now))
        .into_tuple()
        .one(db)
        .await?;
    Ok(non_negative(count.unwrap_or(0)))
}

/// Proxied requests that reached a model, from the daily rollup: one row per
/// day and model however many requests there were.
pub async fn total_title_generations(db: &DatabaseConnection) -> Result<u64> {
    let total: Option<i64> = daily_usage::Entity::find()
        .select_only()
        .expr(bigint_sum(Expr::col(daily_usage::Column::TotalRequests)))
        .into_tuple()
        .one(db)
        .await?;
    Ok(non_negative(total.unwrap_or(0)))
}

/// Proxied requests since `since` that reached a model: the rows the daily
/// rollup counts (it leaves out requests for unknown models), so this never
/// exceeds the total. `idx_usage_created` serves the range.
pub async fn title_generations_since(db: &DatabaseConnection, since: DateTime<Utc>) -> Result<u64> {
    Ok(usage_record::Entity::find()
        .filter(usage_record::Column::CreatedAt.gte(since))
        .filter(usage_record::Column::ModelId.is_not_null())
        .count(db)
        .await?)
}

/// The last 24 hours of HTTP requests.
pub async fn performance(db: &DatabaseConnection, now: DateTime<Utc>) -> Result<Performance> {
    let figures = request_figures(db, now - DAY).await?;
    Ok(Performance {
        requests_total_24h: non_negative(figures.requests),
        avg_response_ms: figures.avg_response_ms(),
        error_rate_pct: figures.error_rate_pct(),
    })
}

/// The API's and the database's lights (see `docs/architecture.md`).
/// Never fails: a database that cannot answer is itself the finding.
pub async fn lights(db: &DatabaseConnection, now: DateTime<Utc>) -> Lights {
    let db_light = db_light(ping(db).await);
    let api = match request_figures(db, now - API_WINDOW).await {
        Ok(figures) => api_light(figures.requests, figures.server_errors),
        Err(err) => {
            tracing::warn!(error = %err, "cannot read request metrics for the API's light");
            // Everything the API serves beyond the proxy's hot path needs
            // the database, so an API that cannot read it is failing.
            Light::Red
        }
    };
    Lights { api, db: db_light }
}

/// How long a `SELECT 1` took; `None` when it failed or took a second.
async fn ping(db: &DatabaseConnection) -> Option<Duration> {
    let started = Instant::now();
    match tokio::time::timeout(DB_YELLOW_BELOW, db.execute_unprepared("SELECT 1")).await {
        Ok(Ok(_)) => Some(started.elapsed()),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "the database did not answer SELECT 1");
            None
        }
        Err(_) => None,
    }
}

/// Green under 100 ms, yellow under a second, red when slower or failing.
pub fn db_light(ping: Option<Duration>) -> Light {
    match ping {
        Some(took) if took < DB_GREEN_BELOW => Light::Green,
        Some(took) if took < DB_YELLOW_BELOW => Light::Yellow,
        _ => Light::Red,
    }
}

/// By the share of 5xx answers: green under 1 %, yellow under 5 %, red from
/// 5 %. No requests at all is green: nothing is failing.
pub fn api_light(requests: i64, server_errors: i64) -> Light {
    if requests <= 0 || server_errors * 100 < requests {
        Light::Green
    } else if server_errors * 100 < requests * 5 {
        Light::Yellow
    } else {
        Light::Red
    }
}

/// Counts and sums of `request_metrics` since a time, in one scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RequestFigures {
    requests: i64,
    total_ms: i64,
    /// Status 400 and above.
    errors: i64,
    /// Status 500 and above.
    server_errors: i64,
}

impl RequestFigures {
    /// The mean, rounded half up; integer arithmetic, so no float surprises.
    fn avg_response_ms(&self) -> i64 {
        if self.requests <= 0 {
            return 0;
        }
        (self.total_ms + self.requests / 2) / self.requests
    }

    /// Percent to one decimal, rounded half up; 0 without requests.
    fn error_rate_pct(&self) -> f64 {
        if self.requests <= 0 {
            return 0.0;
        }
        let tenths = (self.errors * 1000 + self.requests / 2) / self.requests;
        tenths as f64 / 10.0
    }
}

async fn request_figures(db: &DatabaseConnection, since: DateTime<Utc>) -> Result<RequestFigures> {
    use request_metric::Column as C;
    let count_where = |condition| bigint_sum(Expr::case(condition, 1).finally(0));
    let row: Option<(i64, i64, i64, i64)> = request_metric::Entity::find()
        .select_only()
        .expr(Expr::col(C::Id).count())
        .expr(bigint_sum(Expr::col(C::DurationMs)))
        .expr(count_where(C::StatusCode.gte(400)))
        .expr(count_where(C::StatusCode.gte(500)))
        .filter(C::Ts.gte(since))
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.map_or_else(
        RequestFigures::default,
        |(requests, total_ms, errors, server_errors)| RequestFigures {
            requests,
            total_ms,
            errors,
            server_errors,
        },
    ))
}

/// `CAST(COALESCE(SUM(x), 0) AS BIGINT)`: 0 over no rows, and a plain
/// integer on PostgreSQL too, where `SUM` of a `BIGINT` is a `NUMERIC`.
fn bigint_sum(expr: impl Into<Expr>) -> Expr {
    Func::cast_as(
        Func::coalesce([Expr::from(Func::sum(expr)), Expr::val(0)]),
        Alias::new("BIGINT"),
    )
    .into()
}

fn non_negative(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_light_follows_the_ping() {
        assert_eq!(db_light(Some(Duration::from_millis(3))), Light::Green);
        assert_eq!(db_light(Some(Duration::from_millis(99))), Light::Green);
        assert_eq!(db_light(Some(Duration::from_millis(100))), Light::Yellow);
        assert_eq!(db_light(Some(Duration::from_millis(999))), Light::Yellow);
        assert_eq!(db_light(Some(Duration::from_secs(1))), Light::Red);
        assert_eq!(db_light(None), Light::Red);
    }

    #[test]
    fn the_api_light_follows_the_share_of_server_errors() {
        assert_eq!(api_light(0, 0), Light::Green);
        assert_eq!(api_light(1000, 9), Light::Green);
        assert_eq!(api_light(1000, 10), Light::Yellow);
        assert_eq!(api_light(1000, 49), Light::Yellow);
        assert_eq!(api_light(1000, 50), Light::Red);
        assert_eq!(api_light(1, 1), Light::Red);
    }

    #[test]
    fn averages_and_error_rates_round_half_up_and_are_zero_without_requests() {
        let none = RequestFigures::default();
        assert_eq!(none.avg_response_ms(), 0);
        assert_eq!(none.error_rate_pct(), 0.0);
        let some = RequestFigures {
            requests: 3,
            total_ms: 10 + 20 + 21,
            errors: 1,
            server_errors: 0,
        };
        assert_eq!(some.avg_response_ms(), 17);
        assert_eq!(some.error_rate_pct(), 33.3);
        let half = RequestFigures {
            requests: 2,
            total_ms: 3,
            errors: 0,
            server_errors: 0,
        };
        assert_eq!(half.avg_response_ms(), 2);
        let rate = RequestFigures {
            requests: 2000,
            total_ms: 0,
            errors: 1,
            server_errors: 0,
        };
        assert_eq!(rate.error_rate_pct(), 0.1, "0.05 % rounds half up");
    }
}
