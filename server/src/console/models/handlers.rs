//! `/api/admin/models` and `/api/models`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::service::{self, AvailableModel, Deletion, ModelChange, ModelView, NewModel};
use crate::{
    console::auth::{AdminUser, CurrentUser},
    platform::{error::Result, extract::AppJson, reply::Deleted},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    pub success: bool,
    pub models: Vec<ModelView>,
}

#[derive(Serialize, ToSchema)]
pub struct OneModel {
    pub success: bool,
    pub model: ModelView,
}

/// A model with usage on record is disabled rather than deleted, so that
/// its usage keeps its name.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ModelDeletion {
    Deleted(Deleted),
    Disabled(Box<ModelDisabled>),
}

#[derive(Serialize, ToSchema)]
pub struct ModelDisabled {
    pub success: bool,
    /// The id of the model disabled.
    pub disabled: String,
    pub message: String,
    pub model: ModelView,
}

/// The models a user's plan may call.
#[derive(Serialize, ToSchema)]
pub struct AvailableModels {
    pub success: bool,
    pub models: Vec<AvailableModel>,
}

fn one(model: ModelView) -> Json<OneModel> {
    Json(OneModel {
        success: true,
        model,
    })
}

/// Every model, with its deployments and their health.
#[utoipa::path(get, path = "/admin/models", operation_id = "list_models", tag = "admin",
    responses((status = 200, body = ModelList)))]
pub async fn list(State(state): State<AppState>, _admin: AdminUser) -> Result<Json<ModelList>> {
    let models = service::list(&state.db)
        .await?
        .into_iter()
        .map(|model| service::view(model, &state.health))
        .collect();
    Ok(Json(ModelList {
        success: true,
        models,
    }))
}

#[utoipa::path(get, path = "/admin/models/{id}", operation_id = "get_model", tag = "admin",
    params(("id" = String, Path, description = "The model's id")),
    responses((status = 200, body = OneModel)))]
pub async fn get(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<OneModel>> {
    let model = service::view(service::get(&state.db, &id).await?, &state.health);
    Ok(one(model))
}

/// Adds a model: its public name, prices and deployments.
#[utoipa::path(post, path = "/admin/models", operation_id = "create_model", tag = "admin", request_body = NewModel,
    responses((status = 201, body = OneModel)))]
pub async fn create(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    AppJson(new): AppJson<NewModel>,
) -> Result<(StatusCode, Json<OneModel>)> {
    let model = service::view(
        service::create_as(&state, &admin.user.id, new).await?,
        &state.health,
    );
    Ok((StatusCode::CREATED, one(model)))
}

#[utoipa::path(patch, path = "/admin/models/{id}", operation_id = "update_model", tag = "admin", request_body = ModelChange,
    params(("id" = String, Path, description = "The model's id")),
    responses((status = 200, body = OneModel)))]
pub async fn update(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    AppJson(change): AppJson<ModelChange>,
) -> Result<Json<OneModel>> {
    let model = service::view(
        service::update(&state, &admin.user.id, &id, change).await?,
        &state.health,
    );
    Ok(one(model))
}

/// Deletes a model, or disables it when it has usage on record.
#[utoipa::path(delete, path = "/admin/models/{id}", operation_id = "delete_model", tag = "admin",
    params(("id" = String, Path, description = "The model's id")),
    responses((status = 200, body = ModelDeletion)))]
pub async fn delete(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<ModelDeletion>> {
    let outcome = service::delete(&state, &admin.user.id, &id).await?;
    Ok(Json(match outcome {
        Deletion::Deleted => ModelDeletion::Deleted(Deleted::new(id)),
        Deletion::Disabled(model) => ModelDeletion::Disabled(Box::new(ModelDisabled {
            success: true,
            disabled: id,
            message: "the model has usage on record, so it was disabled rather than deleted"
                .to_owned(),
            model: service::view(*model, &state.health),
        })),
    }))
}

/// The models the signed-in user's plan may call.
#[utoipa::path(get, path = "/models", operation_id = "available_models", tag = "users",
    responses((status = 200, body = AvailableModels)))]
pub async fn available(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<AvailableModels>> {
    let models = service::available_for(&state.db, current.plan.plan).await?;
    Ok(Json(AvailableModels {
        success: true,
        models,
    }))
}
