//! `POST /v1/embeddings`: forwarded to OpenAI-compatible providers (and the
//! built-in mock), held and charged for its input tokens at the model's
//! input price, recorded as embeddings; refused in OpenAI's shape.

use axum::http::{Method, StatusCode};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use server::gateway::proxy::request::Endpoint;

use crate::helpers::*;

/// A provider of `kind` with an embedding model `name` at the test prices.
async fn embedding_model(proxy: &ProxyApp, kind: &str, name: &str) {
    let provider = proxy.provider(kind).await;
    proxy
        .model_with(json!({
            "public_name": name,
            "kind": "embedding",
            "provider_id": provider,
            "upstream_model": name,
            "input_price": INPUT_PRICE,
            "output_price": OUTPUT_PRICE,
        }))
        .await;
}

/// The vectors of an answer, decoded from floats or base64.
fn vectors(answer: &Value) -> Vec<Vec<f32>> {
    answer["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data: {answer}"))
        .iter()
        .map(|item| match &item["embedding"] {
            Value::String(encoded) => STANDARD
                .decode(encoded)
                .unwrap()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            floats => serde_json::from_value(floats.clone()).unwrap(),
        })
        .collect()
}

#[tokio::test]
async fn embeddings_are_forwarded_and_charged_for_their_input_tokens_only() {
    let proxy = ProxyApp::start().await;
    for kind in ["openai", "openai_responses", "mock"] {
        let name = format!("embed-{kind}");
        embedding_model(&proxy, kind, &name).await;
        let before = proxy.balance().await;
        let body = json!({ "model": name, "input": [PROMPT, "six seven"], "dimensions": 16 });
        let (status, headers, answer) = proxy.call(Endpoint::Embeddings, body).await;

        assert_eq!(status, StatusCode::OK, "{kind}: {answer}");
        assert_eq!(answer["object"], "list", "{kind}");
        let vectors = vectors(&answer);
        assert_eq!(vectors.len(), 2, "{kind}");
        assert!(vectors.iter().all(|v| v.len() == 16), "{kind}");
        assert_eq!(answer["data"][1]["index"], 1, "{kind}");
        // The mock counts words: five and two.
        let tokens = PROMPT_TOKENS + 2;
        assert_eq!(answer["usage"]["prompt_tokens"], tokens, "{kind}");

        let row = proxy.usage_row_of(&headers).await;
        let cost = tokens * INPUT_PRICE / 1_000_000;
        assert_eq!(row.endpoint, "embeddings", "{kind}");
        assert_eq!(row.status_code, 200, "{kind}");
        assert_eq!((row.input_tokens, row.output_tokens), (tokens, 0), "{kind}");
        assert_eq!((row.cost, row.charged), (cost, cost), "{kind}");
        assert_eq!(proxy.balance().await, before - cost, "{kind}");
    }
}

#[tokio::test]
async fn base64_vectors_pass_through_as_the_sdks_ask_for_them() {
    let proxy = ProxyApp::start().await;
    embedding_model(&proxy, "openai", "embed").await;
    let ask = |encoding: Option<&str>| {
        let mut body = json!({ "model": "embed", "input": [[1, 2, 3], [4, 5]] });
        if let Some(encoding) = encoding {
            body["encoding_format"] = json!(encoding);
        }
        proxy.call(Endpoint::Embeddings, body)
    };
    let (status, _, floats) = ask(None).await;
    assert_eq!(status, StatusCode::OK, "{floats}");
    let (status, headers, encoded) = ask(Some("base64")).await;
    assert_eq!(status, StatusCode::OK, "{encoded}");
    assert!(encoded["data"][0]["embedding"].is_string(), "{encoded}");
    assert_eq!(vectors(&encoded), vectors(&floats));
    // Token arrays count their tokens.
    assert_eq!(proxy.usage_row_of(&headers).await.input_tokens, 5);
}

