//! The LLM-facing API under `/v1` (and `/api/v1`): authenticated by API key,
//! answering in the client's own wire format. This module grows into the
//! forwarding proxy; today it serves the model list.

pub mod auth;
pub mod error;
pub mod models;

pub use error::{ApiFormat, ProxyError};
