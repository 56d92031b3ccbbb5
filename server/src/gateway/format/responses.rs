//! OpenAI's Responses API (`/v1/responses`), which Codex speaks.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::{
    WireFormat,
    openai_chat::{CompletionDetails, OpenAiUsage, PromptDetails, apply_openai, openai_error},
};
use crate::{
    gateway::format::{
        ApiFormat, ProxyError,
        usage::{Count, Metering, Object, Verdict, usage_of_answer, usage_of_value},
    },
    platform::pricing::Tokens,
};

pub struct Responses;

const CAPS: [&str; 1] = ["max_output_tokens"];

/// Fields refused whatever the provider, and why: each would make the
/// provider use (and bill) more than the request shows, so its hold would
/// not be a ceiling.
const REFUSED: [(&str, &str); 3] = [
    (
        "previous_response_id",
        "Tollgate does not keep responses: send the whole conversation in `input` (and `store: false`)",
    ),
    (
        "conversation",
        "Tollgate does not keep conversations: send the whole conversation in `input`",
    ),
    (
        "background",
        "background responses are not supported: stream the response instead",
    ),
];

impl WireFormat for Responses {
    fn check(&self, body: &Map<String, Value>) -> Result<(), ProxyError> {
        let format = ApiFormat::Responses;
        if !body
            .get("input")
            .is_some_and(|input| input.is_string() || input.is_array())
        {
            return Err(ProxyError::invalid_field(
                "input",
                "input: a string or an array of input items is required",
                format,
            ));
        }
        for (field, why) in REFUSED {
            let refused = match body.get(field) {
                None | Some(Value::Null | Value::Bool(false)) => false,
                Some(_) => true,
            };
            if refused {
                return Err(ProxyError::invalid_field(
                    field,
                    format!("{field}: {why}"),
                    format,
                ));
            }
        }
        Ok(())
    }

    fn cap_fields(&self) -> &'static [&'static str] {
        &CAPS
    }

    fn usage_of_json(&self, body: &[u8]) -> Option<Tokens> {
        let mut tokens = Tokens::default();
        apply_responses(&mut tokens, &usage_of_answer(body)?);
        Some(tokens)
    }

    fn usage_of_answer(&self, usage: &Value) -> Option<Tokens> {
        let mut tokens = Tokens::default();
        apply_responses(&mut tokens, &usage_of_value(usage)?);
        Some(tokens)
    }

    /// Output arrives in `….delta` events (text, reasoning, a function's
    /// arguments, a custom tool's input); the usage, once, in the event
    /// that ends the response.
    fn observe(&self, state: &mut Metering, data: &[u8]) -> Verdict {
        let Ok(event) = serde_json::from_slice::<ResponsesEvent>(data) else {
            return Verdict::Relay;
        };
        let kind = event.kind.as_ref();
        if kind.ends_with(".delta") {
            state.content_events += 1;
            return Verdict::Relay;
        }
        let last = matches!(
            kind,
            "response.completed" | "response.incomplete" | "response.failed"
        );
        if last || kind == "error" {
            state.ended = true;
        }
        if !last {
            return Verdict::Relay;
        }
        if let Some(usage) = event.response.0.and_then(|response| response.usage.0) {
            apply_responses(&mut state.tokens, &usage);
            state.reported = true;
            state.finished = true;
        }
        Verdict::Relay
    }

    fn error_body(&self, error: &ProxyError) -> Value {
        openai_error(error)
    }
}

/// The Responses API's `usage`: input counts cached input, output counts
/// reasoning, as chat completions do.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ResponsesUsage {
    input_tokens: Count,
    output_tokens: Count,
    input_tokens_details: Object<PromptDetails>,
    output_tokens_details: Object<CompletionDetails>,
}

/// As OpenAI's chat completions, under other names.
fn apply_responses(tokens: &mut Tokens, usage: &ResponsesUsage) {
    apply_openai(
        tokens,
        &OpenAiUsage {
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
            prompt_tokens_details: Object(usage.input_tokens_details.0.as_ref().map(|details| {
                PromptDetails {
                    cached_tokens: details.cached_tokens,
                }
            })),
            completion_tokens_details: Object(usage.output_tokens_details.0.as_ref().map(
                |details| CompletionDetails {
                    reasoning_tokens: details.reasoning_tokens,
                },
            )),
        },
    );
}

/// The fields of a Responses API event the meter reads.
#[derive(Deserialize)]
struct ResponsesEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    /// The response so far, on `response.*` events; its usage on the last.
    #[serde(default)]
    response: Object<ResponseSoFar>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct ResponseSoFar {
    usage: Object<ResponsesUsage>,
}
