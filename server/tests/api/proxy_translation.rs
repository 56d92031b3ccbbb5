//! Either API calls a model of either kind of provider: the request is
//! translated into the provider's format and the answer back into the
//! client's, over HTTP to the mock upstream, and metered from the
//! provider's own usage.

use axum::http::{StatusCode, header};
use serde_json::json;
use server::gateway::proxy::request::Endpoint;

use crate::helpers::{
    COST, PROMPT_TOKENS, ProxyApp, REPLY, REPLY_TOKENS, llm_body, request_id, sse_data, sse_events,
    streamed_text,
};

#[tokio::test]
async fn an_anthropic_client_gets_an_anthropic_answer_from_an_openai_provider() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "gpt-test").await;

    let (status, headers, body) = proxy.ask(Endpoint::Messages, "gpt-test").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "gpt-test");
    assert_eq!(body["content"], json!([{ "type": "text", "text": REPLY }]));
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["input_tokens"], PROMPT_TOKENS);
    assert_eq!(body["usage"]["output_tokens"], REPLY_TOKENS);
    assert!(body["id"].as_str().unwrap().starts_with("msg_"), "{body}");
    // Anthropic's SDKs read `request-id`.
    assert_eq!(headers["request-id"], headers["x-request-id"]);
    let row = proxy.usage_row(&request_id(&headers)).await;
    assert_eq!(
        (row.input_tokens, row.output_tokens),
        (PROMPT_TOKENS, REPLY_TOKENS)
    );
    assert_eq!(row.endpoint, "messages");
    assert_eq!(row.cost, COST);
    assert_eq!(row.charged, COST);
}

#[tokio::test]
async fn an_openai_client_gets_an_openai_answer_from_an_anthropic_provider() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "claude-test").await;
    // OpenAI clients need not name max_tokens; Anthropic requires it.
    let request = json!({
        "model": "claude-test",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": crate::helpers::PROMPT },
        ],
    });

    let (status, headers, body) = proxy.call(Endpoint::ChatCompletions, request).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "claude-test");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], REPLY);
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // The mock counts words: the system prompt reached it as Anthropic's
    // `system`, two words more.
    let input = PROMPT_TOKENS + 2;
    assert_eq!(body["usage"]["prompt_tokens"], input);
    assert_eq!(body["usage"]["completion_tokens"], REPLY_TOKENS);
    assert_eq!(body["usage"]["total_tokens"], input + REPLY_TOKENS);
    let row = proxy.usage_row(&request_id(&headers)).await;
    assert_eq!((row.input_tokens, row.output_tokens), (input, REPLY_TOKENS));
    assert!(row.cost > COST, "two more input tokens cost more");
    assert_eq!(row.charged, row.cost);
}

#[tokio::test]
async fn a_field_the_provider_cannot_express_is_refused_naming_it_and_costs_nothing() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "claude-test").await;
    proxy.route("openai", "gpt-test").await;

    let mut openai = llm_body(Endpoint::ChatCompletions, "claude-test", false);
    openai["n"] = json!(3);
    let (status, headers, body) = proxy.call(Endpoint::ChatCompletions, openai).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "n");
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        proxy.has_no_usage_row(&headers).await,
        "refused before admission"
    );

    let mut anthropic = llm_body(Endpoint::Messages, "gpt-test", false);
    anthropic["messages"][0]["content"] =
        json!([{ "type": "document", "source": { "type": "text", "data": "x" } }]);
    let (status, _, body) = proxy.call(Endpoint::Messages, anthropic).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["type"], "error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("messages[0].content[0]"),
        "{body}"
    );
}

#[tokio::test]
async fn an_anthropic_client_streams_from_an_openai_provider_in_anthropic_events() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "gpt-test").await;

    let streamed = proxy.ask_streamed(Endpoint::Messages, "gpt-test").await;

    assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.text);
    assert_eq!(streamed.headers[header::CONTENT_TYPE], "text/event-stream");
    assert_eq!(streamed_text(Endpoint::Messages, &streamed.text), REPLY);
    let events: Vec<&str> = sse_events(&streamed.text)
        .iter()
        .filter_map(|e| e.lines().next()?.strip_prefix("event: "))
        .collect();
    assert_eq!(events.first(), Some(&"message_start"));
    assert_eq!(events.last(), Some(&"message_stop"));
    assert!(!streamed.text.contains("[DONE]"), "{}", streamed.text);
    let delta = sse_events(&streamed.text)
        .into_iter()
        .filter_map(sse_data)
        .find(|data| data["type"] == "message_delta")
        .expect("a message_delta");
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["input_tokens"], PROMPT_TOKENS);
    assert_eq!(delta["usage"]["output_tokens"], REPLY_TOKENS);
    let row = proxy.usage_row(&request_id(&streamed.headers)).await;
    assert!(row.streamed);
    assert_eq!(row.error_kind, None);
    assert_eq!(
        (row.input_tokens, row.output_tokens),
        (PROMPT_TOKENS, REPLY_TOKENS)
    );
    assert_eq!(row.charged, COST);
}

