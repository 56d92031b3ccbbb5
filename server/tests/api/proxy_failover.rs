//! Deployments, retries, fallbacks and cooldown: a request moves on to the
//! next key, deployment or fallback model when a provider is unreachable,
//! answers 5xx or 429, never when the client's request was at fault or a
//! byte of the answer went out; it is charged once, at the prices of the
//! model that answered, and the usage row counts its attempts.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};
use server::gateway::{format::ApiFormat, mock, proxy::request::Endpoint};

use crate::{
    helpers::{
        COST, ProxyApp, STARTING_CREDITS, UPSTREAM_KEY, llm_body, request_id, serve, streamed_text,
        string_at,
    },
    proxy_streams::read_until_error,
};

/// The client formats and modes every failover case runs in.
const CASES: [(Endpoint, bool); 4] = [
    (Endpoint::ChatCompletions, false),
    (Endpoint::ChatCompletions, true),
    (Endpoint::Messages, false),
    (Endpoint::Messages, true),
];

/// What a [`Scripted`] upstream does with the next requests.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// Answers as the mock provider does.
    Answer,
    /// Answers this status in the provider's error shape.
    Status(u16),
    /// 429 with this `Retry-After`.
    RateLimited(u32),
    /// Answers as the mock does, half a second late.
    SlowAnswer,
}

/// An upstream whose behaviour a test switches, counting the calls it got.
#[derive(Clone)]
struct Scripted(Arc<Mutex<(Mode, usize)>>);

impl Scripted {
    async fn start(mode: Mode) -> (String, Self) {
        let scripted = Self(Arc::new(Mutex::new((mode, 0))));
        let route = |format: ApiFormat| {
            let scripted = scripted.clone();
            post(move |body: Bytes| async move { scripted.answer(format, &body).await })
        };
        let router = Router::new()
            .route("/v1/chat/completions", route(ApiFormat::OpenAi))
            .route("/v1/messages", route(ApiFormat::Anthropic));
        (serve(router).await, scripted)
    }

    async fn answer(&self, format: ApiFormat, body: &[u8]) -> Response {
        let mode = {
            let mut state = self.0.lock().unwrap();
            state.1 += 1;
            state.0
        };
        match mode {
            Mode::Answer => mock::answer(format, "", body).await,
            Mode::SlowAnswer => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                mock::answer(format, "", body).await
            }
            Mode::Status(status) => {
                let status = StatusCode::from_u16(status).unwrap();
                mock::error(format, status, "scripted failure")
            }
            Mode::RateLimited(secs) => {
                let mut response = mock::error(format, StatusCode::TOO_MANY_REQUESTS, "slow down");
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
                response.into_response()
            }
        }
    }

    fn set(&self, mode: Mode) {
        self.0.lock().unwrap().0 = mode;
    }

    fn calls(&self) -> usize {
        self.0.lock().unwrap().1
    }
}

/// An address where nothing listens: connections to it are refused.
async fn closed_port() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{address}")
}

/// A provider of `kind` (`openai` or `anthropic`) at `base`; returns its id.
async fn provider_at(proxy: &ProxyApp, kind: &str, base: &str) -> String {
    let base_url = if kind == "openai" {
        format!("{base}/v1")
    } else {
        base.to_owned()
    };
    proxy
        .provider_with(json!({
            "name": format!("{kind} at {base} {}", rand_suffix()),
            "kind": kind,
            "base_url": base_url,
            "api_keys": [UPSTREAM_KEY],
            "timeout_secs": 5,
        }))
        .await
}

fn rand_suffix() -> String {
    format!("{:08x}", rand::random::<u32>())
}

/// A model `name` served by `deployments`, at `price_factor` times the
/// test prices, falling back to `fallbacks`.
async fn model(
    proxy: &ProxyApp,
    name: &str,
    deployments: Value,
    fallbacks: &[&str],
    price_factor: i64,
) -> Value {
    proxy
        .app
        .create_model(
            &proxy.admin,
            json!({
                "public_name": name,
                "deployments": deployments,
                "fallbacks": fallbacks,
                "input_price": crate::helpers::INPUT_PRICE * price_factor,
                "output_price": crate::helpers::OUTPUT_PRICE * price_factor,
            }),
        )
        .await
}

