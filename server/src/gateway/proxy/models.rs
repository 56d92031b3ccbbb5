//! `GET /v1/models` and `GET /v1/models/{model}`: the models this key may
//! call, in OpenAI's shape, Anthropic's when the request carries
//! `anthropic-version`, or Gemini's when it carries `x-goog-api-key` or
//! comes under `/v1beta` (`ApiFormat::of_request`).

use axum::{
    Json,
    extract::{Path, State},
};

use crate::{
    console::models::service::{self, AvailableModel},
    gateway::{
        api_keys::cache::KeyCaller,
        format::error::{ApiFormat, ErrorKind, ProxyError},
        proxy::{
            auth::ApiKeyAuth,
            spec::{
                AnthropicModel, AnthropicModelList, GeminiModel, GeminiModelList, LlmModel,
                LlmModelList, OpenAiModel, OpenAiModelList,
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
    let models = callable(&state, &caller, format).await?;
    let body = match format {
        ApiFormat::Anthropic => LlmModelList::Anthropic(AnthropicModelList {
            first_id: models.first().map(|m| m.id.clone()),
            last_id: models.last().map(|m| m.id.clone()),
            has_more: false,
            data: models.iter().map(anthropic).collect(),
        }),
        ApiFormat::Gemini => LlmModelList::Gemini(GeminiModelList {
            models: models.iter().map(gemini).collect(),
        }),
        ApiFormat::OpenAi | ApiFormat::Responses | ApiFormat::Embeddings => {
            LlmModelList::OpenAi(OpenAiModelList {
                object: "list".to_owned(),
                data: models.iter().map(openai).collect(),
            })
        }
    };
    Ok(Json(body))
}

/// One model this key may call.
#[utoipa::path(get, path = "/models/{model}", operation_id = "llm_model", tag = "llm",
    params(("model" = String, Path, description = "The model's public name")),
    responses(
        (status = 200, body = LlmModel),
        (status = "4XX", body = super::spec::ProviderError),
        (status = "5XX", body = super::spec::ProviderError)))]
pub async fn get(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    format: ApiFormat,
    Path(name): Path<String>,
) -> Result<Json<LlmModel>, ProxyError> {
    // Gemini's clients may name it as its resource (`models/…`).
    let name = name.strip_prefix("models/").unwrap_or(&name);
    let models = callable(&state, &caller, format).await?;
    let Some(model) = models.iter().find(|model| model.id == name) else {
        return Err(ProxyError {
            param: (format != ApiFormat::Gemini).then(|| "model".to_owned()),
            ..ProxyError::new(
                ErrorKind::ModelNotFound,
                format!("the model `{name}` does not exist or is not enabled"),
                format,
            )
        });
    };
    Ok(Json(match format {
        ApiFormat::Anthropic => LlmModel::Anthropic(anthropic(model)),
        ApiFormat::Gemini => LlmModel::Gemini(gemini(model)),
        ApiFormat::OpenAi | ApiFormat::Responses | ApiFormat::Embeddings => {
            LlmModel::OpenAi(openai(model))
        }
    }))
}

/// What the plan and the key allow; for Anthropic's and Gemini's clients
/// chat models only, which are all they can call.
async fn callable(
    state: &AppState,
    caller: &KeyCaller,
    format: ApiFormat,
) -> Result<Vec<AvailableModel>, ProxyError> {
    let plan = state
        .entitlements
        .resolve(&state.db, &caller.owner)
        .await
        .map_err(|err| ProxyError::internal(err, format))?;
    let chat_only = matches!(format, ApiFormat::Anthropic | ApiFormat::Gemini);
    let allowed = &caller.allowed_models;
    Ok(service::available_for(&state.db, plan.plan)
        .await
        .map_err(|err| ProxyError::internal(err, format))?
        .into_iter()
        .filter(|model| allowed.is_empty() || allowed.contains(&model.id))
        .filter(|model| !chat_only || model.kind == ModelKind::Chat)
        .collect())
}

fn openai(model: &AvailableModel) -> OpenAiModel {
    OpenAiModel {
        id: model.id.clone(),
        object: "model".to_owned(),
        created: model.created_at.timestamp(),
        owned_by: "tollgate".to_owned(),
    }
}

fn anthropic(model: &AvailableModel) -> AnthropicModel {
    AnthropicModel {
        kind: "model".to_owned(),
        id: model.id.clone(),
        display_name: model.id.clone(),
        created_at: time::iso(&model.created_at),
    }
}

fn gemini(model: &AvailableModel) -> GeminiModel {
    GeminiModel {
        name: format!("models/{}", model.id),
        display_name: model.id.clone(),
        supported_generation_methods: ["generateContent", "streamGenerateContent", "countTokens"]
            .map(str::to_owned)
            .to_vec(),
    }
}
