//! Anthropic ⇄ OpenAI translation, so that either API can call a model of
//! either kind of provider. Pure functions over the JSON bodies: requests
//! one way, answers the other, each with golden tests.
//!
//! What one side cannot express is either dropped on purpose (listed in
//! `docs/translation.md`) or refused with a 400 naming the field; a request
//! is never silently turned into a different one.

pub mod request;
pub mod response;
pub mod stream;
pub(crate) mod wire;

use serde_json::{Map, Value};

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
    use rand::{Rng, SeedableRng, rngs::StdRng};
    use serde_json::json;

    use super::*;

    const KEYS: [&str; 24] = [
        "model",
        "messages",
        "role",
        "content",
        "type",
        "text",
        "system",
        "tools",
        "tool_choice",
        "tool_calls",
        "function",
        "arguments",
        "input",
        "source",
        "image_url",
        "url",
        "data",
        "max_tokens",
        "stop",
        "choices",
        "message",
        "usage",
        "name",
        "tool_result",
    ];

    /// A random JSON value built from the field names translators read, so
    /// that the random trees reach deep into them.
    fn random_value(rng: &mut StdRng, depth: u32) -> Value {
        match rng.random_range(0..if depth == 0 { 5 } else { 8 }) {
            0 => Value::Null,
            1 => json!(rng.random::<bool>()),
            2 => json!(rng.random_range(-5..5_000)),
            3 => json!(KEYS[rng.random_range(0..KEYS.len())]),
            4 => json!(
                [
                    "user",
                    "assistant",
                    "tool",
                    "system",
                    "text",
                    "image",
                    "tool_use"
                ][rng.random_range(0..7)]
            ),
            5 | 6 => {
                let mut map = Map::new();
                for _ in 0..rng.random_range(0..6) {
                    let key = KEYS[rng.random_range(0..KEYS.len())];
                    map.insert(key.to_owned(), random_value(rng, depth - 1));
                }
                Value::Object(map)
            }
            _ => Value::Array(
                (0..rng.random_range(0..4))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
        }
    }

    /// No request or answer, however malformed, panics a translator.
    #[test]
    fn no_input_panics_the_request_and_answer_translators() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..20_000 {
            let value = random_value(&mut rng, 4);
            let body = object(value.clone());
            let _ = request::anthropic_to_openai(body.clone());
            let _ = request::openai_to_anthropic(body, 4096);
            let _ = response::openai_to_anthropic(&value, "m");
            let _ = response::anthropic_to_openai(&value, "m", 0);
            let _ = response::usage_to_anthropic(&value);
            let _ = response::usage_to_openai(&value);
        }
    }
}
