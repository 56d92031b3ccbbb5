//! `POST /v1/responses`, OpenAI's Responses API as Codex and the SDKs'
//! `responses.create` send it: passed through to a provider that speaks it
//! (an `openai_responses` provider over HTTP, the built-in mock in
//! process), JSON and streamed, metered from the usage the provider
//! reported and charged once; the fields whose cost Tollgate cannot bound
//! refused naming the field, in OpenAI's error shape.

use axum::http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use server::gateway::proxy::request::Endpoint;

use crate::helpers::{
    COST, PROMPT, PROMPT_TOKENS, ProxyApp, REPLY, REPLY_TOKENS, assert_openai_error, llm_body,
    request_id, sse_data, sse_events, streamed_text,
};

const ENDPOINT: Endpoint = Endpoint::Responses;

/// The kinds of provider that speak the Responses API: OpenAI's over HTTP
/// (the mock upstream) and the mock in process.
const SPEAKERS: [&str; 2] = ["openai_responses", "mock"];

/// A usage row's counts: input (without cached), output, cache read,
/// reasoning.
fn row_counts(row: &server::platform::entity::usage_record::Model) -> (i64, i64, i64, i64) {
    (
        row.input_tokens,
        row.output_tokens,
        row.cache_read_tokens,
        row.reasoning_tokens,
    )
}

/// The same counts from a Responses `usage` object, as the client reads
/// it: cached input inside `input_tokens`, reasoning inside output.
fn reported_counts(usage: &Value) -> (i64, i64, i64, i64) {
    let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_i64).unwrap();
    let cached = count("/input_tokens_details/cached_tokens");
    (
        count("/input_tokens") - cached,
        count("/output_tokens"),
        cached,
        count("/output_tokens_details/reasoning_tokens"),
    )
}

#[tokio::test]
async fn a_response_is_passed_through_to_a_provider_that_speaks_it_and_charged_its_usage() {
    for kind in SPEAKERS {
        // Arrange
        let proxy = ProxyApp::start().await;
        let model_id = proxy.route(kind, "gpt-mock").await;

        // Act
        let (status, headers, body) = proxy.ask(ENDPOINT, "gpt-mock").await;

        // Assert
        assert_eq!(status, StatusCode::OK, "{kind}: {body}");
        assert_eq!(body["object"], "response", "{kind}: {body}");
        assert_eq!(body["status"], "completed");
        let message = body["output"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["type"] == "message")
            .unwrap_or_else(|| panic!("{kind}: no message in {body}"));
        assert_eq!(message["content"][0]["text"], REPLY);
        assert_eq!(
            reported_counts(&body["usage"]),
            (PROMPT_TOKENS, REPLY_TOKENS, 0, 0)
        );
        let row = proxy.usage_row(&request_id(&headers)).await;
        assert_eq!(row.endpoint, "responses");
        assert_eq!(row.model_id.as_deref(), Some(model_id.as_str()));
        assert!(!row.streamed);
        assert_eq!(row.status_code, 200);
        assert_eq!(row_counts(&row), reported_counts(&body["usage"]), "{kind}");
        assert_eq!(row.cost, COST, "{kind}");
        assert_eq!(row.charged, COST, "{kind}");
    }
}

