//! Errors in the shape each client expects: OpenAI's
//! `{"error": {"message", "type", "param", "code"}}` (chat completions and
//! responses alike), Anthropic's `{"type": "error", "error": {"type",
//! "message"}}` or Google's `{"error": {"code", "message", "status"}}`.

use std::convert::Infallible;

use axum::{
    Json,
    extract::{FromRequestParts, OriginalUri},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};

/// The wire format of a request: the client's, or the one a provider is
/// called in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiFormat {
    /// OpenAI's chat completions.
    OpenAi,
    /// Anthropic's messages.
    Anthropic,
    /// OpenAI's responses (`/v1/responses`), which Codex speaks.
    Responses,
    /// OpenAI's embeddings (`/v1/embeddings`): no conversation, no output,
    /// never streamed; its errors are OpenAI's.
    Embeddings,
    /// Google's Gemini API (`/v1beta/models/{model}:generateContent`).
    Gemini,
}

impl ApiFormat {
    /// Anthropic's clients always send `anthropic-version`; its endpoints
    /// are `/v1/messages…`. Gemini's send `x-goog-api-key` (or the key in
    /// the URL, under `/v1beta/` or to a model's method,
    /// `models/{model}:generateContent`). Everything else answers like
    /// OpenAI.
    pub fn of_request(path: &str, headers: &HeaderMap) -> Self {
        if headers.contains_key("anthropic-version") || path.contains("/v1/messages") {
            Self::Anthropic
        } else if headers.contains_key("x-goog-api-key")
            || path.contains("/v1beta/")
            || path.ends_with("/v1beta")
            || is_gemini_method(path)
        {
            Self::Gemini
        } else if path.ends_with("/v1/responses") {
            Self::Responses
        } else if path.ends_with("/v1/embeddings") {
            Self::Embeddings
        } else {
            Self::OpenAi
        }
    }

    /// The format of the request whose head is `parts`, by the path the
    /// client sent (a nested router sees it without `/v1`).
    pub fn of_parts(parts: &Parts) -> Self {
        let path = parts
            .extensions
            .get::<OriginalUri>()
            .map_or(parts.uri.path(), |original| original.0.path());
        Self::of_request(path, &parts.headers)
    }
}

/// Whether `path` calls a model's method as Gemini's API does
/// (`…/models/{model}:generateContent`).
fn is_gemini_method(path: &str) -> bool {
    const METHODS: [&str; 5] = [
        "generateContent",
        "streamGenerateContent",
        "countTokens",
        "embedContent",
        "batchEmbedContents",
    ];
    path.rsplit_once(':')
        .is_some_and(|(_, method)| METHODS.contains(&method))
}

impl<S: Send + Sync> FromRequestParts<S> for ApiFormat {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self::of_parts(parts))
    }
}

/// What went wrong, in terms both formats can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed JSON, a missing or wrong field, the wrong endpoint.
    InvalidRequest,
    /// Missing, unknown, revoked or expired key.
    InvalidApiKey,
    /// The key's quota (or, later, the balance) cannot cover the request.
    InsufficientQuota,
    /// The key is fine but may not do this (suspended owner, model not allowed).
    PermissionDenied,
    /// No such model, or not one this caller can see.
    ModelNotFound,
    /// The body is over the configured limit.
    PayloadTooLarge,
    /// The upstream (or a limit) asks the client to slow down.
    RateLimited,
    /// The upstream could not be reached or answered nonsense.
    UpstreamUnreachable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream answered an error; its status is passed on.
    Upstream(StatusCode),
    /// Tollgate cannot take the request now (its database is down or its
    /// usage writer behind): try again shortly.
    Unavailable,
    /// Something went wrong on our side.
    Internal,
}

