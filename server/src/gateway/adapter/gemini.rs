//! Google's Gemini API (AI Studio): every chat format is sent as Gemini's
//! `generateContent` at `{base_url}/models/{model}:generateContent`, or
//! `:streamGenerateContent?alt=sse` for a stream (the base URL ends in
//! `/v1beta`), tokens counted at `:countTokens`; the key in
//! `x-goog-api-key`, never in the URL.

use std::borrow::Cow;

use axum::http::HeaderName;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

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

    fn count_tokens_path(&self, format: ApiFormat, model: &str) -> Option<Cow<'static, str>> {
        (format == ApiFormat::Gemini).then(|| method(model, "countTokens"))
    }

    fn credential(&self, key: &str) -> (HeaderName, String) {
        (HeaderName::from_static("x-goog-api-key"), key.to_owned())
    }
}

/// What a path segment keeps as it is: RFC 3986's unreserved characters.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A model's generate method: `models/…` is added unless the name has its
/// own collection (`tunedModels/…`). Each segment of the name is
/// percent-encoded, so that no name can add a query or another method.
pub(super) fn path(model: &str, stream: bool) -> Cow<'static, str> {
    if stream {
        method(model, "streamGenerateContent?alt=sse")
    } else {
        method(model, "generateContent")
    }
}

/// A method of a model (see [`path`]).
fn method(model: &str, method: &str) -> Cow<'static, str> {
    let name: Vec<String> = model
        .split('/')
        .map(|segment| utf8_percent_encode(segment, SEGMENT).to_string())
        .collect();
    let collection = if name.len() > 1 { "" } else { "models/" };
    Cow::Owned(format!("/{collection}{}:{method}", name.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_names_one_method_and_nothing_else() {
        assert_eq!(
            path("gemini-2.5-flash", false),
            "/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(
            path("tunedModels/mine", true),
            "/tunedModels/mine:streamGenerateContent?alt=sse"
        );
        assert_eq!(
            path("m?key=x#y:countTokens", false),
            "/models/m%3Fkey%3Dx%23y%3AcountTokens:generateContent"
        );
    }
}
