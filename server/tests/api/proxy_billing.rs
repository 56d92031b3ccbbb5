//! Proxied requests and money: every request is charged to the ledger once,
//! at its actual cost, and holds keep concurrent requests from spending more
//! than a balance or a key's quota.

use axum::http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use server::{credits::service::verify, proxy::request::Endpoint};
use tower::ServiceExt;

use crate::helpers::{
    PASSWORD, ProxyApp, STARTING_CREDITS, llm_body, llm_request, request_id, string_at,
};

/// Output price of the exact-cost model: 1 µc a token; input is free, so a
/// request's worst case (`max_tokens` at the output price) is its cost.
const OUTPUT_PRICE: i64 = 1_000_000;
/// The mock says five words when `max_tokens` is 5: "Hello from the Tollgate mock."
const MAX_TOKENS: i64 = 5;
const AFFORDABLE: i64 = 10;

/// A model whose requests cost exactly their worst case: `MAX_TOKENS` µc.
async fn exact_cost_model(proxy: &ProxyApp) {
    let provider = proxy.provider("mock").await;
    proxy
        .model_with(json!({
            "public_name": "exact", "provider_id": provider, "upstream_model": "exact",
            "input_price": 0, "output_price": OUTPUT_PRICE,
        }))
        .await;
}

fn exact_body(endpoint: Endpoint) -> Value {
    let mut body = llm_body(endpoint, "exact", false);
    body["max_tokens"] = json!(MAX_TOKENS);
    body
}

