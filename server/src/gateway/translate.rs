//! Translation between the wire formats, so that any endpoint can call a
//! model of any kind of provider. Chat completions are the hub: each format
//! has its step to chat and from chat (Anthropic's in [`request`],
//! [`response`] and [`stream`], the Responses API's in [`responses`],
//! Gemini's in [`gemini`]), and [`request_between`], [`answer_between`] and
//! [`stream::StreamTranslator::between`] are the routing table that chains
//! them. Pure functions over the JSON bodies: requests one way, answers the
//! other, each with golden tests.
//!
//! What one side cannot express is either dropped on purpose (listed in
//! `docs/translation.md`) or refused with a 400 naming the field; a request
//! is never silently turned into a different one.

mod chunk;
pub mod gemini;
pub mod request;
pub mod response;
pub mod responses;
pub mod stream;
pub(crate) mod wire;

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::gateway::format::ApiFormat;

/// A request field the other side cannot express.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexpressible {
    /// The field at fault, as a path (`messages[2].content[0].type`).
    pub param: String,
    pub message: String,
}

impl Unexpressible {
    fn new(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            param: param.into(),
            message: message.into(),
        }
    }
}

type Result<T> = std::result::Result<T, Unexpressible>;

/// A chat request (`client` speaks chat, Anthropic, Responses or Gemini)
/// as `upstream` takes it (chat, Anthropic or Gemini), through chat; with a
/// Responses client's custom tools, whose calls go back to it as such.
/// `cap` is the output cap a translation must name when the client did not.
pub fn request_between(
    body: Map<String, Value>,
    (client, upstream): (ApiFormat, ApiFormat),
    cap: u64,
) -> Result<(Map<String, Value>, Vec<String>)> {
    if client == upstream {
        return Ok((body, Vec::new()));
    }
    let (chat, custom_tools) = match client {
        ApiFormat::Anthropic => (request::anthropic_to_openai(body)?, Vec::new()),
        ApiFormat::Responses => responses::request_to_chat(body)?,
        ApiFormat::Gemini => (gemini::request_to_chat(body)?, Vec::new()),
        ApiFormat::OpenAi | ApiFormat::Embeddings => (body, Vec::new()),
    };
    let sent = match upstream {
        ApiFormat::Anthropic => request::openai_to_anthropic(chat, cap)?,
        ApiFormat::Gemini => gemini::request_from_chat(chat)?,
        // No adapter sends a conversation as a response or as embeddings
        // (the proxy refuses those pairs first).
        ApiFormat::OpenAi | ApiFormat::Responses | ApiFormat::Embeddings => chat,
    };
    Ok((sent, custom_tools))
}

/// A provider's JSON answer (in `upstream`'s format) as a `client` reads
/// it, through chat; `None` when it is not an answer.
pub fn answer_between(
    answer: &Value,
    (upstream, client): (ApiFormat, ApiFormat),
    (model, created): (&str, i64),
    custom_tools: &[String],
) -> Option<Value> {
    let chat = match upstream {
        ApiFormat::OpenAi => Cow::Borrowed(answer),
        ApiFormat::Anthropic => Cow::Owned(response::anthropic_to_openai(answer, model, created)?),
        ApiFormat::Gemini => Cow::Owned(gemini::answer_to_chat(answer, model, created)?),
        ApiFormat::Responses | ApiFormat::Embeddings => return None,
    };
    match client {
        ApiFormat::OpenAi => Some(chat.into_owned()),
        ApiFormat::Anthropic => response::openai_to_anthropic(&chat, model),
        ApiFormat::Responses => responses::answer_from_chat(&chat, model, created, custom_tools),
        ApiFormat::Gemini => gemini::answer_from_chat(&chat, model),
        ApiFormat::Embeddings => None,
    }
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A text content given as a string or as blocks of `{"type":"text"}`:
/// the text, blocks joined by blank lines.
fn plain_text(content: &Value, param: &str) -> Result<String> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(blocks) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, block) in blocks.iter().enumerate() {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => parts.push(
                        block
                            .get("text")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                    ),
                    other => {
                        return Err(Unexpressible::new(
                            format!("{param}[{i}].type"),
                            format!(
                                "{param}[{i}]: only text can go here on the other API, not `{}`",
                                other.unwrap_or("?")
                            ),
                        ));
                    }
                }
            }
            Ok(parts.join("\n\n"))
        }
        _ => Err(Unexpressible::new(param, format!("{param}: must be text"))),
    }
}

#[cfg(test)]
mod tests {
    /// Properties of the request and answer translators (they replace the
    /// seeded random trees tried here before).
    mod properties {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::*;
        use crate::{
            gateway::{format::ApiFormat, metering::reader},
            platform::arbitrary,
        };

