//! The hackathon side of the UI: which features are on, the leaderboard
//! and who is online, from the same services as `GET /api/leaderboard` and
//! `GET /api/presence`. With gamification off these answer 404, as the
//! REST endpoints do.

use leptos::prelude::*;

use crate::{
    dto::{LeaderInfo, OnlineInfo, UiFeatures},
    error::AppError,
};

/// What the UI shows; public, since the header asks before sign-in too.
#[server(prefix = "/rpc/public", endpoint = "feature_flags")]
pub async fn feature_flags() -> Result<UiFeatures, AppError> {
    let state = crate::ssr::state()?;
    use crate::dto::RegistrationMode;
    use server::platform::config::Registration;
    Ok(UiFeatures {
        gamification: state.settings.features.gamification,
        registration: match state.settings.auth.registration {
            Registration::Open => RegistrationMode::Open,
            Registration::Invite => RegistrationMode::Invite,
            Registration::Closed => RegistrationMode::Closed,
        },
    })
}

/// The first `limit` places, all time (at most 100).
#[server(prefix = "/rpc", endpoint = "leaderboard")]
pub async fn leaderboard(limit: u64) -> Result<Vec<LeaderInfo>, AppError> {
    use server::console::analytics::{dashboard::MAX_LEADERBOARD, visibility};
    let (state, current) = crate::ssr::user()?;
    require_gamification(&state)?;
    let now = server::platform::time::now();
    let entries =
        visibility::leaderboard_for(&state, &current, limit.clamp(1, MAX_LEADERBOARD), now).await?;
    Ok(entries
        .into_iter()
        .map(|entry| LeaderInfo {
            is_you: entry.user_id.as_deref() == Some(current.user.id.as_str()),
            last_active: crate::ssr::moment(&entry.last_active_at, now),
            rank: entry.rank,
            name: entry.name,
            requests: entry.requests,
            top_model: entry.top_model,
            models_used: entry.models_used,
        })
        .collect())
}

/// Users seen in the last five minutes, latest first.
#[server(prefix = "/rpc", endpoint = "online_users")]
pub async fn online_users() -> Result<Vec<OnlineInfo>, AppError> {
    let (state, current) = crate::ssr::user()?;
    require_gamification(&state)?;
    let now = server::platform::time::now();
    let online = server::console::analytics::visibility::online_for(&state, &current, now).await?;
    Ok(online
        .into_iter()
        .map(|user| OnlineInfo {
            is_you: user.user_id.as_deref() == Some(current.user.id.as_str()),
            last_seen: crate::ssr::moment(&user.last_seen_at, now),
            name: user.name,
        })
        .collect())
}

#[cfg(feature = "ssr")]
fn require_gamification(state: &server::AppState) -> Result<(), AppError> {
    if state.settings.features.gamification {
        Ok(())
    } else {
        Err(server::Error::not_found("the leaderboard is turned off").into())
    }
}
