//! `/api/admin/models` and `/api/models`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::{Value, json};

use super::service::{self, Deletion, ModelChange, ModelView, NewModel};
use crate::{
    auth::{AdminUser, CurrentUser},
    error::Result,
    extract::AppJson,
    state::AppState,
};

pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<Value>> {
    let models: Vec<ModelView> = service::list(&state.db)
        .await?
        .into_iter()
        .map(|model| ModelView::from(model).with_health(&state.health))
        .collect();
    Ok(Json(json!({ "success": true, "models": models })))
}

pub async fn get(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let model = ModelView::from(service::get(&state.db, &id).await?).with_health(&state.health);
    Ok(Json(json!({ "success": true, "model": model })))
}

pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(new): AppJson<NewModel>,
) -> Result<(StatusCode, Json<Value>)> {
    let model = ModelView::from(service::create_as(&state.db, &admin.user.id, new).await?)
        .with_health(&state.health);
    state.catalog.invalidate();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "success": true, "model": model })),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    AppJson(change): AppJson<ModelChange>,
) -> Result<Json<Value>> {
    let model = ModelView::from(service::update(&state.db, &admin.user.id, &id, change).await?)
        .with_health(&state.health);
    state.catalog.invalidate();
    Ok(Json(json!({ "success": true, "model": model })))
}

pub async fn delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    // Requests that already finished must count as usage: their rows may
    // still be in the writer's queue.
    state.usage.flush().await;
    let outcome = service::delete(&state.db, &admin.user.id, &id).await?;
    state.catalog.invalidate();
    Ok(Json(match outcome {
        Deletion::Deleted => json!({ "success": true, "deleted": id }),
        Deletion::Disabled(model) => json!({
            "success": true,
            "disabled": id,
            "message": "the model has usage on record, so it was disabled rather than deleted",
            "model": ModelView::from(*model).with_health(&state.health),
        }),
    }))
}

/// The models the signed-in user's plan may call.
pub async fn available(State(state): State<AppState>, current: CurrentUser) -> Result<Json<Value>> {
    let models = service::available_for(&state.db, current.plan.plan).await?;
    Ok(Json(json!({ "success": true, "models": models })))
}
