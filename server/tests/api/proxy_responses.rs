//! `POST /v1/responses`, OpenAI's Responses API as Codex and the SDKs'
//! `responses.create` send it: passed through to a provider that speaks it
//! (an `openai_responses` provider over HTTP, the built-in mock in
//! process), JSON and streamed, metered from the usage the provider
//! reported and charged once; the fields whose cost Tollgate cannot bound
//! refused naming the field, in OpenAI's error shape.

use axum::http::StatusCode;
use serde_json::{Value, json};
use server::proxy::request::Endpoint;

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
fn row_counts(row: &server::entity::usage_record::Model) -> (i64, i64, i64, i64) {
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
        let (status, headers, body) = proxy
            .call(ENDPOINT, llm_body(ENDPOINT, "gpt-mock", false))
            .await;

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
        let streamed = proxy
            .stream(ENDPOINT, llm_body(ENDPOINT, "gpt-mock", true))
            .await;

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
    let unknown_model = proxy
        .call(ENDPOINT, llm_body(ENDPOINT, "no-such-model", false))
        .await;

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

#[tokio::test]
async fn a_model_whose_provider_does_not_speak_responses_is_refused_not_mistranslated() {
    for kind in ["openai", "anthropic"] {
        // Arrange
        let proxy = ProxyApp::start().await;
        proxy.route(kind, "chat-only").await;

        // Act
        let answer = proxy
            .call(ENDPOINT, llm_body(ENDPOINT, "chat-only", false))
            .await;

        // Assert
        let message = assert_openai_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            None,
        );
        assert!(message.contains("Responses API"), "{kind}: {message}");
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
        let (status, headers, body) = proxy
            .call(endpoint, llm_body(endpoint, "gpt-mock", false))
            .await;

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
