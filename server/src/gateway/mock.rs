//! A stand-in LLM provider that speaks OpenAI's and Anthropic's real wire
//! formats, JSON and SSE, with real usage numbers and deterministic answers.
//! It is both the built-in `mock` provider kind (answered in-process) and a
//! standalone HTTP server (`tollgate mock-upstream`) that tests and the
//! benchmark forward to, so requests really cross HTTP.
//!
//! The upstream model name chooses the behaviour when it contains:
//! `slow` (waits [`SLOW_DELAY`] before answering), `drip` (streams one event
//! every [`DRIP_INTERVAL`]), `error-500`, `429` (with `Retry-After`),
//! `stream-cut` (the stream breaks off half-way), `cache` (reports cache
//! tokens), `reasoning` (reports reasoning tokens), `long` (says as many
//! words as the output cap allows, [`LONG_UNCAPPED`] without one) and
//! `overreport` (reports ten times the output it said, as a provider that
//! ignores the cap would bill), `nousage` (JSON answers without usage, as
//! some OpenAI-compatible servers send them).
//!
//! Tools: a request that offers tools (and does not forbid them with a
//! `none` tool choice) gets a call of its first tool with
//! `{"query": <the last user text>}`; once the conversation ends with the
//! tool's result, the mock answers "The tool said: <result>". Anthropic's
//! `/v1/messages/count_tokens` counts words like the answers do. OpenAI's
//! Responses API is spoken too ([`responses`]), its embeddings
//! ([`embeddings`]: deterministic vectors), and Google's Gemini API
//! ([`gemini`]).

mod embeddings;
mod gemini;
mod responses;

use std::time::Duration;

use axum::{
    Json, Router,
    body::{Body, Bytes},
    http::{HeaderMap, HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use futures_util::{StreamExt, stream};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::gateway::format::ApiFormat;

pub const SLOW_DELAY: Duration = Duration::from_secs(3);
pub const DRIP_INTERVAL: Duration = Duration::from_millis(50);
/// Seconds the `429` model asks clients to wait.
pub const RETRY_AFTER_SECS: u32 = 7;
/// Tokens the `cache` models report as read from and written to the cache.
pub const CACHE_READ_TOKENS: u64 = 100;
pub const CACHE_WRITE_TOKENS: u64 = 50;
/// Reasoning tokens the `reasoning` models report (part of the output).
pub const REASONING_TOKENS: u64 = 8;
/// Words the `long` models say when the request names no output cap.
pub const LONG_UNCAPPED: usize = 20_000;

/// The standalone server's routes: OpenAI's with and without the `/v1`
/// prefix (base URLs differ in whether they include it) and Anthropic's.
pub fn router() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/v1/chat/completions", post(openai))
        .route("/chat/completions", post(openai))
        .route("/v1/responses", post(openai_responses))
        .route("/responses", post(openai_responses))
        .route("/v1/embeddings", post(openai_embeddings))
        .route("/embeddings", post(openai_embeddings))
        .route("/v1/messages", post(anthropic))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .route("/v1beta/models/{method}", post(google))
}

async fn count_tokens(headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = refuse_without_key(ApiFormat::Anthropic, &headers) {
        return refused;
    }
    let Ok(request) = serde_json::from_slice::<Map<String, Value>>(&body) else {
        return error(
            ApiFormat::Anthropic,
            StatusCode::BAD_REQUEST,
            "request body is not a JSON object",
        );
    };
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        return error(
            ApiFormat::Anthropic,
            StatusCode::BAD_REQUEST,
            "messages: field required",
        );
    };
    Json(json!({ "input_tokens": input_words(&request, messages).max(1) })).into_response()
}

fn input_words(request: &Map<String, Value>, messages: &[Value]) -> u64 {
    messages
        .iter()
        .map(|m| word_count(m.get("content")))
        .sum::<u64>()
        + word_count(request.get("system"))
}

async fn openai(headers: HeaderMap, body: Bytes) -> Response {
    answer_http(ApiFormat::OpenAi, &headers, &body).await
}

async fn openai_responses(headers: HeaderMap, body: Bytes) -> Response {
    answer_http(ApiFormat::Responses, &headers, &body).await
}

async fn openai_embeddings(headers: HeaderMap, body: Bytes) -> Response {
    answer_http(ApiFormat::Embeddings, &headers, &body).await
}

async fn google(uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = refuse_without_key(ApiFormat::Gemini, &headers) {
        return refused;
    }
    gemini::answer(uri.path(), &body).await
}

async fn anthropic(headers: HeaderMap, body: Bytes) -> Response {
    answer_http(ApiFormat::Anthropic, &headers, &body).await
}