#[tokio::test]
async fn a_streamed_response_keeps_its_event_sequence_and_is_charged_the_completed_usage() {
    for kind in SPEAKERS {
        // Arrange
        let proxy = ProxyApp::start().await;
        proxy.route(kind, "gpt-mock").await;

        // Act
        let streamed = proxy.ask_streamed(ENDPOINT, "gpt-mock").await;

        // Assert
        assert_eq!(streamed.status, StatusCode::OK, "{kind}: {}", streamed.text);
        let events: Vec<Value> = sse_events(&streamed.text)
            .into_iter()
            .filter_map(sse_data)
            .collect();
        let kinds: Vec<&str> = events
            .iter()
            .map(|event| event["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds.first(),
            Some(&"response.created"),
            "{kind}: {kinds:?}"
        );
        assert_eq!(kinds.get(1), Some(&"response.in_progress"));
        assert_eq!(kinds.last(), Some(&"response.completed"));
        assert!(kinds.contains(&"response.output_item.added"), "{kinds:?}");
        let numbers: Vec<i64> = events
            .iter()
            .map(|event| event["sequence_number"].as_i64().unwrap())
            .collect();
        let expected: Vec<i64> = (0..).take(numbers.len()).collect();
        assert_eq!(numbers, expected, "{kind}: sequence numbers");
        assert_eq!(streamed_text(ENDPOINT, &streamed.text), REPLY);
        let usage = &events.last().unwrap()["response"]["usage"];
        let row = proxy.usage_row_of(&streamed.headers).await;
        assert!(row.streamed);
        assert_eq!(row.endpoint, "responses");
        assert_eq!(row_counts(&row), reported_counts(usage), "{kind}");
        assert_eq!(row.charged, COST, "{kind}");
    }
}

#[tokio::test]
async fn reasoning_and_cached_input_are_metered_as_the_provider_reported_them() {
    for stream in [false, true] {
        // Arrange
        let proxy = ProxyApp::start().await;
        proxy.route("openai_responses", "gpt-reasoning-cache").await;
        let mut body = llm_body(ENDPOINT, "gpt-reasoning-cache", stream);
        body["instructions"] = json!("You are terse. ".repeat(40));

        // Act
        let (usage, headers) = if stream {
            let streamed = proxy.stream(ENDPOINT, body).await;
            assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.text);
            let last = sse_events(&streamed.text)
                .into_iter()
                .rev()
                .find_map(sse_data)
                .unwrap();
            (last["response"]["usage"].clone(), streamed.headers)
        } else {
            let (status, headers, body) = proxy.call(ENDPOINT, body).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            (body["usage"].clone(), headers)
        };

        // Assert
        let reported = reported_counts(&usage);
        assert!(reported.2 > 0, "no cached input reported: {usage}");
        assert!(reported.3 > 0, "no reasoning reported: {usage}");
        let row = proxy.usage_row_of(&headers).await;
        assert_eq!(row_counts(&row), reported, "stream: {stream}");
    }
}

#[tokio::test]
async fn the_output_cap_is_held_and_sent_as_max_output_tokens() {
    // Arrange: the mock stops at the cap it was sent, as providers do.
    let proxy = ProxyApp::start().await;
    proxy.route("openai_responses", "gpt-mock").await;
    let mut body = llm_body(ENDPOINT, "gpt-mock", false);
    body["max_output_tokens"] = json!(3);

    // Act
    let (status, headers, answer) = proxy.call(ENDPOINT, body).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["status"], "incomplete");
    assert_eq!(answer["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(answer["usage"]["output_tokens"], 3);
    let row = proxy.usage_row_of(&headers).await;
    assert_eq!(row.output_tokens, 3);
}

#[tokio::test]
async fn fields_whose_cost_tollgate_cannot_bound_are_refused_naming_them() {
    // Arrange
    let proxy = ProxyApp::start().await;
    proxy.route("openai_responses", "gpt-mock").await;
    let cases = [
        ("previous_response_id", json!("resp_123")),
        ("conversation", json!("conv_123")),
        ("background", json!(true)),
    ];
    for (field, value) in cases {
        let mut body = llm_body(ENDPOINT, "gpt-mock", false);
        body[field] = value;

        // Act
        let answer = proxy.call(ENDPOINT, body).await;

        // Assert
        let message = assert_openai_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            Some(field),
        );
        assert!(message.starts_with(field), "{message}");
        assert!(proxy.has_no_usage_row(&answer.1).await);
    }
}

#[tokio::test]
async fn a_malformed_responses_request_is_400_naming_its_field() {
    // Arrange
    let proxy = ProxyApp::start().await;
    proxy.route("openai_responses", "gpt-mock").await;
    let cases = [
        (json!({ "model": "gpt-mock" }), "input"),
        (json!({ "model": "gpt-mock", "input": 5 }), "input"),
        (json!({ "input": PROMPT }), "model"),
        (
            json!({ "model": "gpt-mock", "input": PROMPT, "max_output_tokens": 0 }),
            "max_output_tokens",
        ),
        (
            json!({ "model": "gpt-mock", "input": PROMPT, "stream": "yes" }),
            "stream",
        ),
    ];
    for (body, field) in cases {
        // Act
        let answer = proxy.call(ENDPOINT, body).await;

        // Assert
        assert_openai_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            Some(field),
        );
    }
}

#[tokio::test]
async fn refusals_come_in_openais_shape() {
    // Arrange
    let proxy = ProxyApp::start().await;
    proxy.route("openai_responses", "gpt-mock").await;
    let body = llm_body(ENDPOINT, "gpt-mock", false);

    // Act
    let without_key = proxy.call_with_key(ENDPOINT, None, body.clone()).await;
    let unknown_model = proxy.ask(ENDPOINT, "no-such-model").await;

    // Assert
    assert_openai_error(
        &without_key,
        StatusCode::UNAUTHORIZED,
        "invalid_request_error",
        Some("invalid_api_key"),
        None,
    );
    assert_openai_error(
        &unknown_model,
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("model_not_found"),
        Some("model"),
    );
}

