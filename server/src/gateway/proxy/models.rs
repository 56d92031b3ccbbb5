//! `GET /v1/models`: the models this key may call, in OpenAI's list shape,
//! or Anthropic's when the request carries `anthropic-version`.

use axum::{Json, extract::State};

use crate::{
    console::models::service,
    gateway::{
        format::error::{ApiFormat, ProxyError},
        proxy::{
            auth::ApiKeyAuth,
            spec::{
                AnthropicModel, AnthropicModelList, LlmModelList, OpenAiModel, OpenAiModelList,
            },
        },
    },
    platform::{entity::shadow_model::ModelKind, time},
    state::AppState,
};

/// The models this key may call.
#[utoipa::path(get, path = "/models", operation_id = "llm_models", tag = "llm",
    responses(
        (status = 200, body = LlmModelList),
        (status = "4XX", body = super::spec::ProviderError),
        (status = "5XX", body = super::spec::ProviderError)))]
pub async fn list(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    format: ApiFormat,
) -> Result<Json<LlmModelList>, ProxyError> {
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
        ApiFormat::OpenAi | ApiFormat::Responses | ApiFormat::Embeddings | ApiFormat::Gemini => {
            LlmModelList::OpenAi(OpenAiModelList {
                object: "list".to_owned(),
                data: models
                    .iter()
                    .map(|m| OpenAiModel {
                        id: m.id.clone(),
                        object: "model".to_owned(),
                        created: m.created_at.timestamp(),
                        owned_by: "tollgate".to_owned(),
                    })
                    .collect(),
            })
        }
        ApiFormat::Anthropic => {
            // Messages take chat models only.
            let models: Vec<_> = models
                .iter()
                .filter(|m| m.kind == ModelKind::Chat)
                .collect();
            LlmModelList::Anthropic(AnthropicModelList {
                first_id: models.first().map(|m| m.id.clone()),
                last_id: models.last().map(|m| m.id.clone()),
                has_more: false,
                data: models
                    .iter()
                    .map(|m| AnthropicModel {
                        kind: "model".to_owned(),
                        id: m.id.clone(),
                        display_name: m.id.clone(),
                        created_at: time::iso(&m.created_at),
                    })
                    .collect(),
            })
        }
    };
    Ok(Json(body))
}
