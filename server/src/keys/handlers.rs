//! `/api/keys`: a user's own API keys.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::{Value, json};

use super::{
    KeyView,
    service::{self, KeyChange, NewKey},
};
use crate::{
    auth::CurrentUser,
    error::{Error, Result},
    extract::AppJson,
    state::AppState,
};

pub async fn list(State(state): State<AppState>, current: CurrentUser) -> Result<Json<Value>> {
    let keys: Vec<KeyView> = service::list(&state.db, &current.user.id)
        .await?
        .into_iter()
        .map(KeyView::from)
        .collect();
    Ok(Json(json!({ "success": true, "keys": keys })))
}

/// 201 with the key and its secret, which is never shown again; 409 when
/// the user already holds `keys.max_per_user` keys that are not revoked.
pub async fn create(
    State(state): State<AppState>,
    current: CurrentUser,
    AppJson(new): AppJson<NewKey>,
) -> Result<(StatusCode, Json<Value>)> {
    if current.api_key_id.is_some() {
        return Err(Error::Forbidden(
            "signed in with an API key: sign in with a password to create keys".into(),
        ));
    }
    let max = state.settings.keys.max_per_user;
    let created = service::create_own(&state.db, &current.user, new, max).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "success": true,
            "key": KeyView::from(created.key),
            "secret": created.secret,
        })),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
    AppJson(change): AppJson<KeyChange>,
) -> Result<Json<Value>> {
    let key = service::update(&state.db, &state.key_cache, &current.user, &id, change).await?;
    Ok(Json(json!({ "success": true, "key": KeyView::from(key) })))
}

pub async fn revoke(
    State(state): State<AppState>,
    current: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let key = service::revoke(&state.db, &state.key_cache, &current.user, &id).await?;
    Ok(Json(json!({ "success": true, "key": KeyView::from(key) })))
}