#[tokio::test]
async fn bad_embeddings_requests_are_refused_naming_the_field() {
    let proxy = ProxyApp::start().await;
    embedding_model(&proxy, "openai", "embed").await;
    for (body, field) in [
        (json!({ "model": "embed" }), "input"),
        (json!({ "model": "embed", "input": "" }), "input"),
        (json!({ "model": "embed", "input": [1, "two"] }), "input"),
        (
            json!({ "model": "embed", "input": "a", "encoding_format": "int8" }),
            "encoding_format",
        ),
        (
            json!({ "model": "embed", "input": "a", "dimensions": -1 }),
            "dimensions",
        ),
        (
            json!({ "model": "embed", "input": "a", "stream": true }),
            "stream",
        ),
        (json!({ "input": "a" }), "model"),
    ] {
        let answer = proxy.call(Endpoint::Embeddings, body.clone()).await;
        let message = assert_openai_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            Some(field),
        );
        assert!(message.starts_with(field), "{body}: {message}");
        // Refused before a model was asked: counted, not recorded.
        assert!(proxy.has_no_usage_row(&answer.1).await, "{body}");
    }
    let unknown = proxy
        .call(
            Endpoint::Embeddings,
            json!({ "model": "nope", "input": "a" }),
        )
        .await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND, "{}", unknown.2);
}

