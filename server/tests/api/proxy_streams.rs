//! Streams through the proxy: events reach the client unchanged (but for
//! OpenAI's usage chunk when the client did not ask for it), and a stream
//! that breaks off, on either side, is still recorded.

use axum::{body::Body, http::StatusCode};
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};
use server::gateway::proxy::request::Endpoint;

use crate::helpers::{
    INPUT_PRICE, PROMPT_TOKENS, ProxyApp, REPLY, REPLY_TOKENS, UPSTREAM_KEY, llm_body, request_id,
    sse_data, sse_events, streamed_text,
};

/// What the mock upstream answers `body` when called directly over HTTP.
async fn direct(upstream: &str, endpoint: Endpoint, body: &str) -> String {
    // reqwest is built without a default TLS provider; the proxy installs
    // this one too, and installing it twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let request = match endpoint {
        Endpoint::ChatCompletions => client
            .post(format!("{upstream}/v1/chat/completions"))
            .bearer_auth(UPSTREAM_KEY),
        Endpoint::Responses => client
            .post(format!("{upstream}/v1/responses"))
            .bearer_auth(UPSTREAM_KEY),
        Endpoint::Embeddings => client
            .post(format!("{upstream}/v1/embeddings"))
            .bearer_auth(UPSTREAM_KEY),
        Endpoint::Messages => client
            .post(format!("{upstream}/v1/messages"))
            .header("x-api-key", UPSTREAM_KEY)
            .header("anthropic-version", "2023-06-01"),
        Endpoint::GenerateContent => unreachable!("this file's streams are the chat formats'"),
    };
    let response = request
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    response.text().await.unwrap()
}

/// OpenAI's `"created":<Unix seconds>` is the one thing that may differ
/// between two answers to the same request.
fn without_created(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\"created\":") {
        let (before, after) = rest.split_at(at + "\"created\":".len());
        out.push_str(before);
        out.push('0');
        rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// Reads a body until it ends or fails; returns what arrived and whether
/// it failed.
pub(crate) async fn read_until_error(body: Body) -> (String, bool) {
    let mut body = body;
    let mut received = Vec::new();
    loop {
        match body.frame().await {
            None => return (String::from_utf8(received).unwrap(), false),
            Some(Err(_)) => return (String::from_utf8(received).unwrap(), true),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    received.extend_from_slice(data);
                }
            }
        }
    }
}

/// The body the upstream gets for an OpenAI stream: the client's, asking
/// for the usage chunk, built as the proxy builds it.
fn with_usage_requested(body: &Value) -> String {
    let mut body: Map<String, Value> = serde_json::from_value(body.clone()).unwrap();
    body.insert(
        "stream_options".to_owned(),
        json!({ "include_usage": true }),
    );
    Value::Object(body).to_string()
}

#[tokio::test]
async fn an_anthropic_stream_reaches_the_client_byte_for_byte() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "mock-passthrough").await;
    let body = llm_body(Endpoint::Messages, "mock-passthrough", true);

    let streamed = proxy.stream(Endpoint::Messages, body.clone()).await;
    let expected = direct(&proxy.upstream, Endpoint::Messages, &body.to_string()).await;

    assert_eq!(streamed.status, StatusCode::OK);
    assert_eq!(streamed.text, expected);
}

#[tokio::test]
async fn an_openai_stream_with_include_usage_reaches_the_client_byte_for_byte() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "mock-passthrough").await;
    let mut body = llm_body(Endpoint::ChatCompletions, "mock-passthrough", true);
    body["stream_options"] = json!({ "include_usage": true });
    // With a cap of its own the body goes upstream as it is (without one,
    // Tollgate adds the default cap it held for).
    body["max_completion_tokens"] = json!(100);

    let streamed = proxy.stream(Endpoint::ChatCompletions, body.clone()).await;
    let expected = direct(
        &proxy.upstream,
        Endpoint::ChatCompletions,
        &body.to_string(),
    )
    .await;

    assert_eq!(streamed.status, StatusCode::OK);
    assert_eq!(without_created(&streamed.text), without_created(&expected));
    let usage = sse_events(&streamed.text)
        .into_iter()
        .filter_map(sse_data)
        .find(|chunk| chunk["choices"] == json!([]))
        .expect("the client asked for the usage chunk");
    assert_eq!(usage["usage"]["prompt_tokens"], PROMPT_TOKENS);
}

#[tokio::test]
async fn an_openai_stream_without_include_usage_hides_only_the_usage_chunk_and_still_meters_it() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "mock-passthrough").await;
    let mut body = llm_body(Endpoint::ChatCompletions, "mock-passthrough", true);
    body["max_completion_tokens"] = json!(100);

    let streamed = proxy.stream(Endpoint::ChatCompletions, body.clone()).await;
    let upstream_sent = direct(
        &proxy.upstream,
        Endpoint::ChatCompletions,
        &with_usage_requested(&body),
    )
    .await;

    assert_eq!(streamed.status, StatusCode::OK);
    let events = sse_events(&streamed.text);
    assert_eq!(events.last(), Some(&"data: [DONE]"), "{}", streamed.text);
    assert!(
        !streamed.text.contains("\"choices\":[]"),
        "the usage chunk reached the client: {}",
        streamed.text
    );
    for chunk in events.iter().copied().filter_map(sse_data) {
        assert_eq!(chunk.get("usage"), Some(&Value::Null), "{chunk}");
    }
    // Everything but the usage chunk, unchanged.
    let expected: String = sse_events(&upstream_sent)
        .into_iter()
        .filter(|event| !event.contains("\"choices\":[]"))
        .map(|event| format!("{event}\n\n"))
        .collect();
    assert_eq!(without_created(&streamed.text), without_created(&expected));
    assert_eq!(
        streamed_text(Endpoint::ChatCompletions, &streamed.text),
        REPLY
    );
    let row = proxy.usage_row(&request_id(&streamed.headers)).await;
    assert_eq!(
        (row.input_tokens, row.output_tokens),
        (PROMPT_TOKENS, REPLY_TOKENS)
    );
    assert_eq!(row.error_kind, None);
}

