//! Google's Gemini API (`models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`), which Gemini CLI and the `google-genai`
//! SDKs speak. The model and whether to stream are in the URL: Tollgate's
//! endpoint writes them into the body as `model` and `stream`, as the other
//! formats carry them, and they are taken out again before a Gemini
//! provider is called.

use serde::{Deserialize, de::IgnoredAny};
use serde_json::{Map, Value, json};

use super::WireFormat;
use crate::{
    gateway::{
        format::{
            ApiFormat, ProxyError,
            error::ErrorKind,
            usage::{Count, Metering, Verdict, usage_of_value},
        },
        translate::wire::{First, List, Object},
    },
    platform::pricing::Tokens,
};

pub struct Gemini;

const CAPS: [&str; 1] = ["generationConfig.maxOutputTokens"];

/// Fields refused whatever the provider, and why: each would make the
/// provider use (and bill) more than the request shows.
const REFUSED: [(&str, &str); 1] = [(
    "cachedContent",
    "Tollgate does not keep cached contents: send the whole conversation in `contents`",
)];

impl WireFormat for Gemini {
    fn check(&self, body: &Map<String, Value>) -> Result<(), ProxyError> {
        let format = ApiFormat::Gemini;
        if !body.get("contents").is_some_and(Value::is_array) {
            return Err(ProxyError::invalid_field(
                "contents",
                "contents: an array of contents is required",
                format,
            ));
        }
        // Google reads both spellings: the checks and the cap read one.
        let config = body.get("generationConfig").and_then(Value::as_object);
        let keys = body.keys().map(|key| (key.as_str(), key.as_str())).chain(
            config
                .into_iter()
                .flat_map(|config| config.keys())
                .map(|key| ("generationConfig.", key.as_str())),
        );
        for (prefix, key) in keys {
            if key.contains('_') {
                let prefix = if prefix == key { "" } else { prefix };
                return Err(ProxyError::invalid_field(
                    &format!("{prefix}{key}"),
                    format!(
                        "{prefix}{key}: write Gemini's fields in camelCase, as its API documents them"
                    ),
                    format,
                ));
            }
        }
        check_contents(body)?;
        check_tools(body)?;
        for (field, why) in REFUSED {
            if body.get(field).is_some_and(|value| !value.is_null()) {
                return Err(ProxyError::invalid_field(
                    field,
                    format!("{field}: {why}"),
                    format,
                ));
            }
        }
        // Several candidates would cost several outputs, which the hold
        // does not cover.
        let field = "generationConfig.candidateCount";
        match body
            .get("generationConfig")
            .and_then(|c| c.get("candidateCount"))
        {
            None | Some(Value::Null) => {}
            Some(count) if count.as_u64() == Some(1) => {}
            Some(_) => {
                return Err(ProxyError::invalid_field(
                    field,
                    format!("{field}: only one candidate per request is supported"),
                    format,
                ));
            }
        }
        Ok(())
    }

    fn cap_fields(&self) -> &'static [&'static str] {
        &CAPS
    }

    fn model_in_body(&self) -> bool {
        false
    }

    fn usage_field(&self) -> &'static str {
        "usageMetadata"
    }

    fn usage_of_json(&self, body: &[u8]) -> Option<Tokens> {
        let answer: Object<Answer> = serde_json::from_slice(body).ok()?;
        Some(tokens_of(&answer.0?.usage_metadata.0?))
    }

    fn usage_of_answer(&self, usage: &Value) -> Option<Tokens> {
        Some(tokens_of(&usage_of_value(usage)?))
    }

    /// Every chunk carries the usage so far; the last, with its
    /// `finishReason`, the final counts. There is no end-of-stream event.
    fn observe(&self, state: &mut Metering, data: &[u8]) -> Verdict {
        let Ok(Object(Some(chunk))) = serde_json::from_slice::<Object<Answer>>(data) else {
            return Verdict::Relay;
        };
        let Some(candidate) = chunk.candidates.0 else {
            if let Some(usage) = chunk.usage_metadata.0 {
                state.tokens = tokens_of(&usage);
                state.reported = true;
            }
            return Verdict::Relay;
        };
        let delivers = candidate
            .content
            .0
            .is_some_and(|content| !content.parts.0.is_empty());
        if delivers {
            state.content_events += 1;
        }
        if let Some(usage) = chunk.usage_metadata.0 {
            state.tokens = tokens_of(&usage);
            state.reported = true;
        }
        if candidate.finish_reason.is_some() {
            state.ended = true;
            state.finished = state.reported;
        }
        Verdict::Relay
    }

    fn error_body(&self, error: &ProxyError) -> Value {
        google_error(error)
    }
}

