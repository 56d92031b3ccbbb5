//! Reading usage from what the provider sent: the `usage` object of a JSON
//! answer, or the events of a stream (OpenAI's final usage chunk;
//! Anthropic's `message_start` and `message_delta`).

use serde::Deserialize;
use serde_json::Value;

use super::ApiFormat;
use crate::usage::Tokens;

/// Only the `usage` of an answer: serde skips the rest without building it.
#[derive(Deserialize)]
struct UsageOnly {
    #[serde(default)]
    usage: Option<Value>,
}

/// Usage from a whole JSON answer; `None` when it reports none.
pub fn from_json(format: ApiFormat, body: &[u8]) -> Option<Tokens> {
    let answer: UsageOnly = serde_json::from_slice(body).ok()?;
    from_usage(format, &answer.usage?)
}

/// Usage from an answer already parsed (one being translated), so that it
/// is not read twice.
pub fn from_answer(format: ApiFormat, answer: &Value) -> Option<Tokens> {
    from_usage(format, answer.get("usage")?)
}

fn from_usage(format: ApiFormat, usage: &Value) -> Option<Tokens> {
    if !usage.is_object() {
        return None;
    }
    let mut tokens = Tokens::default();
    match format {
        ApiFormat::OpenAi => apply_openai(&mut tokens, usage),
        ApiFormat::Anthropic => apply_anthropic(&mut tokens, usage),
    }
    Some(tokens)
}

/// OpenAI counts cached input inside `prompt_tokens`; we keep it apart.
fn apply_openai(tokens: &mut Tokens, usage: &Value) {
    let number = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0);
    let prompt = number(usage.get("prompt_tokens"));
    let cached = number(usage.pointer("/prompt_tokens_details/cached_tokens"));
    tokens.cache_read = cached;
    tokens.input = (prompt - cached).max(0);
    tokens.output = number(usage.get("completion_tokens"));
    tokens.reasoning = number(usage.pointer("/completion_tokens_details/reasoning_tokens"));
}

/// Anthropic's fields are disjoint. In a stream, `message_delta` repeats
/// them cumulatively, so whatever it carries replaces what came before.
fn apply_anthropic(tokens: &mut Tokens, usage: &Value) {
    let set = |field: &str, slot: &mut i64| {
        if let Some(n) = usage.get(field).and_then(Value::as_i64) {
            *slot = n;
        }
    };
    set("input_tokens", &mut tokens.input);
    set("output_tokens", &mut tokens.output);
    set("cache_read_input_tokens", &mut tokens.cache_read);
    set("cache_creation_input_tokens", &mut tokens.cache_write);
}

/// What to do with one stream event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Relay,
    /// OpenAI's usage-only chunk, which the client did not ask for.
    Drop,
}

/// Follows a stream event by event.
#[derive(Debug)]
pub struct StreamMeter {
    format: ApiFormat,
    /// Whether the client asked OpenAI for the usage chunk itself.
    client_wants_usage: bool,
    tokens: Tokens,
    /// The provider reported input (OpenAI's usage chunk, Anthropic's
    /// `message_start`).
    reported: bool,
    /// The provider reported final output (OpenAI's usage chunk,
    /// Anthropic's `message_delta`).
    finished: bool,
    /// Content events relayed: what was delivered when nothing was reported.
    content_events: i64,
}

impl StreamMeter {
    pub fn new(format: ApiFormat, client_wants_usage: bool) -> Self {
        Self {
            format,
            client_wants_usage,
            tokens: Tokens::default(),
            reported: false,
            finished: false,
            content_events: 0,
        }
    }

    /// Looks at one complete event (without its blank line).
    pub fn observe(&mut self, event: &[u8]) -> Verdict {
        let Some(data) = data_of(event) else {
            return Verdict::Relay;
        };
        match self.format {
            ApiFormat::OpenAi => {
                if data == b"[DONE]" {
                    return Verdict::Relay;
                }
                if !has_object_field(data, b"usage") {
                    self.count_openai_content(data);
                    return Verdict::Relay;
                }
                let Ok(chunk) = serde_json::from_slice::<Value>(data) else {
                    return Verdict::Relay;
                };
                if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
                    apply_openai(&mut self.tokens, usage);
                    self.reported = true;
                    self.finished = true;
                }
                let usage_only = chunk
                    .get("choices")
                    .and_then(Value::as_array)
                    .is_some_and(Vec::is_empty);
                if usage_only && !self.client_wants_usage {
                    Verdict::Drop
                } else {
                    if !usage_only {
                        self.count_openai_content(data);
                    }
                    Verdict::Relay
                }
            }
            ApiFormat::Anthropic => {
                if contains(data, b"\"content_block_delta\"") {
                    self.content_events += 1;
                } else if (contains(data, b"\"message_start\"")
                    || contains(data, b"\"message_delta\""))
                    && let Ok(value) = serde_json::from_slice::<Value>(data)
                {
                    let is_delta =
                        value.get("type").and_then(Value::as_str) == Some("message_delta");
                    let usage = value
                        .pointer("/message/usage")
                        .or_else(|| value.get("usage"))
                        .filter(|u| u.is_object());
                    if let Some(usage) = usage {
                        apply_anthropic(&mut self.tokens, usage);
                        self.reported = true;
                        self.finished |= is_delta;
                    }
                }
                Verdict::Relay
            }
        }
    }

    /// Counts an OpenAI chunk that delivers output. The opening chunk
    /// (`"role":"assistant","content":""`) and the closing one
    /// (`"delta":{}`) deliver none: counting them charged a stream cut
    /// short one or two output tokens the client never got.
    fn count_openai_content(&mut self, data: &[u8]) {
        if !contains(data, b"\"content\":\"\"") && !contains(data, b"\"delta\":{}") {
            self.content_events += 1;
        }
    }

    /// Usage so far. Where the provider reported no output (a stream cut
    /// short before its final usage), each content event relayed counts
    /// as one token, as providers send about one token per event; input
    /// the provider never reported is taken from `input_estimate`.
    pub fn tokens(&self, input_estimate: i64) -> Tokens {
        let mut tokens = self.tokens;
        if !self.reported {
            tokens.input = input_estimate;
        }
        if !self.finished {
            tokens.output = tokens.output.max(self.content_events);
        }
        tokens
    }
}

