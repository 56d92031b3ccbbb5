//! Reading usage from what the provider sent: the `usage` object of a JSON
//! answer, or the events of a stream, followed event by event. Where each
//! format keeps it is its own module's business ([`crate::gateway::format`],
//! with the lenient readers they share in [`crate::gateway::format::usage`]).

use serde_json::Value;

use crate::{
    gateway::{
        format::{
            ApiFormat,
            usage::{Metering, Verdict},
        },
        translate::wire,
    },
    platform::pricing::Tokens,
};

/// Usage from a whole JSON answer; `None` when it reports none.
pub fn from_json(format: ApiFormat, body: &[u8]) -> Option<Tokens> {
    format.wire().usage_of_json(body)
}

/// Usage from an answer already parsed (one being translated), so that it
/// is not read twice.
pub fn from_answer(format: ApiFormat, answer: &Value) -> Option<Tokens> {
    let wire = format.wire();
    wire.usage_of_answer(answer.get(wire.usage_field())?)
}

/// Follows a stream event by event.
#[derive(Debug)]
pub struct StreamMeter {
    format: ApiFormat,
    state: Metering,
}

impl StreamMeter {
    pub fn new(format: ApiFormat, client_wants_usage: bool) -> Self {
        Self {
            format,
            state: Metering {
                client_wants_usage,
                ..Metering::default()
            },
        }
    }

    /// Looks at one complete event (without its blank line). An event that
    /// does not parse is relayed and not counted.
    pub fn observe(&mut self, event: &[u8]) -> Verdict {
        // Read as the translators and the clients' SDKs read it: every
        // `data:` line, joined.
        let data = wire::event_data(event);
        if data.is_empty() {
            return Verdict::Relay;
        }
        self.format.wire().observe(&mut self.state, &data)
    }

    /// Usage so far. Where the provider reported no output (a stream cut
    /// short before its final usage), each content event relayed counts
    /// as one token, as providers send about one token per event; input
    /// the provider never reported is taken from `input_estimate`.
    pub fn tokens(&self, input_estimate: i64) -> Tokens {
        let state = &self.state;
        let mut tokens = state.tokens;
        if !state.reported {
            tokens.input = input_estimate;
        }
        if !state.finished {
            tokens.output = tokens.output.max(state.content_events);
        }
        tokens
    }

