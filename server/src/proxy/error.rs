//! Errors in the shape each client expects: OpenAI's
//! `{"error": {"message", "type", "param", "code"}}` or Anthropic's
//! `{"type": "error", "error": {"type", "message"}}`.

use axum::{
    Json,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// Which API family a request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFormat {
    OpenAi,
    Anthropic,
}

impl ApiFormat {
    /// Anthropic's clients always send `anthropic-version`; its endpoints
    /// are `/v1/messages…`. Everything else answers like OpenAI.
    pub fn of_request(path: &str, headers: &HeaderMap) -> Self {
        if headers.contains_key("anthropic-version") || path.contains("/v1/messages") {
            Self::Anthropic
        } else {
            Self::OpenAi
        }
    }
}

/// What went wrong, in terms both formats can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Missing, unknown, revoked or expired key.
    InvalidApiKey,
    /// The key is fine but may not do this (suspended owner, model not allowed).
    PermissionDenied,
    /// Something went wrong on our side.
    Internal,
}

#[derive(Debug, Clone)]
pub struct ProxyError {
    pub kind: ErrorKind,
    pub message: String,
    pub format: ApiFormat,
}

impl ProxyError {
    pub fn new(kind: ErrorKind, message: impl Into<String>, format: ApiFormat) -> Self {
        Self {
            kind,
            message: message.into(),
            format,
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self.kind {
            ErrorKind::InvalidApiKey => StatusCode::UNAUTHORIZED,
            ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// From a service error; internal details are logged, never sent.
    pub fn internal(err: crate::Error, format: ApiFormat) -> Self {
        tracing::error!(error = ?err, "internal error on the LLM API");
        Self::new(ErrorKind::Internal, "internal server error", format)
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = match self.format {
            ApiFormat::OpenAi => {
                let (kind, code) = match self.kind {
                    ErrorKind::InvalidApiKey => ("invalid_request_error", Some("invalid_api_key")),
                    ErrorKind::PermissionDenied => ("permission_error", Some("permission_denied")),
                    ErrorKind::Internal => ("server_error", None),
                };
                json!({ "error": { "message": self.message, "type": kind, "param": null, "code": code } })
            }
            ApiFormat::Anthropic => {
                let kind = match self.kind {
                    ErrorKind::InvalidApiKey => "authentication_error",
                    ErrorKind::PermissionDenied => "permission_error",
                    ErrorKind::Internal => "api_error",
                };
                json!({ "type": "error", "error": { "type": kind, "message": self.message } })
            }
        };
        (status, Json(body)).into_response()
    }
}
