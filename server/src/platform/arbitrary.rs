//! What the property tests of the parsers that read client or upstream
//! bytes share: how many cases to run, arbitrary JSON leaning toward the
//! fields those parsers read, SSE-like bytes, and cutting a stream into
//! chunks.
//!
//! Each property runs a bounded number of cases so that `cargo test`
//! stays quick; `PROPTEST_CASES=100000 cargo test -p server --lib prop`
//! runs more.

use proptest::{prelude::*, sample::Index};
use serde_json::{Map, Number, Value};

/// `cases` cases, or `PROPTEST_CASES` when set; failures are shrunk and
/// reported, not written to files (a case found is kept as a unit test).
pub fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Keys the parsers look for, so that arbitrary objects often hold them.
const KEYS: &[&str] = &[
    "model",
    "messages",
    "instructions",
    "max_output_tokens",
    "call_id",
    "arguments",
    "output",
    "role",
    "content",
    "type",
    "text",
    "stream",
    "max_tokens",
    "max_completion_tokens",
    "system",
    "tools",
    "tool_choice",
    "tool_calls",
    "tool_call_id",
    "usage",
    "choices",
    "delta",
    "message",
    "index",
    "id",
    "name",
    "input",
    "arguments",
    "function",
    "parameters",
    "input_schema",
    "prompt_tokens",
    "completion_tokens",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
    "cached_tokens",
    "reasoning_tokens",
    "stop_reason",
    "finish_reason",
    "stream_options",
    "include_usage",
    "n",
    "image_url",
    "url",
    "source",
    "data",
    "media_type",
    "error",
    "content_block",
    "partial_json",
    "thinking",
    "reasoning_effort",
    "reasoning_content",
    "refusal",
    "stop",
    "stop_sequences",
    "temperature",
    "top_p",
    "parallel_tool_calls",
    "disable_parallel_tool_use",
    "tool_use_id",
    "is_error",
];

/// Strings the parsers compare against.
const WORDS: &[&str] = &[
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "text",
    "image",
    "image_url",
    "input_image",
    "input_text",
    "output_text",
    "function_call",
    "function_call_output",
    "custom_tool_call",
    "custom",
    "reasoning",
    "web_search",
    "document",
    "tool_use",
    "tool_result",
    "function",
    "message",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
    "text_delta",
    "input_json_delta",
    "thinking_delta",
    "base64",
    "stop",
    "length",
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_calls",
    "content_filter",
    "[DONE]",
    "auto",
    "any",
    "none",
    "required",
    "low",
    "high",
    "",
];

/// An object key: mostly one the parsers read.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// A JSON scalar of any kind, numbers at their edges included.
pub fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0_u64..5_000).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(WORDS).prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ]
}

/// Any JSON value, a few levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// Any JSON object.
pub fn object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json()), 0..10).prop_map(|fields| fields.into_iter().collect())
}

/// Bytes that look like a server-sent-event stream now and then: pieces of
/// field names, JSON and every kind of line ending, with arbitrary bytes
/// between.
pub fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"data: ".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"event: message_delta".to_vec()),
        Just(b": ping".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r\n\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"[DONE]".to_vec()),
        Just(br#"{"type":"response.output_text.delta","delta":"x"}"#.to_vec()),
        json().prop_map(|usage| {
            serde_json::json!({ "type": "response.completed", "response": { "usage": usage } })
                .to_string()
                .into_bytes()
        }),
        json().prop_map(|value| value.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// Where to cut a stream: any number of places.
pub fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..12)
}

/// `bytes` cut at `cuts` (each an index into it), in order; empty chunks
/// included, as a network may deliver them.
pub fn chunks<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|cut| cut.index(bytes.len() + 1)).collect();
    at.sort_unstable();
    let mut chunks = Vec::with_capacity(at.len() + 1);
    let mut start = 0;
    for end in at {
        chunks.push(&bytes[start..end]);
        start = end;
    }
    chunks.push(&bytes[start..]);
    chunks
}

