//! Every way a proxied request can fail, answered in the client's own
//! shape (OpenAI's `{"error": {...}}` on `/v1/chat/completions`,
//! Anthropic's `{"type": "error", ...}` on `/v1/messages`) with the right
//! status, and recorded once the key was accepted.

use std::time::Instant;

use axum::http::{StatusCode, header};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::json;
use server::{
    gateway::proxy::request::Endpoint,
    platform::entity::{api_key, usage_record},
};

use crate::helpers::{
    Answer, COST, ProxyApp, UPSTREAM_KEY, answer_of, assert_anthropic_error, assert_openai_error,
    llm_body,
};

const BOTH: [Endpoint; 2] = [Endpoint::ChatCompletions, Endpoint::Messages];

/// An error as each format spells it.
struct Expected<'a> {
    status: StatusCode,
    /// OpenAI's `type`, `code` and `param`.
    openai: (&'a str, Option<&'a str>, Option<&'a str>),
    /// Anthropic's error `type`.
    anthropic: &'a str,
}

/// Asserts the error in the shape of `endpoint`'s clients; returns the message.
fn assert_proxy_error(endpoint: Endpoint, answer: &Answer, expected: &Expected) -> String {
    match endpoint {
        Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::Embeddings => {
            let (kind, code, param) = expected.openai;
            assert_openai_error(answer, expected.status, kind, code, param)
        }
        Endpoint::Messages => assert_anthropic_error(answer, expected.status, expected.anthropic),
        Endpoint::GenerateContent => unreachable!("Gemini's errors are checked in gemini.rs"),
    }
}

/// Asserts the usage row of a failed request: its status, what went wrong,
/// and that it cost nothing.
async fn assert_failed_row(
    proxy: &ProxyApp,
    answer: &Answer,
    endpoint: Endpoint,
    error_kind: &str,
) -> usage_record::Model {
    let (status, headers, _) = answer;
    let row = proxy.usage_row_of(headers).await;
    assert_eq!(row.endpoint, endpoint.label());
    assert_eq!(row.status_code, i32::from(status.as_u16()), "{row:?}");
    assert_eq!(row.error_kind.as_deref(), Some(error_kind), "{row:?}");
    assert_eq!((row.input_tokens, row.output_tokens, row.cost), (0, 0, 0));
    row
}

/// Asserts a request refused before it was admitted: counted in memory
/// under `error_kind`, and no usage row (a flood of them must not fill the
/// usage writer's queue).
async fn assert_counted_not_recorded(proxy: &ProxyApp, answer: &Answer, error_kind: &str) {
    let (_, headers, _) = answer;
    assert!(
        proxy.has_no_usage_row(headers).await,
        "a refusal left a usage row"
    );
    let counted = proxy
        .app
        .state
        .counters
        .refusals()
        .find(|(kind, _)| *kind == error_kind)
        .map(|(_, count)| count);
    assert!(
        counted.is_some_and(|count| count > 0),
        "{error_kind}: {counted:?}"
    );
}

const INVALID_KEY: Expected = Expected {
    status: StatusCode::UNAUTHORIZED,
    openai: ("invalid_request_error", Some("invalid_api_key"), None),
    anthropic: "authentication_error",
};

#[tokio::test]
async fn a_request_without_a_key_is_401_and_not_recorded() {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;

    for endpoint in BOTH {
        let answer = proxy.ask_with_key(endpoint, None, "mock-test").await;

        let message = assert_proxy_error(endpoint, &answer, &INVALID_KEY);
        assert!(message.contains("API key"), "{message}");
    }
    assert!(proxy.usage_rows().await.is_empty());
    let counted = proxy.app.state.counters.refusals();
    assert!(
        counted
            .into_iter()
            .any(|(kind, n)| kind == "invalid_api_key" && n == 2)
    );
}

