//! Answers (JSON, not streamed): an OpenAI chat completion as an Anthropic
//! message, and an Anthropic message as an OpenAI chat completion. The
//! model is named as the client asked for it.

use serde::Serialize;
use serde_json::{Value, json};

/// OpenAI's `finish_reason` as Anthropic's `stop_reason`.
pub fn stop_reason(finish_reason: &str) -> &'static str {
    match finish_reason {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's `stop_reason` as OpenAI's `finish_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// OpenAI's usage in Anthropic's terms: cached input is reported apart.
pub fn usage_to_anthropic(usage: &Value) -> Value {
    let count = |value: Option<&Value>| value.and_then(Value::as_i64).unwrap_or(0);
    let usage = AnthropicUsage::from_openai(
        count(usage.get("prompt_tokens")),
        count(usage.pointer("/prompt_tokens_details/cached_tokens")),
        count(usage.get("completion_tokens")),
    );
    // Integers only: this cannot fail.
    serde_json::to_value(usage).unwrap_or_default()
}

/// Anthropic's usage in OpenAI's terms: every input token is a prompt token.
pub fn usage_to_openai(usage: &Value) -> Value {
    let count = |field: &str| usage.get(field).and_then(Value::as_i64).unwrap_or(0);
    let usage = OpenAiUsage::from_anthropic(
        count("input_tokens"),
        count("output_tokens"),
        count("cache_read_input_tokens"),
        count("cache_creation_input_tokens"),
    );
    serde_json::to_value(usage).unwrap_or_default()
}

/// Anthropic's `usage`, as both the answer and stream translators write it.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct AnthropicUsage {
    input_tokens: i64,
    output_tokens: i64,
    cache_read_input_tokens: i64,
    cache_creation_input_tokens: i64,
}

impl AnthropicUsage {
    /// From OpenAI's counts, where `prompt` includes the `cached` tokens.
    /// The provider's figures may be anything: the arithmetic saturates.
    pub(super) fn from_openai(prompt: i64, cached: i64, completion: i64) -> Self {
        Self {
            input_tokens: prompt.saturating_sub(cached).max(0),
            output_tokens: completion,
            cache_read_input_tokens: cached,
            cache_creation_input_tokens: 0,
        }
    }
}

/// OpenAI's `usage`, as both the answer and stream translators write it.
#[derive(Debug, Clone, Copy, Serialize)]
pub(super) struct OpenAiUsage {
    prompt_tokens: i64,
    completion_tokens: i64,
    total_tokens: i64,
    prompt_tokens_details: CachedTokens,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct CachedTokens {
    cached_tokens: i64,
}

impl OpenAiUsage {
    /// From Anthropic's disjoint counts, which may be anything.
    pub(super) fn from_anthropic(
        input: i64,
        output: i64,
        cache_read: i64,
        cache_write: i64,
    ) -> Self {
        // The provider's figures may be anything: the sums saturate (they
        // overflowed, a panic in debug builds and nonsense in release).
        let prompt = input.saturating_add(cache_read).saturating_add(cache_write);
        Self {
            prompt_tokens: prompt,
            completion_tokens: output,
            total_tokens: prompt.saturating_add(output),
            prompt_tokens_details: CachedTokens {
                cached_tokens: cache_read,
            },
        }
    }
}

/// An OpenAI chat completion as an Anthropic message. `None` when the body
/// is not a chat completion.
pub fn openai_to_anthropic(body: &Value, model: &str) -> Option<Value> {
    let choice = body.get("choices")?.get(0)?;
    let message = choice.get("message")?;
    let mut content = Vec::new();
    // Reasoning, where the provider shares it (DeepSeek-style servers).
    if let Some(reasoning) = message
        .get("reasoning_content")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        content.push(json!({ "type": "thinking", "thinking": reasoning, "signature": "" }));
    }
    if let Some(text) = message
        .get("content")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    {
        content.push(json!({ "type": "text", "text": text }));
    }
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let function = call.get("function").unwrap_or(&Value::Null);
        let arguments = function
            .get("arguments")
            .and_then(Value::as_str)
            .unwrap_or("{}");
        let input: Value = serde_json::from_str(arguments).unwrap_or_else(|_| json!({}));
        content.push(json!({
            "type": "tool_use",
            "id": call.get("id").cloned().unwrap_or_default(),
            "name": function.get("name").cloned().unwrap_or_default(),
            "input": input,
        }));
    }
    let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
    let finish = choice
        .get("finish_reason")
        .and_then(Value::as_str)
        .unwrap_or("stop");
    Some(json!({
        "id": format!("msg_{}", id.trim_start_matches("chatcmpl-")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(finish),
        "stop_sequence": null,
        "usage": usage_to_anthropic(body.get("usage").unwrap_or(&Value::Null)),
    }))
}

/// An Anthropic message as an OpenAI chat completion, `created` at that
/// Unix time. `None` when the body is not a message.
pub fn anthropic_to_openai(body: &Value, model: &str, created: i64) -> Option<Value> {
    let blocks = body.get("content")?.as_array()?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(
                block
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Some("thinking") => {
                reasoning.push_str(
                    block
                        .get("thinking")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                );
            }
            Some("tool_use") => calls.push(json!({
                "id": block.get("id").cloned().unwrap_or_default(),
                "type": "function",
                "function": {
                    "name": block.get("name").cloned().unwrap_or_default(),
                    "arguments": block.get("input").unwrap_or(&json!({})).to_string(),
                },
            })),
            _ => {}
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::String(text) },
    });
    if !reasoning.is_empty() {
        message["reasoning_content"] = Value::String(reasoning);
    }
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let id = body.get("id").and_then(Value::as_str).unwrap_or_default();
    let stop = body
        .get("stop_reason")
        .and_then(Value::as_str)
        .unwrap_or("end_turn");
    Some(json!({
        "id": format!("chatcmpl-{}", id.trim_start_matches("msg_")),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{ "index": 0, "message": message, "finish_reason": finish_reason(stop), "logprobs": null }],
        "usage": usage_to_openai(body.get("usage").unwrap_or(&Value::Null)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `prop_no_body_panics_the_request_and_answer_translators`.
    #[test]
    fn usage_at_the_limits_of_i64_saturates_instead_of_overflowing() {
        let usage = json!({
            "input_tokens": i64::MAX, "output_tokens": i64::MAX,
            "cache_read_input_tokens": 1, "cache_creation_input_tokens": 1,
        });
        let openai = usage_to_openai(&usage);
        assert_eq!(openai["prompt_tokens"], json!(i64::MAX));
        assert_eq!(openai["total_tokens"], json!(i64::MAX));
        let anthropic = usage_to_anthropic(&json!({
            "prompt_tokens": i64::MAX,
            "prompt_tokens_details": { "cached_tokens": i64::MIN },
        }));
        assert_eq!(anthropic["input_tokens"], json!(i64::MAX));
    }

    #[test]
    fn an_openai_completion_with_tool_calls_reads_as_an_anthropic_message() {
        let completion = json!({
            "id": "chatcmpl-abc",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-upstream",
            "choices": [{ "index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant",
                "content": "Checking.",
                "tool_calls": [{ "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } }],
            } }],
            "usage": { "prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150, "prompt_tokens_details": { "cached_tokens": 100 } },
        });

        assert_eq!(
            openai_to_anthropic(&completion, "public-gpt").unwrap(),
            json!({
                "id": "msg_abc",
                "type": "message",
                "role": "assistant",
                "model": "public-gpt",
                "content": [
                    { "type": "text", "text": "Checking." },
                    { "type": "tool_use", "id": "call_1", "name": "weather", "input": { "city": "Oslo" } },
                ],
                "stop_reason": "tool_use",
                "stop_sequence": null,
                "usage": { "input_tokens": 20, "output_tokens": 30, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0 },
            })
        );
    }

    #[test]
    fn an_anthropic_message_with_thinking_and_tools_reads_as_an_openai_completion() {
        let message = json!({
            "id": "msg_xyz",
            "type": "message",
            "role": "assistant",
            "model": "claude-upstream",
            "content": [
                { "type": "thinking", "thinking": "Oslo is cold.", "signature": "sig" },
                { "type": "tool_use", "id": "toolu_1", "name": "weather", "input": { "city": "Oslo" } },
            ],
            "stop_reason": "tool_use",
            "usage": { "input_tokens": 10, "output_tokens": 25, "cache_read_input_tokens": 90, "cache_creation_input_tokens": 5 },
        });

        assert_eq!(
            anthropic_to_openai(&message, "public-claude", 1_700_000_000).unwrap(),
            json!({
                "id": "chatcmpl-xyz",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": "public-claude",
                "choices": [{
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": null,
                        "reasoning_content": "Oslo is cold.",
                        "tool_calls": [{ "id": "toolu_1", "type": "function", "function": { "name": "weather", "arguments": "{\"city\":\"Oslo\"}" } }],
                    },
                    "finish_reason": "tool_calls",
                    "logprobs": null,
                }],
                "usage": { "prompt_tokens": 105, "completion_tokens": 25, "total_tokens": 130, "prompt_tokens_details": { "cached_tokens": 90 } },
            })
        );
    }

    #[test]
    fn stop_reasons_map_both_ways() {
        for (finish, stop) in [
            ("stop", "end_turn"),
            ("length", "max_tokens"),
            ("tool_calls", "tool_use"),
            ("content_filter", "refusal"),
        ] {
            assert_eq!(stop_reason(finish), stop);
            assert_eq!(finish_reason(stop), finish);
        }
        assert_eq!(finish_reason("stop_sequence"), "stop");
    }

    #[test]
    fn bodies_that_are_not_answers_are_not_translated() {
        assert!(openai_to_anthropic(&json!({ "error": {} }), "m").is_none());
        assert!(anthropic_to_openai(&json!({ "type": "error" }), "m", 0).is_none());
    }
}