#[tokio::test]
async fn a_model_is_refused_when_saved_on_a_provider_or_with_fallbacks_not_of_its_kind() {
    let proxy = ProxyApp::start().await;
    let anthropic = proxy.provider("anthropic").await;
    let chatty = proxy.route("anthropic", "chatty").await;
    embedding_model(&proxy, "openai", "embed").await;
    let models = "/api/admin/models";
    let embedding = |name: &str, extra: Value| {
        let mut body = json!({
            "public_name": name, "kind": "embedding", "provider_id": anthropic,
            "upstream_model": name, "input_price": INPUT_PRICE, "output_price": 0,
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let cases = [
        (
            "an embedding model on Anthropic",
            Method::POST,
            models.to_owned(),
            embedding("claude-embed", json!({})),
            "kind",
        ),
        (
            "an embedding model falling back to a chat model",
            Method::POST,
            models.to_owned(),
            embedding(
                "other-embed",
                json!({ "provider_id": proxy.provider("openai").await, "fallbacks": ["chatty"] }),
            ),
            "fallbacks",
        ),
        (
            "a chat model on Anthropic made an embedding model",
            Method::PATCH,
            format!("{models}/{chatty}"),
            json!({ "kind": "embedding" }),
            "kind",
        ),
        (
            "a chat model falling back to an embedding model",
            Method::PATCH,
            format!("{models}/{chatty}"),
            json!({ "fallbacks": ["embed"] }),
            "fallbacks",
        ),
    ];
    for (case, method, path, body, field) in cases {
        let (status, _, answer) = proxy
            .app
            .request(method, &path, Some(body), Some(&proxy.admin))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {answer}");
        let message = string_at(&answer, "/error");
        assert!(message.starts_with(field), "{case}: {message}");
    }
    // Nothing was made or changed.
    let (_, _, listed) = proxy
        .app
        .request(Method::GET, models, None, Some(&proxy.admin))
        .await;
    let mut names: Vec<&str> = listed["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["public_name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["chatty", "embed"]);
    let (_, _, kept) = proxy
        .app
        .request(
            Method::GET,
            &format!("{models}/{chatty}"),
            None,
            Some(&proxy.admin),
        )
        .await;
    assert_eq!(
        (&kept["model"]["kind"], &kept["model"]["fallbacks"]),
        (&json!("chat"), &json!([]))
    );
}

#[tokio::test]
async fn embeddings_are_held_for_their_input_before_the_provider_is_asked() {
    let proxy = ProxyApp::start().await;
    // A price at which the 50,000-byte input's ceiling is more than the
    // balance, though the words it really has cost little.
    let provider = proxy.provider("openai").await;
    proxy
        .model_with(json!({
            "public_name": "dear-embed",
            "kind": "embedding",
            "provider_id": provider,
            "upstream_model": "dear-embed",
            "input_price": (STARTING_CREDITS + 1) * 1_000_000 * 1_000_000 / 50_000,
            "output_price": 0,
            "cache_read_price": 0,
            "cache_write_price": 0,
        }))
        .await;
    let before = proxy.balance().await;
    let input = "word ".repeat(10_000);
    let answer = proxy
        .call(
            Endpoint::Embeddings,
            json!({ "model": "dear-embed", "input": input }),
        )
        .await;
    assert_openai_error(
        &answer,
        StatusCode::PAYMENT_REQUIRED,
        "insufficient_quota",
        Some("insufficient_quota"),
        None,
    );
    assert_eq!(proxy.balance().await, before);
}

#[tokio::test]
async fn each_endpoint_takes_models_of_its_own_kind() {
    let proxy = ProxyApp::start().await;
    let chatty = proxy.route("openai", "chatty").await;
    embedding_model(&proxy, "openai", "embed").await;
    let cases = [
        (
            Endpoint::Embeddings,
            json!({ "model": "chatty", "input": "a" }),
            "chat model",
        ),
        (
            Endpoint::ChatCompletions,
            llm_body(Endpoint::ChatCompletions, "embed", false),
            "/v1/embeddings",
        ),
        (
            Endpoint::Responses,
            llm_body(Endpoint::Responses, "embed", false),
            "/v1/embeddings",
        ),
    ];
    for (endpoint, body, says) in cases {
        let answer = proxy.call(endpoint, body).await;
        let message = assert_openai_error(
            &answer,
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            Some("model"),
        );
        assert!(message.contains(says), "{endpoint:?}: {message}");
        assert!(proxy.has_no_usage_row(&answer.1).await, "{endpoint:?}");
    }
    let answer = proxy
        .call(
            Endpoint::Messages,
            llm_body(Endpoint::Messages, "embed", false),
        )
        .await;
    assert_anthropic_error(&answer, StatusCode::BAD_REQUEST, "invalid_request_error");
    // Changed to the other kind, a model serves the other endpoint.
    let (status, _, changed) = proxy
        .app
        .request(
            Method::PATCH,
            &format!("/api/admin/models/{chatty}"),
            Some(json!({ "kind": "embedding" })),
            Some(&proxy.admin),
        )
        .await;
    assert_eq!(
        (status, &changed["model"]["kind"]),
        (StatusCode::OK, &json!("embedding")),
        "{changed}"
    );
    let (status, _, answer) = proxy
        .call(
            Endpoint::Embeddings,
            json!({ "model": "chatty", "input": "a" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn a_keys_tokens_per_minute_count_embedded_tokens() {
    let proxy = ProxyApp::start().await;
    embedding_model(&proxy, "openai", "embed").await;
    let (key, _) = proxy
        .app
        .create_key(
            &proxy.user,
            json!({ "name": "tpm", "tokens_per_minute": 20 }),
        )
        .await;
    let embed = |words: usize| {
        let body = json!({ "model": "embed", "input": vec!["word"; words].join(" ") });
        proxy.call_with_key(Endpoint::Embeddings, Some(&key), body)
    };

    let (status, headers, answer) = embed(25).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(proxy.usage_row_of(&headers).await.input_tokens, 25);
    // The 25 tokens used are over the minute's 20: the next waits.
    let (status, _, answer) = embed(1).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    let message = string_at(&answer, "/error/message");
    assert!(message.contains("20 tokens per minute"), "{message}");
}

#[tokio::test]
async fn anthropics_model_list_leaves_embedding_models_out() {
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "chatty").await;
    embedding_model(&proxy, "openai", "embed").await;
    let list = |anthropic: bool| {
        let mut request = axum::http::Request::builder()
            .uri("/v1/models")
            .header("x-api-key", &proxy.key);
        if anthropic {
            request = request.header("anthropic-version", "2023-06-01");
        }
        proxy
            .app
            .send(request.body(axum::body::Body::empty()).unwrap())
    };
    let ids = |answer: &Value| {
        let mut ids = strings_in(&answer["data"], "/id");
        ids.sort_unstable();
        ids
    };
    let (_, _, openai) = list(false).await;
    assert_eq!(ids(&openai), ["chatty", "embed"], "{openai}");
    let (_, _, anthropic) = list(true).await;
    assert_eq!(ids(&anthropic), ["chatty"], "{anthropic}");
}
