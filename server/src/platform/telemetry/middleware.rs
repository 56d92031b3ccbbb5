//! Measures every HTTP request and hands the figures to the metrics writer.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::Response,
};

use super::metrics::RequestMetric;
use crate::{platform::time, state::AppState};

/// Requests that matched no route are grouped under one name, so that
/// scanners probing random paths cannot flood the table with distinct routes.
const UNMATCHED: &str = "(unmatched)";

pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let ts = time::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().chars().take(200).collect())
        .unwrap_or_else(|| UNMATCHED.to_owned());
    let response = next.run(request).await;
    state.metrics.offer(RequestMetric {
        ts,
        duration_ms: i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX),
        status_code: i32::from(response.status().as_u16()),
        route,
    });
    response
}
