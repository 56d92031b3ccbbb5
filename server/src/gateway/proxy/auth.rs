//! The caller of an LLM request: the API key from `x-api-key`,
//! `Authorization: Bearer`, or as Google's clients send it (`x-goog-api-key`
//! or the `key` query parameter), resolved through the in-memory key cache.

use std::{borrow::Cow, sync::Arc};

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, header, request::Parts},
};

use crate::{
    gateway::{
        api_keys::cache::{KeyCaller, KeyRejection},
        format::error::{ApiFormat, ErrorKind, ProxyError},
    },
    state::AppState,
};

/// An authenticated API key and its owner.
pub struct ApiKeyAuth(pub Arc<KeyCaller>);

impl FromRequestParts<AppState> for ApiKeyAuth {
    type Rejection = ProxyError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Counted, never recorded: a flood of bad keys costs no rows.
        resolve(parts, state)
            .await
            .inspect_err(|err| state.counters.refused(err.kind.label()))
    }
}

/// The key's caller, or the refusal in the client's format.
async fn resolve(parts: &Parts, state: &AppState) -> Result<ApiKeyAuth, ProxyError> {
    let format = ApiFormat::of_parts(parts);
    let Some(presented) = presented_key(parts, format) else {
        return Err(ProxyError::new(
            ErrorKind::InvalidApiKey,
            "missing API key: send it as `Authorization: Bearer <key>`, `x-api-key: <key>` or `x-goog-api-key: <key>`",
            format,
        ));
    };
    match state.key_cache.resolve(&state.db, presented.trim()).await {
        Ok(Ok(caller)) => Ok(ApiKeyAuth(caller)),
        Ok(Err(KeyRejection::Invalid)) => Err(ProxyError::new(
            ErrorKind::InvalidApiKey,
            "invalid, revoked or expired API key",
            format,
        )),
        Ok(Err(KeyRejection::OwnerSuspended)) => Err(ProxyError::new(
            ErrorKind::PermissionDenied,
            "this account is suspended",
            format,
        )),
        Err(err) => Err(ProxyError::internal(err, format)),
    }
}

fn presented_key(parts: &Parts, format: ApiFormat) -> Option<Cow<'_, str>> {
    let headers = &parts.headers;
    for name in ["x-api-key", "x-goog-api-key"] {
        if let Some(key) = headers.get(name).and_then(|v| v.to_str().ok()) {
            return Some(Cow::Borrowed(key));
        }
    }
    if let Some(token) = bearer(headers) {
        return Some(Cow::Borrowed(token));
    }
    // Google's clients may put it in the URL, as its API allows; no other
    // API takes it there.
    if format != ApiFormat::Gemini {
        return None;
    }
    form_urlencoded::parse(parts.uri.query()?.as_bytes())
        .find(|(name, _)| name == "key")
        .map(|(_, key)| key)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}
