//! Google's Gemini API inbound, as Gemini CLI and the `google-genai` SDKs
//! call it with a Tollgate key (`x-goog-api-key` or `?key=`):
//! `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`
//! (SSE whatever `alt` says: Tollgate streams nothing else) and
//! `:countTokens` (the model list is `proxy::models`'). The same methods
//! answer under `/v1/models/…`. A generate request is the proxy's like any
//! other: it goes through `forward` with the model and the stream, which
//! Gemini names in the URL, and the parser writes them into the body
//! (`ClientRequest::parse_with`; taken out again for a Gemini provider).

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
    gateway::{
        api_keys::cache::KeyCaller,
        format::{ApiFormat, ProxyError, error::ErrorKind},
        proxy::{
            auth::ApiKeyAuth,
            count_tokens,
            forward::{forward, route_for, within_limits},
            request::{Endpoint, InUrl, read_body},
        },
    },
    platform::plan::PlanName,
    state::AppState,
};

const FORMAT: ApiFormat = ApiFormat::Gemini;

/// Gemini's `models/{model}:generateContent`, `:streamGenerateContent` and
/// `:countTokens` (the model and the method are one path segment), to any
/// model the key may call.
#[utoipa::path(post, path = "/models/{model}", operation_id = "generate_content", tag = "llm",
    params(("model" = String, Path, description = "`{model}:generateContent`, `{model}:streamGenerateContent` or `{model}:countTokens`")),
    request_body = super::spec::GenerateContentRequest,
    responses(
        (status = 200, description = "An answer, or its events for `streamGenerateContent`",
            content((super::spec::GenerateContentResponse = "application/json"), (String = "text/event-stream"))),
        (status = "4XX", body = super::spec::GoogleError),
        (status = "5XX", body = super::spec::GoogleError)))]
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
        "countTokens" => return count_tokens(&state, caller, model, &headers, body).await,
        _ => return not_found(&target),
    };
    let in_url = InUrl {
        model: model.to_owned(),
        stream,
    };
    forward(
        &state,
        caller,
        (Endpoint::GenerateContent, Some(in_url)),
        &headers,
        body,
    )
    .await
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

/// `:countTokens`: a model of a Gemini provider is counted by the provider;
/// any other gets an estimate of four bytes a token of what the model
/// reads, as Tollgate estimates input before an answer. Nothing is charged,
/// but the request is taken from the caller's rate-limit windows.
async fn count_tokens(
    state: &AppState,
    caller: Arc<KeyCaller>,
    model: &str,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let caller = &caller;
    within_limits(state, caller, FORMAT, |plan, token_meter| async move {
        token_meter.record(0);
        count(state, caller, plan, (model, headers), body)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    })
    .await
}

async fn count(
    state: &AppState,
    caller: &KeyCaller,
    plan: PlanName,
    (model, headers): (&str, &HeaderMap),
    body: Body,
) -> Result<Response, ProxyError> {
    let bytes = read_body(body, state.settings.proxy.max_body_bytes, FORMAT).await?;
    let request = object(&bytes)?;
    let route = route_for(state, caller, plan, model, FORMAT).await?;
    // `generateContentRequest` wraps a whole request; `contents` alone is
    // the short form.
    let mut read = request
        .get("generateContentRequest")
        .and_then(Value::as_object)
        .unwrap_or(&request)
        .clone();
    let deployment = route.primary();
    let provider = &deployment.provider;
    let counter = provider
        .adapter()
        .count_tokens_path(FORMAT, &deployment.upstream_model);
    let Some(path) = counter else {
        let bytes: usize = ["systemInstruction", "contents", "tools"]
            .iter()
            .filter_map(|field| read.get(*field))
            .map(|value| value.to_string().len())
            .sum();
        let tokens = u64::try_from(bytes.div_ceil(4)).unwrap_or(u64::MAX).max(1);
        return Ok(Json(json!({ "totalTokens": tokens })).into_response());
    };
    // The whole request, as Google counts it, named for the provider.
    read.insert(
        "model".to_owned(),
        Value::String(format!("models/{}", deployment.upstream_model)),
    );
    let body = serde_json::to_vec(&json!({ "generateContentRequest": read }))
        .map_err(|err| ProxyError::internal(crate::Error::Internal(err.into()), FORMAT))?;
    count_tokens::ask_provider(state, provider, (&path, headers), body, FORMAT).await
}
