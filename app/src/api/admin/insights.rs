//! What admins watch: the overview, who is active, llm-usage, platform
//! figures and the audit log, through the same services as the REST API.

use leptos::prelude::*;

// By module: the server functions' own argument types take the names
// `Overview`, `LlmUsage` and `PlatformStats`.
use contract::insights;

use crate::{
    dto::admin::{AdminSettingsInfo, AuditPageInfo},
    error::AppError,
};

/// The overview's figures (`GET /api/admin/stats/overview`).
#[server(prefix = "/rpc", endpoint = "admin_overview")]
pub async fn overview() -> Result<insights::Overview, AppError> {
    let (state, _) = crate::ssr::admin()?;
    Ok(server::console::live::overview::overview(&state.db).await?)
}

/// The live mode and the upstream panel's address.
#[server(prefix = "/rpc", endpoint = "admin_settings")]
pub async fn admin_settings() -> Result<AdminSettingsInfo, AppError> {
    use server::platform::config::{RealtimeMode, UpstreamPanel};
    let (state, _) = crate::ssr::admin()?;
    let panel = state.settings.ui.upstream_panel();
    Ok(AdminSettingsInfo {
        realtime_mode: match state.settings.features.realtime_mode {
            RealtimeMode::Sse => "sse",
            RealtimeMode::Ws => "ws",
            RealtimeMode::Polling => "polling",
        }
        .into(),
        upstream_panel_on_this_site: matches!(panel, Some(UpstreamPanel::ThisSite { .. })),
        upstream_panel_url: panel.map(|panel| match panel {
            UpstreamPanel::OtherSite { url, .. } => url,
            UpstreamPanel::ThisSite { path } => path,
        }),
    })
}

#[server(prefix = "/rpc", endpoint = "admin_active_users")]
pub async fn active_users() -> Result<Vec<insights::ActiveUser>, AppError> {
    use server::console::analytics::active;
    let (state, _) = crate::ssr::admin()?;
    let now = server::platform::time::now();
    Ok(active::active_users(&state.db, &state.presence, active::DEFAULT_LIMIT, now).await?)
}

/// Requests per user and model over `from`..`to` (empty: the contract's
/// default range), one model or all.
#[server(prefix = "/rpc", endpoint = "admin_llm_usage")]
pub async fn llm_usage(
    from: String,
    to: String,
    model: String,
) -> Result<insights::LlmUsage, AppError> {
    let (state, _) = crate::ssr::admin()?;
    let query = range(from, to, model);
    let range = query.range(server::platform::time::now().date_naive())?;
    Ok(server::console::analytics::llm_usage::llm_usage(
        &state.db,
        &range,
        query.model().as_deref(),
    )
    .await?)
}

#[server(prefix = "/rpc", endpoint = "admin_platform_stats")]
pub async fn platform_stats(from: String, to: String) -> Result<insights::PlatformStats, AppError> {
    let (state, _) = crate::ssr::admin()?;
    let range = range(from, to, String::new()).range(server::platform::time::now().date_naive())?;
    Ok(server::console::analytics::platform::platform_stats(&state.db, &range).await?)
}

/// One page of the audit log, optionally one action (`user.update`, …).
#[server(prefix = "/rpc", endpoint = "admin_audit")]
pub async fn audit_log(page: u64, action: String) -> Result<AuditPageInfo, AppError> {
    use server::console::audit::log::{self, AuditQuery};
    let (state, _) = crate::ssr::admin()?;
    let query = AuditQuery {
        page: Some(page.max(1)),
        per_page: Some(25),
        action: Some(action).filter(|a| !a.is_empty()),
        ..Default::default()
    };
    let page = log::list(&state.db, &query).await?;
    Ok(AuditPageInfo {
        entries: page
            .entries
            .into_iter()
            .map(|entry| crate::dto::admin::AuditEntryInfo {
                change: server::console::audit::log::summary(
                    entry.before.as_ref(),
                    entry.after.as_ref(),
                ),
                created_at: server::platform::time::iso(&entry.created_at),
                id: entry.id,
                actor_email: entry.actor_email,
                action: entry.action,
                target_type: entry.target_type,
                target_id: entry.target_id,
            })
            .collect(),
        total: page.total,
        page: page.page,
        per_page: page.per_page,
    })
}

#[cfg(feature = "ssr")]
fn range(from: String, to: String, model: String) -> server::console::analytics::range::RangeQuery {
    let given = |text: String| Some(text).filter(|t| !t.trim().is_empty());
    server::console::analytics::range::RangeQuery {
        from: given(from),
        to: given(to),
        model: given(model),
    }
}