/// Files by reference are refused: Google would read (and bill) input
/// Tollgate never saw, so no hold could bound it.
fn check_contents(body: &Map<String, Value>) -> Result<(), ProxyError> {
    let contents = body.get("contents").and_then(Value::as_array);
    for (i, content) in contents.into_iter().flatten().enumerate() {
        let parts = content.get("parts").and_then(Value::as_array);
        for (j, part) in parts.into_iter().flatten().enumerate() {
            if let Some(key) = ["fileData", "file_data"]
                .into_iter()
                .find(|key| part.get(*key).is_some())
            {
                let field = format!("contents[{i}].parts[{j}].{key}");
                return Err(ProxyError::invalid_field(
                    &field,
                    format!(
                        "{field}: files by reference are not supported: send the data inline (`inlineData`)"
                    ),
                    ApiFormat::Gemini,
                ));
            }
        }
    }
    Ok(())
}

/// Only functions: Google's own tools (search, maps, URL context, code
/// execution, file search) bring in input or fees Tollgate cannot meter.
fn check_tools(body: &Map<String, Value>) -> Result<(), ProxyError> {
    let tools = body.get("tools").and_then(Value::as_array);
    for (i, tool) in tools.into_iter().flatten().enumerate() {
        let Some(tool) = tool.as_object() else {
            continue;
        };
        if let Some(key) = tool.keys().find(|key| *key != "functionDeclarations") {
            let field = format!("tools[{i}].{key}");
            return Err(ProxyError::invalid_field(
                &field,
                format!("{field}: only `functionDeclarations` tools are supported"),
                ApiFormat::Gemini,
            ));
        }
    }
    Ok(())
}

/// Google's `{"error": {"code", "message", "status"}}`, with the field at
/// fault as a `BadRequest` detail, as Google's own APIs name it.
fn google_error(error: &ProxyError) -> Value {
    let code = error.status_code().as_u16();
    let status = error
        .upstream_type
        .as_deref()
        .unwrap_or(status_of(error.kind));
    let mut body = json!({ "code": code, "message": error.message, "status": status });
    if let (Some(field), ErrorKind::InvalidRequest) = (&error.param, error.kind) {
        body["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{ "field": field, "description": error.message }],
        }]);
    }
    json!({ "error": body })
}

/// Google's canonical status for an error of this kind.
fn status_of(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidRequest | ErrorKind::PayloadTooLarge => "INVALID_ARGUMENT",
        ErrorKind::InvalidApiKey => "UNAUTHENTICATED",
        ErrorKind::InsufficientQuota | ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
        ErrorKind::PermissionDenied => "PERMISSION_DENIED",
        ErrorKind::ModelNotFound => "NOT_FOUND",
        ErrorKind::UpstreamTimeout => "DEADLINE_EXCEEDED",
        ErrorKind::UpstreamUnreachable | ErrorKind::Unavailable => "UNAVAILABLE",
        ErrorKind::Internal => "INTERNAL",
        ErrorKind::Upstream(status) => match status.as_u16() {
            400 | 413 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            504 => "DEADLINE_EXCEEDED",
            _ => "INTERNAL",
        },
    }
}