#[tokio::test]
async fn an_unknown_key_is_401_and_not_recorded() {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;
    // The same shape, one character changed.
    let last = if proxy.key.ends_with('x') { 'y' } else { 'x' };
    let unknown = format!("{}{last}", &proxy.key[..proxy.key.len() - 1]);

    for endpoint in BOTH {
        let answer = proxy
            .ask_with_key(endpoint, Some(&unknown), "mock-test")
            .await;

        assert_proxy_error(endpoint, &answer, &INVALID_KEY);
    }
    assert!(proxy.usage_rows().await.is_empty());
}

/// Routes `mock-test` and sends one request with the test key, so the key
/// is in the gateway's cache before a test changes it.
async fn cache_the_key(proxy: &ProxyApp) {
    proxy.route("mock", "mock-test").await;
    let (status, _, _) = proxy.ask(Endpoint::Messages, "mock-test").await;
    assert_eq!(status, StatusCode::OK, "the key is now cached");
}

/// Asserts that both clients' requests with the test key are now refused
/// as an invalid key.
async fn assert_the_key_is_refused(proxy: &ProxyApp) {
    for endpoint in BOTH {
        let answer = proxy.ask(endpoint, "mock-test").await;
        assert_proxy_error(endpoint, &answer, &INVALID_KEY);
    }
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once() {
    let proxy = ProxyApp::start().await;
    cache_the_key(&proxy).await;

    proxy
        .app
        .delete_ok(&format!("/api/keys/{}", proxy.key_id), &proxy.user)
        .await;

    assert_the_key_is_refused(&proxy).await;
}

#[tokio::test]
async fn an_expired_key_is_refused_once_the_key_is_reloaded() {
    let proxy = ProxyApp::start().await;
    cache_the_key(&proxy).await;
    // The API only takes expiry dates in the future: expire it in the
    // database, then edit it through the API, which drops it from the cache.
    let mut key = api_key::Entity::find_by_id(proxy.key_id.clone())
        .one(proxy.app.db())
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    key.expires_at = Set(Some(chrono::Utc::now() - chrono::Duration::minutes(1)));
    key.update(proxy.app.db()).await.unwrap();
    proxy
        .app
        .patch_ok(
            &format!("/api/keys/{}", proxy.key_id),
            json!({ "name": "renamed" }),
            &proxy.user,
        )
        .await;

    assert_the_key_is_refused(&proxy).await;
}

/// A body that is not JSON.
const MALFORMED: Expected = Expected {
    status: StatusCode::BAD_REQUEST,
    openai: ("invalid_request_error", None, None),
    anthropic: "invalid_request_error",
};

#[tokio::test]
async fn malformed_json_is_400_and_counted_without_a_row() {
    let proxy = ProxyApp::start().await;

    for endpoint in BOTH {
        let response = proxy
            .open(endpoint.path(), endpoint, &[], "{\"model\": \"mock-test\",")
            .await;
        let answer = answer_of(response).await;

        let message = assert_proxy_error(endpoint, &answer, &MALFORMED);
        assert!(message.contains("JSON"), "{message}");
        assert_counted_not_recorded(&proxy, &answer, "invalid_request").await;
    }
}

#[tokio::test]
async fn a_missing_required_field_is_400_naming_it() {
    let proxy = ProxyApp::start().await;
    let cases = [
        (Endpoint::ChatCompletions, "model"),
        (Endpoint::ChatCompletions, "messages"),
        (Endpoint::Messages, "model"),
        (Endpoint::Messages, "messages"),
        (Endpoint::Messages, "max_tokens"),
    ];

    for (endpoint, field) in cases {
        let mut body = llm_body(endpoint, "mock-test", false);
        body.as_object_mut().unwrap().remove(field);
        let answer = proxy.call(endpoint, body).await;

        let message = assert_proxy_error(
            endpoint,
            &answer,
            &Expected {
                status: StatusCode::BAD_REQUEST,
                openai: ("invalid_request_error", None, Some(field)),
                anthropic: "invalid_request_error",
            },
        );
        assert!(message.contains(field), "{endpoint:?} {field}: {message}");
        assert_counted_not_recorded(&proxy, &answer, "invalid_request").await;
    }
}

/// A body over `proxy.max_body_bytes`.
const TOO_LARGE: Expected = Expected {
    status: StatusCode::PAYLOAD_TOO_LARGE,
    openai: ("invalid_request_error", Some("request_too_large"), None),
    anthropic: "request_too_large",
};

#[tokio::test]
async fn a_body_over_the_configured_limit_is_413() {
    let proxy = ProxyApp::start_with(|settings| settings.proxy.max_body_bytes = 1024).await;
    proxy.route("mock", "mock-test").await;

    for endpoint in BOTH {
        let fits = proxy.ask(endpoint, "mock-test").await;
        assert_eq!(fits.0, StatusCode::OK, "a small body passes: {}", fits.2);
        let mut body = llm_body(endpoint, "mock-test", false);
        body["messages"][0]["content"] = json!("word ".repeat(250));
        let answer = proxy.call(endpoint, body).await;

        let message = assert_proxy_error(endpoint, &answer, &TOO_LARGE);
        assert!(message.contains("1024"), "{message}");
        assert_counted_not_recorded(&proxy, &answer, "payload_too_large").await;
    }
}

const MODEL_NOT_FOUND: Expected = Expected {
    status: StatusCode::NOT_FOUND,
    openai: (
        "invalid_request_error",
        Some("model_not_found"),
        Some("model"),
    ),
    anthropic: "not_found_error",
};

#[tokio::test]
async fn an_unknown_model_is_404_and_counted_without_a_row() {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;

    for endpoint in BOTH {
        let answer = proxy.ask(endpoint, "no-such-model").await;

        let message = assert_proxy_error(endpoint, &answer, &MODEL_NOT_FOUND);
        assert!(message.contains("no-such-model"), "{message}");
        assert_counted_not_recorded(&proxy, &answer, "model_not_found").await;
    }
}

#[tokio::test]
async fn a_disabled_model_is_404() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("mock").await;
    proxy
        .model_with(json!({
            "public_name": "mock-off", "provider_id": provider, "upstream_model": "mock-off",
            "input_price": 1, "output_price": 1, "enabled": false,
        }))
        .await;

    for endpoint in BOTH {
        let answer = proxy.ask(endpoint, "mock-off").await;

        assert_proxy_error(endpoint, &answer, &MODEL_NOT_FOUND);
    }
}

