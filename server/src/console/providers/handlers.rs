//! `/api/admin/providers`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::service::{self, NewProvider, ProviderChange, ProviderView};
use crate::{
    console::auth::AdminUser,
    platform::{error::Result, extract::AppJson, reply::Deleted},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct ProviderList {
    pub success: bool,
    pub providers: Vec<ProviderView>,
}

#[derive(Serialize, ToSchema)]
pub struct OneProvider {
    pub success: bool,
    pub provider: ProviderView,
}

fn one(provider: ProviderView) -> Json<OneProvider> {
    Json(OneProvider {
        success: true,
        provider,
    })
}

/// Every provider: keys only as a count, headers only by name.
#[utoipa::path(get, path = "/admin/providers", operation_id = "list_providers", tag = "admin",
    responses((status = 200, body = ProviderList)))]
pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<ProviderList>> {
    let providers = service::list(&state.db)
        .await?
        .into_iter()
        .map(|provider| service::view(provider, &state.vault))
        .collect();
    Ok(Json(ProviderList {
        success: true,
        providers,
    }))
}

#[utoipa::path(get, path = "/admin/providers/{id}", operation_id = "get_provider", tag = "admin",
    params(("id" = String, Path, description = "The provider's id")),
    responses((status = 200, body = OneProvider)))]
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<OneProvider>> {
    let provider = service::view(service::get(&state.db, &id).await?, &state.vault);
    Ok(one(provider))
}

/// Adds a provider; its upstream keys are sealed before they are stored.
#[utoipa::path(post, path = "/admin/providers", operation_id = "create_provider", tag = "admin", request_body = NewProvider,
    responses((status = 201, body = OneProvider)))]
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(new): AppJson<NewProvider>,
) -> Result<(StatusCode, Json<OneProvider>)> {
    let provider = ProviderView::from(service::create_as(&state, &admin.user.id, new).await?);
    Ok((StatusCode::CREATED, one(provider)))
}

/// Changes a provider; `api_keys` and `extra_headers` replace the old ones.
#[utoipa::path(patch, path = "/admin/providers/{id}", operation_id = "update_provider", tag = "admin", request_body = ProviderChange,
    params(("id" = String, Path, description = "The provider's id")),
    responses((status = 200, body = OneProvider)))]
pub async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    AppJson(change): AppJson<ProviderChange>,
) -> Result<Json<OneProvider>> {
    let provider = service::update(&state, &admin.user.id, &id, change).await?;
    Ok(one(ProviderView::from(provider)))
}

/// Deletes a provider that no model uses.
#[utoipa::path(delete, path = "/admin/providers/{id}", operation_id = "delete_provider", tag = "admin",
    params(("id" = String, Path, description = "The provider's id")),
    responses((status = 200, body = Deleted)))]
pub async fn delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Deleted>> {
    service::delete(&state, &admin.user.id, &id).await?;
    Ok(Json(Deleted::new(id)))
}