#[tokio::test]
async fn an_openai_client_streams_from_an_anthropic_provider_in_openai_chunks() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "claude-test").await;
    let mut body = llm_body(Endpoint::ChatCompletions, "claude-test", true);
    body["stream_options"] = json!({ "include_usage": true });

    let streamed = proxy.stream(Endpoint::ChatCompletions, body).await;

    assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.text);
    assert_eq!(
        streamed_text(Endpoint::ChatCompletions, &streamed.text),
        REPLY
    );
    assert!(
        streamed.text.ends_with("data: [DONE]\n\n"),
        "{}",
        streamed.text
    );
    let chunks: Vec<_> = sse_events(&streamed.text)
        .into_iter()
        .filter_map(sse_data)
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop"),
        "{}",
        streamed.text
    );
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["prompt_tokens"], PROMPT_TOKENS);
    assert_eq!(usage["completion_tokens"], REPLY_TOKENS);
    let row = proxy.usage_row(&request_id(&streamed.headers)).await;
    assert_eq!(
        (row.input_tokens, row.output_tokens),
        (PROMPT_TOKENS, REPLY_TOKENS)
    );
    assert_eq!(row.charged, COST);
}

fn weather_tool_anthropic() -> serde_json::Value {
    json!({
        "name": "lookup",
        "description": "Looks something up",
        "input_schema": { "type": "object", "properties": { "query": { "type": "string" } } },
    })
}

#[tokio::test]
async fn a_tool_round_trip_from_an_anthropic_client_through_an_openai_provider() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "gpt-test").await;
    let ask = json!({
        "model": "gpt-test",
        "max_tokens": 200,
        "tools": [weather_tool_anthropic()],
        "messages": [{ "role": "user", "content": "weather in Oslo" }],
    });

    let (status, _, body) = proxy.call(Endpoint::Messages, ask.clone()).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stop_reason"], "tool_use");
    let call = &body["content"][0];
    assert_eq!(call["type"], "tool_use");
    assert_eq!(call["name"], "lookup");
    assert_eq!(call["input"], json!({ "query": "weather in Oslo" }));

    let mut answer = ask;
    answer["messages"] = json!([
        { "role": "user", "content": "weather in Oslo" },
        { "role": "assistant", "content": [call] },
        { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": call["id"], "content": "minus three" }] },
    ]);
    let (status, _, body) = proxy.call(Endpoint::Messages, answer).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["content"][0]["text"], "The tool said: minus three");
}

#[tokio::test]
async fn an_openai_client_streams_a_tool_call_from_an_anthropic_provider() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "claude-test").await;
    let request = json!({
        "model": "claude-test",
        "stream": true,
        "tools": [{ "type": "function", "function": { "name": "lookup", "parameters": { "type": "object" } } }],
        "messages": [{ "role": "user", "content": "weather in Oslo" }],
    });

    let streamed = proxy.stream(Endpoint::ChatCompletions, request).await;

    assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.text);
    let chunks: Vec<_> = sse_events(&streamed.text)
        .into_iter()
        .filter_map(sse_data)
        .collect();
    let calls: Vec<&serde_json::Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].get(0))
        .collect();
    assert_eq!(calls[0]["function"]["name"], "lookup");
    assert!(calls[0]["id"].as_str().unwrap().starts_with("toolu_"));
    let arguments: String = calls
        .iter()
        .filter_map(|c| c["function"]["arguments"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&arguments).unwrap(),
        json!({ "query": "weather in Oslo" })
    );
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls"),
        "{}",
        streamed.text
    );
    let row = proxy.usage_row(&request_id(&streamed.headers)).await;
    assert!(row.output_tokens > 0 && row.charged > 0, "{row:?}");
}

async fn count(proxy: &ProxyApp, key: Option<&str>, model: &str) -> crate::helpers::Answer {
    let request = crate::helpers::llm_request(
        "/v1/messages/count_tokens",
        Endpoint::Messages,
        key,
        &[],
        json!({
            "model": model,
            "system": "Be brief.",
            "messages": [{ "role": "user", "content": crate::helpers::PROMPT }],
        })
        .to_string(),
    );
    proxy.app.send(request).await
}

#[tokio::test]
async fn count_tokens_asks_an_anthropic_provider_and_estimates_for_others_without_charging() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "claude-test").await;
    proxy.route("openai", "gpt-test").await;

    // The mock counts words: five of the prompt, two of the system prompt.
    let (status, _, body) = count(&proxy, Some(&proxy.key), "claude-test").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "input_tokens": 7 }));

    // Four bytes a token of system, messages (and tools).
    let (status, _, body) = count(&proxy, Some(&proxy.key), "gpt-test").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let messages = json!([{ "role": "user", "content": crate::helpers::PROMPT }]).to_string();
    let bytes = "\"Be brief.\"".len() + messages.len();
    assert_eq!(body["input_tokens"], bytes.div_ceil(4));

    let (status, _, body) = count(&proxy, Some(&proxy.key), "no-such-model").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["type"], "not_found_error");
    let (status, _, _) = count(&proxy, None, "claude-test").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert!(
        proxy.usage_rows().await.is_empty(),
        "counting is not a request"
    );
}

#[tokio::test]
async fn a_provider_error_reaches_the_client_in_the_clients_format() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "error-500").await;

    let (status, _, body) = proxy.ask(Endpoint::Messages, "error-500").await;

    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "api_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not answer (500"),
        "{body}"
    );
}
