//! `/api/admin/rate-limits`: every plan's rate limits, and changing one.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    console::auth::AdminUser,
    gateway::limits::plans::{self, PlanLimitsView},
    platform::{
        error::{Error, Result},
        extract::AppJson,
        plan::{Limits, PlanName},
    },
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct PlanLimitsList {
    pub success: bool,
    pub plans: Vec<PlanLimitsView>,
}

#[derive(Serialize, ToSchema)]
pub struct OnePlanLimits {
    pub success: bool,
    pub plan: PlanLimitsView,
}

/// Every plan's rate limits.
#[utoipa::path(get, path = "/admin/rate-limits", operation_id = "list_rate_limits", tag = "admin",
    responses((status = 200, body = PlanLimitsList)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<PlanLimitsList>> {
    let plans = plans::list(&state.db, &state.rate_limits).await?;
    Ok(Json(PlanLimitsList {
        success: true,
        plans,
    }))
}

/// Sets a plan's rate limits, both required; 0 means no limit.
#[utoipa::path(put, path = "/admin/rate-limits/{plan}", operation_id = "set_rate_limits", tag = "admin", request_body = Limits,
    params(("plan" = PlanName, Path, description = "trial, free, pro or pro_lifetime")),
    responses((status = 200, body = OnePlanLimits)))]
pub async fn set(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(plan): Path<String>,
    AppJson(limits): AppJson<Limits>,
) -> Result<Json<OnePlanLimits>> {
    let plan = plan
        .parse::<PlanName>()
        .map_err(|_| Error::not_found("unknown plan: use trial, free, pro or pro_lifetime"))?;
    let view = plans::set(&state.db, &state.rate_limits, plan, limits, &admin.user.id).await?;
    Ok(Json(OnePlanLimits {
        success: true,
        plan: view,
    }))
}
