//! Anthropic's Messages API: `{base_url}/v1/messages`, the key in
//! `x-api-key`, an `anthropic-version` always (the client's, or the one
//! Tollgate speaks) and the client's `anthropic-beta` flags; token counting
//! at `/v1/messages/count_tokens`.

use std::borrow::Cow;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::Adapter;
use crate::gateway::format::ApiFormat;

/// What Anthropic's API is called with when the client names no version.
const DEFAULT_VERSION: &str = "2023-06-01";

pub struct Anthropic;

impl Adapter for Anthropic {
    fn format(&self, _client: ApiFormat) -> ApiFormat {
        ApiFormat::Anthropic
    }

    fn path(&self, _format: ApiFormat, _model: &str, _stream: bool) -> Cow<'static, str> {
        Cow::Borrowed("/v1/messages")
    }

    fn credential(&self, key: &str) -> (HeaderName, String) {
        (HeaderName::from_static("x-api-key"), key.to_owned())
    }

    fn headers(&self, client: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
        let version = client
            .get("anthropic-version")
            .cloned()
            .unwrap_or(HeaderValue::from_static(DEFAULT_VERSION));
        let mut headers = vec![(HeaderName::from_static("anthropic-version"), version)];
        let beta = HeaderName::from_static("anthropic-beta");
        headers.extend(
            client
                .get_all(&beta)
                .iter()
                .map(|value| (beta.clone(), value.clone())),
        );
        headers
    }

    fn count_tokens_path(&self, format: ApiFormat, _model: &str) -> Option<Cow<'static, str>> {
        (format == ApiFormat::Anthropic).then_some(Cow::Borrowed("/v1/messages/count_tokens"))
    }
}