const PERMISSION_DENIED: Expected = Expected {
    status: StatusCode::FORBIDDEN,
    openai: ("permission_error", Some("permission_denied"), None),
    anthropic: "permission_error",
};

#[tokio::test]
async fn a_model_the_key_is_not_limited_to_is_403() {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;
    proxy.route("mock", "mock-other").await;
    let (limited, _) = proxy
        .create_key(json!({ "name": "other only", "models": ["mock-other"] }))
        .await;

    for endpoint in BOTH {
        let answer = proxy
            .ask_with_key(endpoint, Some(&limited), "mock-test")
            .await;

        let message = assert_proxy_error(endpoint, &answer, &PERMISSION_DENIED);
        assert!(message.contains("mock-test"), "{message}");
        assert_failed_row(&proxy, &answer, endpoint, "permission_denied").await;
        let allowed = proxy
            .ask_with_key(endpoint, Some(&limited), "mock-other")
            .await;
        assert_eq!(allowed.0, StatusCode::OK, "{}", allowed.2);
    }
}

#[tokio::test]
async fn a_model_outside_the_users_plan_is_403() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("mock").await;
    proxy
        .model_with(json!({
            "public_name": "mock-pro", "provider_id": provider, "upstream_model": "mock-pro",
            "input_price": 1, "output_price": 1, "plans": ["pro"],
        }))
        .await;

    for endpoint in BOTH {
        let answer = proxy.ask(endpoint, "mock-pro").await;

        let message = assert_proxy_error(endpoint, &answer, &PERMISSION_DENIED);
        assert!(message.contains("plan"), "{message}");
        assert_failed_row(&proxy, &answer, endpoint, "permission_denied").await;
    }
}

/// A hold the key's quota cannot cover.
const NO_QUOTA: Expected = Expected {
    status: StatusCode::PAYMENT_REQUIRED,
    openai: ("insufficient_quota", Some("insufficient_quota"), None),
    anthropic: "billing_error",
};

