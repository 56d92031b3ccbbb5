//! The proxy's happy path: `/v1/chat/completions` and `/v1/messages`, JSON
//! and streamed, through OpenAI and Anthropic providers over real HTTP and
//! through the built-in mock provider; what the client gets and what is
//! recorded (the usage row, its cost, the rollups and the key's spend).

use axum::http::{HeaderMap, StatusCode, header};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;
use server::{
    gateway::proxy::request::Endpoint,
    platform::entity::{daily_usage, llm_usage, usage_record},
};

use crate::helpers::{
    COST, PROMPT_TOKENS, ProxyApp, REPLY, REPLY_TOKENS, assert_iso_millis, llm_body, request_id,
    streamed_text,
};

/// Tokens of a usage row: input, output, cache read, cache write, reasoning.
type Counts = (i64, i64, i64, i64, i64);

fn counts(row: &usage_record::Model) -> Counts {
    (
        row.input_tokens,
        row.output_tokens,
        row.cache_read_tokens,
        row.cache_write_tokens,
        row.reasoning_tokens,
    )
}

/// What [`PROMPT`](crate::helpers::PROMPT) and its reply count.
const PLAIN: Counts = (PROMPT_TOKENS, REPLY_TOKENS, 0, 0, 0);

/// Asserts the row of a completed request that `answer_headers` answered.
async fn assert_completed_row(
    proxy: &ProxyApp,
    answer_headers: &HeaderMap,
    endpoint: Endpoint,
    streamed: bool,
    (public_name, model_id): (&str, &str),
) -> usage_record::Model {
    let id = request_id(answer_headers);
    let row = proxy.usage_row(&id).await;
    assert_eq!(row.id, id);
    assert_eq!(row.api_key_id, proxy.key_id);
    assert_eq!(row.user_id, proxy.app.user_id_of(&proxy.user).await);
    assert_eq!(row.model, public_name);
    assert_eq!(row.model_id.as_deref(), Some(model_id));
    assert_eq!(row.endpoint, endpoint.label());
    assert_eq!(row.streamed, streamed);
    assert_eq!(row.status_code, 200);
    assert_eq!(row.error_kind, None);
    let ttft = row.ttft_ms.expect("no time to first byte");
    assert!(
        ttft <= row.duration_ms,
        "first byte after the end: {ttft} > {}",
        row.duration_ms
    );
    row
}

#[tokio::test]
async fn a_chat_completion_through_an_openai_provider_answers_and_is_recorded() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("openai").await;
    let model = proxy.model(&provider, "gpt-test", "mock-gpt").await;

    let (status, headers, body) = proxy.ask(Endpoint::ChatCompletions, "gpt-test").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "mock-gpt", "the upstream got its own name");
    assert_eq!(body["choices"][0]["message"]["content"], REPLY);
    assert_eq!(body["usage"]["prompt_tokens"], PROMPT_TOKENS);
    assert_eq!(body["usage"]["completion_tokens"], REPLY_TOKENS);
    let row = assert_completed_row(
        &proxy,
        &headers,
        Endpoint::ChatCompletions,
        false,
        ("gpt-test", &model),
    )
    .await;
    assert_eq!(row.provider_id.as_deref(), Some(provider.as_str()));
    assert_eq!(row.upstream_model, "mock-gpt");
    assert_eq!(counts(&row), PLAIN);
    assert_eq!(row.cost, COST);
}

#[tokio::test]
async fn a_message_through_an_anthropic_provider_answers_and_is_recorded() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("anthropic").await;
    let model = proxy.model(&provider, "claude-test", "mock-claude").await;

    let (status, headers, body) = proxy.ask(Endpoint::Messages, "claude-test").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], "message");
    assert_eq!(body["model"], "mock-claude");
    assert_eq!(body["content"][0]["text"], REPLY);
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["input_tokens"], PROMPT_TOKENS);
    assert_eq!(body["usage"]["output_tokens"], REPLY_TOKENS);
    let row = assert_completed_row(
        &proxy,
        &headers,
        Endpoint::Messages,
        false,
        ("claude-test", &model),
    )
    .await;
    assert_eq!(row.provider_id.as_deref(), Some(provider.as_str()));
    assert_eq!(row.upstream_model, "mock-claude");
    assert_eq!(counts(&row), PLAIN);
    assert_eq!(row.cost, COST);
}

