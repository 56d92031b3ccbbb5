//! OpenAI-compatible providers: chat completions at `{base_url}/chat/completions`,
//! embeddings at `{base_url}/embeddings`, the key as a bearer token.

use std::borrow::Cow;

use axum::http::{HeaderName, header};

use super::Adapter;
use crate::gateway::format::ApiFormat;

pub struct OpenAiChat;

impl Adapter for OpenAiChat {
    fn format(&self, client: ApiFormat) -> ApiFormat {
        match client {
            ApiFormat::Embeddings => ApiFormat::Embeddings,
            ApiFormat::OpenAi | ApiFormat::Anthropic | ApiFormat::Responses | ApiFormat::Gemini => {
                ApiFormat::OpenAi
            }
        }
    }

    fn path(&self, format: ApiFormat, _model: &str, _stream: bool) -> Cow<'static, str> {
        Cow::Borrowed(match format {
            ApiFormat::Embeddings => "/embeddings",
            _ => "/chat/completions",
        })
    }

    fn credential(&self, key: &str) -> (HeaderName, String) {
        (header::AUTHORIZATION, format!("Bearer {key}"))
    }
}