#[tokio::test]
async fn a_key_whose_quota_cannot_cover_the_worst_case_is_402_and_spends_nothing() {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;
    // One request's actual cost, but not its worst case (its `max_tokens`
    // at the output price): the hold is refused before the upstream.
    let (capped, _) = proxy
        .create_key(json!({ "name": "capped", "quota_micro_credits": COST }))
        .await;

    for endpoint in BOTH {
        let answer = proxy
            .ask_with_key(endpoint, Some(&capped), "mock-test")
            .await;

        let message = assert_proxy_error(endpoint, &answer, &NO_QUOTA);
        assert!(message.contains("quota"), "names the quota: {message}");
        let row = assert_failed_row(&proxy, &answer, endpoint, "insufficient_quota").await;
        assert_eq!((row.cost, row.charged), (0, 0), "{row:?}");
    }
    let (_, _, keys) = proxy.app.get("/api/keys", &proxy.user).await;
    let listed = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "capped")
        .unwrap();
    assert_eq!(listed["quota_used_micro_credits"], 0);
    assert_eq!(listed["status"], "active");
}

/// The model each client's test asks for: `gpt-<stem>` on
/// `/v1/chat/completions`, `claude-<stem>` on `/v1/messages` (the mock
/// upstream reads the behaviour from the name).
fn per_client(stem: &str) -> [(Endpoint, String); 2] {
    [
        (Endpoint::ChatCompletions, format!("gpt-{stem}")),
        (Endpoint::Messages, format!("claude-{stem}")),
    ]
}

/// Routes each model of [`per_client`] to a provider of its client's kind.
async fn route_per_client(proxy: &ProxyApp, stem: &str) {
    for (endpoint, model) in per_client(stem) {
        let kind = match endpoint {
            Endpoint::Messages => "anthropic",
            _ => "openai",
        };
        proxy.route(kind, &model).await;
    }
}

/// A provider of `kind` at `base_url`, with one model `name`.
async fn route_at(proxy: &ProxyApp, kind: &str, base_url: &str, name: &str, timeout: u32) {
    let provider = proxy
        .provider_with(json!({
            "name": format!("{kind} at {base_url}"),
            "kind": kind,
            "base_url": base_url,
            "api_keys": [UPSTREAM_KEY],
            "timeout_secs": timeout,
            "connect_timeout_secs": 1,
        }))
        .await;
    proxy.model(&provider, name, name).await;
}

/// A provider Tollgate cannot reach or is not let into.
const UPSTREAM_UNREACHABLE: Expected = Expected {
    status: StatusCode::BAD_GATEWAY,
    openai: ("server_error", None, None),
    anthropic: "api_error",
};

#[tokio::test]
async fn an_unreachable_provider_is_502() {
    let proxy = ProxyApp::start().await;
    route_at(&proxy, "openai", "http://127.0.0.1:1/v1", "gpt-nowhere", 5).await;
    route_at(
        &proxy,
        "anthropic",
        "http://127.0.0.1:1",
        "claude-nowhere",
        5,
    )
    .await;

    for (endpoint, model) in per_client("nowhere") {
        let answer = proxy.ask(endpoint, &model).await;

        let message = assert_proxy_error(endpoint, &answer, &UPSTREAM_UNREACHABLE);
        assert!(!message.contains("127.0.0.1"), "{message}");
        let row = assert_failed_row(&proxy, &answer, endpoint, "upstream_unreachable").await;
        assert!(row.model_id.is_some());
    }
}

/// A provider silent past its timeout.
const UPSTREAM_TIMEOUT: Expected = Expected {
    status: StatusCode::GATEWAY_TIMEOUT,
    openai: ("server_error", None, None),
    anthropic: "timeout_error",
};

