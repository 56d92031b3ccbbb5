//! What the provider receives (its key, the admin's extra headers,
//! Anthropic's version and beta headers, never the client's Tollgate key)
//! and what never comes back out (upstream keys, header values, keys in
//! error bodies).

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    routing::post,
};
use serde_json::json;
use server::gateway::{format::ApiFormat, proxy::request::Endpoint};

use crate::{
    helpers::{ProxyApp, UPSTREAM_KEY, llm_body, llm_request, serve},
    sealing::set_sealed_keys,
};

const SECOND_KEY: &str = "sk-upstream-second-fedcba9876543210";
pub(crate) const HEADER_VALUE: &str = "org-secret-header-value-42";

/// The headers of every request an upstream received.
#[derive(Clone, Default)]
pub(crate) struct Captured(Arc<Mutex<Vec<HeaderMap>>>);

impl Captured {
    fn all(&self) -> Vec<HeaderMap> {
        self.0.lock().unwrap().clone()
    }

    pub(crate) fn only(&self) -> HeaderMap {
        let all = self.all();
        assert_eq!(all.len(), 1, "expected one upstream request: {all:?}");
        all.into_iter().next().unwrap()
    }
}

/// An upstream that records each request's headers and answers as the
/// mock provider does.
pub(crate) async fn capturing_upstream() -> (String, Captured) {
    let captured = Captured::default();
    let route = |format: ApiFormat| {
        let captured = captured.clone();
        post(move |headers: HeaderMap, body: Bytes| async move {
            captured.0.lock().unwrap().push(headers);
            server::gateway::mock::answer(format, "", &body).await
        })
    };
    let router = Router::new()
        .route("/v1/chat/completions", route(ApiFormat::OpenAi))
        .route("/v1/messages", route(ApiFormat::Anthropic));
    (serve(router).await, captured)
}

/// Asserts that no header value holds the client's Tollgate key.
fn assert_no_tollgate_key(headers: &HeaderMap, key: &str) {
    for (name, value) in headers {
        assert!(
            !value
                .as_bytes()
                .windows(key.len())
                .any(|w| w == key.as_bytes()),
            "the Tollgate key reached the upstream in {name}"
        );
    }
}

