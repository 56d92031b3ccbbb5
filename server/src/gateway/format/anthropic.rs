//! Anthropic's messages (`/v1/messages`).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{WireFormat, openai_chat::require_messages};
use crate::{
    gateway::format::{
        ApiFormat, ProxyError,
        usage::{Count, Metering, Object, Verdict, usage_of_answer, usage_of_value},
    },
    platform::pricing::Tokens,
};

pub struct Anthropic;

const CAPS: [&str; 1] = ["max_tokens"];

impl WireFormat for Anthropic {
    fn check(&self, body: &Map<String, Value>) -> Result<(), ProxyError> {
        require_messages(body, ApiFormat::Anthropic)
    }

    fn cap_fields(&self) -> &'static [&'static str] {
        &CAPS
    }

    fn cap_required(&self) -> bool {
        true
    }

    fn usage_of_json(&self, body: &[u8]) -> Option<Tokens> {
        let mut tokens = Tokens::default();
        apply_anthropic(&mut tokens, &usage_of_answer(body)?);
        Some(tokens)
    }

    fn usage_of_answer(&self, usage: &Value) -> Option<Tokens> {
        let mut tokens = Tokens::default();
        apply_anthropic(&mut tokens, &usage_of_value(usage)?);
        Some(tokens)
    }

    fn observe(&self, state: &mut Metering, data: &[u8]) -> Verdict {
        let Ok(event) = serde_json::from_slice::<AnthropicEvent>(data) else {
            return Verdict::Relay;
        };
        let usage = match event.kind.as_ref() {
            "message_start" => event.message.0.and_then(|message| message.usage.0),
            "message_delta" => event.usage.0,
            "content_block_delta" => {
                state.content_events += 1;
                None
            }
            "message_stop" => {
                state.ended = true;
                None
            }
            _ => None,
        };
        if let Some(usage) = usage {
            apply_anthropic(&mut state.tokens, &usage);
            state.reported = true;
            state.finished |= event.kind == "message_delta";
        }
        Verdict::Relay
    }

    /// `{"type": "error", "error": {"type", "message"}}`.
    fn error_body(&self, error: &ProxyError) -> Value {
        let kind = error
            .upstream_type
            .as_deref()
            .unwrap_or(error.kind.anthropic());
        json!({ "type": "error", "error": { "type": kind, "message": error.message } })
    }
}

/// Anthropic's `usage`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct AnthropicUsage {
    input_tokens: Count,
    output_tokens: Count,
    cache_read_input_tokens: Count,
    cache_creation_input_tokens: Count,
}

/// Anthropic's fields are disjoint. In a stream, `message_delta` repeats
/// them cumulatively, so whatever it carries replaces what came before.
fn apply_anthropic(tokens: &mut Tokens, usage: &AnthropicUsage) {
    let fields = [
        (usage.input_tokens, &mut tokens.input),
        (usage.output_tokens, &mut tokens.output),
        (usage.cache_read_input_tokens, &mut tokens.cache_read),
        (usage.cache_creation_input_tokens, &mut tokens.cache_write),
    ];
    for (count, slot) in fields {
        if let Some(n) = count.0 {
            *slot = n;
        }
    }
}

/// The fields of an Anthropic event the meter reads.
#[derive(Deserialize)]
struct AnthropicEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    /// `message_start`'s, which holds the input's usage.
    #[serde(default)]
    message: Object<MessageStart>,
    /// `message_delta`'s.
    #[serde(default)]
    usage: Object<AnthropicUsage>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct MessageStart {
    usage: Object<AnthropicUsage>,
}