#[tokio::test]
async fn a_streamed_chat_completion_through_an_openai_provider_is_relayed_and_recorded() {
    let proxy = ProxyApp::start().await;
    let model = proxy.route("openai", "gpt-test").await;

    let streamed = proxy
        .ask_streamed(Endpoint::ChatCompletions, "gpt-test")
        .await;

    assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.text);
    assert_eq!(streamed.headers[header::CONTENT_TYPE], "text/event-stream");
    assert_eq!(
        streamed_text(Endpoint::ChatCompletions, &streamed.text),
        REPLY
    );
    assert!(
        streamed.text.ends_with("data: [DONE]\n\n"),
        "{}",
        streamed.text
    );
    let row = assert_completed_row(
        &proxy,
        &streamed.headers,
        Endpoint::ChatCompletions,
        true,
        ("gpt-test", &model),
    )
    .await;
    assert_eq!(counts(&row), PLAIN);
    assert_eq!(row.cost, COST);
}

#[tokio::test]
async fn a_streamed_message_through_an_anthropic_provider_is_relayed_and_recorded() {
    let proxy = ProxyApp::start().await;
    let model = proxy.route("anthropic", "claude-test").await;

    let streamed = proxy.ask_streamed(Endpoint::Messages, "claude-test").await;

    assert_eq!(streamed.status, StatusCode::OK, "{}", streamed.text);
    assert_eq!(streamed.headers[header::CONTENT_TYPE], "text/event-stream");
    assert_eq!(streamed_text(Endpoint::Messages, &streamed.text), REPLY);
    assert!(
        streamed.text.starts_with("event: message_start\n"),
        "{}",
        streamed.text
    );
    assert!(
        streamed
            .text
            .ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
        "{}",
        streamed.text
    );
    let row = assert_completed_row(
        &proxy,
        &streamed.headers,
        Endpoint::Messages,
        true,
        ("claude-test", &model),
    )
    .await;
    assert_eq!(counts(&row), PLAIN);
    assert_eq!(row.cost, COST);
}

#[tokio::test]
async fn the_built_in_mock_provider_answers_both_endpoints_json_and_streamed() {
    let proxy = ProxyApp::start().await;
    let model = proxy.route("mock", "mock-test").await;

    for endpoint in [Endpoint::ChatCompletions, Endpoint::Messages] {
        let (status, headers, body) = proxy.ask(endpoint, "mock-test").await;
        assert_eq!(status, StatusCode::OK, "{endpoint:?}: {body}");
        let text = match endpoint {
            Endpoint::ChatCompletions => &body["choices"][0]["message"]["content"],
            Endpoint::Messages => &body["content"][0]["text"],
            Endpoint::Responses | Endpoint::Embeddings | Endpoint::GenerateContent => {
                unreachable!("the chat formats only")
            }
        };
        assert_eq!(text, REPLY, "{endpoint:?}");
        let row =
            assert_completed_row(&proxy, &headers, endpoint, false, ("mock-test", &model)).await;
        assert_eq!((counts(&row), row.cost), (PLAIN, COST), "{endpoint:?}");

        let streamed = proxy.ask_streamed(endpoint, "mock-test").await;
        assert_eq!(streamed.status, StatusCode::OK, "{endpoint:?}");
        assert_eq!(
            streamed_text(endpoint, &streamed.text),
            REPLY,
            "{endpoint:?}"
        );
        let row = assert_completed_row(
            &proxy,
            &streamed.headers,
            endpoint,
            true,
            ("mock-test", &model),
        )
        .await;
        assert_eq!((counts(&row), row.cost), (PLAIN, COST), "{endpoint:?}");
    }
}

#[tokio::test]
async fn the_api_v1_prefix_serves_both_endpoints() {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;

    for (path, endpoint) in [
        ("/api/v1/chat/completions", Endpoint::ChatCompletions),
        ("/api/v1/messages", Endpoint::Messages),
    ] {
        let body = llm_body(endpoint, "mock-test", false).to_string();
        let response = proxy.open(path, endpoint, &[], body).await;

        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let row = proxy.usage_row(&request_id(response.headers())).await;
        assert_eq!(row.endpoint, endpoint.label(), "{path}");
    }
}