/// Over HTTP the caller must present a provider key, as real providers
/// demand: a forwarding bug that drops it shows up as a 401.
async fn answer_http(format: ApiFormat, headers: &HeaderMap, body: &[u8]) -> Response {
    if let Some(refused) = refuse_without_key(format, headers) {
        return refused;
    }
    answer(format, "", body).await
}

/// 401 in the provider's shape when no provider key came with the request.
fn refuse_without_key(format: ApiFormat, headers: &HeaderMap) -> Option<Response> {
    let presented = match format {
        ApiFormat::OpenAi | ApiFormat::Responses | ApiFormat::Embeddings => headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|key| !key.trim().is_empty()),
        ApiFormat::Anthropic => headers.get("x-api-key").is_some_and(|v| !v.is_empty()),
        ApiFormat::Gemini => headers.get("x-goog-api-key").is_some_and(|v| !v.is_empty()),
    };
    (!presented).then(|| {
        error(
            format,
            StatusCode::UNAUTHORIZED,
            "no provider API key was sent",
        )
    })
}

/// A request body as a JSON object and its model, or why not (a 400).
fn read_request(body: &[u8]) -> Result<(Map<String, Value>, String), String> {
    let request: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|err| format!("request body is not a JSON object: {err}"))?;
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: field required")?
        .to_owned();
    Ok((request, model))
}

/// The answer to one request body, in `format`, sent to `path` (where
/// Gemini's API names the model and the method).
pub async fn answer(format: ApiFormat, path: &str, body: &[u8]) -> Response {
    match format {
        ApiFormat::Responses => return responses::answer(body).await,
        ApiFormat::Embeddings => return embeddings::answer(body).await,
        ApiFormat::Gemini => return gemini::answer(path, body).await,
        ApiFormat::OpenAi | ApiFormat::Anthropic => {}
    }
    let (request, model) = match read_request(body) {
        Ok(read) => read,
        Err(message) => return error(format, StatusCode::BAD_REQUEST, &message),
    };
    let model = model.as_str();
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        return error(format, StatusCode::BAD_REQUEST, "messages: field required");
    };
    if let Some(refused) = refuse_as_asked(format, model).await {
        return refused;
    }
    let reply = Reply::new(model, &request, messages, body);
    let streamed = request.get("stream").and_then(Value::as_bool) == Some(true);
    match (format, streamed) {
        (ApiFormat::Anthropic, false) => Json(reply.anthropic_json()).into_response(),
        (ApiFormat::Anthropic, true) => sse(model, reply.anthropic_events()),
        (_, false) => Json(reply.openai_json()).into_response(),
        (_, true) => {
            let include_usage = request
                .get("stream_options")
                .and_then(|o| o.get("include_usage"))
                .and_then(Value::as_bool)
                == Some(true);
            sse(model, reply.openai_events(include_usage))
        }
    }
}