/// Gemini's `usageMetadata`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct GeminiUsage {
    /// The whole prompt, cached part included.
    prompt_token_count: Count,
    cached_content_token_count: Count,
    /// Prompts of the tools it ran itself (search, code): input too.
    tool_use_prompt_token_count: Count,
    /// The answer, without the thinking behind it.
    candidates_token_count: Count,
    thoughts_token_count: Count,
}

/// In our terms: input without the cached part; thinking billed as
/// output (and reported as reasoning).
fn tokens_of(usage: &GeminiUsage) -> Tokens {
    let prompt = usage
        .prompt_token_count
        .or_zero()
        .saturating_add(usage.tool_use_prompt_token_count.or_zero());
    let cached = usage.cached_content_token_count.or_zero();
    let thoughts = usage.thoughts_token_count.or_zero();
    Tokens {
        input: prompt.saturating_sub(cached).max(0),
        output: usage
            .candidates_token_count
            .or_zero()
            .saturating_add(thoughts),
        cache_read: cached,
        cache_write: 0,
        reasoning: thoughts,
    }
}

/// The fields of an answer or stream chunk the meter reads.
#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Answer {
    /// One is asked for (`check`).
    candidates: First<Candidate>,
    usage_metadata: Object<GeminiUsage>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Candidate {
    content: Object<Content>,
    finish_reason: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Content {
    parts: List<IgnoredAny>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::metering::reader::{StreamMeter, from_json};

    #[test]
    fn usage_keeps_cached_input_apart_and_bills_thinking_as_output() {
        let body = br#"{"candidates":[],"usageMetadata":{"promptTokenCount":120,
            "cachedContentTokenCount":100,"candidatesTokenCount":30,"thoughtsTokenCount":12,
            "toolUsePromptTokenCount":5,"totalTokenCount":167}}"#;
        let tokens = from_json(ApiFormat::Gemini, body).unwrap();
        assert_eq!(
            tokens,
            Tokens {
                input: 25,
                output: 42,
                cache_read: 100,
                cache_write: 0,
                reasoning: 12,
            }
        );
        assert_eq!(from_json(ApiFormat::Gemini, b"[1]"), None);
        assert_eq!(from_json(ApiFormat::Gemini, br#"{"candidates":[]}"#), None);
    }

    #[test]
    fn a_stream_is_metered_by_its_last_usage_and_ends_with_a_finish_reason() {
        let mut meter = StreamMeter::new(ApiFormat::Gemini, false);
        let chunk = |text: &str, finish: Option<&str>, output: i64| {
            let mut candidate =
                json!({ "content": { "role": "model", "parts": [{ "text": text }] }, "index": 0 });
            if let Some(finish) = finish {
                candidate["finishReason"] = json!(finish);
            }
            let chunk = json!({ "candidates": [candidate],
                "usageMetadata": { "promptTokenCount": 9, "candidatesTokenCount": output } });
            format!("data: {chunk}")
        };
        assert_eq!(
            meter.observe(chunk("Hello", None, 1).as_bytes()),
            Verdict::Relay
        );
        assert!(!meter.ended());
        // Cut here: the output so far is what was reported or relayed.
        assert_eq!(meter.tokens(1_000).output, 1);
        meter.observe(chunk(" there", Some("STOP"), 2).as_bytes());
        assert!(meter.ended());
        let tokens = meter.tokens(1_000);
        assert_eq!((tokens.input, tokens.output), (9, 2));
    }

    #[test]
    fn errors_have_googles_shape_and_name_the_field() {
        let err = ProxyError::invalid_field("contents", "contents: required", ApiFormat::Gemini);
        let body = google_error(&err);
        assert_eq!(body["error"]["code"], 400);
        assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
        assert_eq!(body["error"]["message"], "contents: required");
        assert_eq!(
            body["error"]["details"][0]["fieldViolations"][0]["field"],
            "contents"
        );
        let err = ProxyError::new(ErrorKind::InvalidApiKey, "no key", ApiFormat::Gemini);
        assert_eq!(google_error(&err)["error"]["status"], "UNAUTHENTICATED");
        assert!(google_error(&err)["error"].get("details").is_none());
    }
}
