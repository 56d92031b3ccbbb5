//! The client's request: read within the size limit, checked for the fields
//! the proxy needs (each error naming its field), and rewritten for the
//! upstream (its model name; OpenAI streams also ask for usage).

use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::{Map, Value, json};

use crate::gateway::{
    format::{ApiFormat, ProxyError, error::ErrorKind},
    translate,
};

/// The LLM endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`, OpenAI's format.
    ChatCompletions,
    /// `POST /v1/messages`, Anthropic's format.
    Messages,
    /// `POST /v1/responses`, OpenAI's responses.
    Responses,
    /// `POST /v1/embeddings`, OpenAI's embeddings.
    Embeddings,
    /// `POST /v1beta/models/{model}:generateContent` (or
    /// `:streamGenerateContent`), Gemini's.
    GenerateContent,
}

impl Endpoint {
    pub fn format(self) -> ApiFormat {
        match self {
            Self::ChatCompletions => ApiFormat::OpenAi,
            Self::Messages => ApiFormat::Anthropic,
            Self::Responses => ApiFormat::Responses,
            Self::Embeddings => ApiFormat::Embeddings,
            Self::GenerateContent => ApiFormat::Gemini,
        }
    }

    /// As usage records name it.
    pub fn label(self) -> &'static str {
        match self {
            Self::ChatCompletions => "chat_completions",
            Self::Messages => "messages",
            Self::Responses => "responses",
            Self::Embeddings => "embeddings",
            Self::GenerateContent => "generate_content",
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Self::ChatCompletions => "/v1/chat/completions",
            Self::Messages => "/v1/messages",
            Self::Responses => "/v1/responses",
            Self::Embeddings => "/v1/embeddings",
            Self::GenerateContent => "/v1beta/models",
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

/// What a format names in the URL rather than the body: Gemini's model and
/// whether to stream (`models/{model}:streamGenerateContent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InUrl {
    pub model: String,
    pub stream: bool,
}

/// A request the proxy can forward.
#[derive(Debug, Clone)]
pub struct ClientRequest {
    body: Map<String, Value>,
    pub model: String,
    pub stream: bool,
    /// OpenAI only: whether the client asked for the final usage chunk.
    pub wants_usage: bool,
    /// Input tokens guessed from the size (four bytes a token), for a
    /// stream that ends before the provider reports usage.
    pub input_estimate: i64,
    /// The output cap the client named, if any.
    pub output_cap: Option<OutputCap>,
}

/// An output cap as the client named it: a positive number of tokens, and
/// the field that named it (for the error if it is too large).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputCap {
    pub tokens: i64,
    pub field: &'static str,
}

/// What the provider is sent, and the most it can cost in tokens: the
/// output cap it was given and an input no prompt can exceed.
#[derive(Debug)]
pub struct UpstreamRequest {
    pub body: Bytes,
    pub max_output_tokens: i64,
    pub max_input_tokens: i64,
    /// A translated Responses request's custom tools: their calls go back
    /// to the client as custom tool calls.
    pub custom_tools: Vec<String>,
}

/// Part types whose bytes are not text (base64 data, links to it): each is
/// held at a configured number of tokens instead of its size. Documents and
/// files are not among them: a document may carry plain text, and a PDF is
/// billed by its pages, so both are held by their bytes, which bound them.
const ATTACHMENT_TYPES: [&str; 5] = ["image", "image_url", "input_image", "input_audio", "audio"];

/// What a provider may add to a prompt that declares tools (Anthropic's
/// tool-use system prompt is some 350 tokens), held on top of its bytes.
const TOOLS_OVERHEAD_TOKENS: i64 = 1_024;

impl ClientRequest {
    pub fn parse(bytes: &[u8], endpoint: Endpoint) -> Result<Self, ProxyError> {
        Self::parse_with(bytes, endpoint, None)
    }

    /// As [`Self::parse`], with the model and the stream from the URL
    /// where the format names them there: they are written into the body,
    /// as the other formats carry them (and taken out again for a provider
    /// of that format).
    pub fn parse_with(
        bytes: &[u8],
        endpoint: Endpoint,
        in_url: Option<&InUrl>,
    ) -> Result<Self, ProxyError> {
        let format = endpoint.format();
        let mut body: Map<String, Value> = serde_json::from_slice(bytes).map_err(|err| {
            ProxyError::new(
                ErrorKind::InvalidRequest,
                format!("request body must be a JSON object: {err}"),
                format,
            )
        })?;
        if let Some(in_url) = in_url {
            body.insert("model".to_owned(), Value::String(in_url.model.clone()));
            body.insert("stream".to_owned(), Value::Bool(in_url.stream));
        }
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
        let wire = format.wire();
        wire.check(&body)?;
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
        let output_cap = output_cap(&body, endpoint)?;
        let wants_usage = wire.wants_usage(&body);
        Ok(Self {
            body,
            model,
            stream,
            wants_usage,
            input_estimate: i64::try_from(bytes.len().div_ceil(4)).unwrap_or(i64::MAX),
            output_cap,
        })
    }

