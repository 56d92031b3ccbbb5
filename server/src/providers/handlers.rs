//! `/api/admin/providers`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::{Value, json};

use super::service::{self, NewProvider, ProviderChange, ProviderView};
use crate::{auth::AdminUser, error::Result, extract::AppJson, state::AppState};

pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<Value>> {
    let providers: Vec<ProviderView> = service::list(&state.db)
        .await?
        .into_iter()
        .map(|provider| ProviderView::checked(provider, &state.vault))
        .collect();
    Ok(Json(json!({ "success": true, "providers": providers })))
}

pub async fn get(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let provider = ProviderView::checked(service::get(&state.db, &id).await?, &state.vault);
    Ok(Json(json!({ "success": true, "provider": provider })))
}

pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(new): AppJson<NewProvider>,
) -> Result<(StatusCode, Json<Value>)> {
    let provider =
        ProviderView::from(service::create_as(&state.db, &state.vault, &admin.user.id, new).await?);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "success": true, "provider": provider })),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    AppJson(change): AppJson<ProviderChange>,
) -> Result<Json<Value>> {
    let provider = ProviderView::from(
        service::update(&state.db, &state.vault, &admin.user.id, &id, change).await?,
    );
    state.catalog.invalidate();
    // Its deployments start healthy at the provider's new settings.
    let deployments = crate::models::service::deployment_ids_on(&state.db, &id).await?;
    state.health.forget(&deployments).await;
    Ok(Json(json!({ "success": true, "provider": provider })))
}

pub async fn delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    service::delete(&state.db, &admin.user.id, &id).await?;
    state.catalog.invalidate();
    Ok(Json(json!({ "success": true, "deleted": id })))
}
