//! `/api/admin/invitations`: create (the code shown once), list, revoke.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::{Value, json};

use super::service::{self, InvitationView, NewInvitation};
use crate::{auth::AdminUser, error::Result, extract::AppJson, state::AppState, time};

/// 201 with the invitation and its `code`, shown only in this answer.
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(new): AppJson<NewInvitation>,
) -> Result<(StatusCode, Json<Value>)> {
    let created = service::create(&state.db, &admin.user.id, new).await?;
    let invitation = InvitationView::at(created.invitation, time::now());
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true,
            "invitation": invitation,
            "code": created.code,
        })),
    ))
}

pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<Value>> {
    let invitations = service::list(&state.db).await?;
    Ok(Json(json!({ "success": true, "invitations": invitations })))
}

pub async fn revoke(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let invitation = service::revoke(&state.db, &admin.user.id, &id).await?;
    Ok(Json(json!({ "success": true, "invitation": invitation })))
}