    /// The body the upstream gets, in the `upstream` format: translated
    /// when the client spoke the other one, with the upstream's model name,
    /// the output cap that was held (`max_output_tokens`) in the field the
    /// provider reads, and for OpenAI streams `stream_options.include_usage`
    /// so that usage can be metered. Its input ceiling is measured on what
    /// is sent, after translation.
    pub fn for_upstream(
        mut self,
        upstream_model: &str,
        client: ApiFormat,
        upstream: ApiFormat,
        max_output_tokens: i64,
        attachment_tokens: i64,
    ) -> Result<UpstreamRequest, ProxyError> {
        let unexpressible = |err: translate::Unexpressible| {
            ProxyError::invalid_field(&err.param, err.message, client)
        };
        let cap = u64::try_from(max_output_tokens).unwrap_or(1);
        let custom_tools;
        match (client, upstream) {
            // No adapter sends a chat client's request as a response.
            (client, ApiFormat::Responses) if client != ApiFormat::Responses => {
                return Err(ProxyError::new(
                    ErrorKind::Internal,
                    "a chat request cannot be sent as a response",
                    client,
                ));
            }
            // Embeddings are not a conversation: only a provider that
            // embeds takes them, and it takes nothing else.
            (ApiFormat::Embeddings, upstream) if upstream != ApiFormat::Embeddings => {
                return Err(ProxyError::invalid_field(
                    "model",
                    format!(
                        "model: `{}` is served by a provider that has no embeddings",
                        self.model
                    ),
                    client,
                ));
            }
            (_, ApiFormat::Embeddings) if client != ApiFormat::Embeddings => {
                return Err(ProxyError::new(
                    ErrorKind::Internal,
                    "a chat request cannot be sent as embeddings",
                    client,
                ));
            }
            _ => {
                let (body, custom) = translate::request_between(self.body, (client, upstream), cap)
                    .map_err(unexpressible)?;
                self.body = body;
                custom_tools = custom;
            }
        }
        let format = upstream;
        if format.wire().model_in_body() {
            self.body
                .insert("model".to_owned(), Value::String(upstream_model.to_owned()));
            // What the proxy relays is what was parsed, whatever a
            // translation made of the field.
            if self.stream || self.body.contains_key("stream") {
                self.body
                    .insert("stream".to_owned(), Value::Bool(self.stream));
            }
        } else {
            // The adapter puts them in the URL.
            self.body.remove("model");
            self.body.remove("stream");
        }
        set_output_cap(&mut self.body, format, cap);
        if self.stream {
            format.wire().ask_stream_usage(&mut self.body);
        }
        let mut attachments = Attachments::default();
        if format == ApiFormat::Gemini {
            attachments.visit_gemini(&self.body);
        } else {
            self.body
                .values()
                .for_each(|value| attachments.visit(value));
        }
        let declares_tools = self
            .body
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|tools| !tools.is_empty());
        let body = serde_json::to_vec(&self.body)
            .map(Bytes::from)
            .map_err(|err| ProxyError::internal(crate::Error::Internal(err.into()), client))?;
        let text_bytes = body.len().saturating_sub(attachments.bytes);
        let max_input_tokens = i64::try_from(text_bytes)
            .unwrap_or(i64::MAX)
            .saturating_add(attachment_tokens.saturating_mul(attachments.count))
            .saturating_add(if declares_tools {
                TOOLS_OVERHEAD_TOKENS
            } else {
                0
            });
        Ok(UpstreamRequest {
            body,
            max_output_tokens,
            max_input_tokens,
            custom_tools,
        })
    }
}

