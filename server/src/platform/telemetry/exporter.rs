//! `GET /metrics`: the counters in the Prometheus text format, for a
//! scraper holding `metrics.token`. Without a configured token the route
//! answers 404, so that nothing is exposed by default.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use super::counters::{CONTENT_TYPE, Readings};
use crate::state::AppState;

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = &state.settings.metrics.token else {
        return (StatusCode::NOT_FOUND, "metrics are off: set metrics.token").into_response();
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    // Digests compared, so the time taken says nothing about the token.
    if Sha256::digest(presented.as_bytes()) != Sha256::digest(token.expose_secret().as_bytes()) {
        let mut refused = (StatusCode::UNAUTHORIZED, "a metrics token is required").into_response();
        refused
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return refused;
    }
    let readings = Readings {
        cooling: state.health.cooling(),
        usage_queued: state.usage.queued(),
    };
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        state.counters.encode(readings),
    )
        .into_response()
}
