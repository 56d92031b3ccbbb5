//! Streams: an OpenAI chat completion stream as Anthropic's message events,
//! and Anthropic's message events as an OpenAI chunk stream. Each
//! translator takes the provider's events one at a time (the relay cuts
//! them at blank lines) and writes the client's events; `finish` closes a
//! stream the provider ended without its last events.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::response::{finish_reason, stop_reason, usage_to_anthropic, usage_to_openai};

/// One server-sent event: its `event:` name and its `data:` lines joined.
fn parse_event(event: &[u8]) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(event);
    let mut name = None;
    let mut data = Vec::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            name = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    (name, data.join("\n"))
}

fn write_anthropic(out: &mut Vec<u8>, data: &Value) {
    let name = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    out.extend_from_slice(format!("event: {name}\ndata: {data}\n\n").as_bytes());
}

fn write_openai(out: &mut Vec<u8>, data: &Value) {
    out.extend_from_slice(format!("data: {data}\n\n").as_bytes());
}

/// A stream's translator, by the client's format.
pub enum StreamTranslator {
    /// An Anthropic client, an OpenAI-compatible provider.
    ToAnthropic(OpenAiToAnthropic),
    /// An OpenAI client, an Anthropic provider.
    ToOpenAi(AnthropicToOpenAi),
}

impl StreamTranslator {
    pub fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::ToAnthropic(translator) => translator.event(event, out),
            Self::ToOpenAi(translator) => translator.event(event, out),
        }
    }

    pub fn finish(&mut self, out: &mut Vec<u8>) {
        match self {
            Self::ToAnthropic(translator) => translator.finish(out),
            Self::ToOpenAi(translator) => translator.finish(out),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    /// A tool call, by OpenAI's `index`.
    Tool(u64),
}

/// OpenAI chunks in, Anthropic events out.
pub struct OpenAiToAnthropic {
    model: String,
    started: bool,
    finished: bool,
    /// The open content block and its Anthropic index.
    open: Option<(Block, usize)>,
    next_index: usize,
    stop_reason: Option<&'static str>,
    usage: Option<Value>,
}

impl OpenAiToAnthropic {
    pub fn new(model: &str) -> Self {
        Self {
            model: model.to_owned(),
            started: false,
            finished: false,
            open: None,
            next_index: 0,
            stop_reason: None,
            usage: None,
        }
    }

    pub fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let (_, data) = parse_event(event);
        if data.trim() == "[DONE]" {
            self.finish(out);
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&data) else {
            return;
        };
        if let Some(error) = chunk.get("error") {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("provider error");
            write_anthropic(
                out,
                &json!({ "type": "error", "error": { "type": "api_error", "message": message } }),
            );
            return;
        }
        self.start(&chunk, out);
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        let Some(choice) = chunk.get("choices").and_then(|c| c.get(0)) else {
            return;
        };
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        // Reasoning, then text: each opens its own block.
        for (field, block, kind) in [
            ("reasoning_content", Block::Thinking, "thinking"),
            ("content", Block::Text, "text"),
        ] {
            let Some(piece) = delta
                .get(field)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            else {
                continue;
            };
            let index = self.open_block(block, None, out);
            write_anthropic(
                out,
                &json!({
                    "type": "content_block_delta",
                    "index": index,
                    "delta": { "type": format!("{kind}_delta"), kind: piece },
                }),
            );
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let tool = call.get("index").and_then(Value::as_u64).unwrap_or(0);
            let index = self.open_block(Block::Tool(tool), Some(call), out);
            let arguments = call
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !arguments.is_empty() {
                write_anthropic(
                    out,
                    &json!({
                        "type": "content_block_delta",
                        "index": index,
                        "delta": { "type": "input_json_delta", "partial_json": arguments },
                    }),
                );
            }
        }
        if let Some(finish) = choice.get("finish_reason").and_then(Value::as_str) {
            self.stop_reason = Some(stop_reason(finish));
        }
    }

    /// Closes the stream: the open block, the stop reason and usage, the end.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.start(&Value::Null, out);
        self.close_block(out);
        let usage = self
            .usage
            .as_ref()
            .map(usage_to_anthropic)
            .unwrap_or_else(|| json!({ "input_tokens": 0, "output_tokens": 0 }));
        write_anthropic(
            out,
            &json!({
                "type": "message_delta",
                "delta": { "stop_reason": self.stop_reason.unwrap_or("end_turn"), "stop_sequence": null },
                "usage": usage,
            }),
        );
        write_anthropic(out, &json!({ "type": "message_stop" }));
        self.finished = true;
    }

    fn start(&mut self, chunk: &Value, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let id = chunk.get("id").and_then(Value::as_str).unwrap_or_default();
        write_anthropic(
            out,
            &json!({
                "type": "message_start",
                "message": {
                    "id": format!("msg_{}", id.trim_start_matches("chatcmpl-")),
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    // OpenAI reports usage only at the end: see message_delta.
                    "usage": { "input_tokens": 0, "output_tokens": 0 },
                },
            }),
        );
        write_anthropic(out, &json!({ "type": "ping" }));
    }

    /// The index of `block`, opening it (and closing another) if needed.
    fn open_block(&mut self, block: Block, call: Option<&Value>, out: &mut Vec<u8>) -> usize {
        if let Some((open, index)) = self.open
            && open == block
        {
            return index;
        }
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        let content_block = match block {
            Block::Text => json!({ "type": "text", "text": "" }),
            Block::Thinking => json!({ "type": "thinking", "thinking": "" }),
            Block::Tool(_) => {
                let call = call.unwrap_or(&Value::Null);
                json!({
                    "type": "tool_use",
                    "id": call.get("id").cloned().unwrap_or_default(),
                    "name": call.pointer("/function/name").cloned().unwrap_or_default(),
                    "input": {},
                })
            }
        };
        write_anthropic(
            out,
            &json!({
                "type": "content_block_start",
                "index": index,
                "content_block": content_block,
            }),
        );
        self.open = Some((block, index));
        index
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        if let Some((_, index)) = self.open.take() {
            write_anthropic(
                out,
                &json!({ "type": "content_block_stop", "index": index }),
            );
        }
    }
}

