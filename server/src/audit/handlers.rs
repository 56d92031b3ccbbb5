//! `GET /api/admin/audit`.

use axum::{Json, extract::State};
use serde_json::{Value, json};

use super::log::{self, AuditQuery};
use crate::{auth::AdminUser, error::Result, extract::AppQuery, state::AppState};

/// `{"success": true, "entries": [...], "page", "per_page", "total"}`.
pub async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    AppQuery(query): AppQuery<AuditQuery>,
) -> Result<Json<Value>> {
    let page = log::list(&state.db, &query).await?;
    Ok(Json(json!({
        "success": true,
        "entries": page.entries,
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
    })))
}