/// One content part, of either API, or anything else.
fn part() -> impl Strategy<Value = Value> {
    let text = any::<String>;
    prop_oneof![
        text().prop_map(|text| serde_json::json!({ "type": "text", "text": text })),
        text().prop_map(
            |url| serde_json::json!({ "type": "image_url", "image_url": { "url": url } })
        ),
        text().prop_map(|data| serde_json::json!({
            "type": "image",
            "source": { "type": "base64", "media_type": "image/png", "data": data },
        })),
        (text(), json()).prop_map(|(name, input)| serde_json::json!({
            "type": "tool_use", "id": "toolu_1", "name": name, "input": input,
        })),
        json().prop_map(|content| serde_json::json!({
            "type": "tool_result", "tool_use_id": "toolu_1", "content": content,
        })),
        json(),
    ]
}

/// One message of either API, or anything else.
fn message() -> impl Strategy<Value = Value> {
    let role = prop::sample::select(&["user", "assistant", "system", "developer", "tool", "x"][..]);
    let content = prop_oneof![
        any::<String>().prop_map(Value::String),
        prop::collection::vec(part(), 0..4).prop_map(Value::Array),
        json(),
    ];
    prop_oneof![
        4 => (role, content).prop_map(|(role, content)| {
            serde_json::json!({ "role": role, "content": content })
        }),
        1 => json(),
    ]
}

/// A request body as clients of either API send it, often well formed,
/// with arbitrary other fields and values of every kind where the parsers
/// expect one.
pub fn request_body() -> impl Strategy<Value = Map<String, Value>> {
    let model = prop_oneof![
        4 => "[a-z0-9.-]{1,24}".prop_map(Value::String),
        1 => scalar(),
    ];
    let cap = prop_oneof![
        3 => (1_u64..200_000).prop_map(Value::from),
        1 => scalar(),
    ];
    (
        object(),
        model,
        prop::collection::vec(message(), 0..5),
        prop::option::of(prop_oneof![any::<bool>().prop_map(Value::Bool), scalar()]),
        prop::option::of(prop::sample::select(
            &["max_tokens", "max_completion_tokens", "max_output_tokens"][..],
        )),
        cap,
        prop::option::of(prop::collection::vec(json(), 0..3)),
    )
        .prop_map(
            |(mut body, model, messages, stream, cap_field, cap, tools)| {
                body.insert("model".into(), model);
                // The Responses API's `input` takes message items too.
                body.insert("input".into(), Value::Array(messages.clone()));
                body.insert("messages".into(), Value::Array(messages));
                if let Some(stream) = stream {
                    body.insert("stream".into(), stream);
                }
                if let Some(field) = cap_field {
                    body.insert(field.into(), cap);
                }
                if let Some(tools) = tools {
                    body.insert("tools".into(), Value::Array(tools));
                }
                body
            },
        )
}

/// A provider's stream as it sends it, and the usage it reports (`None`:
/// cut before its usage). Counts stay below 2^38, so that their sums stay
/// below the meter's bound of 2^40.
#[derive(Debug, Clone)]
pub struct Stream {
    pub bytes: Vec<u8>,
    /// What the meter must read from it, when reported.
    pub reported: Option<crate::platform::pricing::Tokens>,
    /// The output the meter counts when the stream is cut before its
    /// usage: a token per content event with text in it, at least what the
    /// stream's start reported.
    pub output_if_cut: i64,
}

/// `data` as server-sent events (`event:` names for Anthropic), with the
/// line ending given.
fn sse(events: &[(Option<&str>, String)], crlf: bool) -> Vec<u8> {
    let end = if crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    for (name, data) in events {
        if let Some(name) = name {
            out.push_str(&format!("event: {name}{end}"));
        }
        out.push_str(&format!("data: {data}{end}{end}"));
    }
    out.into_bytes()
}

