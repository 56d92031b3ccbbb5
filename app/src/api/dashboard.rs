//! The signed-in user's dashboard.

use leptos::prelude::*;

use crate::{dto::DashboardData, error::AppError};

#[server(prefix = "/rpc", endpoint = "dashboard")]
pub async fn dashboard() -> Result<DashboardData, AppError> {
    let (state, current) = crate::ssr::user()?;
    let active_sessions =
        server::console::auth::session::count_active_for_user(&state.db, &current.user.id).await?;
    let balance = server::console::credits::service::balance(&state.db, &current.user.id).await?;
    Ok(DashboardData {
        user: current.user.into(),
        active_sessions,
        balance_credits: server::platform::money::format_credits(balance),
    })
}
