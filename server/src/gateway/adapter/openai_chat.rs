//! OpenAI-compatible providers: chat completions at `{base_url}/chat/completions`,
//! the key as a bearer token.

use axum::http::{HeaderName, header};

use super::Adapter;
use crate::gateway::format::ApiFormat;

pub struct OpenAiChat;

impl Adapter for OpenAiChat {
    fn format(&self, _client: ApiFormat) -> ApiFormat {
        ApiFormat::OpenAi
    }

    fn path(&self, _format: ApiFormat) -> &'static str {
        "/chat/completions"
    }

    fn credential(&self, key: &str) -> (HeaderName, String) {
        (header::AUTHORIZATION, format!("Bearer {key}"))
    }
}
