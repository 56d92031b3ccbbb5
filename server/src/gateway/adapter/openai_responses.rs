//! OpenAI, or an API that speaks both of its formats: Responses clients are
//! passed through to `{base_url}/responses`, embeddings to
//! `{base_url}/embeddings`, the others go to `{base_url}/chat/completions`
//! (Anthropic's translated, as for any OpenAI-compatible provider). The key
//! is a bearer token.

use std::borrow::Cow;

use axum::http::{HeaderName, header};

use super::Adapter;
use crate::gateway::format::ApiFormat;

pub struct OpenAiResponses;

impl Adapter for OpenAiResponses {
    fn format(&self, client: ApiFormat) -> ApiFormat {
        match client {
            ApiFormat::Responses => ApiFormat::Responses,
            ApiFormat::Embeddings => ApiFormat::Embeddings,
            ApiFormat::OpenAi | ApiFormat::Anthropic | ApiFormat::Gemini => ApiFormat::OpenAi,
        }
    }

    fn path(&self, format: ApiFormat, _model: &str, _stream: bool) -> Cow<'static, str> {
        Cow::Borrowed(match format {
            ApiFormat::Responses => "/responses",
            ApiFormat::Embeddings => "/embeddings",
            _ => "/chat/completions",
        })
    }

    fn credential(&self, key: &str) -> (HeaderName, String) {
        (header::AUTHORIZATION, format!("Bearer {key}"))
    }
}