/// A provider of `kind` at the capturing upstream, with one model `name`;
/// returns the provider's id.
pub(crate) async fn route_to(
    proxy: &ProxyApp,
    base: &str,
    kind: &str,
    name: &str,
    extra: serde_json::Value,
) -> String {
    let base_url = match kind {
        "openai" => format!("{base}/v1"),
        _ => base.to_owned(),
    };
    let mut body = json!({
        "name": kind, "kind": kind, "base_url": base_url, "api_keys": [UPSTREAM_KEY],
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let provider = proxy.provider_with(body).await;
    proxy.model(&provider, name, name).await;
    provider
}

#[tokio::test]
async fn an_openai_provider_gets_its_key_and_extra_headers_but_not_the_clients_key() {
    let proxy = ProxyApp::start().await;
    let (base, captured) = capturing_upstream().await;
    route_to(
        &proxy,
        &base,
        "openai",
        "gpt-test",
        json!({ "extra_headers": { "OpenAI-Organization": HEADER_VALUE, "x-team": "blue" } }),
    )
    .await;

    let (status, _, body) = proxy.ask(Endpoint::ChatCompletions, "gpt-test").await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let headers = captured.only();
    assert_eq!(
        headers[header::AUTHORIZATION],
        format!("Bearer {UPSTREAM_KEY}")
    );
    assert_eq!(headers["openai-organization"], HEADER_VALUE);
    assert_eq!(headers["x-team"], "blue");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(headers.get("x-api-key").is_none());
    assert!(headers.get("anthropic-version").is_none());
    assert_no_tollgate_key(&headers, &proxy.key);
}

#[tokio::test]
async fn an_anthropic_provider_gets_x_api_key_and_the_clients_version_and_beta_headers() {
    let proxy = ProxyApp::start().await;
    let (base, captured) = capturing_upstream().await;
    route_to(
        &proxy,
        &base,
        "anthropic",
        "claude-test",
        json!({ "extra_headers": { "x-team": "blue" } }),
    )
    .await;
    let mut request = llm_request(
        Endpoint::Messages.path(),
        Endpoint::Messages,
        Some(&proxy.key),
        &[
            ("anthropic-beta", "prompt-caching-2024-07-31"),
            ("anthropic-beta", "output-128k-2025-02-19"),
        ],
        llm_body(Endpoint::Messages, "claude-test", false).to_string(),
    );
    request
        .headers_mut()
        .insert("anthropic-version", HeaderValue::from_static("2024-10-22"));

    let (status, _, body) = proxy.app.send(request).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    let headers = captured.only();
    assert_eq!(headers["x-api-key"], UPSTREAM_KEY);
    assert_eq!(headers["anthropic-version"], "2024-10-22");
    let betas: Vec<&str> = headers
        .get_all("anthropic-beta")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        betas,
        ["prompt-caching-2024-07-31", "output-128k-2025-02-19"]
    );
    assert_eq!(headers["x-team"], "blue");
    assert!(headers.get(header::AUTHORIZATION).is_none());
    assert_no_tollgate_key(&headers, &proxy.key);
}

#[tokio::test]
async fn an_anthropic_provider_gets_the_default_version_when_the_client_names_none() {
    let proxy = ProxyApp::start().await;
    let (base, captured) = capturing_upstream().await;
    route_to(&proxy, &base, "anthropic", "claude-test", json!({})).await;
    // Authenticated the OpenAI way, so the request has no anthropic-version.
    let request = llm_request(
        Endpoint::Messages.path(),
        Endpoint::ChatCompletions,
        Some(&proxy.key),
        &[],
        llm_body(Endpoint::Messages, "claude-test", false).to_string(),
    );
    assert!(request.headers().get("anthropic-version").is_none());

    let (status, _, body) = proxy.app.send(request).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(captured.only()["anthropic-version"], "2023-06-01");
}

#[tokio::test]
async fn a_providers_keys_are_used_in_turn() {
    let proxy = ProxyApp::start().await;
    let (base, captured) = capturing_upstream().await;
    let provider = proxy
        .provider_with(json!({
            "name": "two keys", "kind": "anthropic", "base_url": base,
            "api_keys": [UPSTREAM_KEY, SECOND_KEY],
        }))
        .await;
    proxy.model(&provider, "claude-test", "claude-test").await;

    for _ in 0..4 {
        let (status, _, body) = proxy.ask(Endpoint::Messages, "claude-test").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    let used: Vec<String> = captured
        .all()
        .iter()
        .map(|h| h["x-api-key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(used, [UPSTREAM_KEY, SECOND_KEY, UPSTREAM_KEY, SECOND_KEY]);
}

#[tokio::test]
async fn provider_answers_never_show_upstream_keys_or_header_values_after_use() {
    let proxy = ProxyApp::start().await;
    let provider = proxy
        .provider_with(json!({
            "name": "openai", "kind": "openai", "base_url": format!("{}/v1", proxy.upstream),
            "api_keys": [UPSTREAM_KEY, SECOND_KEY],
            "extra_headers": { "openai-organization": HEADER_VALUE },
        }))
        .await;
    proxy.model(&provider, "gpt-test", "gpt-test").await;
    let (status, _, _) = proxy.ask(Endpoint::ChatCompletions, "gpt-test").await;
    assert_eq!(status, StatusCode::OK, "the keys are now open in memory");

    for path in [
        "/api/admin/providers".to_owned(),
        format!("/api/admin/providers/{provider}"),
    ] {
        let body = proxy.admin_get(&path).await;
        let text = body.to_string();
        for secret in [UPSTREAM_KEY, SECOND_KEY, HEADER_VALUE] {
            assert!(!text.contains(secret), "{path} shows {secret}: {text}");
        }
    }
}

/// An upstream that refuses every request, quoting the key it was given,
/// as some providers do ("Incorrect API key provided: sk-...").
async fn key_quoting_upstream() -> String {
    let refuse = |format: ApiFormat| {
        post(move |headers: HeaderMap| async move {
            let presented = headers
                .get(header::AUTHORIZATION)
                .or_else(|| headers.get("x-api-key"))
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let message = format!("Incorrect API key provided: {presented}");
            server::gateway::mock::error(format, StatusCode::UNAUTHORIZED, &message)
        })
    };
    let router: Router = Router::new()
        .route("/v1/chat/completions", refuse(ApiFormat::OpenAi))
        .route("/v1/messages", refuse(ApiFormat::Anthropic));
    serve(router).await
}

#[tokio::test]
async fn proxy_error_bodies_never_contain_the_tollgate_key_or_an_upstream_key() {
    let proxy = ProxyApp::start().await;
    let quoting = key_quoting_upstream().await;
    route_to(&proxy, &quoting, "openai", "gpt-quoting", json!({})).await;
    route_to(&proxy, &quoting, "anthropic", "claude-quoting", json!({})).await;
    proxy.route("openai", "gpt-error-500").await;
    proxy.route("anthropic", "claude-error-500").await;
    let wrong_key = format!("{}0", proxy.key);
    let cases = [
        (Endpoint::ChatCompletions, "gpt-quoting", None),
        (Endpoint::Messages, "claude-quoting", None),
        (Endpoint::ChatCompletions, "gpt-error-500", None),
        (Endpoint::Messages, "claude-error-500", None),
        (Endpoint::ChatCompletions, "no-such-model", None),
        (Endpoint::Messages, "gpt-quoting", None),
        (
            Endpoint::ChatCompletions,
            "gpt-quoting",
            Some(wrong_key.as_str()),
        ),
        (
            Endpoint::Messages,
            "claude-quoting",
            Some(wrong_key.as_str()),
        ),
    ];

    for (endpoint, model, key) in cases {
        let body = llm_body(endpoint, model, false).to_string();
        let request = llm_request(
            endpoint.path(),
            endpoint,
            Some(key.unwrap_or(&proxy.key)),
            &[],
            body,
        );
        let (status, _, body) = proxy.app.send(request).await;

        assert!(
            status.is_client_error() || status.is_server_error(),
            "{model}: {status} {body}"
        );
        let text = body.to_string();
        for secret in [proxy.key.as_str(), wrong_key.as_str(), UPSTREAM_KEY] {
            assert!(
                !text.contains(secret),
                "{model} on {endpoint:?} shows a key: {text}"
            );
        }
    }
}

/// An upstream whose answers are as large as the tests ask: a JSON answer
/// of `json_bytes`, and a stream whose first event never ends, sent in
/// 64 KB chunks up to `event_bytes`.
async fn oversized_upstream(json_bytes: usize, event_bytes: usize) -> String {
    let router = Router::new().route(
        "/v1/chat/completions",
        post(move |body: Bytes| async move {
            let streamed = serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|body| body["stream"] == json!(true));
            if !streamed {
                let padding = "x".repeat(json_bytes);
                let answer = json!({ "choices": [], "padding": padding, "usage": {
                    "prompt_tokens": 1, "completion_tokens": 1 } });
                return axum::response::IntoResponse::into_response(axum::Json(answer));
            }
            let chunks = std::iter::once(Bytes::from_static(b"data: {\"x\":\""))
                .chain(std::iter::repeat_n(
                    Bytes::from(vec![b'x'; 64 * 1024]),
                    event_bytes / (64 * 1024),
                ))
                .map(Ok::<_, std::io::Error>);
            axum::response::Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(axum::body::Body::from_stream(futures_util::stream::iter(
                    chunks,
                )))
                .unwrap()
        }),
    );
    serve(router).await
}

#[tokio::test]
async fn an_answer_or_an_event_beyond_the_limits_is_refused_not_buffered() {
    let proxy = ProxyApp::start_with(|settings| {
        settings.proxy.max_answer_bytes = 1024 * 1024;
        settings.proxy.max_event_bytes = 1024 * 1024;
    })
    .await;
    let upstream = oversized_upstream(2 * 1024 * 1024, 31 * 1024 * 1024).await;
    route_to(&proxy, &upstream, "openai", "huge", json!({})).await;

    let (status, _, body) = proxy.ask(Endpoint::ChatCompletions, "huge").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("larger than 1048576 bytes"), "{message}");

    let response = proxy
        .open(
            Endpoint::ChatCompletions.path(),
            Endpoint::ChatCompletions,
            &[],
            llm_body(Endpoint::ChatCompletions, "huge", true).to_string(),
        )
        .await;
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    use http_body_util::BodyExt;
    let read = response.into_body().collect().await;
    assert!(read.is_err(), "the endless event cuts the stream");
    let row = proxy.usage_row(&id).await;
    assert_eq!(row.error_kind.as_deref(), Some("upstream_event_too_large"));
}

#[tokio::test]
async fn keys_and_headers_that_cannot_be_sent_are_refused_naming_the_field() {
    let proxy = ProxyApp::start().await;
    let base = json!({ "name": "p", "kind": "openai", "base_url": "http://127.0.0.1:9/v1" });
    let cases = [
        (
            json!({ "api_keys": ["sk-good\nX-Injected: 1"] }),
            "api_keys",
        ),
        (json!({ "api_keys": ["sk-\u{7}bell"] }), "api_keys"),
        (
            json!({ "api_keys": ["sk-ok"], "extra_headers": { "Host": "evil.example" } }),
            "Host",
        ),
        (
            json!({ "api_keys": ["sk-ok"], "extra_headers": { "content-length": "1" } }),
            "content-length",
        ),
        (
            json!({ "api_keys": ["sk-ok"], "extra_headers": { "Authorization": "Bearer x" } }),
            "Authorization",
        ),
    ];
    for (fields, named) in cases {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let answer = proxy
            .app
            .post("/api/admin/providers", body, &proxy.admin)
            .await;
        let message = crate::helpers::assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message.contains(named), "{named}: {message}");
    }
}

#[tokio::test]
async fn a_provider_whose_stored_key_is_broken_fails_alone_and_says_so() {
    // Arrange: a working model, and a provider whose stored key holds a
    // newline (written before keys were checked, or by hand).
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-fine").await;
    let broken = proxy.provider("openai").await;
    proxy.model(&broken, "gpt-broken", "gpt-broken").await;
    let place = server::platform::entity::provider::api_key_place(&broken);
    let sealed = proxy.app.state.vault.seal("sk-bad\nkey", &place).unwrap();
    set_sealed_keys(&proxy, &broken, serde_json::to_string(&[sealed]).unwrap()).await;

    // Act
    let fine = proxy.ask(Endpoint::ChatCompletions, "mock-fine").await;
    let failing = proxy.ask(Endpoint::ChatCompletions, "gpt-broken").await;

    // Assert
    assert_eq!(fine.0, StatusCode::OK, "{}", fine.2);
    assert_eq!(failing.0, StatusCode::BAD_GATEWAY, "{}", failing.2);
    let message = failing.2["error"]["message"].as_str().unwrap();
    assert!(message.contains("misconfigured"), "{message}");
}

#[tokio::test]
async fn a_provider_that_keeps_talking_after_its_last_event_cannot_hold_the_answer_back() {
    use futures_util::StreamExt;
    // Arrange: an upstream that sends `[DONE]`, then a comment every
    // 100 ms for as long as the connection stays open.
    let router = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            let head: &'static [u8] = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";
            let pings = futures_util::stream::unfold((), |()| async {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b": ping\n\n")), ()))
            });
            let body = futures_util::stream::once(async move { Ok(Bytes::from_static(head)) })
                .chain(pings);
            axum::response::Response::builder()
                .header(header::CONTENT_TYPE, "text/event-stream")
                .body(axum::body::Body::from_stream(body))
                .unwrap()
        }),
    );
    let proxy = ProxyApp::start().await;
    let upstream = serve(router).await;
    route_to(&proxy, &upstream, "openai", "chatty", json!({})).await;

    // Act
    let streamed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        proxy.ask_streamed(Endpoint::ChatCompletions, "chatty"),
    )
    .await
    .expect("the answer completes although the provider keeps talking");

    // Assert
    assert!(streamed.text.contains("data: [DONE]"), "{}", streamed.text);
    let row = proxy
        .usage_row(&crate::helpers::request_id(&streamed.headers))
        .await;
    assert_eq!(row.error_kind, None);
    assert_eq!((row.input_tokens, row.output_tokens), (1, 1));
}