/// What the model's name asks for before any answer: a pause (`slow`), or
/// an error instead (`error-500`, `429`).
async fn refuse_as_asked(format: ApiFormat, model: &str) -> Option<Response> {
    if model.contains("slow") {
        tokio::time::sleep(SLOW_DELAY).await;
    }
    if model.contains("error-500") {
        return Some(error(
            format,
            StatusCode::INTERNAL_SERVER_ERROR,
            "the mock upstream failed, as asked",
        ));
    }
    if model.contains("429") {
        let mut response = error(
            format,
            StatusCode::TOO_MANY_REQUESTS,
            "the mock upstream is rate limiting, as asked",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        return Some(response);
    }
    None
}

/// An error in the provider's own shape.
pub fn error(format: ApiFormat, status: StatusCode, message: &str) -> Response {
    let body = match format {
        ApiFormat::OpenAi | ApiFormat::Responses | ApiFormat::Embeddings => {
            let kind = if status.is_server_error() {
                "server_error"
            } else if status == StatusCode::TOO_MANY_REQUESTS {
                "rate_limit_error"
            } else {
                "invalid_request_error"
            };
            json!({ "error": { "message": message, "type": kind, "param": null, "code": null } })
        }
        ApiFormat::Anthropic => {
            let kind = match status.as_u16() {
                401 => "authentication_error",
                429 => "rate_limit_error",
                400..=499 => "invalid_request_error",
                _ => "api_error",
            };
            json!({ "type": "error", "error": { "type": kind, "message": message } })
        }
        ApiFormat::Gemini => {
            let kind = match status.as_u16() {
                400 => "INVALID_ARGUMENT",
                401 => "UNAUTHENTICATED",
                403 => "PERMISSION_DENIED",
                404 => "NOT_FOUND",
                429 => "RESOURCE_EXHAUSTED",
                503 => "UNAVAILABLE",
                _ => "INTERNAL",
            };
            json!({ "error": { "code": status.as_u16(), "message": message, "status": kind } })
        }
    };
    (status, Json(body)).into_response()
}

fn sse(model: &str, events: Vec<String>) -> Response {
    let drip = model.contains("drip");
    let cut_at = model.contains("stream-cut").then_some(events.len() / 2);
    let body =
        stream::iter(events.into_iter().enumerate()).then(move |(index, event)| async move {
            if drip && index > 0 {
                tokio::time::sleep(DRIP_INTERVAL).await;
            }
            if cut_at == Some(index) {
                return Err(std::io::Error::other(
                    "the mock upstream cut the stream, as asked",
                ));
            }
            Ok::<_, std::io::Error>(Bytes::from(event))
        });
    // Stop at the first error: it ends the body and aborts the connection.
    let body = body.scan(false, |failed, item| {
        let emit = (!*failed).then_some(item);
        if let Some(Err(_)) = &emit {
            *failed = true;
        }
        async move { emit }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// What the mock says and what it counts, decided once per request.
struct Reply {
    id: String,
    model: String,
    created: i64,
    words: Vec<String>,
    input_tokens: u64,
    cache_read: u64,
    cache_write: u64,
    reasoning: u64,
    /// Whether `max_tokens` cut the reply short.
    truncated: bool,
    /// Output reported per token said (10 for `overreport`).
    output_factor: u64,
    /// Whether JSON answers carry usage (not for `nousage`).
    reports_usage: bool,
    /// A call of the request's first tool, instead of words.
    tool_call: Option<ToolCall>,
}

struct ToolCall {
    name: String,
    arguments: Value,
}

impl ToolCall {
    /// The first tool offered, unless tools are turned off or the
    /// conversation already ends with a tool's result.
    fn for_request(
        request: &Map<String, Value>,
        messages: &[Value],
        last_user: &str,
    ) -> Option<Self> {
        let tool = request.get("tools")?.as_array()?.first()?;
        let name = tool
            .get("name")
            .or_else(|| tool.pointer("/function/name"))?
            .as_str()?
            .to_owned();
        let choice = request.get("tool_choice");
        let off = choice.and_then(Value::as_str) == Some("none")
            || choice.and_then(|c| c.get("type")).and_then(Value::as_str) == Some("none");
        (!off && tool_result(messages).is_none()).then(|| Self {
            name,
            arguments: json!({ "query": last_user.trim() }),
        })
    }

    fn tokens(&self) -> u64 {
        self.arguments.to_string().split_whitespace().count() as u64 + 1
    }
}

/// The text of the tool result the conversation ends with, if it does.
fn tool_result(messages: &[Value]) -> Option<String> {
    let last = messages.last()?;
    if last.get("role").and_then(Value::as_str) == Some("tool") {
        return Some(text_of(last.get("content")));
    }
    let blocks = last.get("content")?.as_array()?;
    let result = blocks
        .iter()
        .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))?;
    Some(text_of(result.get("content")))
}

impl Reply {
    fn new(model: &str, request: &Map<String, Value>, messages: &[Value], body: &[u8]) -> Self {
        let input_words = input_words(request, messages);
        let last_user = messages
            .iter()
            .rev()
            .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .map(|m| text_of(m.get("content")))
            .unwrap_or_default();
        let tool_call = ToolCall::for_request(request, messages, &last_user);
        let (opening, said) = match tool_result(messages) {
            Some(result) => ("The tool said:", result),
            None => ("Hello from the Tollgate mock. You said:", last_user),
        };
        let mut words: Vec<String> = opening.split(' ').map(str::to_owned).collect();
        words.extend(said.split_whitespace().take(24).map(str::to_owned));
        if tool_call.is_some() {
            words.clear();
        }
        let limit = ["max_tokens", "max_completion_tokens"]
            .iter()
            .find_map(|field| request.get(*field).and_then(Value::as_u64));
        if model.contains("long") {
            let cap = limit.map_or(LONG_UNCAPPED, |limit| {
                usize::try_from(limit)
                    .unwrap_or(usize::MAX)
                    .min(LONG_UNCAPPED)
            });
            words = vec!["lorem".to_owned(); cap];
        }
        let truncated = limit.is_some_and(|limit| (words.len() as u64) > limit);
        if let Some(limit) = limit {
            words.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        }
        let digest = Sha256::digest(body);
        let cached = model.contains("cache");
        Self {
            id: hex::encode(&digest[..12]),
            model: model.to_owned(),
            created: chrono::Utc::now().timestamp(),
            words,
            // Every request costs at least one input token, as upstreams count.
            input_tokens: input_words.max(1),
            cache_read: if cached { CACHE_READ_TOKENS } else { 0 },
            cache_write: if cached { CACHE_WRITE_TOKENS } else { 0 },
            reasoning: if model.contains("reasoning") {
                REASONING_TOKENS
            } else {
                0
            },
            truncated,
            output_factor: if model.contains("overreport") { 10 } else { 1 },
            reports_usage: !model.contains("nousage"),
            tool_call,
        }
    }

    fn text(&self) -> String {
        self.words.join(" ")
    }

    /// Output tokens: the words said (or the tool call), plus the
    /// reasoning behind them.
    fn output_tokens(&self) -> u64 {
        let call = self.tool_call.as_ref().map_or(0, ToolCall::tokens);
        (self.words.len() as u64 + call + self.reasoning) * self.output_factor
    }

    fn openai_tool_call(&self, call: &ToolCall) -> Value {
        json!({
            "id": format!("call_mock{}", self.id),
            "type": "function",
            "function": { "name": call.name, "arguments": call.arguments.to_string() },
        })
    }

    fn anthropic_tool_use(&self, call: &ToolCall, input: Value) -> Value {
        json!({ "type": "tool_use", "id": format!("toolu_mock{}", self.id), "name": call.name, "input": input })
    }

    /// Pieces streamed one per event: each word with its leading space.
    fn pieces(&self) -> impl Iterator<Item = String> + '_ {
        self.words.iter().enumerate().map(|(index, word)| {
            if index == 0 {
                word.clone()
            } else {
                format!(" {word}")
            }
        })
    }

    /// OpenAI counts cached tokens inside `prompt_tokens`.
    fn openai_usage(&self) -> Value {
        let prompt = self.input_tokens + self.cache_read;
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": self.output_tokens(),
            "total_tokens": prompt + self.output_tokens(),
            "prompt_tokens_details": { "cached_tokens": self.cache_read, "audio_tokens": 0 },
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        })
    }

    fn openai_finish(&self) -> &'static str {
        if self.tool_call.is_some() {
            "tool_calls"
        } else if self.truncated {
            "length"
        } else {
            "stop"
        }
    }

    fn openai_json(&self) -> Value {
        self.without_usage_unless_reported(json!({
            "id": format!("chatcmpl-mock{}", self.id),
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": match &self.tool_call {
                    Some(call) => json!({ "role": "assistant", "content": null, "refusal": null, "tool_calls": [self.openai_tool_call(call)] }),
                    None => json!({ "role": "assistant", "content": self.text(), "refusal": null }),
                },
                "logprobs": null,
                "finish_reason": self.openai_finish(),
            }],
            "usage": self.openai_usage(),
            "system_fingerprint": "fp_tollgate_mock",
        }))
    }

    fn without_usage_unless_reported(&self, mut answer: Value) -> Value {
        if !self.reports_usage
            && let Some(fields) = answer.as_object_mut()
        {
            fields.remove("usage");
        }
        answer
    }

    fn openai_events(&self, include_usage: bool) -> Vec<String> {
        let chunk = |delta: Value, finish: Option<&str>| {
            let mut chunk = json!({
                "id": format!("chatcmpl-mock{}", self.id),
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": "fp_tollgate_mock",
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
            });
            if include_usage {
                chunk["usage"] = Value::Null;
            }
            format!("data: {chunk}\n\n")
        };
        let mut events = vec![chunk(
            json!({ "role": "assistant", "content": "", "refusal": null }),
            None,
        )];
        events.extend(
            self.pieces()
                .map(|piece| chunk(json!({ "content": piece }), None)),
        );
        if let Some(call) = &self.tool_call {
            // The call's head first, then its arguments in two pieces.
            let mut head = self.openai_tool_call(call);
            head["index"] = json!(0);
            head["function"]["arguments"] = json!("");
            events.push(chunk(json!({ "tool_calls": [head] }), None));
            let arguments = call.arguments.to_string();
            let (first, second) = arguments.split_at(arguments.len() / 2);
            for piece in [first, second] {
                events.push(chunk(
                    json!({ "tool_calls": [{ "index": 0, "function": { "arguments": piece } }] }),
                    None,
                ));
            }
        }
        events.push(chunk(json!({}), Some(self.openai_finish())));
        if include_usage {
            let usage = json!({
                "id": format!("chatcmpl-mock{}", self.id),
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "system_fingerprint": "fp_tollgate_mock",
                "choices": [],
                "usage": self.openai_usage(),
            });
            events.push(format!("data: {usage}\n\n"));
        }
        events.push("data: [DONE]\n\n".to_owned());
        events
    }

    fn anthropic_stop(&self) -> &'static str {
        if self.tool_call.is_some() {
            "tool_use"
        } else if self.truncated {
            "max_tokens"
        } else {
            "end_turn"
        }
    }

    fn anthropic_usage(&self, output_tokens: u64) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_write,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": output_tokens,
        })
    }

    fn anthropic_json(&self) -> Value {
        self.without_usage_unless_reported(json!({
            "id": format!("msg_mock{}", self.id),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": match &self.tool_call {
                Some(call) => json!([self.anthropic_tool_use(call, call.arguments.clone())]),
                None => json!([{ "type": "text", "text": self.text() }]),
            },
            "stop_reason": self.anthropic_stop(),
            "stop_sequence": null,
            "usage": self.anthropic_usage(self.output_tokens()),
        }))
    }

    fn anthropic_events(&self) -> Vec<String> {
        let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
        let mut events = vec![event(
            "message_start",
            json!({ "type": "message_start", "message": {
                    "id": format!("msg_mock{}", self.id),
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": self.anthropic_usage(1),
                } }),
        )];
        let block = match &self.tool_call {
            Some(call) => self.anthropic_tool_use(call, json!({})),
            None => json!({ "type": "text", "text": "" }),
        };
        events.push(event(
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0, "content_block": block }),
        ));
        events.push(event("ping", json!({ "type": "ping" })));
        events.extend(self.pieces().map(|piece| {
            event(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": piece } }),
            )
        }));
        if let Some(call) = &self.tool_call {
            let arguments = call.arguments.to_string();
            let (first, second) = arguments.split_at(arguments.len() / 2);
            for piece in [first, second] {
                events.push(event(
                    "content_block_delta",
                    json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "input_json_delta", "partial_json": piece } }),
                ));
            }
        }
        events.push(event(
            "content_block_stop",
            json!({ "type": "content_block_stop", "index": 0 }),
        ));
        events.push(event(
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": { "stop_reason": self.anthropic_stop(), "stop_sequence": null },
                "usage": { "output_tokens": self.output_tokens() },
            }),
        ));
        events.push(event("message_stop", json!({ "type": "message_stop" })));
        events
    }
}