/// Asks `model` with a `lookup` function tool (and Codex's hosted tools,
/// which a chat provider goes without), then sends the call's output back.
async fn tool_round_trip(proxy: &ProxyApp, model: &str, stream: bool) -> (Value, Value) {
    let tools = json!([
        { "type": "function", "name": "lookup", "description": "Looks a word up.",
          "parameters": { "type": "object", "properties": { "query": { "type": "string" } } } },
        { "type": "web_search", "external_web_access": false },
    ]);
    let ask = |input: Value| {
        json!({ "model": model, "input": input, "tools": tools, "stream": stream,
                "store": false, "include": ["reasoning.encrypted_content"],
                "prompt_cache_key": "session-1", "reasoning": { "summary": "auto" } })
    };
    let first = answer_of(proxy, ask(json!(PROMPT)), stream).await;
    let call = first["output"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["type"] == "function_call")
        .unwrap_or_else(|| panic!("{model}: no function call in {first}"))
        .clone();
    let second_input = json!([
        { "type": "message", "role": "user", "content": [{ "type": "input_text", "text": PROMPT }] },
        { "type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque" },
        { "type": "function_call", "call_id": call["call_id"], "name": call["name"],
          "arguments": call["arguments"] },
        { "type": "function_call_output", "call_id": call["call_id"], "output": "a small bird" },
    ]);
    let second = answer_of(proxy, ask(second_input), stream).await;
    (call, second)
}

/// The response a request ends with: the JSON answer, or the streamed
/// one's last event's response (its sequence numbers checked).
async fn answer_of(proxy: &ProxyApp, body: Value, stream: bool) -> Value {
    if !stream {
        let (status, _, answer) = proxy.call(ENDPOINT, body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        return answer;
    }
    let streamed = proxy.stream(ENDPOINT, body).await;
    assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.text);
    let events: Vec<Value> = sse_events(&streamed.text)
        .into_iter()
        .filter_map(sse_data)
        .collect();
    for (number, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], json!(number), "{}", streamed.text);
    }
    let last = events.last().unwrap();
    assert_eq!(last["type"], "response.completed", "{}", streamed.text);
    last["response"].clone()
}

#[tokio::test]
async fn a_response_from_a_chat_only_provider_is_translated_both_ways_and_charged_its_usage() {
    for kind in ["openai", "anthropic"] {
        for stream in [false, true] {
            // Arrange
            let proxy = ProxyApp::start().await;
            proxy.route(kind, "chat-only").await;
            let body = llm_body(ENDPOINT, "chat-only", stream);

            // Act
            let answer = answer_of(&proxy, body, stream).await;

            // Assert
            assert_eq!(answer["object"], "response", "{kind}: {answer}");
            assert_eq!(answer["status"], "completed");
            assert_eq!(answer["model"], "chat-only");
            assert_eq!(answer["output"][0]["type"], "message");
            assert_eq!(answer["output"][0]["content"][0]["text"], REPLY, "{kind}");
            assert_eq!(
                reported_counts(&answer["usage"]),
                (PROMPT_TOKENS, REPLY_TOKENS, 0, 0),
                "{kind} stream {stream}"
            );
            let rows = proxy.usage_rows().await;
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0].endpoint, "responses");
            assert_eq!(rows[0].streamed, stream);
            assert_eq!(row_counts(&rows[0]), reported_counts(&answer["usage"]));
            assert_eq!(rows[0].charged, COST, "{kind} stream {stream}");
        }
    }
}

#[tokio::test]
async fn a_function_call_round_trip_is_translated_for_a_chat_only_provider() {
    for kind in ["openai", "anthropic"] {
        for stream in [false, true] {
            // Arrange
            let proxy = ProxyApp::start().await;
            proxy.route(kind, "chat-only").await;

            // Act
            let (call, second) = tool_round_trip(&proxy, "chat-only", stream).await;

            // Assert
            assert_eq!(call["name"], "lookup", "{kind}: {call}");
            assert!(
                call["call_id"].as_str().is_some_and(|id| !id.is_empty()),
                "{call}"
            );
            let arguments: Value =
                serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
            assert!(arguments["query"].is_string(), "{kind}: {call}");
            let text = second["output"][0]["content"][0]["text"]
                .as_str()
                .unwrap_or_default();
            assert!(
                text.starts_with("The tool said: a small bird"),
                "{kind} stream {stream}: {second}"
            );
            let rows = proxy.usage_rows().await;
            assert_eq!(rows.len(), 2);
            assert!(
                rows.iter()
                    .all(|row| row.charged > 0 && row.endpoint == "responses")
            );
        }
    }
}

