//! Proxied requests and money: every request is charged to the ledger once,
//! at its actual cost, and holds keep concurrent requests from spending more
//! than a balance or a key's quota.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::http::{Method, StatusCode};
use http_body_util::BodyExt;
use sea_orm::{ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use server::{
    console::credits::service::{self, verify},
    gateway::proxy::request::Endpoint,
    platform::entity::{
        credit_entry::{self, EntryKind},
        usage_record,
    },
};
use tower::ServiceExt;
use tracing::{
    field::{Field, Visit},
    span,
};

use crate::helpers::{
    Answer, COST, PASSWORD, ProxyApp, STARTING_CREDITS, assert_error, assert_fields, json_request,
    llm_body, llm_request, request_id, send_to, string_at, strings_in,
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

/// A second user with `micros` of credits and a key (with `key_fields`).
async fn funded_user(proxy: &ProxyApp, micros: i64, key_fields: Value) -> (String, String) {
    let (token, user_id) = proxy.app.register("ada@example.com", PASSWORD, "Ada").await;
    if micros > 0 {
        proxy.grant(&user_id, micros).await;
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
    proxy
        .app
        .get_ok("/api/users/me/credits?per_page=100", token)
        .await
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
        let answer = proxy.ask(endpoint, "mock-test").await;
        assert_eq!(answer.0, StatusCode::OK);
        ids.push(request_id(&answer.1));
    }
    let streamed = proxy.ask_streamed(Endpoint::Messages, "mock-test").await;
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
    let (_, _, keys) = proxy.app.get("/api/keys", &token).await;
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

/// A request the upstream answers with its own 500 (asserted passed on).
async fn upstream_500(proxy: &ProxyApp) -> Answer {
    proxy.route("anthropic", "claude-error-500").await;
    let answer = proxy.ask(Endpoint::Messages, "claude-error-500").await;
    assert_eq!(answer.0, StatusCode::INTERNAL_SERVER_ERROR);
    answer
}

#[tokio::test]
async fn an_upstream_error_is_charged_nothing() {
    let proxy = ProxyApp::start().await;

    let answer = upstream_500(&proxy).await;

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

    let (id, response) = proxy
        .routed_stream("anthropic", Endpoint::Messages, "mock-drip-stream-cut")
        .await;
    let mut stream = response.into_body();
    // Read until the cut.
    while let Some(Ok(_)) = stream.frame().await {}

    let row = proxy
        .assert_cut_and_charged_once(&id, "upstream_stream_error", "a stream cut upstream")
        .await;
    assert_eq!(charges_of(&proxy).await, vec![(id, -row.cost)]);
}

#[tokio::test]
async fn a_client_that_goes_away_is_charged_once_for_what_was_used() {
    let proxy = ProxyApp::start().await;

    let (id, response) = proxy
        .routed_stream("anthropic", Endpoint::Messages, "mock-drip")
        .await;
    let mut stream = response.into_body();
    stream.frame().await.unwrap().unwrap();
    drop(stream);

    // The input reported by message_start is paid.
    let row = proxy
        .assert_cut_and_charged_once(&id, "client_disconnected", "a client gone")
        .await;
    assert_eq!(charges_of(&proxy).await, vec![(id, -row.cost)]);
}

// --- refunds ----------------------------------------------------------------

const REFUND: &str = "/api/admin/credits/refund";

/// POST /api/admin/credits/refund as `token`, or without one.
async fn refund_as(proxy: &ProxyApp, token: Option<&str>, body: Value) -> Answer {
    proxy
        .app
        .request(Method::POST, REFUND, Some(body), token)
        .await
}

/// Refunds as the admin; asserts 200 and returns the body.
async fn refunded(proxy: &ProxyApp, body: Value) -> Value {
    let (status, _, answer) = refund_as(proxy, Some(&proxy.admin), body).await;
    assert_eq!(status, StatusCode::OK, "the refund failed: {answer}");
    answer
}

/// The test user's balance as their session reads it, in micro-credits,
/// once the writer has stored every charge.
async fn balance_of(proxy: &ProxyApp) -> i64 {
    proxy.balance().await
}

/// The test user's entries of `kind`, newest first, once the writer has
/// stored every charge.
async fn entries_of(proxy: &ProxyApp, kind: &str) -> Vec<Value> {
    proxy.app.state.usage.flush().await;
    credits(proxy, &proxy.user).await["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

/// A proxy whose test user made one request costing [`COST`]; returns the
/// request's id. Its usage row may still be in the writer's queue.
async fn one_charged_request() -> (ProxyApp, String) {
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;
    let endpoint = Endpoint::ChatCompletions;
    let answer = proxy.ask(endpoint, "mock-test").await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.2);
    (proxy, request_id(&answer.1))
}

const STARTING_MICROS: i64 = STARTING_CREDITS * 1_000_000;

#[tokio::test]
async fn a_refund_gives_back_exactly_what_the_request_was_charged() {
    // Arrange: refunded straight away, while its row may still be queued.
    let (proxy, id) = one_charged_request().await;
    let admin_id = proxy.app.user_id_of(&proxy.admin).await;

    // Act
    let body = refunded(
        &proxy,
        json!({ "request_id": id, "reason": "upstream answered garbage" }),
    )
    .await;

    // Assert
    let row = proxy.usage_row(&id).await;
    assert_eq!(row.charged, COST, "{row:?}");
    assert_fields(
        &body,
        json!({
            "success": true, "applied": true, "request_id": id, "user_id": row.user_id,
            "refunded_micro_credits": COST, "refunded_credits": "0.000195",
            "balance_micro_credits": STARTING_MICROS, "balance_credits": "1000.000000"
        }),
    );
    let entry = &body["entry"];
    assert_fields(
        entry,
        json!({
            "kind": "refund", "amount_micro_credits": COST,
            "balance_after_micro_credits": STARTING_MICROS, "reason": "upstream answered garbage"
        }),
    );
    let reference = string_at(entry, "/reference");
    assert!(
        reference.contains(&id) && reference.contains(&admin_id),
        "the reference names neither the request nor the admin: {reference}"
    );
    assert_eq!(balance_of(&proxy).await, STARTING_MICROS);
    let history = credits(&proxy, &proxy.user).await;
    let kinds = strings_in(&history["entries"], "/kind");
    assert_eq!(kinds, ["refund", "charge", "grant"], "{history}");
    assert_eq!(history["entries"][0], *entry, "{history}");
    assert_eq!(verify(proxy.app.db()).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_partial_refund_gives_back_only_the_amount_asked() {
    // Arrange
    let (proxy, id) = one_charged_request().await;

    // Act: 100 of the 195 micro-credits.
    let body = refunded(
        &proxy,
        json!({ "request_id": id, "reason": "slow answer", "amount": "0.0001" }),
    )
    .await;

    // Assert
    let balance = STARTING_MICROS - COST + 100;
    assert_eq!(body["refunded_micro_credits"], json!(100), "{body}");
    assert_eq!(body["entry"]["amount_micro_credits"], json!(100), "{body}");
    assert_eq!(body["balance_micro_credits"], json!(balance), "{body}");
    assert_eq!(balance_of(&proxy).await, balance);
    assert_eq!(verify(proxy.app.db()).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_repeated_refund_applies_once_and_answers_the_first_result() {
    // Arrange
    let (proxy, id) = one_charged_request().await;
    let body = json!({ "request_id": id, "reason": "broken stream" });
    let first = refunded(&proxy, body.clone()).await;

    // Act: the same refund again, and once without the amount spelled out
    // against one that names it.
    let again = refunded(&proxy, body).await;
    let explicit = refunded(
        &proxy,
        json!({ "request_id": id, "reason": "again", "amount": "0.000195" }),
    )
    .await;

    // Assert
    assert_eq!(again["applied"], json!(false), "{again}");
    assert_eq!(again["entry"], first["entry"]);
    assert_eq!(again["balance_micro_credits"], json!(STARTING_MICROS));
    assert_eq!(explicit["applied"], json!(false), "{explicit}");
    assert_eq!(explicit["entry"], first["entry"]);
    assert_eq!(balance_of(&proxy).await, STARTING_MICROS);
    assert_eq!(entries_of(&proxy, "refund").await.len(), 1);
    assert_eq!(verify(proxy.app.db()).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_second_refund_of_another_amount_is_refused_and_writes_nothing() {
    // Arrange
    let (proxy, id) = one_charged_request().await;
    refunded(
        &proxy,
        json!({ "request_id": id, "reason": "slow", "amount": "0.0001" }),
    )
    .await;

    // Act: the rest of the charge, and the whole of it.
    let rest = refund_as(
        &proxy,
        Some(&proxy.admin),
        json!({ "request_id": id, "reason": "and the rest", "amount": "0.000095" }),
    )
    .await;
    let whole = refund_as(
        &proxy,
        Some(&proxy.admin),
        json!({ "request_id": id, "reason": "all of it" }),
    )
    .await;

    // Assert: a request is refunded once.
    for answer in [&rest, &whole] {
        let message = assert_error(answer, StatusCode::CONFLICT);
        assert!(message.contains("already refunded"), "{message}");
    }
    assert_eq!(balance_of(&proxy).await, STARTING_MICROS - COST + 100);
    assert_eq!(entries_of(&proxy, "refund").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_refunds_of_one_request_apply_once() {
    // Arrange
    let (proxy, id) = one_charged_request().await;
    let body = json!({ "request_id": id, "reason": "double billing" });

    // Act
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let request =
                json_request(Method::POST, REFUND, Some(body.clone()), Some(&proxy.admin));
            let router = proxy.app.router.clone();
            tokio::spawn(async move { send_to(&router, request).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }

    // Assert: every one answers the same entry; one of them applied it.
    for (status, _, answer) in &answers {
        assert_eq!(*status, StatusCode::OK, "{answer}");
        assert_eq!(answer["entry"], answers[0].2["entry"], "{answer}");
        assert_eq!(answer["balance_micro_credits"], json!(STARTING_MICROS));
    }
    let applied = answers
        .iter()
        .filter(|(_, _, answer)| answer["applied"] == json!(true))
        .count();
    assert_eq!(applied, 1);
    assert_eq!(balance_of(&proxy).await, STARTING_MICROS);
    let refunds = entries_of(&proxy, "refund").await;
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["amount_micro_credits"], json!(COST));
    assert_eq!(verify(proxy.app.db()).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_refunded_balance_can_be_spent_at_once_and_only_once() {
    // Arrange: Ada can afford one request, and has spent it.
    let proxy = ProxyApp::start().await;
    exact_cost_model(&proxy).await;
    let (token, key) = funded_user(&proxy, MAX_TOKENS, json!({})).await;
    let endpoint = Endpoint::ChatCompletions;
    let spend = || proxy.call_with_key(endpoint, Some(&key), exact_body(endpoint));
    let first = spend().await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.2);
    assert_eq!(spend().await.0, StatusCode::PAYMENT_REQUIRED);

    // Act
    let body = refunded(
        &proxy,
        json!({ "request_id": request_id(&first.1), "reason": "outage" }),
    )
    .await;

    // Assert: the wallet in memory got the refund, exactly once.
    assert_eq!(body["balance_micro_credits"], json!(MAX_TOKENS), "{body}");
    let again = spend().await;
    assert_eq!(
        again.0,
        StatusCode::OK,
        "the refund is not spendable: {}",
        again.2
    );
    assert_eq!(spend().await.0, StatusCode::PAYMENT_REQUIRED);
    proxy.app.state.usage.flush().await;
    assert_eq!(
        credits(&proxy, &token).await["balance_micro_credits"],
        json!(0)
    );
    assert_eq!(verify(proxy.app.db()).await.unwrap(), vec![]);
}

#[tokio::test]
async fn a_refund_of_more_than_was_charged_or_of_nothing_is_refused_naming_amount() {
    // Arrange
    let (proxy, id) = one_charged_request().await;

    for amount in [
        json!("0.000196"),
        json!(0),
        json!("-0.000001"),
        json!("0.0000001"),
    ] {
        // Act
        let answer = refund_as(
            &proxy,
            Some(&proxy.admin),
            json!({ "request_id": id, "reason": "r", "amount": amount }),
        )
        .await;

        // Assert
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message.contains("amount"), "{amount}: {message}");
    }
    assert_eq!(balance_of(&proxy).await, STARTING_MICROS - COST);
    assert_eq!(entries_of(&proxy, "refund").await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_refund_without_a_reason_is_refused_naming_reason() {
    // Arrange
    let (proxy, id) = one_charged_request().await;

    for body in [
        json!({ "request_id": id }),
        json!({ "request_id": id, "reason": "   " }),
    ] {
        // Act
        let answer = refund_as(&proxy, Some(&proxy.admin), body).await;

        // Assert
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message.contains("reason"), "{message}");
    }
    let missing_id = refund_as(&proxy, Some(&proxy.admin), json!({ "reason": "r" })).await;
    let message = assert_error(&missing_id, StatusCode::BAD_REQUEST);
    assert!(message.contains("request_id"), "{message}");
    assert_eq!(balance_of(&proxy).await, STARTING_MICROS - COST);
}

#[tokio::test]
async fn refunding_an_unknown_request_is_404() {
    // Arrange
    let (proxy, _) = one_charged_request().await;

    // Act
    let answer = refund_as(
        &proxy,
        Some(&proxy.admin),
        json!({ "request_id": "req_0123456789abcdef", "reason": "r" }),
    )
    .await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
    assert_eq!(balance_of(&proxy).await, STARTING_MICROS - COST);
}

#[tokio::test]
async fn a_request_that_was_charged_nothing_cannot_be_refunded() {
    // Arrange
    let proxy = ProxyApp::start().await;
    let answer = upstream_500(&proxy).await;

    // Act
    let refused = refund_as(
        &proxy,
        Some(&proxy.admin),
        json!({ "request_id": request_id(&answer.1), "reason": "r" }),
    )
    .await;

    // Assert
    let message = assert_error(&refused, StatusCode::BAD_REQUEST);
    assert!(message.contains("charged nothing"), "{message}");
    assert_eq!(entries_of(&proxy, "refund").await, Vec::<Value>::new());
}

#[tokio::test]
async fn only_an_admin_may_refund() {
    // Arrange
    let (proxy, id) = one_charged_request().await;
    let body = json!({ "request_id": id, "reason": "please" });

    // Act
    let as_user = refund_as(&proxy, Some(&proxy.user), body.clone()).await;
    let anonymous = refund_as(&proxy, None, body).await;

    // Assert
    assert_error(&as_user, StatusCode::FORBIDDEN);
    assert_error(&anonymous, StatusCode::UNAUTHORIZED);
    assert_eq!(balance_of(&proxy).await, STARTING_MICROS - COST);
    assert_eq!(entries_of(&proxy, "refund").await, Vec::<Value>::new());
}

// --- the usage writer's retries ---------------------------------------------

/// The warnings the usage writer logs when a batch fails and is tried
/// again, with their fields: the proof that an injected fault really made a
/// write fail, rather than the write not having started yet.
#[derive(Clone, Default)]
struct FailedWrites(Arc<Mutex<Vec<String>>>);

impl FailedWrites {
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl tracing::Subscriber for FailedWrites {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &tracing::Event<'_>) {
        struct Fields(String);
        impl Visit for Fields {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={value:?} ", field.name()));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        if fields.0.contains("batch write failed") && fields.0.contains("usage_records") {
            self.0.lock().unwrap().push(fields.0);
        }
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// Statements that make every insert into `credit_ledger` fail while the
/// table `fault` has a row, and the ones that undo them.
fn fault_injection(backend: DbBackend) -> (&'static [&'static str], &'static [&'static str]) {
    match backend {
        DbBackend::Postgres => (
            &[
                "CREATE TABLE fault (x INTEGER)",
                "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN IF EXISTS (SELECT 1 FROM fault) THEN RAISE EXCEPTION 'injected fault'; \
                 END IF; RETURN NEW; END $$",
                "CREATE TRIGGER injected_fault BEFORE INSERT ON credit_ledger \
                 FOR EACH ROW EXECUTE FUNCTION injected_fault()",
            ],
            &[
                "DROP TRIGGER injected_fault ON credit_ledger",
                "DROP FUNCTION injected_fault()",
                "DROP TABLE fault",
            ],
        ),
        _ => (
            &[
                "CREATE TABLE fault (x INTEGER)",
                "CREATE TRIGGER injected_fault BEFORE INSERT ON credit_ledger \
                 WHEN EXISTS (SELECT 1 FROM fault) \
                 BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
            ],
            &["DROP TRIGGER injected_fault", "DROP TABLE fault"],
        ),
    }
}

// Single-threaded on purpose: the writer's task then runs on this thread,
// where `FailedWrites` listens.
#[tokio::test]
async fn a_request_is_charged_exactly_once_when_the_usage_writer_retries() {
    // Arrange: the ledger refuses inserts until the fault is cleared, so the
    // writer's transaction (usage row, rollups, key spend, charge) fails.
    let failed = FailedWrites::default();
    let _listening = tracing::subscriber::set_default(failed.clone());
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;
    let user_id = proxy.app.user_id_of(&proxy.user).await;
    let db = proxy.app.db();
    let (inject, undo) = fault_injection(db.get_database_backend());
    for statement in inject {
        db.execute_unprepared(statement).await.unwrap();
    }
    db.execute_unprepared("INSERT INTO fault VALUES (1)")
        .await
        .unwrap();

    // Act: one request; the writer's first attempt fails on the fault, and
    // while it waits to try again the fault is cleared.
    let endpoint = Endpoint::ChatCompletions;
    let answer = proxy.ask(endpoint, "mock-test").await;
    assert_eq!(answer.0, StatusCode::OK, "{}", answer.2);
    let id = request_id(&answer.1);
    let started = std::time::Instant::now();
    // Well inside the retries' 1.55 s, after which the batch would be lost.
    while failed.seen().is_empty() && started.elapsed() < Duration::from_secs(1) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let failures = failed.seen();
    let written_during_fault = usage_record::Entity::find_by_id(id.clone())
        .one(db)
        .await
        .unwrap();
    db.execute_unprepared("DELETE FROM fault").await.unwrap();
    proxy.app.state.usage.flush().await;

    // Assert: the fault did fail a write, and nothing of it was kept.
    assert!(
        failures.iter().any(|f| f.contains("injected fault")),
        "the usage writer never failed on the injected fault: {failures:?}"
    );
    assert_eq!(written_during_fault, None, "written despite the fault");
    // Then the retry wrote the request once, and charged it once.
    let rows = usage_record::Entity::find()
        .filter(usage_record::Column::Id.eq(id.as_str()))
        .all(db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row.charged, COST, "{row:?}");
    let charges = credit_entry::Entity::find()
        .filter(credit_entry::Column::Kind.eq(EntryKind::Charge))
        .all(db)
        .await
        .unwrap();
    assert_eq!(charges.len(), 1, "{charges:?}");
    let charge = &charges[0];
    assert_eq!(charge.reference.as_deref(), Some(id.as_str()));
    assert_eq!(charge.user_id, user_id);
    assert_eq!(charge.amount, -row.charged);
    let balance = STARTING_MICROS - row.charged;
    assert_eq!(charge.balance_after, balance);
    assert_eq!(service::balance(db, &user_id).await.unwrap(), balance);
    assert_eq!(
        proxy.app.state.wallets.available(&user_id).await.unwrap(),
        Some(balance)
    );
    assert_eq!(verify(db).await.unwrap(), vec![]);

    for statement in undo {
        db.execute_unprepared(statement).await.unwrap();
    }
}

#[tokio::test]
async fn a_spool_left_by_a_dead_process_is_replayed_once_on_start() {
    // Arrange: a request stored as usual, and the spool a dead instance
    // left: that request's row again (it was stored before the crash), a
    // charged row that never reached the database, and a torn last line.
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-test").await;
    let (status, headers, _) = proxy.ask(Endpoint::ChatCompletions, "mock-test").await;
    assert_eq!(status, StatusCode::OK);
    let stored = proxy.usage_row_of(&headers).await;
    let mut unseen = stored.clone();
    unseen.id = "req_00000000000000aa".to_owned();
    assert!(unseen.charged > 0);
    let spool = proxy.app.data_dir.path().join("spool");
    let dead = spool.join("spool_dead-00000001.jsonl");
    // The torn line ends inside a character, as a crash may leave it.
    let mut lines = format!(
        "{}\n{}\n{{\"id\":\"req_torn\",\"model\":\"",
        serde_json::to_string(&stored).unwrap(),
        serde_json::to_string(&unseen).unwrap()
    )
    .into_bytes();
    lines.extend_from_slice(&"€".as_bytes()[..2]);
    std::fs::write(&dead, lines).unwrap();
    let before = service::balance(proxy.app.db(), &stored.user_id)
        .await
        .unwrap();

    // Act: another instance starts on the same data directory.
    let _restarted = proxy.app.restart().await;

    // Assert
    assert!(!dead.exists(), "the replayed segment is deleted");
    let live: Vec<_> = std::fs::read_dir(&spool).unwrap().collect();
    assert_eq!(live.len(), 2, "each live instance keeps its own segment");
    for id in [&stored.id, &unseen.id] {
        let rows = usage_record::Entity::find()
            .filter(usage_record::Column::Id.eq(id.as_str()))
            .all(proxy.app.db())
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "{id}");
        let charges = credit_entry::Entity::find()
            .filter(credit_entry::Column::Reference.eq(id.as_str()))
            .filter(credit_entry::Column::Kind.eq(EntryKind::Charge))
            .all(proxy.app.db())
            .await
            .unwrap();
        assert_eq!(charges.len(), 1, "{id}");
        assert_eq!(charges[0].amount, -stored.charged);
    }
    let after = service::balance(proxy.app.db(), &stored.user_id)
        .await
        .unwrap();
    assert_eq!(after, before - unseen.charged);
    assert!(verify(proxy.app.db()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_client_that_hangs_up_before_a_json_answer_arrives_is_charged_for_it() {
    // Arrange: a priced model whose provider takes three seconds to answer.
    let proxy = ProxyApp::start().await;
    proxy.route("openai", "gpt-slow").await;
    let endpoint = Endpoint::ChatCompletions;
    let request = llm_request(
        endpoint.path(),
        endpoint,
        Some(&proxy.key),
        &[],
        llm_body(endpoint, "gpt-slow", false).to_string(),
    );

    // Act: the client gives up long before the answer; dropping the
    // request's future is what a closed connection does to it.
    let gave_up = tokio::time::timeout(
        Duration::from_millis(300),
        proxy.app.router.clone().oneshot(request),
    )
    .await;

    // Assert: the provider's answer is still metered and charged, once.
    assert!(gave_up.is_err(), "the answer came before the client left");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let rows = loop {
        let rows = proxy.usage_rows().await;
        if !rows.is_empty() || std::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].status_code, 200);
    assert_eq!(rows[0].cost, COST);
    assert_eq!(rows[0].charged, COST);
    let charges = credit_entry::Entity::find()
        .filter(credit_entry::Column::Reference.eq(rows[0].id.as_str()))
        .all(proxy.app.db())
        .await
        .unwrap();
    assert_eq!(charges.len(), 1);
    assert!(verify(proxy.app.db()).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_answer_without_usage_is_charged_an_estimate_never_nothing() {
    // Arrange: providers of both formats whose JSON answers carry no usage,
    // asked directly and through translation.
    let proxy = ProxyApp::start().await;
    let openai = proxy.provider("openai").await;
    let anthropic = proxy.provider("anthropic").await;
    proxy.model(&openai, "silent-openai", "gpt-nousage").await;
    proxy
        .model(&anthropic, "silent-anthropic", "claude-nousage")
        .await;

    // Act
    let mut answers = Vec::new();
    for endpoint in [Endpoint::ChatCompletions, Endpoint::Messages] {
        for model in ["silent-openai", "silent-anthropic"] {
            answers.push(proxy.ask(endpoint, model).await);
        }
    }
    let rows = proxy.usage_rows().await;

    // Assert: answered, and each charged for its input and output.
    for (status, _, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert!(row.input_tokens > 0, "{row:?}");
        assert!(row.output_tokens > 0, "{row:?}");
        assert!(row.charged > 0 && row.charged == row.cost, "{row:?}");
    }
    assert!(verify(proxy.app.db()).await.unwrap().is_empty());
}

/// With Redis, a grant to a loaded wallet is applied to it once and leaves
/// no trace in it: every reservation reads the wallet whole, so a field per
/// ledger entry would make each request slower than the last grant.
#[tokio::test]
async fn grants_to_a_shared_wallet_apply_once_and_leave_it_as_small_as_it_was() {
    use secrecy::ExposeSecret;

    let proxy = ProxyApp::start().await;
    let settings = &proxy.app.state.settings.redis;
    let Some(url) = &settings.url else {
        eprintln!("no Redis (TOLLGATE_TEST_REDIS_URL): nothing to check");
        return;
    };
    proxy.route("mock", "mock-test").await;
    let (status, _, body) = proxy.ask(Endpoint::ChatCompletions, "mock-test").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user_id = proxy.app.user_id_of(&proxy.user).await;
    let before = proxy.balance().await;

    for _ in 0..20 {
        proxy.grant(&user_id, 1).await;
    }

    assert_eq!(proxy.balance().await, before + 20);
    let available = proxy.app.state.wallets.available(&user_id).await.unwrap();
    assert_eq!(available, Some(before + 20), "the wallet in Redis");
    let client = redis::Client::open(url.expose_secret()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let wallet = format!("{}w:{user_id}", settings.prefix);
    let fields: Vec<String> = redis::cmd("HKEYS")
        .arg(&wallet)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        fields.len() <= 2,
        "the wallet grew with the grants: {fields:?}"
    );
}
