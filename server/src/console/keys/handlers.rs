//! `/api/keys`: a user's own API keys.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    KeyView,
    service::{self, KeyChange, NewKey},
};
use crate::{
    console::auth::CurrentUser,
    platform::{error::Result, extract::AppJson},
    state::AppState,
};

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub success: bool,
    pub keys: Vec<KeyView>,
}

#[derive(Serialize, ToSchema)]
pub struct OneKey {
    pub success: bool,
    pub key: KeyView,
}

/// A new key and its secret, shown only in this answer.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    pub success: bool,
    pub key: KeyView,
    /// The key to send as `Authorization: Bearer …`; never shown again.
    pub secret: String,
}

fn one(key: KeyView) -> Json<OneKey> {
    Json(OneKey { success: true, key })
}

/// The caller's keys, revoked ones included.
#[utoipa::path(get, path = "/keys", operation_id = "list_keys", tag = "keys",
    responses((status = 200, body = KeyList)))]
pub async fn list(State(state): State<AppState>, current: CurrentUser) -> Result<Json<KeyList>> {
    let keys = service::list(&state.db, &current.user.id)
        .await?
        .into_iter()
        .map(KeyView::from)
        .collect();
    Ok(Json(KeyList {
        success: true,
        keys,
    }))
}

/// Creates a key; its secret is in this answer only. 409 when the caller
/// already holds `keys.max_per_user` keys that are not revoked.
#[utoipa::path(post, path = "/keys", operation_id = "create_key", tag = "keys", request_body = NewKey,
    responses((status = 201, body = CreatedKey)))]
pub async fn create(
    State(state): State<AppState>,
    current: CurrentUser,
    AppJson(new): AppJson<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>)> {
    let created = service::create_own(&state, &current, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            success: true,
            key: KeyView::from(created.key),
            secret: created.secret,
        }),
    ))
}

/// Changes the caller's key.
#[utoipa::path(patch, path = "/keys/{id}", operation_id = "update_key", tag = "keys", request_body = KeyChange,
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, body = OneKey)))]
pub async fn update(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    AppJson(change): AppJson<KeyChange>,
) -> Result<Json<OneKey>> {
    let key = service::update(&state.db, &state.key_cache, &current.user, &id, change).await?;
    Ok(one(KeyView::from(key)))
}

/// Revokes the caller's key: it stops working at once.
#[utoipa::path(delete, path = "/keys/{id}", operation_id = "revoke_key", tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses((status = 200, body = OneKey)))]
pub async fn revoke(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<OneKey>> {
    let key = service::revoke(&state.db, &state.key_cache, &current.user, &id).await?;
    Ok(one(KeyView::from(key)))
}
