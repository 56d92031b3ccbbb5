//! OpenAI-compatible providers: chat completions at `{base_url}/chat/completions`,
//! embeddings at `{base_url}/embeddings`, the key as a bearer token.

use axum::http::{HeaderName, header};

use super::Adapter;
use crate::gateway::format::ApiFormat;

pub struct OpenAiChat;

impl Adapter for OpenAiChat {
    fn format(&self, client: ApiFormat) -> ApiFormat {
        match client {
            ApiFormat::Embeddings => ApiFormat::Embeddings,
            ApiFormat::OpenAi | ApiFormat::Anthropic | ApiFormat::Responses => ApiFormat::OpenAi,
        }
    }

    fn path(&self, format: ApiFormat) -> &'static str {
        match format {
            ApiFormat::Embeddings => "/embeddings",
            ApiFormat::OpenAi | ApiFormat::Anthropic | ApiFormat::Responses => "/chat/completions",
        }
    }

    fn credential(&self, key: &str) -> (HeaderName, String) {
        (header::AUTHORIZATION, format!("Bearer {key}"))
    }
}