/// The text of a message's `content`: a string, or an array of parts of
/// which the `text` ones count.
fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The mock's tokenizer: one token per whitespace-separated word.
fn word_count(content: Option<&Value>) -> u64 {
    text_of(content).split_whitespace().count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn openai_json_counts_words_as_tokens() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"one two three"}]}"#;
        let response = answer(ApiFormat::OpenAi, "", body).await;
        assert_eq!(response.status(), StatusCode::OK);
        let value: Value = serde_json::from_str(&body_of(response).await).unwrap();
        assert_eq!(value["usage"]["prompt_tokens"], 3);
        let text = value["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(text.ends_with("one two three"), "{text}");
        assert_eq!(
            value["usage"]["completion_tokens"],
            text.split_whitespace().count()
        );
    }

    #[tokio::test]
    async fn the_same_request_gets_the_same_answer() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":20}"#;
        let first = body_of(answer(ApiFormat::Anthropic, "", body).await).await;
        let second = body_of(answer(ApiFormat::Anthropic, "", body).await).await;
        assert_eq!(first, second);
    }

    #[tokio::test]
    async fn max_tokens_truncates_and_says_so() {
        let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":2}"#;
        let value: Value =
            serde_json::from_str(&body_of(answer(ApiFormat::Anthropic, "", body).await).await)
                .unwrap();
        assert_eq!(value["stop_reason"], "max_tokens");
        assert_eq!(value["usage"]["output_tokens"], 2);
        assert_eq!(value["content"][0]["text"], "Hello from");
    }

    #[tokio::test]
    async fn openai_stream_ends_with_usage_then_done_when_asked() {
        let body = br#"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b"}]}"#;
        let text = body_of(answer(ApiFormat::OpenAi, "", body).await).await;
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(*events.last().unwrap(), "data: [DONE]");
        let usage: Value =
            serde_json::from_str(events[events.len() - 2].strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["prompt_tokens"], 2);
    }

    #[tokio::test]
    async fn error_models_answer_in_the_providers_shape() {
        let body = br#"{"model":"mock-429","messages":[]}"#;
        let response = answer(ApiFormat::Anthropic, "", body).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        let value: Value = serde_json::from_str(&body_of(response).await).unwrap();
        assert_eq!(value["error"]["type"], "rate_limit_error");
    }
}