#[tokio::test]
async fn an_anthropic_stream_cut_by_the_upstream_breaks_off_for_the_client_and_is_recorded() {
    let proxy = ProxyApp::start().await;
    // `drip` makes the mock send each event before the cut: over HTTP a
    // body that fails before anything was flushed loses the whole answer.
    let (id, response) = proxy
        .routed_stream("anthropic", Endpoint::Messages, "mock-drip-stream-cut")
        .await;
    let (received, failed) = read_until_error(response.into_body()).await;

    assert!(failed, "the client's body ended cleanly: {received}");
    // The mock cuts its 18 events after 9: the opening three and 6 words.
    assert_eq!(sse_events(&received).len(), 9, "{received}");
    assert_eq!(
        streamed_text(Endpoint::Messages, &received),
        "Hello from the Tollgate mock. You"
    );
    let row = proxy.usage_row(&id).await;
    assert_eq!(row.error_kind.as_deref(), Some("upstream_stream_error"));
    assert!(row.streamed);
    assert_eq!(row.status_code, 200);
    // Input as message_start reported it; output: the 6 words delivered.
    assert_eq!((row.input_tokens, row.output_tokens), (PROMPT_TOKENS, 6));
    assert_eq!(row.cost, 5 * 3 + 6 * 15);
}

#[tokio::test]
async fn an_openai_stream_cut_by_the_upstream_breaks_off_and_counts_the_words_delivered() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "mock-drip-stream-cut").await;
    let body = llm_body(Endpoint::ChatCompletions, "mock-drip-stream-cut", true).to_string();

    let response = proxy
        .open(
            Endpoint::ChatCompletions.path(),
            Endpoint::ChatCompletions,
            &[],
            body.clone(),
        )
        .await;
    let id = request_id(response.headers());
    let (received, failed) = read_until_error(response.into_body()).await;

    assert!(failed, "the client's body ended cleanly: {received}");
    // The mock cuts its 16 events after 8: the role chunk and 7 words.
    assert_eq!(sse_events(&received).len(), 8, "{received}");
    assert_eq!(
        streamed_text(Endpoint::ChatCompletions, &received),
        "Hello from the Tollgate mock. You said:"
    );
    let row = proxy.usage_row(&id).await;
    assert_eq!(row.error_kind.as_deref(), Some("upstream_stream_error"));
    assert!(row.streamed);
    // No usage came: the input is estimated from the body's size (four
    // bytes a token), the output is the words delivered.
    let estimate = i64::try_from(body.len().div_ceil(4)).unwrap();
    assert_eq!((row.input_tokens, row.output_tokens), (estimate, 7));
}

/// Opens a `drip` stream, reads its first frame and goes away.
async fn disconnect_after_first_frame(proxy: &ProxyApp, endpoint: Endpoint, body: &str) -> String {
    let response = proxy
        .open(endpoint.path(), endpoint, &[], body.to_owned())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = request_id(response.headers());
    let mut body = response.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(!first.data_ref().unwrap().is_empty());
    drop(body);
    id
}

#[tokio::test]
async fn an_anthropic_client_that_goes_away_mid_stream_is_recorded_with_the_reported_input() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "mock-drip").await;
    let body = llm_body(Endpoint::Messages, "mock-drip", true).to_string();

    let id = disconnect_after_first_frame(&proxy, Endpoint::Messages, &body).await;
    let row = proxy.usage_row(&id).await;

    assert_eq!(row.error_kind.as_deref(), Some("client_disconnected"));
    assert!(row.streamed);
    // message_start reports the input and one output token.
    assert_eq!((row.input_tokens, row.output_tokens), (PROMPT_TOKENS, 1));
    assert!(row.ttft_ms.is_some());
    assert!(
        row.duration_ms < 800,
        "settled when the stream would have ended, not when the client left: {} ms",
        row.duration_ms
    );
}

#[tokio::test]
async fn an_openai_client_that_goes_away_mid_stream_is_recorded_with_the_estimated_input() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "mock-drip").await;
    let body = llm_body(Endpoint::ChatCompletions, "mock-drip", true).to_string();

    let id = disconnect_after_first_frame(&proxy, Endpoint::ChatCompletions, &body).await;
    let row = proxy.usage_row(&id).await;

    assert_eq!(row.error_kind.as_deref(), Some("client_disconnected"));
    assert!(row.streamed);
    let estimate = i64::try_from(body.len().div_ceil(4)).unwrap();
    // Only the role chunk went out: no words.
    assert_eq!((row.input_tokens, row.output_tokens), (estimate, 0));
    assert_eq!(
        row.cost,
        (estimate * INPUT_PRICE + 999_999) / 1_000_000,
        "{row:?}"
    );
}