/// Sends one request for `model`, reading the whole answer; returns the
/// status, headers and body text.
async fn ask(
    proxy: &ProxyApp,
    endpoint: Endpoint,
    stream: bool,
    model: &str,
) -> (StatusCode, HeaderMap, String) {
    let body = llm_body(endpoint, model, stream);
    if stream {
        let streamed = proxy.stream(endpoint, body).await;
        (streamed.status, streamed.headers, streamed.text)
    } else {
        let (status, headers, body) = proxy.call(endpoint, body).await;
        (status, headers, body.to_string())
    }
}

fn label(endpoint: Endpoint, stream: bool) -> String {
    format!("{} stream={stream}", endpoint.label())
}

#[tokio::test]
async fn a_refused_connection_moves_on_to_the_next_deployment_and_charges_once() {
    let proxy = ProxyApp::start().await;
    let closed = closed_port().await;
    let dead = provider_at(&proxy, "openai", &closed).await;
    let live = proxy.provider("anthropic").await;
    let mut charged = 0;
    for (index, (endpoint, stream)) in CASES.into_iter().enumerate() {
        let case = label(endpoint, stream);
        let name = format!("failover-{index}");
        model(
            &proxy,
            &name,
            json!([
                { "provider_id": dead, "upstream_model": "gpt-dead", "priority": 0 },
                { "provider_id": live, "upstream_model": "claude-live", "priority": 1 },
            ]),
            &[],
            1,
        )
        .await;
        let (status, headers, text) = ask(&proxy, endpoint, stream, &name).await;
        assert_eq!(status, StatusCode::OK, "{case}: {text}");
        let said = if stream {
            streamed_text(endpoint, &text)
        } else {
            text.clone()
        };
        assert!(
            said.contains("Hello from the Tollgate mock"),
            "{case}: {text}"
        );
        assert_eq!(headers["x-tollgate-attempts"], "2", "{case}");
        assert_eq!(headers["x-tollgate-served-model"], name.as_str(), "{case}");
        let row = proxy.usage_row(&request_id(&headers)).await;
        assert_eq!(row.attempts, 2, "{case}");
        assert_eq!(row.provider_id.as_deref(), Some(live.as_str()), "{case}");
        assert_eq!(row.upstream_model, "claude-live", "{case}");
        assert_eq!(row.served_model.as_deref(), Some(name.as_str()), "{case}");
        assert_eq!(row.cost, COST, "{case}");
        assert_eq!(row.charged, COST, "{case}");
        let errors: Value = serde_json::from_str(row.attempt_errors.as_deref().unwrap()).unwrap();
        assert_eq!(errors.as_array().unwrap().len(), 1, "{case}: {errors}");
        assert_eq!(errors[0]["provider_id"], dead.as_str(), "{case}");
        assert_eq!(errors[0]["error"], "upstream_unreachable", "{case}");
        charged += COST;
    }
    assert_eq!(
        proxy.balance().await,
        STARTING_CREDITS * 1_000_000 - charged
    );
}

#[tokio::test]
async fn when_every_deployment_fails_the_fallback_answers_at_its_own_price() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("openai").await;
    let mut charged = 0;
    for (index, (endpoint, stream)) in CASES.into_iter().enumerate() {
        let case = label(endpoint, stream);
        let (name, fallback) = (format!("main-{index}"), format!("spare-{index}"));
        model(
            &proxy,
            &fallback,
            json!([{ "provider_id": provider, "upstream_model": "spare" }]),
            &[],
            2,
        )
        .await;
        model(
            &proxy,
            &name,
            json!([
                { "provider_id": provider, "upstream_model": "one-error-500" },
                { "provider_id": provider, "upstream_model": "two-error-500" },
            ]),
            &[&fallback],
            1,
        )
        .await;
        let (status, headers, text) = ask(&proxy, endpoint, stream, &name).await;
        assert_eq!(status, StatusCode::OK, "{case}: {text}");
        assert_eq!(
            headers["x-tollgate-served-model"],
            fallback.as_str(),
            "{case}"
        );
        assert_eq!(headers["x-tollgate-attempts"], "3", "{case}");
        let row = proxy.usage_row(&request_id(&headers)).await;
        assert_eq!(row.model, name, "{case}: the row keeps the name asked for");
        assert_eq!(
            row.served_model.as_deref(),
            Some(fallback.as_str()),
            "{case}"
        );
        assert_eq!(row.upstream_model, "spare", "{case}");
        assert_eq!(row.attempts, 3, "{case}");
        assert_eq!(row.cost, 2 * COST, "{case}: the fallback's prices");
        assert_eq!(row.charged, 2 * COST, "{case}");
        assert_eq!(row.output_price, 2 * crate::helpers::OUTPUT_PRICE, "{case}");
        let errors: Value = serde_json::from_str(row.attempt_errors.as_deref().unwrap()).unwrap();
        let statuses: Vec<&Value> = errors
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["status"])
            .collect();
        assert_eq!(statuses, [&json!(500), &json!(500)], "{case}: {errors}");
        charged += 2 * COST;
    }
    assert_eq!(
        proxy.balance().await,
        STARTING_CREDITS * 1_000_000 - charged
    );
}

