//! The built-in mock provider (`crate::gateway::mock`): answered in this process, in
//! whichever format the client speaks, so nothing is translated. Its paths
//! are the real providers' (the mock reads Gemini's model and stream there).

use std::borrow::Cow;

use axum::http::{HeaderName, header};

use super::{Adapter, gemini};
use crate::gateway::format::ApiFormat;

pub struct Mock;

impl Adapter for Mock {
    fn format(&self, client: ApiFormat) -> ApiFormat {
        client
    }

    fn path(&self, format: ApiFormat, model: &str, stream: bool) -> Cow<'static, str> {
        Cow::Borrowed(match format {
            ApiFormat::OpenAi => "/chat/completions",
            ApiFormat::Anthropic => "/v1/messages",
            ApiFormat::Responses => "/responses",
            ApiFormat::Embeddings => "/embeddings",
            ApiFormat::Gemini => return gemini::path(model, stream),
        })
    }

    fn credential(&self, key: &str) -> (HeaderName, String) {
        (header::AUTHORIZATION, format!("Bearer {key}"))
    }

    fn in_process(&self) -> bool {
        true
    }
}
