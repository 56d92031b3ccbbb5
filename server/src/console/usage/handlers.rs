//! `GET /api/users/me/usage` and `GET /api/users/me/usage.csv`: the
//! caller's own usage, as JSON or as a streamed CSV file.

use axum::{
    Json,
    body::Body,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    export,
    report::{self, Report, UsageQuery},
};
use crate::{
    console::auth::CurrentUser,
    platform::{error::Result, extract::AppQuery, time},
    state::AppState,
};

/// `{"success": true, …the report}`.
#[derive(Serialize, ToSchema)]
pub struct UsageReport {
    success: bool,
    #[serde(flatten)]
    report: Report,
}

/// The caller's usage: totals, a series by day, by model and by key, and
/// one page of requests.
#[utoipa::path(get, path = "/users/me/usage", operation_id = "my_usage", tag = "users", params(UsageQuery),
    responses((status = 200, body = UsageReport)))]
pub async fn report(
    State(state): State<AppState>,
    current: CurrentUser,
    AppQuery(query): AppQuery<UsageQuery>,
) -> Result<Json<UsageReport>> {
    let today = time::now().date_naive();
    let report = report::report(&state.db, &current.user.id, &query, today).await?;
    Ok(Json(UsageReport {
        success: true,
        report,
    }))
}

/// The same filters as the report, every row (paging is ignored).
#[utoipa::path(get, path = "/users/me/usage.csv", operation_id = "my_usage_csv", tag = "users", params(UsageQuery),
    responses((status = 200, description = "One row per request", content_type = "text/csv", body = String)))]
pub async fn csv(
    State(state): State<AppState>,
    current: CurrentUser,
    AppQuery(query): AppQuery<UsageQuery>,
) -> Result<Response> {
    let today = time::now().date_naive();
    let (filter, keys) = report::resolve(&state.db, &current.user.id, &query, today).await?;
    let disposition = format!("attachment; filename=\"{}\"", export::file_name(&filter));
    let body = Body::from_stream(export::csv_stream(state.db.clone(), filter, keys));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
