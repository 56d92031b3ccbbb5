//! HTTP handlers for analytics: the admin's (`/api/admin/llm-usage`,
//! `/api/admin/users/active`, `/api/admin/stats`, `/api/admin/usage.csv`)
//! and the hackathon dashboard's (`/api/stats`, `/api/leaderboard`,
//! `/api/presence`), which any signed-in user or API key may read. They
//! parse, call one service and shape the answer.

use axum::{
    Json,
    body::Body,
    extract::{FromRef, FromRequestParts, State},
    http::{header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::{
    active, dashboard, export, llm_usage, platform,
    range::{LimitQuery, RangeQuery},
    visibility,
};
use crate::{
    auth::{AdminUser, CurrentUser},
    error::{Error, Result},
    extract::AppQuery,
    state::AppState,
    time::{self, serde_iso},
};

/// Lets a request through only while `features.gamification` is on
/// (`GAMIFICATION=on`); otherwise the endpoint does not exist (404).
pub struct Gamification;

impl<S: Send + Sync> FromRequestParts<S> for Gamification
where
    AppState: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(_parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if AppState::from_ref(state).settings.features.gamification {
            Ok(Self)
        } else {
            Err(Error::not_found("no such endpoint"))
        }
    }
}

/// `{"success": true, …the figures' own fields}`.
#[derive(Serialize)]
struct Success<T> {
    success: bool,
    #[serde(flatten)]
    body: T,
}

fn success<T: Serialize>(body: T) -> Json<Success<T>> {
    Json(Success {
        success: true,
        body,
    })
}

/// The admin contract's section 6.
#[tracing::instrument(skip_all)]
pub async fn llm_usage(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<RangeQuery>,
) -> Result<Json<impl Serialize>> {
    let range = query.range(time::now().date_naive())?;
    let usage = llm_usage::llm_usage(&state.db, &range, query.model().as_deref()).await?;
    Ok(success(usage))
}

/// The admin contract's section 7.
#[tracing::instrument(skip_all)]
pub async fn active_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<LimitQuery>,
) -> Result<Json<Value>> {
    let limit = query.limit(active::DEFAULT_LIMIT, active::MAX_LIMIT)?;
    let users = active::active_users(&state.db, &state.presence, limit, time::now()).await?;
    Ok(Json(json!({ "success": true, "users": users })))
}

#[tracing::instrument(skip_all)]
pub async fn platform_stats(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<RangeQuery>,
) -> Result<Json<impl Serialize>> {
    let range = query.range(time::now().date_naive())?;
    Ok(success(platform::platform_stats(&state.db, &range).await?))
}

/// The rollup rows as a CSV download, streamed.
#[tracing::instrument(skip_all)]
pub async fn usage_csv(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<RangeQuery>,
) -> Result<Response> {
    let range = query.range(time::now().date_naive())?;
    let disposition = format!(
        "attachment; filename=\"tollgate-usage-by-user-{}-{}.csv\"",
        range.from_key(),
        range.to_key()
    );
    let body = Body::from_stream(export::usage_csv(state.db.clone(), range, query.model()));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

#[tracing::instrument(skip_all)]
pub async fn stats(
    State(state): State<AppState>,
    _user: CurrentUser,
) -> Result<Json<impl Serialize>> {
    let stats = dashboard::stats(&state.db, &state.presence, time::now()).await?;
    Ok(success(stats))
}

#[tracing::instrument(skip_all)]
pub async fn leaderboard(
    State(state): State<AppState>,
    current: CurrentUser,
    _on: Gamification,
    AppQuery(query): AppQuery<LimitQuery>,
) -> Result<Json<Value>> {
    let limit = query.limit(dashboard::DEFAULT_LEADERBOARD, dashboard::MAX_LEADERBOARD)?;
    let entries = visibility::leaderboard_for(&state, &current, limit, time::now()).await?;
    Ok(Json(json!({ "success": true, "leaderboard": entries })))
}

#[derive(Serialize)]
struct Beat {
    success: bool,
    #[serde(with = "serde_iso")]
    last_seen_at: DateTime<Utc>,
}

/// The web UI's heartbeat: the caller is here now.
#[tracing::instrument(skip_all)]
pub async fn heartbeat(
    State(state): State<AppState>,
    current: CurrentUser,
    _on: Gamification,
) -> Json<impl Serialize> {
    let now = time::now();
    state.presence.beat(&current.user.id, now);
    Json(Beat {
        success: true,
        last_seen_at: now,
    })
}

#[tracing::instrument(skip_all)]
pub async fn online(
    State(state): State<AppState>,
    current: CurrentUser,
    _on: Gamification,
) -> Result<Json<Value>> {
    let online = visibility::online_for(&state, &current, time::now()).await?;
    Ok(Json(
        json!({ "success": true, "online": online, "count": online.len() }),
    ))
}
