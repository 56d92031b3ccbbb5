//! `/api/admin/invitations`: create (the code shown once), list, revoke.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::service::{self, InvitationView, NewInvitation};
use crate::{
    console::auth::AdminUser,
    platform::{error::Result, extract::AppJson, time},
    state::AppState,
};

/// A new invitation and its code, shown only in this answer.
#[derive(Serialize, ToSchema)]
pub struct CreatedInvitation {
    pub success: bool,
    pub invitation: InvitationView,
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct InvitationList {
    pub success: bool,
    pub invitations: Vec<InvitationView>,
}

#[derive(Serialize, ToSchema)]
pub struct OneInvitation {
    pub success: bool,
    pub invitation: InvitationView,
}

/// 201 with the invitation and its `code`, shown only in this answer.
#[utoipa::path(post, path = "/admin/invitations", operation_id = "create_invitation", tag = "admin", request_body = NewInvitation,
    responses((status = 201, body = CreatedInvitation)))]
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(new): AppJson<NewInvitation>,
) -> Result<(StatusCode, Json<CreatedInvitation>)> {
    let created = service::create(&state.db, &admin.user.id, new).await?;
    let invitation = service::view(created.invitation, time::now());
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvitation {
            success: true,
            invitation,
            code: created.code,
        }),
    ))
}

/// Every invitation, with its state.
#[utoipa::path(get, path = "/admin/invitations", operation_id = "list_invitations", tag = "admin",
    responses((status = 200, body = InvitationList)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> Result<Json<InvitationList>> {
    let invitations = service::list(&state.db).await?;
    Ok(Json(InvitationList {
        success: true,
        invitations,
    }))
}

/// Revokes an invitation that has not been used up.
#[utoipa::path(delete, path = "/admin/invitations/{id}", operation_id = "revoke_invitation", tag = "admin",
    params(("id" = String, Path, description = "The invitation's id")),
    responses((status = 200, body = OneInvitation)))]
pub async fn revoke(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<OneInvitation>> {
    let invitation = service::revoke(&state.db, &admin.user.id, &id).await?;
    Ok(Json(OneInvitation {
        success: true,
        invitation,
    }))
}
