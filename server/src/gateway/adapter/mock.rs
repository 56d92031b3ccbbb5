//! The built-in mock provider (`crate::gateway::mock`): answered in this process, in
//! whichever format the client speaks, so nothing is translated.

use axum::http::{HeaderName, header};

use super::Adapter;
use crate::gateway::format::ApiFormat;

pub struct Mock;

impl Adapter for Mock {
    fn format(&self, client: ApiFormat) -> ApiFormat {
        client
    }

    fn path(&self, format: ApiFormat) -> &'static str {
        match format {
            ApiFormat::OpenAi => "/chat/completions",
            ApiFormat::Anthropic => "/v1/messages",
            ApiFormat::Responses => "/responses",
            ApiFormat::Embeddings => "/embeddings",
        }
    }

    fn credential(&self, key: &str) -> (HeaderName, String) {
        (header::AUTHORIZATION, format!("Bearer {key}"))
    }

    fn in_process(&self) -> bool {
        true
    }
}