#[tokio::test]
async fn anthropic_cache_tokens_are_recorded_apart_and_priced_with_one_rounding_up() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "mock-cache").await;

    let (status, headers, body) = proxy.ask(Endpoint::Messages, "mock-cache").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let row = proxy.usage_row_of(&headers).await;
    assert_eq!(counts(&row), (PROMPT_TOKENS, REPLY_TOKENS, 100, 50, 0));
    // 5 × 3 + 12 × 15 + 100 × 0.3 + 50 × 3.75 = 412.5, rounded up once.
    assert_eq!(row.cost, 413);
}

#[tokio::test]
async fn openai_cached_tokens_are_taken_out_of_the_input_and_reasoning_is_kept() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "mock-cache-reasoning").await;

    let (status, headers, body) = proxy
        .ask(Endpoint::ChatCompletions, "mock-cache-reasoning")
        .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["usage"]["prompt_tokens"], PROMPT_TOKENS + 100);
    let row = proxy.usage_row_of(&headers).await;
    // Reasoning is part of the output: 12 words and 8 reasoning tokens.
    assert_eq!(counts(&row), (PROMPT_TOKENS, REPLY_TOKENS + 8, 100, 0, 8));
    // 5 × 3 + 20 × 15 + 100 × 0.3
    assert_eq!(row.cost, 345);
}

#[tokio::test]
async fn usage_rolls_up_per_user_and_model_and_per_day_for_resolved_models_only() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("mock").await;
    proxy.model(&provider, "mock-a", "mock-a").await;
    proxy.model(&provider, "mock-b", "mock-b").await;
    let user_id = proxy.app.user_id_of(&proxy.user).await;

    for model in ["mock-a", "mock-a", "mock-b", "no-such-model"] {
        let endpoint = Endpoint::Messages;
        proxy.ask(endpoint, model).await;
    }
    let rows = proxy.usage_rows().await;

    // The unknown model was refused before it was admitted: no row.
    assert_eq!(rows.len(), 3);
    let mut per_model: Vec<(String, i64)> = llm_usage::Entity::find()
        .filter(llm_usage::Column::UserId.eq(user_id.as_str()))
        .all(proxy.app.db())
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            assert!(row.last_used_at.is_some(), "{row:?}");
            (row.model, row.count)
        })
        .collect();
    per_model.sort();
    assert_eq!(
        per_model,
        [("mock-a".to_owned(), 2), ("mock-b".to_owned(), 1)]
    );
    let today = rows[0].created_at.format("%Y-%m-%d").to_string();
    let mut days: Vec<daily_usage::Model> = daily_usage::Entity::find()
        .all(proxy.app.db())
        .await
        .unwrap();
    days.sort_by(|a, b| a.model.cmp(&b.model));
    let sums: Vec<_> = days
        .iter()
        .map(|d| {
            (
                d.date.as_str(),
                d.model.as_str(),
                d.total_requests,
                d.input_tokens,
                d.output_tokens,
                d.cost,
            )
        })
        .collect();
    assert_eq!(
        sums,
        [
            (
                today.as_str(),
                "mock-a",
                2,
                2 * PROMPT_TOKENS,
                2 * REPLY_TOKENS,
                2 * COST
            ),
            (
                today.as_str(),
                "mock-b",
                1,
                PROMPT_TOKENS,
                REPLY_TOKENS,
                COST
            ),
        ]
    );
}

#[tokio::test]
async fn the_keys_spend_and_last_use_show_in_the_key_list_once_written() {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;
    let before = proxy.listed_key().await;
    assert_eq!(before["quota_used_micro_credits"], 0);
    assert_eq!(before["last_used_at"], json!(null));

    for endpoint in [Endpoint::ChatCompletions, Endpoint::Messages] {
        let (status, _, body) = proxy.ask(endpoint, "mock-test").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let rows = proxy.usage_rows().await;
    let listed = proxy.listed_key().await;

    assert_eq!(listed["quota_used_micro_credits"], 2 * COST);
    assert_eq!(listed["quota_used_credits"], "0.000390");
    let last_used = listed["last_used_at"].as_str().unwrap();
    assert_iso_millis(last_used);
    let latest = rows.iter().map(|r| r.created_at).max().unwrap();
    assert_eq!(last_used, server::platform::time::iso(&latest));
}