    /// Whether the provider's last event has been seen.
    pub fn ended(&self) -> bool {
        self.state.ended
    }
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
        let mut meter = StreamMeter::new(ApiFormat::OpenAi, false);
        assert_eq!(
            meter.observe(br#"data: {"choices":[],"usage":null}"#),
            Verdict::Relay
        );
        assert_eq!(meter.tokens(8).input, 8);
        assert_eq!(from_json(ApiFormat::OpenAi, br#"{"usage":null}"#), None);
        assert_eq!(from_json(ApiFormat::Anthropic, br#"{"usage":[5,7]}"#), None);
    }

    /// Anthropic's `message_start`, then `message_delta` with `delta`.
    fn anthropic_stream(meter: &mut StreamMeter, delta: &str, output_tokens: i64) {
        meter.observe(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"content\":[],\"usage\":{\"input_tokens\":9,\"output_tokens\":1}}}");
        meter.observe(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}");
        let message_delta = format!(
            "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{delta},\"usage\":{{\"output_tokens\":{output_tokens}}}}}"
        );
        meter.observe(message_delta.as_bytes());
    }

    #[test]
    fn a_stop_sequence_naming_an_event_type_does_not_make_it_that_event() {
        let mut meter = StreamMeter::new(ApiFormat::Anthropic, false);
        let delta = r#"{"stop_reason":"stop_sequence","stop_sequence":"content_block_delta"}"#;
        anthropic_stream(&mut meter, delta, 40);
        // The reported output, not the two events a substring search saw.
        let tokens = meter.tokens(0);
        assert_eq!((tokens.input, tokens.output), (9, 40));
    }

    #[test]
    fn text_that_looks_like_an_event_or_usage_is_only_text() {
        let text = r#"\"type\":\"message_delta\",\"usage\":{\"output_tokens\":999} content_block_delta \"choices\":[]"#;

        let mut meter = StreamMeter::new(ApiFormat::Anthropic, false);
        let start = br#"data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":"content_block_delta"}}"#;
        assert_eq!(meter.observe(start), Verdict::Relay);
        let event = format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}"
        );
        assert_eq!(meter.observe(event.as_bytes()), Verdict::Relay);
        let tokens = meter.tokens(3);
        assert_eq!((tokens.input, tokens.output), (3, 1));

        let mut meter = StreamMeter::new(ApiFormat::OpenAi, false);
        let chunk =
            format!(r#"data: {{"choices":[{{"index":0,"delta":{{"content":"{text}"}}}}]}}"#);
        assert_eq!(meter.observe(chunk.as_bytes()), Verdict::Relay);
        let tokens = meter.tokens(3);
        assert_eq!((tokens.input, tokens.output), (3, 1));
    }

    #[test]
    fn every_kind_of_openai_delta_output_is_counted() {
        let delivering = [
            r#"{"content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}"#,
            r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}"#,
            r#"{"reasoning_content":"hm"}"#,
            r#"{"reasoning":"hm","content":""}"#,
            r#"{"refusal":"no"}"#,
            // A lone surrogate is no UTF-8, yet the client got it.
            r#"{"content":"\ud800"}"#,
        ];
        let silent = [
            r#"{"role":"assistant","content":"","refusal":null}"#,
            r#"{"tool_calls":[]}"#,
            "{}",
            "null",
        ];
        let mut meter = StreamMeter::new(ApiFormat::OpenAi, false);
        for delta in delivering.iter().chain(&silent) {
            let chunk = format!(r#"data: {{"choices":[{{"index":0,"delta":{delta}}}]}}"#);
            assert_eq!(meter.observe(chunk.as_bytes()), Verdict::Relay);
        }
        assert_eq!(meter.tokens(0).output, 6);
    }

    #[test]
    fn events_that_do_not_parse_are_relayed_and_not_counted() {
        let mut meter = StreamMeter::new(ApiFormat::OpenAi, false);
        for chunk in [
            &br#"data: {"choices":[{"delta":{"content":"hi"}}]"#[..],
            b"data: not json",
            b": keep-alive",
        ] {
            assert_eq!(meter.observe(chunk), Verdict::Relay);
        }
        let mut anthropic = StreamMeter::new(ApiFormat::Anthropic, false);
        anthropic.observe(b"data: {\"delta\":{\"text\":\"no type\"}}");
        assert_eq!(meter.tokens(0).output + anthropic.tokens(0).output, 0);
    }

    #[test]
    fn counts_that_are_not_non_negative_integers_are_absent() {
        let body = br#"{"usage":{"prompt_tokens":-5,"completion_tokens":3.5,
            "prompt_tokens_details":{"cached_tokens":"2"},
            "completion_tokens_details":[1]}}"#;
        assert_eq!(from_json(ApiFormat::OpenAi, body), Some(Tokens::default()));

        let mut meter = StreamMeter::new(ApiFormat::Anthropic, false);
        anthropic_stream(&mut meter, "{}", 12);
        meter.observe(b"data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":\"7\",\"input_tokens\":-1,\"cache_read_input_tokens\":4}}");
        let tokens = meter.tokens(0);
        assert_eq!((tokens.input, tokens.output, tokens.cache_read), (9, 12, 4));
    }

    #[test]
    fn a_huge_count_is_bounded_so_its_cost_fits_the_ledger() {
        let body = br#"{"usage":{"prompt_tokens":9000000000000000000,"completion_tokens":1}}"#;
        let tokens = from_json(ApiFormat::OpenAi, body).unwrap();
        assert_eq!(tokens.input, 1 << 40);
        // At a million credits per million tokens, still an i64.
        let prices = crate::platform::pricing::Prices {
            input: 1_000_000_000_000,
            ..Default::default()
        };
        assert!(tokens.cost(&prices) < i64::MAX);
    }

    #[test]
    fn data_split_over_several_lines_is_read_whole() {
        let mut meter = StreamMeter::new(ApiFormat::Anthropic, false);
        meter.observe(b"event: message_stop\ndata: {\"type\":\ndata: \"message_stop\"}");
        assert!(meter.ended());
        let mut meter = StreamMeter::new(ApiFormat::OpenAi, false);
        meter.observe(b"data: [DONE]  ");
        assert!(meter.ended());
    }

    #[test]
    fn ended_is_the_providers_last_event() {
        let mut meter = StreamMeter::new(ApiFormat::OpenAi, true);
        meter.observe(br#"data: {"choices":[{"delta":{"content":"[DONE]"}}]}"#);
        meter.observe(br#"data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#);
        assert!(!meter.ended());
        assert_eq!(meter.observe(b"data: [DONE]"), Verdict::Relay);
        assert!(meter.ended());

        let mut meter = StreamMeter::new(ApiFormat::Anthropic, false);
        anthropic_stream(
            &mut meter,
            r#"{"stop_reason":"stop_sequence","stop_sequence":"message_stop"}"#,
            5,
        );
        assert!(!meter.ended());
        assert_eq!(
            meter.observe(b"event: message_stop\ndata: {\"type\":\"message_stop\"}"),
            Verdict::Relay
        );
        assert!(meter.ended());
    }

    /// Found by `prop_usage_reads_the_same_from_bytes_and_from_a_parsed_answer`.
    #[test]
    fn an_answer_that_is_not_an_object_reports_no_usage() {
        for body in [
            &b"[{}]"[..],
            br#"[{"prompt_tokens":5},{}]"#,
            b"[]",
            b"3",
            b"null",
        ] {
            assert_eq!(from_json(ApiFormat::OpenAi, body), None);
            assert_eq!(from_json(ApiFormat::Anthropic, body), None);
        }
        assert!(from_json(ApiFormat::OpenAi, br#"{"usage":{}}"#).is_some());
    }

    mod properties {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::*;
        use crate::platform::arbitrary;

        const FORMATS: [ApiFormat; 3] = [
            ApiFormat::OpenAi,
            ApiFormat::Anthropic,
            ApiFormat::Responses,
        ];

        /// An answer holding a `usage` of any shape, or any JSON at all.
        fn answer() -> impl Strategy<Value = Value> {
            prop_oneof![
                (arbitrary::object(), arbitrary::json()).prop_map(|(mut answer, usage)| {
                    answer.insert("usage".into(), usage);
                    Value::Object(answer)
                }),
                (
                    any::<u64>(),
                    any::<i64>(),
                    any::<u64>(),
                    arbitrary::scalar()
                )
                    .prop_map(|(a, b, c, d)| json!({ "usage": {
                        "prompt_tokens": a, "completion_tokens": b, "input_tokens": c,
                        "output_tokens": d, "cache_read_input_tokens": a,
                        "prompt_tokens_details": { "cached_tokens": c },
                        "input_tokens_details": { "cached_tokens": a },
                        "output_tokens_details": { "reasoning_tokens": c },
                    } }),),
                arbitrary::json(),
            ]
        }

        fn within_bounds(tokens: &Tokens) -> bool {
            let bound = 1_i64 << 40;
            [
                tokens.input,
                tokens.output,
                tokens.cache_read,
                tokens.cache_write,
                tokens.reasoning,
            ]
            .iter()
            .all(|count| (0..=bound).contains(count))
        }

        proptest! {
            #![proptest_config(arbitrary::config(512))]

            /// The two ways of reading an answer's usage (its bytes, or the
            /// answer parsed for translation) agree, and every count is
            /// between 0 and 2^40.
            #[test]
            fn prop_usage_reads_the_same_from_bytes_and_from_a_parsed_answer(answer in answer()) {
                let bytes = serde_json::to_vec(&answer).unwrap();
                for format in FORMATS {
                    let from_bytes = from_json(format, &bytes);
                    prop_assert_eq!(from_bytes, from_answer(format, &answer), "{}", answer);
                    prop_assert!(from_bytes.as_ref().is_none_or(within_bounds));
                }
            }

            /// Any bytes as an answer or as stream events: no panic, and
            /// counts within bounds.
            #[test]
            fn prop_no_bytes_panic_the_meters(
                bytes in prop_oneof![arbitrary::sse_bytes(), prop::collection::vec(any::<u8>(), 0..256)],
                wants_usage in any::<bool>(),
            ) {
                for format in FORMATS {
                    prop_assert!(from_json(format, &bytes).as_ref().is_none_or(within_bounds));
                    let mut meter = StreamMeter::new(format, wants_usage);
                    for event in bytes.split(|b| *b == b'\n') {
                        meter.observe(event);
                    }
                    meter.observe(&bytes);
                    prop_assert!(within_bounds(&meter.tokens(0)));
                }
            }
        }
    }
}