        /// Usage in the terms both APIs share (reasoning is OpenAI's alone).
        fn shared(tokens: crate::platform::pricing::Tokens) -> (i64, i64, i64, i64) {
            (
                tokens.input,
                tokens.output,
                tokens.cache_read,
                tokens.cache_write,
            )
        }

        /// A chat completion and a message with the same usage counts,
        /// drawn from `count`.
        fn answer_with_usage(
            count: impl Strategy<Value = i64> + Clone,
        ) -> impl Strategy<Value = (Value, Value)> {
            (
                count.clone(),
                count.clone(),
                count.clone(),
                count,
                any::<String>(),
            )
                .prop_map(|(a, b, c, d, text)| {
                    let completion = json!({
                        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                        "choices": [{ "index": 0, "finish_reason": "stop",
                            "message": { "role": "assistant", "content": text } }],
                        "usage": { "prompt_tokens": a, "completion_tokens": b,
                            "prompt_tokens_details": { "cached_tokens": c } },
                    });
                    let message = json!({
                        "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                        "content": [{ "type": "text", "text": text }],
                        "stop_reason": "end_turn", "stop_sequence": null,
                        "usage": { "input_tokens": a, "output_tokens": b,
                            "cache_read_input_tokens": c, "cache_creation_input_tokens": d },
                    });
                    (completion, message)
                })
        }

        proptest! {
            #![proptest_config(arbitrary::config(256))]

            /// No request or answer, whatever its values (numbers at their
            /// limits included), panics a translator.
            #[test]
            fn prop_no_body_panics_the_request_and_answer_translators(
                value in prop_oneof![
                    arbitrary::json(),
                    arbitrary::request_body().prop_map(Value::Object),
                    answer_with_usage(any::<i64>()).prop_map(|(completion, _)| completion),
                    answer_with_usage(any::<i64>()).prop_map(|(_, message)| message),
                ],
                default_cap in any::<u64>(),
            ) {
                let body = object(value.clone());
                let _ = request::anthropic_to_openai(body.clone());
                let _ = request::openai_to_anthropic(body.clone(), default_cap);
                let _ = responses::request_to_chat(body);
                let _ = responses::answer_from_chat(&value, "m", 0, &["lookup".to_owned()]);
                let _ = response::openai_to_anthropic(&value, "m");
                let _ = response::anthropic_to_openai(&value, "m", 0);
                let _ = response::usage_to_anthropic(&value);
                let _ = response::usage_to_openai(&value);
                if let Some(usage) = value.get("usage") {
                    let _ = response::usage_to_anthropic(usage);
                    let _ = response::usage_to_openai(usage);
                }
            }

            /// A translated request names the same model, streams as asked
            /// and keeps the client's output cap (Anthropic's required one
            /// from the default when the OpenAI client named none).
            #[test]
            fn prop_a_translated_request_keeps_its_model_cap_and_stream(
                body in arbitrary::request_body(),
                default_cap in 1_u64..1_000_000,
            ) {
                if let Ok(out) = request::anthropic_to_openai(body.clone()) {
                    prop_assert_eq!(out.get("model"), body.get("model"));
                    prop_assert_eq!(out.get("max_tokens"), body.get("max_tokens"));
                    prop_assert_eq!(out.get("stream"), body.get("stream"));
                }
                if let Ok(out) = request::openai_to_anthropic(body.clone(), default_cap) {
                    prop_assert_eq!(out.get("model"), body.get("model"));
                    prop_assert_eq!(out.get("stream"), body.get("stream"));
                    let named = ["max_completion_tokens", "max_tokens"]
                        .iter()
                        .find_map(|field| body.get(*field).filter(|cap| !cap.is_null()));
                    let expected = named.cloned().unwrap_or(json!(default_cap));
                    prop_assert_eq!(out.get("max_tokens"), Some(&expected));
                }
            }

            /// A translated answer reports the usage the provider's did, as
            /// the meter reads each (counts below the meter's bound of 2^40
            /// once added up).
            #[test]
            fn prop_a_translated_answer_reports_the_same_usage(
                (completion, message) in answer_with_usage(0_i64..1 << 38),
            ) {
                let to_anthropic = response::openai_to_anthropic(&completion, "m").unwrap();
                prop_assert_eq!(
                    reader::from_answer(ApiFormat::Anthropic, &to_anthropic).map(shared),
                    reader::from_answer(ApiFormat::OpenAi, &completion).map(shared),
                );
                let to_openai = response::anthropic_to_openai(&message, "m", 0).unwrap();
                let read = reader::from_answer(ApiFormat::OpenAi, &to_openai).unwrap();
                let given = reader::from_answer(ApiFormat::Anthropic, &message).unwrap();
                // OpenAI has no cache writes: they are counted as input.
                prop_assert_eq!(
                    shared(read),
                    (given.input + given.cache_write, given.output, given.cache_read, 0),
                );
            }
        }
    }
}
