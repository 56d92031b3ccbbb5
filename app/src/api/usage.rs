//! The signed-in user's usage: the report behind `/usage` and the
//! dashboard's summary, from the same service as `GET /api/users/me/usage`.

use leptos::prelude::*;

use crate::{
    dto::{UsageChoices, UsageData, UsageSummary},
    error::AppError,
};

/// Requests per page of the usage table.
pub const PER_PAGE: u64 = 20;

/// The report for `from`..`to` (`YYYY-MM-DD`, empty: the last 30 days),
/// one key and one model (empty: all), and page `page` of the requests.
#[server(prefix = "/rpc", endpoint = "usage_report")]
pub async fn usage_report(
    from: String,
    to: String,
    key_id: String,
    model: String,
    page: u64,
) -> Result<UsageData, AppError> {
    use server::console::usage::report::{self, UsageQuery};
    let (state, current) = crate::ssr::user()?;
    let now = server::platform::time::now();
    let query = UsageQuery {
        from: Some(from),
        to: Some(to),
        key_id: Some(key_id),
        model: Some(model),
        page: Some(page.max(1)),
        per_page: Some(PER_PAGE),
    };
    let report = report::report(&state.db, &current.user.id, &query, now.date_naive()).await?;
    Ok(UsageData {
        requests: dated(report.requests, now),
        series: report.series,
        by_model: report.by_model,
        from: report.from,
        to: report.to,
        totals: report.totals,
        page: report.page,
        per_page: report.per_page,
        total: report.total,
    })
}

/// Request rows as the UI shows them.
#[cfg(feature = "ssr")]
fn dated(
    rows: Vec<contract::usage::RequestRow>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<crate::dto::Dated<contract::usage::RequestRow>> {
    rows.into_iter()
        .map(|row| {
            let at = row.created_at.clone();
            crate::ssr::dated(row, at, now)
        })
        .collect()
}

/// What the usage filters offer: the default range, the user's keys
/// (revoked ones too: their usage stays) and the models their plan may call.
#[server(prefix = "/rpc", endpoint = "usage_filter_choices")]
pub async fn usage_filter_choices() -> Result<UsageChoices, AppError> {
    let (state, current) = crate::ssr::user()?;
    let keys = server::console::keys::service::list(&state.db, &current.user.id)
        .await?
        .into_iter()
        .map(|key| crate::dto::KeyChoice {
            id: key.id,
            name: key.name,
        })
        .collect();
    let models = server::console::models::service::available_for(&state.db, current.plan.plan)
        .await?
        .into_iter()
        .map(|model| model.id)
        .collect();
    // The range a report without dates covers, as the report decides it.
    let today = server::platform::time::now().date_naive();
    let (default_range, _) = server::console::usage::report::resolve(
        &state.db,
        &current.user.id,
        &server::console::usage::report::UsageQuery::default(),
        today,
    )
    .await?;
    Ok(UsageChoices {
        default_from: default_range.from.to_string(),
        default_to: default_range.to.to_string(),
        keys,
        models,
    })
}

/// The dashboard's figures: the last 30 days and the latest five requests.
#[server(prefix = "/rpc", endpoint = "dashboard_usage")]
pub async fn dashboard_usage() -> Result<UsageSummary, AppError> {
    use server::console::usage::report::{self, UsageQuery};
    let (state, current) = crate::ssr::user()?;
    let now = server::platform::time::now();
    let query = UsageQuery {
        per_page: Some(5),
        ..UsageQuery::default()
    };
    let report = report::report(&state.db, &current.user.id, &query, now.date_naive()).await?;
    // `by_model` is ordered by cost; the top model is the most requested.
    let top_model = report
        .by_model
        .iter()
        .max_by(|a, b| {
            a.usage
                .requests
                .cmp(&b.usage.requests)
                .then_with(|| b.model.cmp(&a.model))
        })
        .map(|model| (model.model.clone(), model.usage.requests));
    Ok(UsageSummary {
        from: report.from,
        to: report.to,
        totals: report.totals,
        top_model,
        recent: dated(report.requests, now),
    })
}