#[tokio::test]
async fn a_client_error_from_the_provider_is_never_retried() {
    let proxy = ProxyApp::start().await;
    let (refusing, refusing_calls) = Scripted::start(Mode::Status(400)).await;
    let (spare, spare_calls) = Scripted::start(Mode::Answer).await;
    let first = provider_at(&proxy, "openai", &refusing).await;
    let second = provider_at(&proxy, "openai", &spare).await;
    model(
        &proxy,
        "strict",
        json!([
            { "provider_id": first, "upstream_model": "strict", "priority": 0 },
            { "provider_id": second, "upstream_model": "strict", "priority": 1 },
        ]),
        &[],
        1,
    )
    .await;
    for (endpoint, stream) in CASES {
        let case = label(endpoint, stream);
        let (status, headers, text) = ask(&proxy, endpoint, stream, "strict").await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {text}");
        assert!(text.contains("scripted failure"), "{case}: {text}");
        let row = proxy.usage_row(&request_id(&headers)).await;
        assert_eq!((row.attempts, row.charged), (1, 0), "{case}");
    }
    assert_eq!(refusing_calls.calls(), CASES.len());
    assert_eq!(spare_calls.calls(), 0, "nothing was retried");
}

#[tokio::test]
async fn a_stream_cut_after_its_first_byte_is_not_retried() {
    let proxy = ProxyApp::start().await;
    let cutting = proxy.provider("openai").await;
    let (spare, spare_calls) = Scripted::start(Mode::Answer).await;
    let second = provider_at(&proxy, "openai", &spare).await;
    model(
        &proxy,
        "fragile",
        json!([
            { "provider_id": cutting, "upstream_model": "mock-drip-stream-cut", "priority": 0 },
            { "provider_id": second, "upstream_model": "fine", "priority": 1 },
        ]),
        &[],
        1,
    )
    .await;
    for endpoint in [Endpoint::ChatCompletions, Endpoint::Messages] {
        let body = llm_body(endpoint, "fragile", true);
        let response = proxy
            .open(endpoint.path(), endpoint, &[], body.to_string())
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let id = request_id(response.headers());
        let (received, failed) = read_until_error(response.into_body()).await;
        assert!(failed, "the client sees the cut: {received}");
        assert!(!received.is_empty());
        let row = proxy.usage_row(&id).await;
        assert_eq!(row.attempts, 1);
        assert_eq!(row.error_kind.as_deref(), Some("upstream_stream_error"));
        assert_eq!(row.provider_id.as_deref(), Some(cutting.as_str()));
        assert!(row.charged > 0, "what was delivered is charged");
    }
    assert_eq!(spare_calls.calls(), 0, "nothing was retried");
}

