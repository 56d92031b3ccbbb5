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
use utoipa::ToSchema;

use super::{
    active::{self, ActiveUser},
    dashboard::{self, LeaderboardEntry, Stats},
    export,
    llm_usage::{self, LlmUsage},
    platform::{self, PlatformStats},
    presence::OnlineUser,
    range::{LimitQuery, RangeQuery},
    visibility,
};
use crate::{
    console::auth::{AdminUser, CurrentUser},
    platform::{
        error::{Error, Result},
        extract::AppQuery,
        time::{self, serde_iso},
    },
    state::AppState,
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

/// `{"success": true, …the figures}`.
#[derive(Serialize, ToSchema)]
pub struct LlmUsageAnswer {
    pub success: bool,
    #[serde(flatten)]
    pub usage: LlmUsage,
}

#[derive(Serialize, ToSchema)]
pub struct ActiveUsers {
    pub success: bool,
    pub users: Vec<ActiveUser>,
}

/// `{"success": true, …the figures}`.
#[derive(Serialize, ToSchema)]
pub struct PlatformStatsAnswer {
    pub success: bool,
    #[serde(flatten)]
    pub stats: PlatformStats,
}

/// `{"success": true, …the figures}`.
#[derive(Serialize, ToSchema)]
pub struct StatsAnswer {
    pub success: bool,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Serialize, ToSchema)]
pub struct Leaderboard {
    pub success: bool,
    pub leaderboard: Vec<LeaderboardEntry>,
}

#[derive(Serialize, ToSchema)]
pub struct Online {
    pub success: bool,
    pub online: Vec<OnlineUser>,
    pub count: usize,
}

/// The admin contract's section 6: requests by user and model over a range.
#[utoipa::path(get, path = "/admin/llm-usage", operation_id = "llm_usage", tag = "admin", params(RangeQuery),
    responses((status = 200, body = LlmUsageAnswer)))]
#[tracing::instrument(skip_all)]
pub async fn llm_usage(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<RangeQuery>,
) -> Result<Json<LlmUsageAnswer>> {
    let range = query.range(time::now().date_naive())?;
    let usage = llm_usage::llm_usage(&state.db, &range, query.model().as_deref()).await?;
    Ok(Json(LlmUsageAnswer {
        success: true,
        usage,
    }))
}

/// The admin contract's section 7: who used Tollgate lately, newest first.
#[utoipa::path(get, path = "/admin/users/active", operation_id = "active_users", tag = "admin", params(LimitQuery),
    responses((status = 200, body = ActiveUsers)))]
#[tracing::instrument(skip_all)]
pub async fn active_users(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<LimitQuery>,
) -> Result<Json<ActiveUsers>> {
    let limit = query.limit(active::DEFAULT_LIMIT, active::MAX_LIMIT)?;
    let users = active::active_users(&state.db, &state.presence, limit, time::now()).await?;
    Ok(Json(ActiveUsers {
        success: true,
        users,
    }))
}

/// Platform-wide figures over a range: users, usage by day and model,
/// credits, top users and the error rate.
#[utoipa::path(get, path = "/admin/stats", operation_id = "platform_stats", tag = "admin", params(RangeQuery),
    responses((status = 200, body = PlatformStatsAnswer)))]
#[tracing::instrument(skip_all)]
pub async fn platform_stats(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<RangeQuery>,
) -> Result<Json<PlatformStatsAnswer>> {
    let range = query.range(time::now().date_naive())?;
    let stats = platform::platform_stats(&state.db, &range).await?;
    Ok(Json(PlatformStatsAnswer {
        success: true,
        stats,
    }))
}

/// The rollup rows as a CSV download, streamed.
#[utoipa::path(get, path = "/admin/usage.csv", operation_id = "usage_csv", tag = "admin", params(RangeQuery),
    responses((status = 200, description = "One row per user, model and day", content_type = "text/csv", body = String)))]
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

/// The hackathon dashboard's figures.
#[utoipa::path(get, path = "/stats", operation_id = "stats", tag = "dashboard",
    responses((status = 200, body = StatsAnswer)))]
#[tracing::instrument(skip_all)]
pub async fn stats(State(state): State<AppState>, _user: CurrentUser) -> Result<Json<StatsAnswer>> {
    let stats = dashboard::stats(&state.db, &state.presence, time::now()).await?;
    Ok(Json(StatsAnswer {
        success: true,
        stats,
    }))
}

/// The most active users (404 unless `features.gamification` is on).
#[utoipa::path(get, path = "/leaderboard", operation_id = "leaderboard", tag = "dashboard", params(LimitQuery),
    responses((status = 200, body = Leaderboard)))]
#[tracing::instrument(skip_all)]
pub async fn leaderboard(
    State(state): State<AppState>,
    current: CurrentUser,
    _on: Gamification,
    AppQuery(query): AppQuery<LimitQuery>,
) -> Result<Json<Leaderboard>> {
    let limit = query.limit(dashboard::DEFAULT_LEADERBOARD, dashboard::MAX_LEADERBOARD)?;
    let leaderboard = visibility::leaderboard_for(&state, &current, limit, time::now()).await?;
    Ok(Json(Leaderboard {
        success: true,
        leaderboard,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Beat {
    pub success: bool,
    #[serde(with = "serde_iso")]
    pub last_seen_at: DateTime<Utc>,
}

/// The web UI's heartbeat: the caller is here now.
#[utoipa::path(post, path = "/presence", operation_id = "heartbeat", tag = "dashboard",
    responses((status = 200, body = Beat)))]
#[tracing::instrument(skip_all)]
pub async fn heartbeat(
    State(state): State<AppState>,
    current: CurrentUser,
    _on: Gamification,
) -> Json<Beat> {
    let now = time::now();
    state.presence.beat(&current.user.id, now);
    Json(Beat {
        success: true,
        last_seen_at: now,
    })
}

/// Who is online now (404 unless `features.gamification` is on).
#[utoipa::path(get, path = "/presence", operation_id = "online", tag = "dashboard",
    responses((status = 200, body = Online)))]
#[tracing::instrument(skip_all)]
pub async fn online(
    State(state): State<AppState>,
    current: CurrentUser,
    _on: Gamification,
) -> Result<Json<Online>> {
    let online = visibility::online_for(&state, &current, time::now()).await?;
    Ok(Json(Online {
        success: true,
        count: online.len(),
        online,
    }))
}
