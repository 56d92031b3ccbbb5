//! `POST /v1/messages/count_tokens`: how many input tokens a Messages
//! request would take, without calling the model or charging anything.
//! A model of an Anthropic provider is counted by the provider; any other
//! gets an estimate of four bytes of its prompt a token, as Tollgate
//! itself estimates input before a request is answered. It takes a request
//! from the caller's rate-limit windows like any other LLM request.

use std::sync::Arc;

use axum::{
    Json,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};

use crate::{
    gateway::{
        api_keys::cache::KeyCaller,
        format::{ApiFormat, ProxyError, error::ErrorKind},
        proxy::{
            auth::ApiKeyAuth,
            catalog::Upstream,
            forward::{collect, route_for, send_error, upstream_error, within_limits},
            request::read_body,
        },
    },
    platform::plan::PlanName,
    state::AppState,
};

const FORMAT: ApiFormat = ApiFormat::Anthropic;
/// The longest answer read from the provider.
const MAX_ANSWER: usize = 64 * 1024;

/// How many input tokens a messages request would take; nothing is charged.
#[utoipa::path(post, path = "/messages/count_tokens", operation_id = "count_tokens", tag = "llm",
    request_body = super::spec::CountTokensRequest,
    responses(
        (status = 200, body = super::spec::TokenCount),
        (status = "4XX", body = super::spec::AnthropicError),
        (status = "5XX", body = super::spec::AnthropicError)))]
pub async fn count_tokens(
    State(state): State<AppState>,
    ApiKeyAuth(caller): ApiKeyAuth,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The same windows as the other LLM endpoints, so that counting is no
    // way around them.
    let (state, caller, headers) = (&state, &caller, &headers);
    within_limits(state, caller, FORMAT, |plan, token_meter| async move {
        // Counting uses no tokens: only the one it was let in with.
        token_meter.record(0);
        count(state, caller, plan, headers, body)
            .await
            .unwrap_or_else(IntoResponse::into_response)
    })
    .await
}

async fn count(
    state: &AppState,
    caller: &KeyCaller,
    plan: PlanName,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ProxyError> {
    let bytes = read_body(body, state.settings.proxy.max_body_bytes, FORMAT).await?;
    let mut request: Map<String, Value> = serde_json::from_slice(&bytes).map_err(|err| {
        ProxyError::new(
            ErrorKind::InvalidRequest,
            format!("request body must be a JSON object: {err}"),
            FORMAT,
        )
    })?;
    let name = match request.get("model") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        _ => {
            return Err(ProxyError::invalid_field(
                "model",
                "model: a model name (string) is required",
                FORMAT,
            ));
        }
    };
    if !request.get("messages").is_some_and(Value::is_array) {
        return Err(ProxyError::invalid_field(
            "messages",
            "messages: an array of messages is required",
            FORMAT,
        ));
    }
    let route = route_for(state, caller, plan, &name, FORMAT).await?;
    let deployment = route.primary();
    let counter = deployment
        .provider
        .adapter()
        .count_tokens_path(FORMAT, &deployment.upstream_model);
    let Some(path) = counter else {
        return Ok(Json(json!({ "input_tokens": estimate(&request) })).into_response());
    };
    request.insert(
        "model".to_owned(),
        Value::String(deployment.upstream_model.clone()),
    );
    let body = serde_json::to_vec(&request)
        .map_err(|err| ProxyError::internal(crate::Error::Internal(err.into()), FORMAT))?;
    ask_provider(state, &deployment.provider, (&path, headers), body, FORMAT).await
}

/// Asks `provider` to count at `path` and relays its JSON answer, or its
/// error in the client's `format` (also Gemini's `:countTokens`).
pub(super) async fn ask_provider(
    state: &AppState,
    provider: &Arc<Upstream>,
    (path, headers): (&str, &HeaderMap),
    body: Vec<u8>,
    format: ApiFormat,
) -> Result<Response, ProxyError> {
    let upstream = state
        .upstream
        .post(provider, provider.credential(), path, headers, body.into())
        .await
        .map_err(|err| send_error(err, provider, format))?;
    let answer = collect(upstream.body, provider.timeout, MAX_ANSWER)
        .await
        .map_err(|kind| match kind {
            ErrorKind::PayloadTooLarge => ProxyError::new(
                ErrorKind::UpstreamUnreachable,
                format!("the provider's answer is larger than {MAX_ANSWER} bytes"),
                format,
            ),
            kind => ProxyError::new(kind, "the provider's answer broke off", format),
        })?;
    if !upstream.status.is_success() {
        return Err(upstream_error(
            upstream.status,
            &upstream.headers,
            &answer,
            format,
        ));
    }
    Ok((
        upstream.status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        answer,
    )
        .into_response())
}

/// Four bytes a token over what the model reads: system, messages, tools.
fn estimate(request: &Map<String, Value>) -> u64 {
    let bytes: usize = ["system", "messages", "tools"]
        .iter()
        .filter_map(|field| request.get(*field))
        .map(|value| value.to_string().len())
        .sum();
    u64::try_from(bytes.div_ceil(4)).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_reads_four_bytes_a_token_of_what_the_model_reads() {
        let request = json!({
            "model": "ignored-in-the-count",
            "system": "abcd",
            "messages": [{ "role": "user", "content": "hi" }],
            "max_tokens": 12_345,
        });
        let request = match request {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        // "\"abcd\"" is 6 bytes; the messages array 34: 40 bytes, 10 tokens.
        assert_eq!(estimate(&request), 10);
    }

    proptest::proptest! {
        #![proptest_config(crate::platform::arbitrary::config(256))]

        /// Any body counts at least one token and about a quarter of the
        /// bytes the model reads, never panicking.
        #[test]
        fn prop_any_body_gets_an_estimate(body in crate::platform::arbitrary::request_body()) {
            let read: usize = ["system", "messages", "tools"]
                .iter()
                .filter_map(|field| body.get(*field))
                .map(|value| value.to_string().len())
                .sum();
            let expected = u64::try_from(read.div_ceil(4)).unwrap().max(1);
            proptest::prop_assert_eq!(estimate(&body), expected);
        }
    }
}
