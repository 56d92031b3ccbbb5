//! OpenAI's chat completions (`/v1/chat/completions`).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::WireFormat;
use crate::{
    gateway::{
        format::{
            ApiFormat, ProxyError,
            usage::{Count, Metering, Object, Output, Verdict, usage_of_answer, usage_of_value},
        },
        translate::wire,
    },
    platform::pricing::Tokens,
};

pub struct OpenAiChat;

/// The fields that cap output: OpenAI's current name first.
const CAPS: [&str; 2] = ["max_completion_tokens", "max_tokens"];

impl WireFormat for OpenAiChat {
    fn check(&self, body: &Map<String, Value>) -> Result<(), ProxyError> {
        let format = ApiFormat::OpenAi;
        require_messages(body, format)?;
        // Several choices would cost several outputs, which the hold does
        // not cover.
        for field in ["n", "best_of"] {
            match body.get(field) {
                None | Some(Value::Null) => {}
                Some(value) if value.as_u64() == Some(1) => {}
                Some(value) if value.as_u64().is_some_and(|n| n > 1) => {
                    return Err(ProxyError::invalid_field(
                        field,
                        format!("{field}: only one choice per request is supported"),
                        format,
                    ));
                }
                Some(_) => {
                    return Err(ProxyError::invalid_field(
                        field,
                        format!("{field}: must be a positive integer"),
                        format,
                    ));
                }
            }
        }
        Ok(())
    }

    fn cap_fields(&self) -> &'static [&'static str] {
        &CAPS
    }

    fn wants_usage(&self, body: &Map<String, Value>) -> bool {
        body.get("stream_options")
            .and_then(|options| options.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true)
    }

    /// OpenAI reports a stream's usage only when asked to.
    fn ask_stream_usage(&self, body: &mut Map<String, Value>) {
        match body.get_mut("stream_options") {
            Some(Value::Object(options)) => {
                options.insert("include_usage".to_owned(), Value::Bool(true));
            }
            _ => {
                body.insert(
                    "stream_options".to_owned(),
                    json!({ "include_usage": true }),
                );
            }
        }
    }

    fn usage_of_json(&self, body: &[u8]) -> Option<Tokens> {
        Some(tokens_of(&usage_of_answer(body)?))
    }

    fn usage_of_answer(&self, usage: &Value) -> Option<Tokens> {
        Some(tokens_of(&usage_of_value(usage)?))
    }

    fn observe(&self, state: &mut Metering, data: &[u8]) -> Verdict {
        if wire::is_done(data) {
            state.ended = true;
            return Verdict::Relay;
        }
        let Ok(chunk) = serde_json::from_slice::<OpenAiChunk>(data) else {
            return Verdict::Relay;
        };
        let delivers = |choice: &Choice| choice.delta.0.as_ref().is_some_and(Delta::delivers);
        if chunk.choices.iter().flatten().any(delivers) {
            state.content_events += 1;
        }
        let Some(usage) = chunk.usage.0 else {
            return Verdict::Relay;
        };
        apply_openai(&mut state.tokens, &usage);
        state.reported = true;
        state.finished = true;
        // The usage-only chunk, which we may have asked for ourselves.
        let usage_only = chunk.choices.is_some_and(|choices| choices.is_empty());
        if usage_only && !state.client_wants_usage {
            Verdict::Drop
        } else {
            Verdict::Relay
        }
    }

    fn error_body(&self, error: &ProxyError) -> Value {
        openai_error(error)
    }
}

/// `messages`, an array, is required (chat completions and messages alike).
pub(super) fn require_messages(
    body: &Map<String, Value>,
    format: ApiFormat,
) -> Result<(), ProxyError> {
    if body.get("messages").is_some_and(Value::is_array) {
        return Ok(());
    }
    Err(ProxyError::invalid_field(
        "messages",
        "messages: an array of messages is required",
        format,
    ))
}

/// OpenAI's `{"error": {"message", "type", "param", "code"}}` (the
/// Responses API's too).
pub(super) fn openai_error(error: &ProxyError) -> Value {
    let (kind, code) = error.kind.openai();
    let kind = error.upstream_type.as_deref().unwrap_or(kind);
    json!({ "error": {
        "message": error.message,
        "type": kind,
        "param": error.param,
        "code": code,
    } })
}

/// The usage in our terms.
pub(super) fn tokens_of(usage: &OpenAiUsage) -> Tokens {
    let mut tokens = Tokens::default();
    apply_openai(&mut tokens, usage);
    tokens
}

/// OpenAI's `usage`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct OpenAiUsage {
    pub(super) prompt_tokens: Count,
    pub(super) completion_tokens: Count,
    pub(super) prompt_tokens_details: Object<PromptDetails>,
    pub(super) completion_tokens_details: Object<CompletionDetails>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct PromptDetails {
    pub(super) cached_tokens: Count,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct CompletionDetails {
    pub(super) reasoning_tokens: Count,
}

/// OpenAI counts cached input inside `prompt_tokens`; we keep it apart.
pub(super) fn apply_openai(tokens: &mut Tokens, usage: &OpenAiUsage) {
    let prompt = usage.prompt_tokens.or_zero();
    let cached = (usage.prompt_tokens_details.0.as_ref())
        .map_or(0, |details| details.cached_tokens.or_zero());
    tokens.cache_read = cached;
    tokens.input = (prompt - cached).max(0);
    tokens.output = usage.completion_tokens.or_zero();
    tokens.reasoning = (usage.completion_tokens_details.0.as_ref())
        .map_or(0, |details| details.reasoning_tokens.or_zero());
}

/// The fields of an OpenAI chunk the meter reads.
#[derive(Deserialize)]
struct OpenAiChunk {
    /// Empty in the usage-only chunk.
    #[serde(default)]
    choices: Option<Vec<Choice>>,
    #[serde(default)]
    usage: Object<OpenAiUsage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Object<Delta>,
}

/// Whichever of a delta's fields carries output. The opening chunk
/// (`"role":"assistant","content":""`) and the closing one (`"delta":{}`)
/// carry none: counting them charged a stream cut short one or two output
/// tokens the client never got.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Delta {
    content: Output,
    reasoning_content: Output,
    reasoning: Output,
    refusal: Output,
    tool_calls: Output,
}

impl Delta {
    fn delivers(&self) -> bool {
        [
            &self.content,
            &self.reasoning_content,
            &self.reasoning,
            &self.refusal,
            &self.tool_calls,
        ]
        .into_iter()
        .any(|field| field.0)
    }
}