/// An OpenAI chat completion stream: the opening chunk, text deltas, the
/// finish chunk, the usage-only chunk (unless cut) and `[DONE]`.
pub fn openai_stream() -> impl Strategy<Value = Stream> {
    (
        prop::collection::vec(any::<String>(), 0..6),
        prop::option::of((0_i64..1 << 38, 0_i64..1 << 38, 0_i64..1 << 38)),
        any::<bool>(),
    )
        .prop_map(|(texts, usage, crlf)| {
            let mut events = vec![(
                None,
                r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#
                    .to_owned(),
            )];
            for text in &texts {
                let chunk = serde_json::json!({
                    "id": "c", "choices": [{ "index": 0, "delta": { "content": text } }],
                });
                events.push((None, chunk.to_string()));
            }
            events.push((
                None,
                r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#
                    .to_owned(),
            ));
            let reported = usage.map(|(prompt, cached, completion)| {
                let cached = cached.min(prompt);
                let chunk = serde_json::json!({
                    "id": "c", "choices": [],
                    "usage": {
                        "prompt_tokens": prompt, "completion_tokens": completion,
                        "prompt_tokens_details": { "cached_tokens": cached },
                    },
                });
                events.push((None, chunk.to_string()));
                crate::platform::pricing::Tokens {
                    input: prompt - cached,
                    output: completion,
                    cache_read: cached,
                    ..Default::default()
                }
            });
            if reported.is_some() {
                events.push((None, "[DONE]".to_owned()));
            }
            Stream {
                bytes: sse(&events, crlf),
                reported,
                output_if_cut: content_events(&texts),
            }
        })
}

/// An Anthropic message stream: `message_start` with the input's usage,
/// one text block of deltas, and (unless cut) `message_delta` with the
/// output's usage and `message_stop`.
pub fn anthropic_stream() -> impl Strategy<Value = Stream> {
    (
        prop::collection::vec(any::<String>(), 0..6),
        (0_i64..1 << 38, 0_i64..1 << 38, 0_i64..1 << 38),
        prop::option::of(0_i64..1 << 38),
        any::<bool>(),
    )
        .prop_map(|(texts, (input, cache_read, cache_write), output, crlf)| {
            let start = serde_json::json!({
                "type": "message_start",
                "message": {
                    "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {
                        "input_tokens": input, "output_tokens": 1,
                        "cache_read_input_tokens": cache_read,
                        "cache_creation_input_tokens": cache_write,
                    },
                },
            });
            let mut events = vec![
                (Some("message_start"), start.to_string()),
                (
                    Some("content_block_start"),
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
                        .to_owned(),
                ),
            ];
            for text in &texts {
                let delta = serde_json::json!({
                    "type": "content_block_delta", "index": 0,
                    "delta": { "type": "text_delta", "text": text },
                });
                events.push((Some("content_block_delta"), delta.to_string()));
            }
            let reported = output.map(|output| {
                events.push((
                    Some("content_block_stop"),
                    r#"{"type":"content_block_stop","index":0}"#.to_owned(),
                ));
                let delta = serde_json::json!({
                    "type": "message_delta",
                    "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                    "usage": { "output_tokens": output },
                });
                events.push((Some("message_delta"), delta.to_string()));
                events.push((Some("message_stop"), r#"{"type":"message_stop"}"#.to_owned()));
                crate::platform::pricing::Tokens {
                    input,
                    output,
                    cache_read,
                    cache_write,
                    reasoning: 0,
                }
            });
            Stream {
                bytes: sse(&events, crlf),
                reported,
                // `message_start` reports one output token.
                output_if_cut: i64::try_from(texts.len()).unwrap_or(i64::MAX).max(1),
            }
        })
}

/// How many OpenAI deltas carry text (an empty `content` carries none).
fn content_events(texts: &[String]) -> i64 {
    i64::try_from(texts.iter().filter(|text| !text.is_empty()).count()).unwrap_or(i64::MAX)
}
