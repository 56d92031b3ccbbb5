//! `/api/admin/grants`: the admin contract's entitlement grants.

use axum::{
    Json,
    extract::{Path, State},
};
use serde_json::{Value, json};

use super::service::{self, GrantFilter, NewGrant};
use crate::{
    auth::AdminUser,
    error::{Error, Result},
    extract::{AppJson, AppQuery},
    state::AppState,
    time,
};

/// 200 (as the contract says, not 201) with the new grant.
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(new): AppJson<NewGrant>,
) -> Result<Json<Value>> {
    let grant = service::grant(&state.db, &state.entitlements, &admin.user.id, new).await?;
    Ok(Json(json!({
        "success": true,
        "grant_id": grant.id,
        "user_id": grant.user_id,
        "label": grant.label,
        "active": true,
        "created_at": time::iso(&grant.created_at),
    })))
}

pub async fn revoke(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let id: i64 = id
        .parse()
        .map_err(|_| Error::bad_request("the grant id must be a number"))?;
    let grant = service::revoke(&state.db, &state.entitlements, &admin.user.id, id).await?;
    Ok(Json(json!({
        "success": true,
        "grant_id": grant.id,
        "revoked_at": grant.revoked_at.as_ref().map(time::iso),
    })))
}

pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(filter): AppQuery<GrantFilter>,
) -> Result<Json<Value>> {
    let grants = service::list(&state.db, filter).await?;
    Ok(Json(json!({ "success": true, "grants": grants })))
}