/// Grants `micros` to a user as the admin.
async fn grant(proxy: &ProxyApp, user_id: &str, micros: i64) {
    let amount = format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000);
    let body = json!({ "user_id": user_id, "amount": amount, "reason": "test" });
    let (status, _, answer) = proxy
        .app
        .request(
            Method::POST,
            "/api/admin/credits/grant",
            Some(body),
            Some(&proxy.admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

/// A second user with `micros` of credits and a key (with `key_fields`).
async fn funded_user(proxy: &ProxyApp, micros: i64, key_fields: Value) -> (String, String) {
    let (token, user_id) = proxy.app.register("ada@example.com", PASSWORD, "Ada").await;
    if micros > 0 {
        grant(proxy, &user_id, micros).await;
    }
    let mut fields = json!({ "name": "load" });
    if let (Some(fields), Some(extra)) = (fields.as_object_mut(), key_fields.as_object()) {
        fields.extend(extra.clone());
    }
    let (key, _) = proxy.app.create_key(&token, fields).await;
    (token, key)
}

/// The credits answer of a user's session.
async fn credits(proxy: &ProxyApp, token: &str) -> Value {
    let (status, _, body) = proxy
        .app
        .request(
            Method::GET,
            "/api/users/me/credits?per_page=100",
            None,
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Fires `count` identical requests at once; returns how many got each status.
async fn burst(proxy: &ProxyApp, key: &str, count: usize) -> (usize, usize) {
    let tasks: Vec<_> = (0..count)
        .map(|n| {
            let endpoint = if n % 2 == 0 {
                Endpoint::ChatCompletions
            } else {
                Endpoint::Messages
            };
            let request = llm_request(
                endpoint.path(),
                endpoint,
                Some(key),
                &[],
                exact_body(endpoint).to_string(),
            );
            let router = proxy.app.router.clone();
            tokio::spawn(async move { router.oneshot(request).await.unwrap().status() })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::PAYMENT_REQUIRED => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    (ok, refused)
}

#[tokio::test]
async fn every_request_is_charged_to_the_ledger_once_at_its_cost() {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;
    let mut ids = Vec::new();
    for endpoint in [Endpoint::ChatCompletions, Endpoint::Messages] {
        let answer = proxy
            .call(endpoint, llm_body(endpoint, "mock-test", false))
            .await;
        assert_eq!(answer.0, StatusCode::OK);
        ids.push(request_id(&answer.1));
    }
    let streamed = proxy
        .stream(
            Endpoint::Messages,
            llm_body(Endpoint::Messages, "mock-test", true),
        )
        .await;
    assert_eq!(streamed.status, StatusCode::OK);
    ids.push(request_id(&streamed.headers));
    let rows = proxy.usage_rows().await;

    let body = credits(&proxy, &proxy.user).await;
    let entries = body["entries"].as_array().unwrap();
    let charges: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "charge").collect();
    assert_eq!(charges.len(), 3, "{body}");
    let mut spent = 0;
    for id in &ids {
        let row = rows.iter().find(|row| &row.id == id).unwrap();
        assert!(row.cost > 0 && row.charged == row.cost, "{row:?}");
        let entry = charges
            .iter()
            .find(|e| e["reference"] == json!(id))
            .unwrap_or_else(|| panic!("no charge for {id} in {body}"));
        assert_eq!(entry["amount_micro_credits"], json!(-row.cost));
        spent += row.cost;
    }
    let balance = STARTING_CREDITS * 1_000_000 - spent;
    assert_eq!(body["balance_micro_credits"], json!(balance));
    let sum: i64 = entries
        .iter()
        .map(|e| e["amount_micro_credits"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, balance);
    assert_eq!(verify(proxy.app.db()).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_balance_that_cannot_cover_the_worst_case_gets_402_and_is_not_charged() {
    let proxy = ProxyApp::start().await;
    exact_cost_model(&proxy).await;
    let (token, key) = funded_user(&proxy, MAX_TOKENS - 1, json!({})).await;

    for endpoint in [Endpoint::ChatCompletions, Endpoint::Messages] {
        let answer = proxy
            .call_with_key(endpoint, Some(&key), exact_body(endpoint))
            .await;
        assert_eq!(answer.0, StatusCode::PAYMENT_REQUIRED, "{}", answer.2);
        let text = answer.2.to_string();
        assert!(text.contains("insufficient credits"), "{text}");
        let row = proxy.usage_row_of(&answer.1).await;
        assert_eq!(row.error_kind.as_deref(), Some("insufficient_quota"));
        assert_eq!((row.cost, row.charged), (0, 0));
    }
    assert_eq!(
        credits(&proxy, &token).await["balance_micro_credits"],
        json!(MAX_TOKENS - 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_requests_never_spend_more_than_the_balance() {
    let proxy = ProxyApp::start().await;
    exact_cost_model(&proxy).await;
    let (token, key) = funded_user(&proxy, AFFORDABLE * MAX_TOKENS, json!({})).await;

    let (ok, refused) = burst(&proxy, &key, 1_000).await;
    proxy.app.state.usage.flush().await;

    assert_eq!(ok as i64, AFFORDABLE, "exactly the affordable requests ran");
    assert_eq!(refused, 1_000 - ok);
    let body = credits(&proxy, &token).await;
    assert_eq!(body["balance_micro_credits"], json!(0), "{body}");
    let sum: i64 = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["amount_micro_credits"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 0);
    assert_eq!(verify(proxy.app.db()).await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_requests_never_spend_more_than_a_key_quota() {
    let proxy = ProxyApp::start().await;
    exact_cost_model(&proxy).await;
    let quota = AFFORDABLE * MAX_TOKENS;
    let (token, key) =
        funded_user(&proxy, 100 * quota, json!({ "quota_micro_credits": quota })).await;

    let (ok, _) = burst(&proxy, &key, 1_000).await;
    proxy.app.state.usage.flush().await;

    assert_eq!(ok as i64, AFFORDABLE);
    let (_, _, keys) = proxy
        .app
        .request(Method::GET, "/api/keys", None, Some(&token))
        .await;
    let listed = &keys["keys"][0];
    assert_eq!(listed["quota_used_micro_credits"], json!(quota), "{listed}");
    assert_eq!(listed["status"], "over_quota");
    let body = credits(&proxy, &token).await;
    assert_eq!(body["balance_micro_credits"], json!(99 * quota));
    assert_eq!(string_at(&body, "/balance_credits"), "0.004950");
}

/// The charge entries of the test user, by request id.
async fn charges_of(proxy: &ProxyApp) -> Vec<(String, i64)> {
    proxy.app.state.usage.flush().await;
    credits(proxy, &proxy.user).await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "charge")
        .map(|e| {
            (
                string_at(e, "/reference"),
                e["amount_micro_credits"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn an_upstream_error_is_charged_nothing() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "claude-error-500").await;

    let answer = proxy
        .call(
            Endpoint::Messages,
            llm_body(Endpoint::Messages, "claude-error-500", false),
        )
        .await;

    assert_eq!(answer.0, StatusCode::INTERNAL_SERVER_ERROR);
    let row = proxy.usage_row_of(&answer.1).await;
    assert_eq!((row.cost, row.charged), (0, 0));
    assert_eq!(charges_of(&proxy).await, vec![]);
    let body = credits(&proxy, &proxy.user).await;
    assert_eq!(
        body["balance_micro_credits"],
        json!(STARTING_CREDITS * 1_000_000)
    );
}

#[tokio::test]
async fn a_stream_cut_by_the_upstream_is_charged_once_for_what_was_used() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "mock-drip-stream-cut").await;
    let body = llm_body(Endpoint::Messages, "mock-drip-stream-cut", true).to_string();

    let response = proxy
        .open(Endpoint::Messages.path(), Endpoint::Messages, &[], body)
        .await;
    let id = request_id(response.headers());
    let mut stream = response.into_body();
    // Read until the cut.
    while let Some(Ok(_)) = stream.frame().await {}
    let row = proxy.usage_row(&id).await;

    assert_eq!(row.error_kind.as_deref(), Some("upstream_stream_error"));
    assert!(row.cost > 0, "{row:?}");
    assert_eq!(charges_of(&proxy).await, vec![(id, -row.cost)]);
    assert_eq!(verify(proxy.app.db()).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_client_that_goes_away_is_charged_once_for_what_was_used() {
    let proxy = ProxyApp::start().await;
    proxy.route("anthropic", "mock-drip").await;
    let body = llm_body(Endpoint::Messages, "mock-drip", true).to_string();

    let response = proxy
        .open(Endpoint::Messages.path(), Endpoint::Messages, &[], body)
        .await;
    let id = request_id(response.headers());
    let mut stream = response.into_body();
    stream.frame().await.unwrap().unwrap();
    drop(stream);
    let row = proxy.usage_row(&id).await;

    assert_eq!(row.error_kind.as_deref(), Some("client_disconnected"));
    assert!(
        row.cost > 0,
        "the input reported by message_start is paid: {row:?}"
    );
    assert_eq!(charges_of(&proxy).await, vec![(id, -row.cost)]);
    assert_eq!(verify(proxy.app.db()).await.unwrap(), vec![]);
}
