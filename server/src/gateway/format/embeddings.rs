//! OpenAI's embeddings (`/v1/embeddings`): an `input` of text or tokens,
//! vectors back, usage in input tokens only. Nothing caps an output and
//! nothing streams.

use serde_json::{Map, Value};

use super::{
    WireFormat,
    openai_chat::{OpenAiUsage, openai_error},
    usage::{Metering, Verdict, usage_of_answer, usage_of_value},
};
use crate::{
    gateway::format::{ApiFormat, ProxyError},
    platform::pricing::Tokens,
};

pub struct Embeddings;

/// The most inputs one request may embed, as OpenAI allows.
pub const MAX_INPUTS: usize = 2048;

impl WireFormat for Embeddings {
    fn check(&self, body: &Map<String, Value>) -> Result<(), ProxyError> {
        check_input(body.get("input"))?;
        match body.get("encoding_format") {
            None | Some(Value::Null) => {}
            Some(Value::String(format)) if format == "float" || format == "base64" => {}
            Some(_) => {
                return Err(invalid(
                    "encoding_format",
                    "encoding_format: must be \"float\" or \"base64\"",
                ));
            }
        }
        match body.get("dimensions") {
            None | Some(Value::Null) => {}
            Some(value) if value.as_u64().is_some_and(|n| n > 0) => {}
            Some(_) => {
                return Err(invalid(
                    "dimensions",
                    "dimensions: must be a positive integer",
                ));
            }
        }
        match body.get("stream") {
            None | Some(Value::Null | Value::Bool(false)) => Ok(()),
            Some(_) => Err(invalid("stream", "stream: embeddings are not streamed")),
        }
    }

    fn cap_fields(&self) -> &'static [&'static str] {
        &[]
    }

    fn usage_of_json(&self, body: &[u8]) -> Option<Tokens> {
        Some(input_only(&usage_of_answer(body)?))
    }

    fn usage_of_answer(&self, usage: &Value) -> Option<Tokens> {
        Some(input_only(&usage_of_value(usage)?))
    }

    /// Embeddings are never streamed: nothing to read.
    fn observe(&self, _state: &mut Metering, _data: &[u8]) -> Verdict {
        Verdict::Relay
    }

    fn error_body(&self, error: &ProxyError) -> Value {
        openai_error(error)
    }
}

/// What an embedding costs: its input, all of it at the input price, which
/// is all the hold covered. A provider's `completion_tokens` or cached
/// tokens (none of OpenAI's embeddings report them) are not charged.
fn input_only(usage: &OpenAiUsage) -> Tokens {
    Tokens {
        input: usage.prompt_tokens.or_zero(),
        ..Tokens::default()
    }
}

fn invalid(field: &str, message: &str) -> ProxyError {
    ProxyError::invalid_field(field, message, ApiFormat::Embeddings)
}

/// `input`: a non-empty string, a token array, or a non-empty array of
/// either (at most [`MAX_INPUTS`]), as OpenAI takes it.
fn check_input(input: Option<&Value>) -> Result<(), ProxyError> {
    let wrong = || {
        invalid(
            "input",
            "input: a non-empty string, an array of strings, or an array of token arrays is required",
        )
    };
    let is_token = |value: &Value| value.as_u64().is_some();
    let is_one = |value: &Value| match value {
        Value::String(text) => !text.is_empty(),
        Value::Array(tokens) => !tokens.is_empty() && tokens.iter().all(is_token),
        _ => false,
    };
    match input {
        Some(Value::String(text)) if !text.is_empty() => Ok(()),
        // One token array, however long: the model's context bounds it.
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(is_token) => Ok(()),
        Some(Value::Array(items)) if items.len() > MAX_INPUTS => Err(invalid(
            "input",
            &format!("input: at most {MAX_INPUTS} inputs per request"),
        )),
        Some(Value::Array(items)) if !items.is_empty() && items.iter().all(is_one) => Ok(()),
        _ => Err(wrong()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn inputs_are_text_or_tokens_and_each_error_names_its_field() {
        let check = |body: Value| Embeddings.check(body.as_object().unwrap());
        for input in [
            json!("hello"),
            json!(["a", "b"]),
            json!([1, 2, 3]),
            json!([[1, 2], [3]]),
            json!(vec![7; MAX_INPUTS * 2]),
        ] {
            assert!(
                check(json!({ "model": "m", "input": input })).is_ok(),
                "{input}"
            );
        }
        for (body, field) in [
            (json!({ "model": "m" }), "input"),
            (json!({ "model": "m", "input": "" }), "input"),
            (json!({ "model": "m", "input": [] }), "input"),
            (json!({ "model": "m", "input": ["a", ""] }), "input"),
            (json!({ "model": "m", "input": ["a", 1] }), "input"),
            (json!({ "model": "m", "input": [[1], []] }), "input"),
            (json!({ "model": "m", "input": [-1] }), "input"),
            (json!({ "model": "m", "input": {"text": "a"} }), "input"),
            (
                json!({ "model": "m", "input": vec!["a"; MAX_INPUTS + 1] }),
                "input",
            ),
            (
                json!({ "model": "m", "input": vec![vec![1]; MAX_INPUTS + 1] }),
                "input",
            ),
            (
                json!({ "model": "m", "input": "a", "encoding_format": "int8" }),
                "encoding_format",
            ),
            (
                json!({ "model": "m", "input": "a", "dimensions": 0 }),
                "dimensions",
            ),
            (
                json!({ "model": "m", "input": "a", "dimensions": "8" }),
                "dimensions",
            ),
            (
                json!({ "model": "m", "input": "a", "stream": true }),
                "stream",
            ),
        ] {
            let err = check(body.clone()).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(field), "{body}");
            assert_eq!(err.status_code(), 400, "{body}");
        }
    }

    #[test]
    fn usage_is_input_tokens_only() {
        let answer =
            br#"{"object":"list","data":[],"usage":{"prompt_tokens":12,"total_tokens":12}}"#;
        let tokens = Embeddings.usage_of_json(answer).unwrap();
        assert_eq!((tokens.input, tokens.output), (12, 0));
        // What the hold did not cover is not charged.
        let odd = br#"{"usage":{"prompt_tokens":12,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        let input = Tokens {
            input: 12,
            ..Tokens::default()
        };
        assert_eq!(Embeddings.usage_of_json(odd), Some(input));
        assert_eq!(Embeddings.usage_of_json(br#"{"data":[]}"#), None);
    }
}
