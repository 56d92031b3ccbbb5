//! Google's Gemini API (AI Studio): every chat format is sent as Gemini's
//! `generateContent` at `{base_url}/models/{model}:generateContent`, or
//! `:streamGenerateContent?alt=sse` for a stream (the base URL ends in
//! `/v1beta`); the key in `x-goog-api-key`, never in the URL.

use std::borrow::Cow;

use axum::http::HeaderName;

use super::Adapter;
use crate::gateway::format::ApiFormat;

pub struct Gemini;

impl Adapter for Gemini {
    /// Embeddings too, so they are refused (a 400 naming `model`): Gemini's
    /// embedding methods are not spoken yet.
    fn format(&self, _client: ApiFormat) -> ApiFormat {
        ApiFormat::Gemini
    }

    fn path(&self, _format: ApiFormat, model: &str, stream: bool) -> Cow<'static, str> {
        path(model, stream)
    }

    fn credential(&self, key: &str) -> (HeaderName, String) {
        (HeaderName::from_static("x-goog-api-key"), key.to_owned())
    }
}

/// A model's generate method: `models/…` is added unless the name has its
/// own collection (`tunedModels/…`).
pub(super) fn path(model: &str, stream: bool) -> Cow<'static, str> {
    let method = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    if model.contains('/') {
        Cow::Owned(format!("/{model}:{method}"))
    } else {
        Cow::Owned(format!("/models/{model}:{method}"))
    }
}
