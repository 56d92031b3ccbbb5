//! `/api/admin/grants`: the admin contract's entitlement grants.

use axum::{
    Json,
    extract::{Path, State},
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::service::{self, GrantFilter, GrantView, NewGrant};
use crate::{
    console::auth::AdminUser,
    platform::{
        error::{Error, Result},
        extract::{AppJson, AppQuery},
        time::serde_iso,
    },
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct GrantCreated {
    pub success: bool,
    pub grant_id: i64,
    pub user_id: String,
    pub label: String,
    pub active: bool,
    #[serde(with = "serde_iso")]
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct GrantRevoked {
    pub success: bool,
    pub grant_id: i64,
    #[serde(with = "serde_iso::option")]
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct GrantList {
    pub success: bool,
    pub grants: Vec<GrantView>,
}

/// Grants a user the contract's "Pro — Lifetime" plan (200, as the
/// contract says, not 201).
#[utoipa::path(post, path = "/admin/grants", operation_id = "create_grant", tag = "admin", request_body = NewGrant,
    responses((status = 200, body = GrantCreated)))]
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(new): AppJson<NewGrant>,
) -> Result<Json<GrantCreated>> {
    let grant = service::grant(&state.db, &state.entitlements, &admin.user.id, new).await?;
    Ok(Json(GrantCreated {
        success: true,
        grant_id: grant.id,
        user_id: grant.user_id,
        label: grant.label,
        active: true,
        created_at: grant.created_at,
    }))
}

/// Revokes a grant.
#[utoipa::path(delete, path = "/admin/grants/{id}", operation_id = "revoke_grant", tag = "admin",
    params(("id" = i64, Path, description = "The grant's id")),
    responses((status = 200, body = GrantRevoked)))]
pub async fn revoke(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<GrantRevoked>> {
    let id: i64 = id
        .parse()
        .map_err(|_| Error::bad_request("the grant id must be a number"))?;
    let grant = service::revoke(&state.db, &state.entitlements, &admin.user.id, id).await?;
    Ok(Json(GrantRevoked {
        success: true,
        grant_id: grant.id,
        revoked_at: grant.revoked_at,
    }))
}

/// Grants, filtered by user and state.
#[utoipa::path(get, path = "/admin/grants", operation_id = "list_grants", tag = "admin", params(GrantFilter),
    responses((status = 200, body = GrantList)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(filter): AppQuery<GrantFilter>,
) -> Result<Json<GrantList>> {
    let grants = service::list(&state.db, filter).await?;
    Ok(Json(GrantList {
        success: true,
        grants,
    }))
}