#[tokio::test]
async fn a_provider_that_does_not_answer_within_its_timeout_is_504() {
    let proxy = ProxyApp::start().await;
    let upstream = proxy.upstream.clone();
    route_at(&proxy, "openai", &format!("{upstream}/v1"), "gpt-slow", 1).await;
    route_at(&proxy, "anthropic", &upstream, "claude-slow", 1).await;
    let started = Instant::now();

    let (openai, anthropic) = tokio::join!(
        proxy.ask(Endpoint::ChatCompletions, "gpt-slow"),
        proxy.call(
            Endpoint::Messages,
            llm_body(Endpoint::Messages, "claude-slow", true)
        ),
    );

    assert!(
        started.elapsed() < server::gateway::mock::SLOW_DELAY,
        "the proxy waited for the slow answer: {:?}",
        started.elapsed()
    );
    for (endpoint, answer) in [
        (Endpoint::ChatCompletions, openai),
        (Endpoint::Messages, anthropic),
    ] {
        let message = assert_proxy_error(endpoint, &answer, &UPSTREAM_TIMEOUT);
        assert!(message.contains("within 1 s"), "{message}");
        let row = assert_failed_row(&proxy, &answer, endpoint, "upstream_timeout").await;
        assert!((1000..3000).contains(&row.duration_ms), "{row:?}");
    }
}

/// A provider's own 500.
const UPSTREAM_FAILED: Expected = Expected {
    status: StatusCode::INTERNAL_SERVER_ERROR,
    openai: ("server_error", None, None),
    anthropic: "api_error",
};

#[tokio::test]
async fn an_upstream_500_is_passed_on_in_each_clients_shape_and_recorded() {
    let proxy = ProxyApp::start().await;
    route_per_client(&proxy, "error-500").await;

    for (endpoint, model) in per_client("error-500") {
        let answer = proxy.ask(endpoint, &model).await;

        let message = assert_proxy_error(endpoint, &answer, &UPSTREAM_FAILED);
        // The provider's own words stay in the log: its outage is not the
        // client's to read about.
        assert_eq!(
            message,
            "the provider could not answer (500 Internal Server Error); try again later"
        );
        let row = assert_failed_row(&proxy, &answer, endpoint, "upstream_error").await;
        assert_eq!(row.model, model);
        assert!(row.model_id.is_some() && row.ttft_ms.is_some(), "{row:?}");
    }
}

/// A provider's own 429.
const UPSTREAM_RATE_LIMITED: Expected = Expected {
    status: StatusCode::TOO_MANY_REQUESTS,
    openai: ("rate_limit_error", Some("rate_limit_exceeded"), None),
    anthropic: "rate_limit_error",
};

#[tokio::test]
async fn an_upstream_429_on_a_stream_is_passed_on_with_its_retry_after() {
    let proxy = ProxyApp::start().await;
    route_per_client(&proxy, "429").await;

    for (endpoint, model) in per_client("429") {
        let answer = proxy.call(endpoint, llm_body(endpoint, &model, true)).await;

        let message = assert_proxy_error(endpoint, &answer, &UPSTREAM_RATE_LIMITED);
        assert_eq!(
            message,
            "the provider is rate limiting requests; try again later"
        );
        assert_eq!(answer.1[header::RETRY_AFTER], "7");
        let row = assert_failed_row(&proxy, &answer, endpoint, "rate_limited").await;
        assert!(row.streamed);
    }
}

#[tokio::test]
async fn a_provider_refusing_tollgates_credentials_is_502_not_401() {
    let proxy = ProxyApp::start().await;
    // Without a key the mock upstream answers 401, as a provider does when
    // Tollgate's upstream key is wrong.
    for (kind, base_url, name) in [
        ("openai", format!("{}/v1", proxy.upstream), "gpt-keyless"),
        ("anthropic", proxy.upstream.clone(), "claude-keyless"),
    ] {
        let provider = proxy
            .provider_with(json!({ "name": kind, "kind": kind, "base_url": base_url }))
            .await;
        proxy.model(&provider, name, name).await;
    }

    for (endpoint, model) in per_client("keyless") {
        let answer = proxy.ask(endpoint, &model).await;

        let message = assert_proxy_error(endpoint, &answer, &UPSTREAM_UNREACHABLE);
        assert!(message.contains("credentials"), "{message}");
        assert_failed_row(&proxy, &answer, endpoint, "upstream_unreachable").await;
    }
}