/// The output cap a request names, checked: every cap field present must
/// be a positive integer, OpenAI's two fields must agree, and Anthropic's
/// is required.
fn output_cap(
    body: &Map<String, Value>,
    endpoint: Endpoint,
) -> Result<Option<OutputCap>, ProxyError> {
    let format = endpoint.format();
    let wire = format.wire();
    let fields = wire.cap_fields();
    let mut cap: Option<OutputCap> = None;
    for &field in fields {
        let tokens = match at_path(body, field) {
            None | Some(Value::Null) => continue,
            Some(value) => value.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                ProxyError::invalid_field(
                    field,
                    format!("{field}: must be a positive integer"),
                    format,
                )
            })?,
        };
        // Beyond i64 is beyond any model's maximum: refused there.
        let tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
        if let Some(first) = cap
            && first.tokens != tokens
        {
            return Err(ProxyError::invalid_field(
                field,
                format!(
                    "{field}: conflicts with {} ({} and {tokens}); send one of them",
                    first.field, first.tokens
                ),
                format,
            ));
        }
        cap.get_or_insert(OutputCap { tokens, field });
    }
    // A format that requires a cap names its field first (none without caps).
    if let (None, true, Some(&field)) = (cap, wire.cap_required(), fields.first()) {
        return Err(ProxyError::invalid_field(
            field,
            format!("{field}: a positive integer is required"),
            format,
        ));
    }
    Ok(cap)
}

/// Puts the held cap where the provider reads it: Anthropic's `max_tokens`;
/// for OpenAI the field the client used (both, if it sent both), or
/// `max_completion_tokens`, OpenAI's current name, when it sent none.
fn set_output_cap(body: &mut Map<String, Value>, format: ApiFormat, cap: u64) {
    let fields = format.wire().cap_fields();
    // A format without output (embeddings) has no cap to set.
    let Some(first) = fields.first() else {
        return;
    };
    let mut set = false;
    for field in fields {
        if let Some(value) = at_path_mut(body, field).filter(|value| !value.is_null()) {
            *value = json!(cap);
            set = true;
        }
    }
    if !set {
        insert_at_path(body, first, json!(cap));
    }
}

/// The value at a field's path (`generationConfig.maxOutputTokens`).
fn at_path<'a>(body: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    match path.split_once('.') {
        None => body.get(path),
        Some((head, rest)) => at_path(body.get(head)?.as_object()?, rest),
    }
}

fn at_path_mut<'a>(body: &'a mut Map<String, Value>, path: &str) -> Option<&'a mut Value> {
    match path.split_once('.') {
        None => body.get_mut(path),
        Some((head, rest)) => at_path_mut(body.get_mut(head)?.as_object_mut()?, rest),
    }
}

/// Sets the value at a field's path, making (or replacing with) objects
/// on the way.
fn insert_at_path(body: &mut Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            body.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let inner = body
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            if !inner.is_object() {
                *inner = Value::Object(Map::new());
            }
            if let Value::Object(inner) = inner {
                insert_at_path(inner, rest, value);
            }
        }
    }
}

/// Image, file and audio parts of a body: how many, and how many bytes of
/// text they hold (base64 data, URLs), which are not held as text tokens.
#[derive(Debug, Default)]
struct Attachments {
    count: i64,
    bytes: usize,
}

impl Attachments {
    fn visit(&mut self, value: &Value) {
        match value {
            Value::Object(map) => {
                let is_attachment = map
                    .get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|kind| ATTACHMENT_TYPES.contains(&kind));
                if is_attachment {
                    self.count += 1;
                    self.bytes += string_bytes(value);
                } else {
                    map.values().for_each(|value| self.visit(value));
                }
            }
            Value::Array(items) => items.iter().for_each(|item| self.visit(item)),
            _ => {}
        }
    }
}

impl Attachments {
    /// Gemini's images: a part's `inlineData` of an image type, its data's
    /// bytes. Other data (documents, audio, video) is held by its bytes, as
    /// documents are in the other formats; `fileData` is refused
    /// (`format::gemini`).
    fn visit_gemini(&mut self, body: &Map<String, Value>) {
        let parts = body
            .get("contents")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|content| content.get("parts")?.as_array())
            .flatten();
        for part in parts {
            let Some(inline) = part.get("inlineData") else {
                continue;
            };
            let image = inline
                .get("mimeType")
                .and_then(Value::as_str)
                .is_some_and(|mime| mime.starts_with("image/"));
            if let (true, Some(Value::String(data))) = (image, inline.get("data")) {
                self.count += 1;
                self.bytes += data.len();
            }
        }
    }
}

