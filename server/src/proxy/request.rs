//! The client's request: read within the size limit, checked for the fields
//! the proxy needs (each error naming its field), and rewritten for the
//! upstream (its model name; OpenAI streams also ask for usage).

use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value, json};

use super::{ApiFormat, ProxyError, error::ErrorKind};
use crate::translate;

/// The two LLM endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`, OpenAI's format.
    ChatCompletions,
    /// `POST /v1/messages`, Anthropic's format.
    Messages,
}

impl Endpoint {
    pub fn format(self) -> ApiFormat {
        match self {
            Self::ChatCompletions => ApiFormat::OpenAi,
            Self::Messages => ApiFormat::Anthropic,
        }
    }

    /// As usage records name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat_completions",
            Self::Messages => "messages",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/v1/chat/completions",
            Self::Messages => "/v1/messages",
        }
    }
}

/// Reads the body, refusing more than `limit` bytes with a 413.
pub async fn read_body(body: Body, limit: usize, format: ApiFormat) -> Result<Bytes, ProxyError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(ProxyError::new(
            ErrorKind::PayloadTooLarge,
            format!("request body is larger than the limit of {limit} bytes"),
            format,
        )),
        Err(err) => Err(ProxyError::new(
            ErrorKind::InvalidRequest,
            format!("could not read the request body: {err}"),
            format,
        )),
    }
}

/// A request the proxy can forward.
#[derive(Debug)]
pub struct ClientRequest {
    body: Map<String, Value>,
    pub model: String,
    pub stream: bool,
    /// OpenAI only: whether the client asked for the final usage chunk.
    pub wants_usage: bool,
    /// Input tokens guessed from the size (four bytes a token), for a
    /// stream that ends before the provider reports usage.
    pub input_estimate: i64,
    /// Input tokens this request is unlikely to exceed (three bytes a
    /// token), for its hold.
    pub input_ceiling: i64,
    /// `max_tokens` (or OpenAI's `max_completion_tokens`), when given.
    pub max_output_tokens: Option<i64>,
}

impl ClientRequest {
    pub fn parse(bytes: &[u8], endpoint: Endpoint) -> Result<Self, ProxyError> {
        let format = endpoint.format();
        let body: Map<String, Value> = serde_json::from_slice(bytes).map_err(|err| {
            ProxyError::new(
                ErrorKind::InvalidRequest,
                format!("request body must be a JSON object: {err}"),
                format,
            )
        })?;
        let model = match body.get("model") {
            Some(Value::String(model)) if !model.trim().is_empty() => model.clone(),
            _ => {
                return Err(ProxyError::invalid_field(
                    "model",
                    "model: a model name (string) is required",
                    format,
                ));
            }
        };
        if !body.get("messages").is_some_and(Value::is_array) {
            return Err(ProxyError::invalid_field(
                "messages",
                "messages: an array of messages is required",
                format,
            ));
        }
        if endpoint == Endpoint::Messages
            && body
                .get("max_tokens")
                .and_then(Value::as_u64)
                .is_none_or(|n| n == 0)
        {
            return Err(ProxyError::invalid_field(
                "max_tokens",
                "max_tokens: a positive integer is required",
                format,
            ));
        }
        let stream = match body.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(stream)) => *stream,
            Some(_) => {
                return Err(ProxyError::invalid_field(
                    "stream",
                    "stream: must be true or false",
                    format,
                ));
            }
        };
        let max_output_tokens = ["max_completion_tokens", "max_tokens"]
            .iter()
            .find_map(|field| body.get(*field).and_then(Value::as_i64))
            .filter(|n| *n > 0);
        let wants_usage = body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true);
        Ok(Self {
            body,
            model,
            stream,
            wants_usage,
            input_estimate: i64::try_from(bytes.len().div_ceil(4)).unwrap_or(i64::MAX),
            input_ceiling: i64::try_from(bytes.len().div_ceil(3)).unwrap_or(i64::MAX),
            max_output_tokens,
        })
    }

    /// The body the upstream gets, in the `upstream` format: translated
    /// when the client spoke the other one (Anthropic needs `max_tokens`:
    /// `default_max_tokens` when an OpenAI client named none), with the
    /// upstream's model name, and for OpenAI streams
    /// `stream_options.include_usage` so that usage can be metered.
    pub fn for_upstream(
        mut self,
        upstream_model: &str,
        client: ApiFormat,
        upstream: ApiFormat,
        default_max_tokens: u64,
    ) -> Result<Bytes, ProxyError> {
        let unexpressible = |err: translate::Unexpressible| {
            ProxyError::invalid_field(&err.param, err.message, client)
        };
        match (client, upstream) {
            (ApiFormat::Anthropic, ApiFormat::OpenAi) => {
                self.body =
                    translate::request::anthropic_to_openai(self.body).map_err(unexpressible)?;
            }
            (ApiFormat::OpenAi, ApiFormat::Anthropic) => {
                self.body = translate::request::openai_to_anthropic(self.body, default_max_tokens)
                    .map_err(unexpressible)?;
            }
            _ => {}
        }
        let format = upstream;
        self.body
            .insert("model".to_owned(), Value::String(upstream_model.to_owned()));
        if self.stream && format == ApiFormat::OpenAi {
            match self.body.get_mut("stream_options") {
                Some(Value::Object(options)) => {
                    options.insert("include_usage".to_owned(), Value::Bool(true));
                }
                _ => {
                    self.body.insert(
                        "stream_options".to_owned(),
                        json!({ "include_usage": true }),
                    );
                }
            }
        }
        serde_json::to_vec(&self.body)
            .map(Bytes::from)
            .map_err(|err| ProxyError::internal(crate::Error::Internal(err.into()), client))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str, endpoint: Endpoint) -> Result<ClientRequest, ProxyError> {
        ClientRequest::parse(body.as_bytes(), endpoint)
    }

    #[test]
    fn missing_fields_are_named() {
        let err = parse(r#"{"messages":[]}"#, Endpoint::ChatCompletions).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("model"));
        let err = parse(r#"{"model":"m"}"#, Endpoint::ChatCompletions).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("messages"));
        let err = parse(r#"{"model":"m","messages":[]}"#, Endpoint::Messages).unwrap_err();
        assert_eq!(err.param.as_deref(), Some("max_tokens"));
        let err = parse(
            r#"{"model":"m","messages":[],"stream":"yes"}"#,
            Endpoint::ChatCompletions,
        )
        .unwrap_err();
        assert_eq!(err.param.as_deref(), Some("stream"));
        let err = parse("{not json", Endpoint::ChatCompletions).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn openai_streams_ask_the_upstream_for_usage() {
        let request = parse(
            r#"{"model":"m","messages":[],"stream":true,"stream_options":{"x":1}}"#,
            Endpoint::ChatCompletions,
        )
        .unwrap();
        assert!(!request.wants_usage);
        let body = request
            .for_upstream("up", ApiFormat::OpenAi, ApiFormat::OpenAi, 4096)
            .unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["model"], "up");
        assert_eq!(
            value["stream_options"],
            json!({ "x": 1, "include_usage": true })
        );
    }

    #[test]
    fn anthropic_bodies_only_change_the_model() {
        let request = parse(
            r#"{"model":"m","messages":[],"max_tokens":5,"stream":true}"#,
            Endpoint::Messages,
        )
        .unwrap();
        let body = request
            .for_upstream("up", ApiFormat::Anthropic, ApiFormat::Anthropic, 4096)
            .unwrap();
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            json!({ "model": "up", "messages": [], "max_tokens": 5, "stream": true })
        );
    }
}