#[tokio::test]
async fn a_custom_tools_call_comes_back_as_a_custom_tool_call_with_its_input_as_text() {
    for stream in [false, true] {
        // Arrange: the mock calls the first tool, here the custom one.
        let proxy = ProxyApp::start().await;
        proxy.route("openai", "chat-only").await;
        let body = json!({
            "model": "chat-only", "input": PROMPT, "stream": stream,
            "tools": [{ "type": "custom", "name": "apply_patch", "description": "Edits files.",
                        "format": { "type": "grammar", "syntax": "lark", "definition": "start: /.+/" } }],
        });

        // Act
        let answer = answer_of(&proxy, body, stream).await;

        // Assert
        let call = &answer["output"][0];
        assert_eq!(
            call["type"], "custom_tool_call",
            "stream {stream}: {answer}"
        );
        assert_eq!(call["name"], "apply_patch");
        assert!(
            call["input"]
                .as_str()
                .is_some_and(|input| input.contains("one two three")),
            "{call}"
        );
    }
}

#[tokio::test]
async fn what_chat_cannot_carry_is_refused_naming_the_field() {
    // Arrange
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "chat-only").await;
    let cases = [
        (
            json!({ "tools": [{ "type": "file_search", "vector_store_ids": ["vs_1"] }] }),
            "tools[0].type",
        ),
        (
            json!({ "input": [{ "type": "item_reference", "id": "msg_1" }] }),
            "input[0].type",
        ),
        (
            json!({ "input": [{ "role": "user", "content": [{ "type": "input_file", "file_id": "file_1" }] }] }),
            "input[0].content[0].type",
        ),
        (
            json!({ "text": { "format": { "type": "xml" } } }),
            "text.format.type",
        ),
        (json!({ "prompt": { "id": "pmpt_1" } }), "prompt"),
    ];
    for (fields, param) in cases {
        let mut body = llm_body(ENDPOINT, "chat-only", false);
        for (field, value) in fields.as_object().unwrap() {
            body[field] = value.clone();
        }

        // Act
        let answer = proxy.call(ENDPOINT, body).await;

        // Assert
        assert_openai_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            Some(param),
        );
        assert!(proxy.has_no_usage_row(&answer.1).await);
    }
}

#[tokio::test]
async fn chat_clients_of_an_openai_responses_provider_still_get_chat_completions() {
    for endpoint in [Endpoint::ChatCompletions, Endpoint::Messages] {
        // Arrange
        let proxy = ProxyApp::start().await;
        proxy.route("openai_responses", "gpt-mock").await;

        // Act
        let (status, headers, body) = proxy.ask(endpoint, "gpt-mock").await;

        // Assert
        assert_eq!(status, StatusCode::OK, "{endpoint:?}: {body}");
        let text = match endpoint {
            Endpoint::Messages => &body["content"][0]["text"],
            _ => &body["choices"][0]["message"]["content"],
        };
        assert_eq!(text, REPLY, "{endpoint:?}");
        let row = proxy.usage_row_of(&headers).await;
        assert_eq!(row.endpoint, endpoint.label());
        assert_eq!(row.charged, COST);
    }
}

#[tokio::test]
async fn a_cut_stream_and_a_client_that_leaves_are_each_charged_once_for_what_was_used() {
    for kind in ["openai_responses", "openai", "anthropic"] {
        for (model, cut_by) in [
            ("mock-drip-stream-cut", "upstream_stream_error"),
            ("mock-drip", "client_disconnected"),
        ] {
            // Arrange
            let proxy = ProxyApp::start().await;
            proxy.route(kind, model).await;

            // Act
            let response = proxy.open_stream(ENDPOINT, model).await;
            let id = request_id(response.headers());
            let mut stream = response.into_body();
            if cut_by == "client_disconnected" {
                stream.frame().await.unwrap().unwrap();
                drop(stream);
            } else {
                while let Some(Ok(_)) = stream.frame().await {}
            }

            // Assert
            let case = format!("{kind} {model}");
            proxy.assert_cut_and_charged_once(&id, cut_by, &case).await;
        }
    }
}