/// The bytes of every string in `value`: at most what they take in JSON.
fn string_bytes(value: &Value) -> usize {
    match value {
        Value::String(text) => text.len(),
        Value::Array(items) => items.iter().map(string_bytes).sum(),
        Value::Object(map) => map.values().map(string_bytes).sum(),
        _ => 0,
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
            .for_upstream("up", ApiFormat::OpenAi, ApiFormat::OpenAi, 4096, 0)
            .unwrap();
        let value: Value = serde_json::from_slice(&body.body).unwrap();
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
            .for_upstream("up", ApiFormat::Anthropic, ApiFormat::Anthropic, 5, 0)
            .unwrap();
        let value: Value = serde_json::from_slice(&body.body).unwrap();
        assert_eq!(
            value,
            json!({ "model": "up", "messages": [], "max_tokens": 5, "stream": true })
        );
    }

    #[test]
    fn caps_must_be_positive_integers_that_agree() {
        for (body, field) in [
            (
                r#"{"model":"m","messages":[],"max_tokens":0}"#,
                "max_tokens",
            ),
            (
                r#"{"model":"m","messages":[],"max_tokens":-5}"#,
                "max_tokens",
            ),
            (
                r#"{"model":"m","messages":[],"max_tokens":1.5}"#,
                "max_tokens",
            ),
            (
                r#"{"model":"m","messages":[],"max_completion_tokens":"10"}"#,
                "max_completion_tokens",
            ),
            (
                r#"{"model":"m","messages":[],"max_completion_tokens":1,"max_tokens":1000}"#,
                "max_tokens",
            ),
            (r#"{"model":"m","messages":[],"n":2}"#, "n"),
            (r#"{"model":"m","messages":[],"n":0}"#, "n"),
            (r#"{"model":"m","messages":[],"best_of":3}"#, "best_of"),
        ] {
            let err = parse(body, Endpoint::ChatCompletions).unwrap_err();
            assert_eq!(err.kind, ErrorKind::InvalidRequest, "{body}");
            assert_eq!(err.param.as_deref(), Some(field), "{body}");
        }
        let same = parse(
            r#"{"model":"m","messages":[],"max_completion_tokens":7,"max_tokens":7,"n":1}"#,
            Endpoint::ChatCompletions,
        )
        .unwrap();
        assert_eq!(same.output_cap.map(|cap| cap.tokens), Some(7));
        let huge = parse(
            r#"{"model":"m","messages":[],"max_tokens":18446744073709551615}"#,
            Endpoint::ChatCompletions,
        )
        .unwrap();
        assert_eq!(huge.output_cap.map(|cap| cap.tokens), Some(i64::MAX));
    }

    #[test]
    fn the_held_cap_is_what_the_provider_is_sent() {
        let none = parse(r#"{"model":"m","messages":[]}"#, Endpoint::ChatCompletions).unwrap();
        let sent = none
            .for_upstream("up", ApiFormat::OpenAi, ApiFormat::OpenAi, 300, 0)
            .unwrap();
        let value: Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(value["max_completion_tokens"], 300);
        assert_eq!(sent.max_output_tokens, 300);
        // Translated to Anthropic, the cap lands in `max_tokens`.
        let none = parse(r#"{"model":"m","messages":[]}"#, Endpoint::ChatCompletions).unwrap();
        let sent = none
            .for_upstream("up", ApiFormat::OpenAi, ApiFormat::Anthropic, 300, 0)
            .unwrap();
        let value: Value = serde_json::from_slice(&sent.body).unwrap();
        assert_eq!(value["max_tokens"], 300);
    }

    #[test]
    fn input_is_held_at_a_token_per_byte_and_attachments_at_their_allowance() {
        let words = "a ".repeat(20_000);
        let body = json!({"model": "m", "messages": [{"role": "user", "content": words}]});
        let request = parse(&body.to_string(), Endpoint::ChatCompletions).unwrap();
        let sent = request
            .for_upstream("up", ApiFormat::OpenAi, ApiFormat::OpenAi, 1, 1_000)
            .unwrap();
        // 20,000 one-letter words are 20,000 tokens at most: held above that.
        assert!(sent.max_input_tokens >= 40_000, "{}", sent.max_input_tokens);
        assert_eq!(sent.max_input_tokens, sent.body.len() as i64);

        let image = "A".repeat(100_000);
        let body = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}},
        ]}]});
        let request = parse(&body.to_string(), Endpoint::Messages).unwrap();
        let sent = request
            .for_upstream("up", ApiFormat::Anthropic, ApiFormat::Anthropic, 10, 1_000)
            .unwrap();
        assert!(sent.max_input_tokens >= 1_000 + "what is this?".len() as i64);
        assert!(sent.max_input_tokens < 2_000, "{}", sent.max_input_tokens);

        // A document may carry plain text: it is held by its bytes.
        let text = "word ".repeat(20_000);
        let body = json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}},
        ]}]});
        let request = parse(&body.to_string(), Endpoint::Messages).unwrap();
        let sent = request
            .for_upstream("up", ApiFormat::Anthropic, ApiFormat::Anthropic, 1, 1_000)
            .unwrap();
        assert!(
            sent.max_input_tokens >= 100_000,
            "{}",
            sent.max_input_tokens
        );
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Map, Value};

        use super::super::*;
        use crate::platform::arbitrary;

        const ENDPOINTS: [Endpoint; 4] = [
            Endpoint::ChatCompletions,
            Endpoint::Messages,
            Endpoint::Responses,
            Endpoint::GenerateContent,
        ];
        /// The formats a client's request may be sent in: the chat formats
        /// translate into each other; responses are passed through.
        fn upstreams(endpoint: Endpoint) -> &'static [ApiFormat] {
            match endpoint {
                Endpoint::Responses => &[ApiFormat::Responses],
                Endpoint::Embeddings => &[ApiFormat::Embeddings],
                Endpoint::ChatCompletions | Endpoint::Messages | Endpoint::GenerateContent => {
                    &[ApiFormat::OpenAi, ApiFormat::Anthropic, ApiFormat::Gemini]
                }
            }
        }

        /// The output caps the provider is told, by its format (`null`
        /// reads as absent).
        fn sent_cap(body: &Map<String, Value>, format: ApiFormat) -> Vec<Option<u64>> {
            let fields = format.wire().cap_fields();
            fields
                .iter()
                .filter_map(|field| at_path(body, field).filter(|value| !value.is_null()))
                .map(Value::as_u64)
                .collect()
        }

        proptest! {
            #![proptest_config(arbitrary::config(256))]

            /// Any bytes at all: a request or a 4xx naming why, never a panic.
            #[test]
            fn prop_any_bytes_parse_or_are_refused(
                bytes in prop_oneof![
                    prop::collection::vec(any::<u8>(), 0..256),
                    arbitrary::json().prop_map(|value| value.to_string().into_bytes()),
                ],
            ) {
                for endpoint in ENDPOINTS.into_iter().chain([Endpoint::Embeddings]) {
                    if let Err(err) = ClientRequest::parse(&bytes, endpoint) {
                        prop_assert!(err.kind.status().is_client_error(), "{err:?}");
                    }
                }
            }

            /// A request that parses goes to a provider of either format
            /// (translated or not) with the upstream's model name, the cap
            /// that was held in every cap field it reads, streaming as the
            /// client asked (an OpenAI stream asking for usage), or is
            /// refused as a client error naming a field.
            #[test]
            fn prop_a_parsed_request_goes_upstream_with_its_model_cap_and_stream(
                body in arbitrary::request_body(),
                cap in 1_i64..1_000_000,
                attachment_tokens in 0_i64..100_000,
            ) {
                let bytes = serde_json::to_vec(&body).unwrap();
                for endpoint in ENDPOINTS {
                    let Ok(request) = ClientRequest::parse(&bytes, endpoint) else {
                        continue;
                    };
                    prop_assert_eq!(Some(&Value::String(request.model.clone())), body.get("model"));
                    prop_assert_eq!(request.input_estimate, i64::try_from(bytes.len().div_ceil(4)).unwrap());
                    for &upstream in upstreams(endpoint) {
                        let request = ClientRequest::parse(&bytes, endpoint).unwrap();
                        let stream = request.stream;
                        let sent = match request.for_upstream("upstream-m", endpoint.format(), upstream, cap, attachment_tokens) {
                            Ok(sent) => sent,
                            Err(err) => {
                                prop_assert!(err.kind.status().is_client_error(), "{err:?}");
                                prop_assert!(err.param.is_some(), "{err:?}");
                                continue;
                            }
                        };
                        let out: Map<String, Value> = serde_json::from_slice(&sent.body).unwrap();
                        if upstream == ApiFormat::Gemini {
                            // In the URL.
                            prop_assert!(out.get("model").is_none() && out.get("stream").is_none());
                        } else {
                            prop_assert_eq!(out.get("model"), Some(&Value::from("upstream-m")));
                            prop_assert_eq!(out.get("stream").and_then(Value::as_bool).unwrap_or(false), stream);
                        }
                        let caps = sent_cap(&out, upstream);
                        prop_assert!(!caps.is_empty());
                        prop_assert!(caps.iter().all(|sent| *sent == u64::try_from(cap).ok()), "{caps:?}");
                        prop_assert_eq!(sent.max_output_tokens, cap);
                        prop_assert!(sent.max_input_tokens >= 0);
                        if stream && upstream == ApiFormat::OpenAi {
                            let include_usage = out.get("stream_options").and_then(|options| options.get("include_usage"));
                            prop_assert_eq!(include_usage, Some(&Value::Bool(true)));
                        }
                    }
                }
            }
        }
    }
}
