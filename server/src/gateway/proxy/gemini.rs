//! Google's Gemini API inbound, as Gemini CLI and the `google-genai` SDKs
//! call it with a Tollgate key (`x-goog-api-key` or `?key=`):
//! `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`
//! (SSE whatever `alt` says: Tollgate streams nothing else), `:countTokens`,
//! and `GET /v1beta/models` and `/v1beta/models/{model}`. The same methods
//! answer under `/v1/models/…`. A generate request is the proxy's like any
//! other: the model and the stream, which Gemini names in the URL, are
//! written into the body (`format::gemini` takes them out again for a Gemini
//! provider) and the request goes through `forward`.

use std::sync::Arc;

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use crate::{
    console::models::service,
    gateway::{
        api_keys::cache::KeyCaller,
        format::{ApiFormat, ProxyError, error::ErrorKind},
        proxy::{
            auth::ApiKeyAuth,
            forward::{forward, route_for, within_limits},
            request::{Endpoint, read_body},
        },
    },
    platform::{entity::shadow_model::ModelKind, plan::PlanName},
    state::AppState,
};

const FORMAT: ApiFormat = ApiFormat::Gemini;

/// `POST …/models/{model}:{method}`.
pub async fn call(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some((model, method)) = target.rsplit_once(':') else {
        return not_found(&target);
    };
    let stream = match method {
        "generateContent" => false,
        "streamGenerateContent" => true,
        "countTokens" => return count_tokens(&state, caller, model, body).await,
        _ => return not_found(&target),
    };
    match with_model(&state, model, stream, body).await {
        Ok(body) => forward(&state, caller, Endpoint::GenerateContent, &headers, body).await,
        Err(err) => err.into_response(),
    }
}

/// The body as the proxy reads every format's: with `model` and `stream`.
async fn with_model(
    state: &AppState,
    model: &str,
    stream: bool,
    body: Body,
) -> Result<Body, ProxyError> {
    let bytes = read_body(body, state.settings.proxy.max_body_bytes, FORMAT).await?;
    let mut request = object(&bytes)?;
    request.insert("model".to_owned(), Value::String(model.to_owned()));
    request.insert("stream".to_owned(), Value::Bool(stream));
    let bytes = serde_json::to_vec(&request)
        .map_err(|err| ProxyError::internal(crate::Error::Internal(err.into()), FORMAT))?;
    Ok(Body::from(bytes))
}

fn object(bytes: &[u8]) -> Result<Map<String, Value>, ProxyError> {
    serde_json::from_slice(bytes).map_err(|err| {
        ProxyError::new(
            ErrorKind::InvalidRequest,
            format!("Invalid JSON payload received: the body must be a JSON object: {err}"),
            FORMAT,
        )
    })
}

fn not_found(target: &str) -> Response {
    ProxyError::new(
        ErrorKind::ModelNotFound,
        format!("no such method: models/{target}"),
        FORMAT,
    )
    .into_response()
}

/// `:countTokens`: an estimate of four bytes a token of what the model
/// reads, as Tollgate estimates input before an answer; nothing is
/// charged, but the request is taken from the caller's rate-limit windows.
async fn count_tokens(
    state: &AppState,
    caller: Arc<KeyCaller>,
    model: &str,
    body: Body,
) -> Response {
    let caller = &caller;
    within_limits(state, caller, FORMAT, |plan, token_meter| async move {
        token_meter.record(0);
        count(state, caller, plan, model, body)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    })
    .await
}

async fn count(
    state: &AppState,
    caller: &KeyCaller,
    plan: PlanName,
    model: &str,
    body: Body,
) -> Result<Response, ProxyError> {
    let bytes = read_body(body, state.settings.proxy.max_body_bytes, FORMAT).await?;
    let request = object(&bytes)?;
    route_for(state, caller, plan, model, FORMAT).await?;
    // `generateContentRequest` wraps a whole request; `contents` alone is
    // the short form.
    let read = request
        .get("generateContentRequest")
        .and_then(Value::as_object)
        .unwrap_or(&request);
    let bytes: usize = ["systemInstruction", "contents", "tools"]
        .iter()
        .filter_map(|field| read.get(*field))
        .map(|value| value.to_string().len())
        .sum();
    let tokens = u64::try_from(bytes.div_ceil(4)).unwrap_or(u64::MAX).max(1);
    Ok(Json(json!({ "totalTokens": tokens })).into_response())
}

/// `GET /v1beta/models`: the chat models this key may call, as Gemini
/// lists models.
pub async fn list(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
) -> Result<Json<Value>, ProxyError> {
    let models = callable(&state, &caller).await?;
    let described: Vec<Value> = models.iter().map(String::as_str).map(described).collect();
    Ok(Json(json!({ "models": described })))
}

/// `GET /v1beta/models/{model}`.
pub async fn get(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    Path(model): Path<String>,
) -> Result<Json<Value>, ProxyError> {
    let models = callable(&state, &caller).await?;
    models
        .iter()
        .find(|id| **id == model)
        .map(|id| Json(described(id)))
        .ok_or_else(|| {
            ProxyError::new(
                ErrorKind::ModelNotFound,
                format!("models/{model} is not found"),
                FORMAT,
            )
        })
}

/// The chat models the caller's plan and key allow.
async fn callable(state: &AppState, caller: &KeyCaller) -> Result<Vec<String>, ProxyError> {
    let plan = state
        .entitlements
        .resolve(&state.db, &caller.owner)
        .await
        .map_err(|err| ProxyError::internal(err, FORMAT))?;
    let allowed = &caller.allowed_models;
    Ok(service::available_for(&state.db, plan.plan)
        .await
        .map_err(|err| ProxyError::internal(err, FORMAT))?
        .into_iter()
        .filter(|model| model.kind == ModelKind::Chat)
        .filter(|model| allowed.is_empty() || allowed.contains(&model.id))
        .map(|model| model.id)
        .collect())
}

fn described(id: &str) -> Value {
    json!({
        "name": format!("models/{id}"),
        "displayName": id,
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
    })
}
