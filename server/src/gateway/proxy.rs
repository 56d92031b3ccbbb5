//! The LLM-facing API under `/v1` (and `/api/v1`), and Gemini's under
//! `/v1beta`: authenticated by API key, answering in the client's own wire
//! format. `forward` is the hot path:
//! check, call the provider, relay, settle.

pub mod auth;
pub mod catalog;
pub mod count_tokens;
pub mod failover;
pub mod forward;
pub mod gemini;
pub mod health;
pub mod models;
pub mod relay;
pub mod request;
pub mod settle;
pub mod spec;
pub mod upstream;

use axum::extract::OriginalUri;

use crate::gateway::format::{ApiFormat, ProxyError, error::ErrorKind};

/// Unknown paths under `/v1`, answered in the client's format.
pub async fn not_found(OriginalUri(uri): OriginalUri, format: ApiFormat) -> ProxyError {
    ProxyError::new(
        ErrorKind::ModelNotFound,
        format!("no such endpoint: {}", uri.path()),
        format,
    )
}