/// Anthropic events in, OpenAI chunks out.
pub struct AnthropicToOpenAi {
    model: String,
    created: i64,
    /// Whether the client asked for the final usage chunk.
    wants_usage: bool,
    id: String,
    finished: bool,
    /// OpenAI tool-call index by Anthropic block index.
    tools: HashMap<u64, u64>,
    usage: Value,
}

impl AnthropicToOpenAi {
    pub fn new(model: &str, created: i64, wants_usage: bool) -> Self {
        Self {
            model: model.to_owned(),
            created,
            wants_usage,
            id: "chatcmpl-tollgate".to_owned(),
            finished: false,
            tools: HashMap::new(),
            usage: json!({}),
        }
    }

    pub fn event(&mut self, event: &[u8], out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        let (_, data) = parse_event(event);
        let Ok(data) = serde_json::from_str::<Value>(&data) else {
            return;
        };
        match data.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                let message = data.get("message").unwrap_or(&Value::Null);
                if let Some(id) = message.get("id").and_then(Value::as_str) {
                    self.id = format!("chatcmpl-{}", id.trim_start_matches("msg_"));
                }
                self.add_usage(message.get("usage"));
                self.chunk(out, json!({ "role": "assistant", "content": "" }), None);
            }
            Some("content_block_start") => {
                let block = data.get("content_block").unwrap_or(&Value::Null);
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let tool = u64::try_from(self.tools.len()).unwrap_or(0);
                    self.tools.insert(index, tool);
                    self.chunk(out, json!({ "tool_calls": [{
                        "index": tool,
                        "id": block.get("id").cloned().unwrap_or_default(),
                        "type": "function",
                        "function": { "name": block.get("name").cloned().unwrap_or_default(), "arguments": "" },
                    }] }), None);
                }
            }
            Some("content_block_delta") => {
                let delta = data.get("delta").unwrap_or(&Value::Null);
                let text = |field: &str| delta.get(field).cloned().unwrap_or_default();
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => self.chunk(out, json!({ "content": text("text") }), None),
                    Some("thinking_delta") => {
                        self.chunk(out, json!({ "reasoning_content": text("thinking") }), None);
                    }
                    Some("input_json_delta") => {
                        let index = data.get("index").and_then(Value::as_u64).unwrap_or(0);
                        let tool = self.tools.get(&index).copied().unwrap_or(0);
                        self.chunk(
                            out,
                            json!({ "tool_calls": [{
                            "index": tool,
                            "function": { "arguments": text("partial_json") },
                        }] }),
                            None,
                        );
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                self.add_usage(data.get("usage"));
                let stop = data
                    .pointer("/delta/stop_reason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                self.chunk(out, json!({}), Some(finish_reason(stop)));
            }
            Some("message_stop") => self.finish(out),
            Some("error") => {
                let error = data.get("error").unwrap_or(&Value::Null);
                write_openai(
                    out,
                    &json!({ "error": {
                    "message": error.get("message").cloned().unwrap_or_default(),
                    "type": error.get("type").cloned().unwrap_or_default(),
                } }),
                );
            }
            _ => {}
        }
    }

    /// Ends the stream: the usage chunk if the client asked for it, then
    /// `[DONE]`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        if self.wants_usage {
            write_openai(
                out,
                &json!({
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": usage_to_openai(&self.usage),
                }),
            );
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// Anthropic reports input in `message_start` and output (sometimes
    /// input again) in `message_delta`: the latest figure of each wins.
    fn add_usage(&mut self, usage: Option<&Value>) {
        if let (Some(Value::Object(usage)), Value::Object(total)) = (usage, &mut self.usage) {
            for (field, value) in usage {
                if value.is_number() {
                    total.insert(field.clone(), value.clone());
                }
            }
        }
    }

    fn chunk(&self, out: &mut Vec<u8>, delta: Value, finish: Option<&str>) {
        write_openai(
            out,
            &json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng, rngs::StdRng};

    use super::*;

    /// The events of an SSE text as (name, data), data parsed when JSON.
    fn events(bytes: &[u8]) -> Vec<(Option<String>, Value)> {
        String::from_utf8(bytes.to_vec())
            .unwrap()
            .split("\n\n")
            .filter(|e| !e.is_empty())
            .map(|e| {
                let (name, data) = parse_event(e.as_bytes());
                let data = serde_json::from_str(&data).unwrap_or(Value::String(data));
                (name, data)
            })
            .collect()
    }

    fn run_to_anthropic(input: &[&str]) -> Vec<(Option<String>, Value)> {
        let mut translator = OpenAiToAnthropic::new("public-gpt");
        let mut out = Vec::new();
        for event in input {
            translator.event(event.as_bytes(), &mut out);
        }
        translator.finish(&mut out);
        events(&out)
    }

    #[test]
    fn an_openai_stream_with_text_and_a_tool_call_becomes_anthropic_events() {
        let chunk = |delta: Value, finish: Value| {
            format!(
                "data: {}",
                json!({ "id": "chatcmpl-9", "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] })
            )
        };
        let input = [
            chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
            chunk(json!({ "content": "Let me " }), Value::Null),
            chunk(json!({ "content": "check." }), Value::Null),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "id": "call_1", "type": "function", "function": { "name": "weather", "arguments": "" } }] }),
                Value::Null,
            ),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"city\":" } }] }),
                Value::Null,
            ),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "\"Oslo\"}" } }] }),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
            format!(
                "data: {}",
                json!({ "id": "chatcmpl-9", "choices": [], "usage": { "prompt_tokens": 50, "completion_tokens": 20, "prompt_tokens_details": { "cached_tokens": 40 } } })
            ),
            "data: [DONE]".to_owned(),
        ];
        let input: Vec<&str> = input.iter().map(String::as_str).collect();

        let out = run_to_anthropic(&input);

        let expected = [
            json!({ "type": "message_start", "message": { "id": "msg_9", "type": "message", "role": "assistant", "model": "public-gpt", "content": [], "stop_reason": null, "stop_sequence": null, "usage": { "input_tokens": 0, "output_tokens": 0 } } }),
            json!({ "type": "ping" }),
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "Let me " } }),
            json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": "check." } }),
            json!({ "type": "content_block_stop", "index": 0 }),
            json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "tool_use", "id": "call_1", "name": "weather", "input": {} } }),
            json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "{\"city\":" } }),
            json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "input_json_delta", "partial_json": "\"Oslo\"}" } }),
            json!({ "type": "content_block_stop", "index": 1 }),
            json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null }, "usage": { "input_tokens": 10, "output_tokens": 20, "cache_read_input_tokens": 40, "cache_creation_input_tokens": 0 } }),
            json!({ "type": "message_stop" }),
        ];
        let names: Vec<Option<String>> = expected
            .iter()
            .map(|e| e["type"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            out.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            names
        );
        assert_eq!(
            out.into_iter().map(|(_, d)| d).collect::<Vec<_>>(),
            expected
        );
    }

    #[test]
    fn an_openai_stream_cut_before_done_is_still_closed() {
        let out = run_to_anthropic(&[
            "data: {\"id\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}",
        ]);
        let types: Vec<&str> = out.iter().filter_map(|(_, d)| d["type"].as_str()).collect();
        assert_eq!(
            types,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(out[5].1["delta"]["stop_reason"], "end_turn");
    }

    #[test]
    fn an_anthropic_stream_with_thinking_text_and_a_tool_becomes_openai_chunks() {
        let event =
            |data: Value| format!("event: {}\ndata: {data}", data["type"].as_str().unwrap());
        let input = [
            event(
                json!({ "type": "message_start", "message": { "id": "msg_7", "type": "message", "role": "assistant", "content": [], "model": "claude-up", "usage": { "input_tokens": 12, "cache_read_input_tokens": 100, "output_tokens": 1 } } }),
            ),
            event(json!({ "type": "ping" })),
            event(
                json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "thinking", "thinking": "" } }),
            ),
            event(
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "thinking_delta", "thinking": "Cold?" } }),
            ),
            event(
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "signature_delta", "signature": "s" } }),
            ),
            event(json!({ "type": "content_block_stop", "index": 0 })),
            event(
                json!({ "type": "content_block_start", "index": 1, "content_block": { "type": "text", "text": "" } }),
            ),
            event(
                json!({ "type": "content_block_delta", "index": 1, "delta": { "type": "text_delta", "text": "Checking." } }),
            ),
            event(json!({ "type": "content_block_stop", "index": 1 })),
            event(
                json!({ "type": "content_block_start", "index": 2, "content_block": { "type": "tool_use", "id": "toolu_1", "name": "weather", "input": {} } }),
            ),
            event(
                json!({ "type": "content_block_delta", "index": 2, "delta": { "type": "input_json_delta", "partial_json": "{\"city\":\"Oslo\"}" } }),
            ),
            event(json!({ "type": "content_block_stop", "index": 2 })),
            event(
                json!({ "type": "message_delta", "delta": { "stop_reason": "tool_use", "stop_sequence": null }, "usage": { "output_tokens": 30 } }),
            ),
            event(json!({ "type": "message_stop" })),
        ];
        let mut translator = AnthropicToOpenAi::new("public-claude", 1_700_000_000, true);
        let mut out = Vec::new();
        for event in &input {
            translator.event(event.as_bytes(), &mut out);
        }
        translator.finish(&mut out);

        let chunk = |delta: Value, finish: Value| {
            json!({
                "id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "public-claude",
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
            })
        };
        let expected = vec![
            chunk(json!({ "role": "assistant", "content": "" }), Value::Null),
            chunk(json!({ "reasoning_content": "Cold?" }), Value::Null),
            chunk(json!({ "content": "Checking." }), Value::Null),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "id": "toolu_1", "type": "function", "function": { "name": "weather", "arguments": "" } }] }),
                Value::Null,
            ),
            chunk(
                json!({ "tool_calls": [{ "index": 0, "function": { "arguments": "{\"city\":\"Oslo\"}" } }] }),
                Value::Null,
            ),
            chunk(json!({}), json!("tool_calls")),
            json!({
                "id": "chatcmpl-7", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "public-claude", "choices": [],
                "usage": { "prompt_tokens": 112, "completion_tokens": 30, "total_tokens": 142, "prompt_tokens_details": { "cached_tokens": 100 } },
            }),
            Value::String("[DONE]".to_owned()),
        ];
        let out: Vec<Value> = events(&out).into_iter().map(|(_, d)| d).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn no_usage_chunk_unless_the_client_asked_for_one() {
        let mut translator = AnthropicToOpenAi::new("m", 0, false);
        let mut out = Vec::new();
        translator.event(
            b"event: message_stop\ndata: {\"type\":\"message_stop\"}",
            &mut out,
        );
        assert_eq!(String::from_utf8(out).unwrap(), "data: [DONE]\n\n");
    }

    /// No input, however broken, panics a translator: random bytes, and
    /// real events with bytes flipped, cut or repeated.
    #[test]
    fn no_input_panics_the_stream_translators() {
        let samples = [
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":3,\"function\":{\"arguments\":\"{\"}}]},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":-4}}",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":99,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":7}}",
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":5,\"usage\":[]}}",
            "data: [DONE]",
            "event: error\ndata: {\"type\":\"error\",\"error\":null}",
        ];
        let mut rng = StdRng::seed_from_u64(7);
        for round in 0..3_000 {
            let mut bytes: Vec<u8> = samples[round % samples.len()].as_bytes().to_vec();
            match round % 3 {
                0 => {
                    for _ in 0..rng.random_range(1..6) {
                        let at = rng.random_range(0..bytes.len());
                        bytes[at] = rng.random();
                    }
                }
                1 => bytes.truncate(rng.random_range(0..bytes.len())),
                _ => bytes = (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
            }
            let mut out = Vec::new();
            let mut to_anthropic = OpenAiToAnthropic::new("m");
            let mut to_openai = AnthropicToOpenAi::new("m", 0, true);
            for _ in 0..2 {
                to_anthropic.event(&bytes, &mut out);
                to_openai.event(&bytes, &mut out);
            }
            to_anthropic.finish(&mut out);
            to_openai.finish(&mut out);
        }
    }
}
