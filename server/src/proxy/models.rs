//! `GET /v1/models`: the models this key may call, in OpenAI's list shape,
//! or Anthropic's when the request carries `anthropic-version`.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, Uri},
};
use serde_json::{Value, json};

use super::{
    auth::ApiKeyAuth,
    error::{ApiFormat, ProxyError},
};
use crate::{models::service, state::AppState, time};

pub async fn list(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<Value>, ProxyError> {
    let format = ApiFormat::of_request(uri.path(), &headers);
    let allowed = &caller.allowed_models;
    let plan = state
        .entitlements
        .resolve(&state.db, &caller.owner)
        .await
        .map_err(|err| ProxyError::internal(err, format))?;
    let models: Vec<_> = service::available_for(&state.db, plan.plan)
        .await
        .map_err(|err| ProxyError::internal(err, format))?
        .into_iter()
        .filter(|model| allowed.is_empty() || allowed.contains(&model.id))
        .collect();
    let body = match format {
        ApiFormat::OpenAi | ApiFormat::Responses => json!({
            "object": "list",
            "data": models.iter().map(|m| json!({
                "id": m.id,
                "object": "model",
                "created": m.created_at.timestamp(),
                "owned_by": "tollgate",
            })).collect::<Vec<_>>(),
        }),
        ApiFormat::Anthropic => json!({
            "data": models.iter().map(|m| json!({
                "type": "model",
                "id": m.id,
                "display_name": m.id,
                "created_at": time::iso(&m.created_at),
            })).collect::<Vec<_>>(),
            "has_more": false,
            "first_id": models.first().map(|m| m.id.clone()),
            "last_id": models.last().map(|m| m.id.clone()),
        }),
    };
    Ok(Json(body))
}