impl ErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::InvalidApiKey => StatusCode::UNAUTHORIZED,
            Self::InsufficientQuota => StatusCode::PAYMENT_REQUIRED,
            Self::PermissionDenied => StatusCode::FORBIDDEN,
            Self::ModelNotFound => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamUnreachable => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Upstream(status) => status,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The short name usage records keep for a failed request.
    pub fn label(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidApiKey => "invalid_api_key",
            Self::InsufficientQuota => "insufficient_quota",
            Self::PermissionDenied => "permission_denied",
            Self::ModelNotFound => "model_not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::RateLimited => "rate_limited",
            Self::UpstreamUnreachable => "upstream_unreachable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::Upstream(_) => "upstream_error",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }

    /// OpenAI's `type` and `code` for this kind.
    pub(super) fn openai(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::InvalidRequest => ("invalid_request_error", None),
            Self::InvalidApiKey => ("invalid_request_error", Some("invalid_api_key")),
            Self::InsufficientQuota => ("insufficient_quota", Some("insufficient_quota")),
            Self::PermissionDenied => ("permission_error", Some("permission_denied")),
            Self::ModelNotFound => ("invalid_request_error", Some("model_not_found")),
            Self::PayloadTooLarge => ("invalid_request_error", Some("request_too_large")),
            Self::RateLimited => ("rate_limit_error", Some("rate_limit_exceeded")),
            Self::UpstreamUnreachable | Self::UpstreamTimeout | Self::Internal => {
                ("server_error", None)
            }
            Self::Unavailable => ("server_error", Some("service_unavailable")),
            Self::Upstream(status) if status.is_server_error() => ("server_error", None),
            Self::Upstream(_) => ("invalid_request_error", None),
        }
    }

    /// Anthropic's error `type` for this kind.
    pub(super) fn anthropic(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request_error",
            Self::InvalidApiKey => "authentication_error",
            Self::InsufficientQuota => "billing_error",
            Self::PermissionDenied => "permission_error",
            Self::ModelNotFound => "not_found_error",
            Self::PayloadTooLarge => "request_too_large",
            Self::RateLimited => "rate_limit_error",
            Self::UpstreamTimeout => "timeout_error",
            Self::UpstreamUnreachable | Self::Unavailable | Self::Internal => "api_error",
            Self::Upstream(status) => match status.as_u16() {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            },
        }
    }
}

#[derive(Debug, Clone)]
pub struct ProxyError {
    pub kind: ErrorKind,
    pub message: String,
    pub format: ApiFormat,
    /// The request field at fault, for OpenAI's `param`.
    pub param: Option<String>,
    /// The upstream's own error type, kept when it is passed on.
    pub upstream_type: Option<String>,
    /// Seconds, from an upstream 429 or 529.
    pub retry_after: Option<HeaderValue>,
}

impl ProxyError {
    pub fn new(kind: ErrorKind, message: impl Into<String>, format: ApiFormat) -> Self {
        Self {
            kind,
            message: message.into(),
            format,
            param: None,
            upstream_type: None,
            retry_after: None,
        }
    }

    /// A 400 naming the field at fault.
    pub fn invalid_field(field: &str, message: impl Into<String>, format: ApiFormat) -> Self {
        Self {
            param: Some(field.to_owned()),
            ..Self::new(ErrorKind::InvalidRequest, message, format)
        }
    }

    pub fn status_code(&self) -> StatusCode {
        self.kind.status()
    }

    /// From a service error; internal details are logged, never sent. A
    /// database that fails is a 503 (try again), not a bug of ours.
    pub fn internal(err: crate::Error, format: ApiFormat) -> Self {
        let database = matches!(&err, crate::Error::Internal(inner)
            if inner.downcast_ref::<sea_orm::DbErr>().is_some());
        if database {
            tracing::warn!(error = ?err, "the database failed on the LLM API");
            return Self {
                retry_after: Some(HeaderValue::from_static("1")),
                ..Self::new(
                    ErrorKind::Unavailable,
                    "Tollgate's database is unavailable; try again shortly",
                    format,
                )
            };
        }
        tracing::error!(error = ?err, "internal error on the LLM API");
        Self::new(ErrorKind::Internal, "internal server error", format)
    }
}

impl IntoResponse for ProxyError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = self.format.wire().error_body(&self);
        let mut response = (status, Json(body)).into_response();
        if let Some(retry_after) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}
