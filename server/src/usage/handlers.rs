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

use super::{
    export,
    report::{self, Report, UsageQuery},
};
use crate::{auth::CurrentUser, error::Result, extract::AppQuery, state::AppState, time};

#[derive(Serialize)]
struct ReportAnswer {
    success: bool,
    #[serde(flatten)]
    report: Report,
}

pub async fn report(
    State(state): State<AppState>,
    current: CurrentUser,
    AppQuery(query): AppQuery<UsageQuery>,
) -> Result<Json<impl Serialize>> {
    let today = time::now().date_naive();
    let report = report::report(&state.db, &current.user.id, &query, today).await?;
    Ok(Json(ReportAnswer {
        success: true,
        report,
    }))
}

/// The same filters as the report, every row (paging is ignored).
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
