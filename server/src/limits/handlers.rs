//! `/api/admin/rate-limits`: every plan's rate limits, and changing one.

use axum::{
    Json,
    extract::{Path, State},
};
use serde_json::{Value, json};

use super::plans;
use crate::{
    auth::AdminUser,
    error::{Error, Result},
    extract::AppJson,
    plan::{Limits, PlanName},
    state::AppState,
};

pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<Value>> {
    let plans = plans::list(&state.db, &state.rate_limits).await?;
    Ok(Json(json!({ "success": true, "plans": plans })))
}

/// Body: `{"requests_per_minute": 60, "tokens_per_minute": 100000}`, both
/// required; 0 means no limit.
pub async fn set(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(plan): Path<String>,
    AppJson(limits): AppJson<Limits>,
) -> Result<Json<Value>> {
    let plan = PlanName::parse(&plan)
        .ok_or_else(|| Error::not_found("unknown plan: use trial, free, pro or pro_lifetime"))?;
    let view = plans::set(&state.db, &state.rate_limits, plan, limits, &admin.user.id).await?;
    Ok(Json(json!({ "success": true, "plan": view })))
}