/// The `data:` payload of an event (lines joined), if it has one.
fn data_of(event: &[u8]) -> Option<&[u8]> {
    // Providers send one data line per event; take the first.
    event.split(|&b| b == b'\n').find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let rest = line.strip_prefix(b"data:")?;
        Some(rest.strip_prefix(b" ").unwrap_or(rest))
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// Whether `"field"` is followed by an object (not `null`), without parsing.
fn has_object_field(data: &[u8], field: &[u8]) -> bool {
    let mut quoted = Vec::with_capacity(field.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(field);
    quoted.push(b'"');
    memchr::memmem::find_iter(data, &quoted).any(|at| {
        data[at + quoted.len()..]
            .iter()
            .find(|b| !b.is_ascii_whitespace() && **b != b':')
            == Some(&b'{')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_json_usage_separates_cached_input() {
        let body = br#"{"usage":{"prompt_tokens":120,"completion_tokens":30,
            "prompt_tokens_details":{"cached_tokens":100},
            "completion_tokens_details":{"reasoning_tokens":12}}}"#;
        let tokens = from_json(ApiFormat::OpenAi, body).unwrap();
        assert_eq!(
            tokens,
            Tokens {
                input: 20,
                output: 30,
                cache_read: 100,
                cache_write: 0,
                reasoning: 12
            }
        );
    }

    #[test]
    fn a_parsed_answer_reads_as_its_bytes_do() {
        let body = br#"{"id":"x","usage":{"prompt_tokens":120,"completion_tokens":30,
            "prompt_tokens_details":{"cached_tokens":100}}}"#;
        let answer: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            from_answer(ApiFormat::OpenAi, &answer),
            from_json(ApiFormat::OpenAi, body)
        );
        assert!(from_answer(ApiFormat::OpenAi, &answer).is_some());
        let no_usage: Value = serde_json::json!({"usage": "none"});
        assert_eq!(from_answer(ApiFormat::Anthropic, &no_usage), None);
    }

    #[test]
    fn anthropic_json_usage_reads_every_kind() {
        let body = br#"{"usage":{"input_tokens":5,"output_tokens":7,
            "cache_read_input_tokens":11,"cache_creation_input_tokens":13}}"#;
        let tokens = from_json(ApiFormat::Anthropic, body).unwrap();
        assert_eq!(
            (
                tokens.input,
                tokens.output,
                tokens.cache_read,
                tokens.cache_write
            ),
            (5, 7, 11, 13)
        );
    }

    #[test]
    fn openai_usage_chunk_is_dropped_unless_asked_for() {
        let usage = br#"data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
        let content = br#"data: {"choices":[{"delta":{"content":"hi"}}],"usage":null}"#;
        let mut meter = StreamMeter::new(ApiFormat::OpenAi, false);
        assert_eq!(meter.observe(content), Verdict::Relay);
        assert_eq!(meter.observe(usage), Verdict::Drop);
        assert_eq!(meter.observe(b"data: [DONE]"), Verdict::Relay);
        assert_eq!(meter.tokens(99).input, 3);
        assert_eq!(meter.tokens(99).output, 4);
        let mut asked = StreamMeter::new(ApiFormat::OpenAi, true);
        assert_eq!(asked.observe(usage), Verdict::Relay);
    }

    #[test]
    fn a_cut_stream_counts_what_was_delivered() {
        let content = br#"data: {"choices":[{"delta":{"content":"hi"}}]}"#;
        let mut meter = StreamMeter::new(ApiFormat::OpenAi, false);
        meter.observe(content);
        meter.observe(content);
        let tokens = meter.tokens(17);
        assert_eq!((tokens.input, tokens.output), (17, 2));

        let mut meter = StreamMeter::new(ApiFormat::Anthropic, false);
        meter.observe(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}");
        for _ in 0..3 {
            meter.observe(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"x\"}}");
        }
        let tokens = meter.tokens(0);
        assert_eq!((tokens.input, tokens.output), (9, 3));
        meter.observe(b"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":5}}");
        assert_eq!(meter.tokens(0).output, 5);
    }

    #[test]
    fn openai_chunks_without_output_are_not_counted() {
        let mut meter = StreamMeter::new(ApiFormat::OpenAi, false);
        meter.observe(br#"data: {"choices":[{"delta":{"role":"assistant","content":""}}]}"#);
        meter.observe(br#"data: {"choices":[{"delta":{"content":"hi"}}]}"#);
        meter.observe(br#"data: {"choices":[{"delta":{},"finish_reason":"stop"}]}"#);
        assert_eq!(meter.tokens(0).output, 1);
    }

    #[test]
    fn usage_null_is_not_an_object() {
        assert!(!has_object_field(br#"{"usage":null}"#, b"usage"));
        assert!(has_object_field(br#"{"usage" : {"a":1}}"#, b"usage"));
    }
}