#[tokio::test]
async fn a_rate_limited_key_rests_for_its_retry_after_then_takes_one_trial() {
    let proxy = ProxyApp::start().await;
    let (upstream, scripted) = Scripted::start(Mode::RateLimited(7)).await;
    let provider = provider_at(&proxy, "anthropic", &upstream).await;
    let busy = model(
        &proxy,
        "busy",
        json!([{ "provider_id": provider, "upstream_model": "busy" }]),
        &[],
        1,
    )
    .await;
    let (status, headers, text) = ask(&proxy, Endpoint::Messages, false, "busy").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
    assert_eq!(headers[header::RETRY_AFTER], "7");
    assert_eq!(scripted.calls(), 1);
    scripted.set(Mode::Answer);
    // Within the seven seconds the key is not called: 429 with the time left.
    for (endpoint, stream) in CASES {
        let (status, headers, text) = ask(&proxy, endpoint, stream, "busy").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{text}");
        let left: u64 = headers[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=7).contains(&left), "{left}");
        let row = proxy.usage_row(&request_id(&headers)).await;
        assert_eq!((row.attempts, row.charged), (0, 0));
    }
    assert_eq!(scripted.calls(), 1, "the cooling key was not called");
    // The key cools down, not the deployment.
    let health = deployment_health(&proxy, &busy).await;
    assert_eq!(health["status"], "healthy", "{health}");
    assert_eq!(health["keys"][0]["status"], "cooling_down", "{health}");
    assert_eq!(
        health["keys"][0]["key"].as_str().unwrap().len(),
        8,
        "{health}"
    );
    tokio::time::sleep(Duration::from_secs(7)).await;
    // Then exactly one trial among requests arriving together.
    scripted.set(Mode::RateLimited(7));
    let together = futures_util::future::join_all(
        (0..4).map(|_| ask(&proxy, Endpoint::ChatCompletions, false, "busy")),
    )
    .await;
    assert!(
        together
            .iter()
            .all(|(status, _, _)| *status == StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(scripted.calls(), 2, "one trial request");
}

#[tokio::test]
async fn failures_cool_a_deployment_down_and_a_trial_restores_it_or_cools_it_again() {
    let proxy = ProxyApp::start_with(|settings| {
        settings.proxy.failures_to_cool_down = 2;
        settings.proxy.cooldown_secs = 1;
    })
    .await;
    let (upstream, scripted) = Scripted::start(Mode::Status(503)).await;
    let provider = provider_at(&proxy, "openai", &upstream).await;
    let flaky = model(
        &proxy,
        "flaky",
        json!([{ "provider_id": provider, "upstream_model": "flaky" }]),
        &[],
        1,
    )
    .await;
    let status_of = |answer: &(StatusCode, HeaderMap, String)| answer.0;
    for _ in 0..2 {
        let answer = ask(&proxy, Endpoint::ChatCompletions, false, "flaky").await;
        assert_eq!(
            status_of(&answer),
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            answer.2
        );
    }
    assert_eq!(scripted.calls(), 2);
    // Cooling down: refused without a call.
    let answer = ask(&proxy, Endpoint::Messages, true, "flaky").await;
    assert_eq!(
        status_of(&answer),
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        answer.2
    );
    assert_eq!(answer.1[header::RETRY_AFTER], "1");
    assert_eq!(scripted.calls(), 2);

    // Half-open: one trial, which fails and cools it down again.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let answer = ask(&proxy, Endpoint::ChatCompletions, false, "flaky").await;
    assert_eq!(status_of(&answer), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(scripted.calls(), 3);
    let answer = ask(&proxy, Endpoint::ChatCompletions, false, "flaky").await;
    assert_eq!(
        status_of(&answer),
        StatusCode::TOO_MANY_REQUESTS,
        "cooled again at once"
    );
    assert_eq!(scripted.calls(), 3);

    // Half-open again: the trial succeeds (slowly, so that the others
    // arrive while it is out) and the deployment is restored.
    scripted.set(Mode::SlowAnswer);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let answers = futures_util::future::join_all(
        (0..3).map(|_| ask(&proxy, Endpoint::ChatCompletions, false, "flaky")),
    )
    .await;
    let served = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    assert_eq!(served, 1, "one trial while the others wait");
    assert_eq!(scripted.calls(), 4);
    scripted.set(Mode::Answer);
    for (endpoint, stream) in CASES {
        let answer = ask(&proxy, endpoint, stream, "flaky").await;
        assert_eq!(status_of(&answer), StatusCode::OK, "restored: {}", answer.2);
    }
    assert_eq!(scripted.calls(), 4 + CASES.len());
    let health = deployment_health(&proxy, &flaky).await;
    assert_eq!(health["status"], "healthy", "{health}");
}

/// An admin who fixes a provider's address expects the next request to go
/// there, not a cooldown earned at the old one.
#[tokio::test]
async fn editing_a_provider_forgets_its_deployments_cooldowns() {
    let proxy = ProxyApp::start_with(|settings| {
        settings.proxy.failures_to_cool_down = 2;
        settings.proxy.cooldown_secs = 600;
    })
    .await;
    let provider = provider_at(&proxy, "openai", &closed_port().await).await;
    let moved = model(
        &proxy,
        "moved",
        json!([{ "provider_id": provider, "upstream_model": "gpt-moved" }]),
        &[],
        1,
    )
    .await;
    for _ in 0..2 {
        let answer = ask(&proxy, Endpoint::ChatCompletions, false, "moved").await;
        assert_eq!(answer.0, StatusCode::BAD_GATEWAY, "{}", answer.2);
    }
    let answer = ask(&proxy, Endpoint::ChatCompletions, false, "moved").await;
    assert_eq!(
        answer.0,
        StatusCode::TOO_MANY_REQUESTS,
        "cooling: {}",
        answer.2
    );
    assert_eq!(
        deployment_health(&proxy, &moved).await["status"],
        "cooling_down"
    );

    let (upstream, scripted) = Scripted::start(Mode::Answer).await;
    let path = format!("/api/admin/providers/{provider}");
    let change = json!({ "base_url": format!("{upstream}/v1") });
    let (status, _, body) = proxy.app.patch(&path, change, &proxy.admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let health = deployment_health(&proxy, &moved).await;
    assert_eq!(health["status"], "healthy", "{health}");
    for (endpoint, stream) in CASES {
        let answer = ask(&proxy, endpoint, stream, "moved").await;
        assert_eq!(
            answer.0,
            StatusCode::OK,
            "{}: {}",
            label(endpoint, stream),
            answer.2
        );
    }
    assert_eq!(scripted.calls(), CASES.len());
}

/// The first deployment's health as the admin API shows it.
async fn deployment_health(proxy: &ProxyApp, model: &Value) -> Value {
    let path = format!("/api/admin/models/{}", string_at(model, "/id"));
    let body = proxy.admin_get(&path).await;
    body["model"]["deployments"][0]["health"].clone()
}

#[tokio::test]
async fn instances_sharing_redis_share_cooldowns_and_the_single_trial() {
    let proxy = ProxyApp::start_with(|settings| {
        settings.proxy.failures_to_cool_down = 2;
        settings.proxy.cooldown_secs = 1;
    })
    .await;
    let Some(twin) = proxy.app.twin().await else {
        eprintln!("skipped: instances share cooldowns through Redis (scripts/with-redis.sh)");
        return;
    };
    let (upstream, scripted) = Scripted::start(Mode::Status(500)).await;
    let provider = provider_at(&proxy, "openai", &upstream).await;
    model(
        &proxy,
        "shared",
        json!([{ "provider_id": provider, "upstream_model": "shared" }]),
        &[],
        1,
    )
    .await;
    // One failure on each instance makes two: the deployment cools down
    // for both.
    let (status, _, _) = on(&proxy, &proxy.app.router, Endpoint::ChatCompletions).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _, _) = on(&proxy, &twin, Endpoint::Messages).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(scripted.calls(), 2);
    // The bus tells the first instance within moments.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for router in [&proxy.app.router, &twin] {
        let (status, headers, body) = on(&proxy, router, Endpoint::ChatCompletions).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(headers[header::RETRY_AFTER], "1");
    }
    assert_eq!(scripted.calls(), 2, "neither instance called it");

    // Once the cooldown is over, one trial between both instances.
    scripted.set(Mode::SlowAnswer);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let answers = futures_util::future::join_all([
        on(&proxy, &proxy.app.router, Endpoint::ChatCompletions),
        on(&proxy, &twin, Endpoint::ChatCompletions),
        on(&proxy, &proxy.app.router, Endpoint::Messages),
        on(&proxy, &twin, Endpoint::Messages),
    ])
    .await;
    let served = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    assert_eq!(
        served,
        1,
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert_eq!(scripted.calls(), 3);
    // Restored on both.
    scripted.set(Mode::Answer);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for router in [&proxy.app.router, &twin] {
        let (status, _, body) = on(&proxy, router, Endpoint::Messages).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(scripted.calls(), 5);
}

/// Asks for the `shared` model through `router`.
async fn on(proxy: &ProxyApp, router: &Router, endpoint: Endpoint) -> crate::helpers::Answer {
    let body = llm_body(endpoint, "shared", false).to_string();
    let request =
        crate::helpers::llm_request(endpoint.path(), endpoint, Some(&proxy.key), &[], body);
    crate::helpers::send_to(router, request).await
}

#[tokio::test]
async fn traffic_is_spread_by_weight() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("mock").await;
    model(
        &proxy,
        "spread",
        json!([
            { "provider_id": provider, "upstream_model": "heavy", "weight": 3 },
            { "provider_id": provider, "upstream_model": "light", "weight": 1 },
        ]),
        &[],
        1,
    )
    .await;
    let total = 800;
    for _ in 0..total {
        let (status, _, _) = proxy.ask(Endpoint::ChatCompletions, "spread").await;
        assert_eq!(status, StatusCode::OK);
    }
    let rows = proxy.usage_rows().await;
    let heavy = rows.iter().filter(|r| r.upstream_model == "heavy").count();
    let light = rows.iter().filter(|r| r.upstream_model == "light").count();
    assert_eq!(heavy + light, total);
    let share = heavy as f64 / total as f64;
    // 800 draws: one standard deviation is 1.5 points; this is four.
    assert!((share - 0.75).abs() < 0.06, "heavy got {share}");
}

#[tokio::test]
async fn the_hold_covers_the_most_expensive_model_that_may_serve() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("mock").await;
    model(
        &proxy,
        "dear",
        json!([{ "provider_id": provider, "upstream_model": "dear" }]),
        &[],
        1_000,
    )
    .await;
    model(
        &proxy,
        "cheap",
        json!([{ "provider_id": provider, "upstream_model": "cheap" }]),
        &["dear"],
        1,
    )
    .await;
    model(
        &proxy,
        "cheap-alone",
        json!([{ "provider_id": provider, "upstream_model": "cheap-alone" }]),
        &[],
        1,
    )
    .await;
    // With 100 output tokens at most, a request to the cheap model holds
    // about 2,000 µc, and one that may fall back to the dear model a
    // thousand times that: a user with 20,000 µc can afford only the first.
    let (token, user_id) = proxy
        .app
        .register("frugal@example.com", crate::helpers::PASSWORD, "Frugal")
        .await;
    proxy.grant(&user_id, 20_000).await;
    let (key, _) = proxy.app.create_key(&token, json!({ "name": "k" })).await;
    let mut body = llm_body(Endpoint::Messages, "cheap", false);
    body["max_tokens"] = json!(100);
    let (status, _, answer) = proxy
        .call_with_key(Endpoint::Messages, Some(&key), body.clone())
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{answer}");
    body["model"] = json!("cheap-alone");
    let (status, headers, answer) = proxy
        .call_with_key(Endpoint::Messages, Some(&key), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let row = proxy.usage_row(&request_id(&headers)).await;
    assert!(row.charged > 0 && row.charged < 20_000, "{}", row.charged);
}

// --- the admin API --------------------------------------------------------------

#[tokio::test]
async fn deployments_and_fallbacks_are_kept_checked_and_shown() {
    let proxy = ProxyApp::start().await;
    let a = proxy.provider("openai").await;
    let b = proxy.provider("anthropic").await;
    let shorthand = proxy.model(&a, "plain", "gpt-plain").await;
    let created = model(
        &proxy,
        "pair",
        json!([
            { "provider_id": a, "upstream_model": "gpt-x", "weight": 3 },
            { "provider_id": b, "upstream_model": "claude-x", "priority": 1 },
        ]),
        &["plain"],
        1,
    )
    .await;
    assert_eq!(created["provider_id"], a.as_str(), "the first deployment's");
    assert_eq!(created["upstream_model"], "gpt-x");
    assert_eq!(created["fallbacks"], json!(["plain"]));
    let deployments = created["deployments"].as_array().unwrap();
    assert_eq!(deployments.len(), 2);
    assert_eq!(
        (
            deployments[0]["weight"].clone(),
            deployments[0]["priority"].clone()
        ),
        (json!(3), json!(0))
    );
    assert_eq!(
        (
            deployments[1]["weight"].clone(),
            deployments[1]["priority"].clone()
        ),
        (json!(1), json!(1))
    );
    let id = string_at(&created, "/id");
    let kept_id = string_at(&created, "/deployments/1/id");

    let (status, _, plain) = proxy
        .app
        .get(&format!("/api/admin/models/{shorthand}"), &proxy.admin)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        plain["model"]["deployments"][0]["upstream_model"],
        "gpt-plain"
    );
    assert_eq!(plain["model"]["fallbacks"], json!([]));

    let refused = [
        (
            json!({ "public_name": "both", "provider_id": a, "upstream_model": "x",
                    "deployments": [{ "provider_id": a, "upstream_model": "x" }],
                    "input_price": 1, "output_price": 1 }),
            "either provider_id and upstream_model",
        ),
        (
            json!({ "public_name": "neither", "input_price": 1, "output_price": 1 }),
            "provider_id and upstream_model are required",
        ),
        (
            json!({ "public_name": "none", "deployments": [], "input_price": 1, "output_price": 1 }),
            "deployments: between 1 and 16",
        ),
        (
            json!({ "public_name": "ghost", "deployments": [{ "provider_id": "prov_nope", "upstream_model": "x" }],
                    "input_price": 1, "output_price": 1 }),
            "deployments[0].provider_id does not name a provider",
        ),
        (
            json!({ "public_name": "zero", "deployments": [{ "provider_id": a, "upstream_model": "x", "weight": 0 }],
                    "input_price": 1, "output_price": 1 }),
            "deployments[0].weight must be between 1 and 1000",
        ),
        (
            json!({ "public_name": "twice", "deployments": [
                        { "provider_id": a, "upstream_model": "x" }, { "provider_id": a, "upstream_model": "x" }],
                    "input_price": 1, "output_price": 1 }),
            "deployments[1]: the same provider and upstream model are listed twice",
        ),
        (
            json!({ "public_name": "lost", "provider_id": a, "upstream_model": "x",
                    "fallbacks": ["nowhere"], "input_price": 1, "output_price": 1 }),
            "fallbacks: there is no model named `nowhere`",
        ),
        (
            json!({ "public_name": "selfish", "provider_id": a, "upstream_model": "x",
                    "fallbacks": ["selfish"], "input_price": 1, "output_price": 1 }),
            "fallbacks: a model cannot fall back to itself",
        ),
    ];
    for (body, expected) in refused {
        let (status, _, answer) = proxy
            .app
            .post("/api/admin/models", body, &proxy.admin)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(expected),
            "{expected}: {answer}"
        );
    }

    // A change of the list keeps the identity of a deployment still in it.
    let path = format!("/api/admin/models/{id}");
    let changed = proxy
        .app
        .patch_ok(
            &path,
            json!({ "deployments": [
                { "provider_id": b, "upstream_model": "claude-x", "weight": 5 },
            ] }),
            &proxy.admin,
        )
        .await;
    assert_eq!(changed["model"]["deployments"][0]["id"], kept_id.as_str());
    assert_eq!(changed["model"]["deployments"][0]["weight"], 5);
    assert_eq!(changed["model"]["provider_id"], b.as_str());
    assert_eq!(changed["model"]["upstream_model"], "claude-x");

    // The shorthand changes the only deployment; with several it is refused.
    let changed = proxy
        .app
        .patch_ok(&path, json!({ "upstream_model": "claude-y" }), &proxy.admin)
        .await;
    assert_eq!(
        changed["model"]["deployments"][0]["upstream_model"],
        "claude-y"
    );
    assert_eq!(changed["model"]["deployments"][0]["weight"], 5);
    let (status, _, _) = proxy
        .app
        .patch(
            &path,
            json!({ "deployments": [
                { "provider_id": a, "upstream_model": "gpt-x" },
                { "provider_id": b, "upstream_model": "claude-y" },
            ] }),
            &proxy.admin,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, refused) = proxy
        .app
        .patch(&path, json!({ "provider_id": b }), &proxy.admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("this model has 2 deployments"),
        "{refused}"
    );

    // A provider that serves a deployment cannot be deleted.
    let (status, _, answer) = proxy
        .app
        .delete(&format!("/api/admin/providers/{b}"), &proxy.admin)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
}
