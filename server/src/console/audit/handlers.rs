//! `GET /api/admin/audit`.

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;

use super::log::{self, AuditQuery, EntryView};
use crate::{
    console::auth::AdminUser,
    platform::{error::Result, extract::AppQuery},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub success: bool,
    pub entries: Vec<EntryView>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

/// One page of the audit log, newest first.
#[utoipa::path(get, path = "/admin/audit", operation_id = "list_audit_entries", tag = "admin", params(AuditQuery),
    responses((status = 200, body = AuditPage)))]
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Json<AuditPage>> {
    let page = log::list(&state.db, &query).await?;
    Ok(Json(AuditPage {
        success: true,
        entries: page.entries,
        page: page.page,
        per_page: page.per_page,
        total: page.total,
    }))
}
