//! A hold is a ceiling (issue 14): what is sent upstream can never cost
//! more than what was held, and a provider that reports more anyway is
//! charged in full, audited and blocks its user until the balance is
//! positive again. Each test checks the provider's cost against what was
//! charged, request by request.

use axum::http::StatusCode;
use http_body_util::BodyExt;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use server::{
    console::credits::service::{self, verify},
    gateway::proxy::request::Endpoint,
    platform::entity::{audit_entry, usage_record},
};
use tower::ServiceExt;

use crate::helpers::{PASSWORD, ProxyApp, llm_body, llm_request, request_id, string_at};

/// 1 µc a token of input, 1 µc a token of output: a request's cost in µc
/// is its token count.
const MICRO_PER_TOKEN: i64 = 1_000_000;

/// A model of an OpenAI provider (over HTTP) at 1 µc a token.
async fn model(proxy: &ProxyApp, public: &str, upstream: &str, extra: Value) -> String {
    let provider = proxy.provider("openai").await;
    let mut body = json!({
        "public_name": public, "provider_id": provider, "upstream_model": upstream,
        "input_price": MICRO_PER_TOKEN, "output_price": MICRO_PER_TOKEN,
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    proxy.model_with(body).await
}

/// A new user with exactly `micros` and a key; returns (session, user id, key).
async fn user_with(proxy: &ProxyApp, email: &str, micros: i64) -> (String, String, String) {
    let (token, user_id) = proxy.app.register(email, PASSWORD, "Payer").await;
    proxy.grant(&user_id, micros).await;
    let (key, _) = proxy.app.create_key(&token, json!({ "name": "k" })).await;
    (token, user_id, key)
}

/// Sends every body at once with `key`; returns each answer's status and
/// request id.
async fn storm(
    proxy: &ProxyApp,
    key: &str,
    bodies: Vec<(Endpoint, Value)>,
) -> Vec<(StatusCode, String)> {
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|(endpoint, body)| {
            let request = llm_request(endpoint.path(), endpoint, Some(key), &[], body.to_string());
            let router = proxy.app.router.clone();
            tokio::spawn(async move {
                let response = router.oneshot(request).await.unwrap();
                let answer = (response.status(), request_id(response.headers()));
                // Read to the end, as a client does: a stream settles there.
                response.into_body().collect().await.unwrap();
                answer
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

async fn rows_of(proxy: &ProxyApp, user_id: &str) -> Vec<usage_record::Model> {
    proxy.app.state.usage.flush().await;
    usage_record::Entity::find()
        .filter(usage_record::Column::UserId.eq(user_id))
        .all(proxy.app.db())
        .await
        .unwrap()
}

/// Every row charged exactly its cost, none over its hold, the balance the
/// grant minus the charges (never below zero) and the ledger verified.
async fn assert_charged_exactly(proxy: &ProxyApp, user_id: &str, granted: i64) -> i64 {
    let rows = rows_of(proxy, user_id).await;
    for row in &rows {
        assert_eq!(row.charged, row.cost, "{row:?}");
        assert_eq!(row.overrun, 0, "{row:?}");
    }
    let charged: i64 = rows.iter().map(|row| row.charged).sum();
    let balance = service::balance(proxy.app.db(), user_id).await.unwrap();
    assert_eq!(balance, granted - charged);
    assert!(balance >= 0, "{balance}");
    assert!(verify(proxy.app.db()).await.unwrap().is_empty());
    charged
}

#[tokio::test]
async fn conflicting_caps_are_refused_and_a_storm_of_capped_requests_never_costs_more_than_it_held()
{
    let proxy = ProxyApp::start().await;
    // Says as many words as its cap allows (20,000 without one).
    model(&proxy, "long", "long", json!({})).await;
    let (_, user_id, key) = user_with(&proxy, "storm@example.com", 10_000).await;

    // The storm: one cap field says 1, the other 1,000.
    let conflicting: Vec<_> = (0..50)
        .map(|_| {
            let mut body = llm_body(Endpoint::ChatCompletions, "long", false);
            body["max_completion_tokens"] = json!(1);
            body["max_tokens"] = json!(1000);
            (Endpoint::ChatCompletions, body)
        })
        .collect();
    let answers = storm(&proxy, &key, conflicting).await;
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == StatusCode::BAD_REQUEST)
    );
    assert_eq!(assert_charged_exactly(&proxy, &user_id, 10_000).await, 0);

    // Valid caps on both endpoints (the Messages ones translated): every
    // answer costs what it held at most, and the balance runs out exactly.
    let capped: Vec<_> = (0..50)
        .map(|n| {
            let endpoint = if n % 2 == 0 {
                Endpoint::ChatCompletions
            } else {
                Endpoint::Messages
            };
            let mut body = llm_body(endpoint, "long", false);
            body["max_tokens"] = json!(400);
            (endpoint, body)
        })
        .collect();
    let answers = storm(&proxy, &key, capped).await;
    let served = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .count();
    let refused = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::PAYMENT_REQUIRED)
        .count();
    assert_eq!(served + refused, 50, "{answers:?}");
    assert!(
        served > 0 && refused > 0,
        "{served} served, {refused} refused"
    );
    let rows = rows_of(&proxy, &user_id).await;
    for row in rows.iter().filter(|row| row.status_code == 200) {
        // The provider produced what it was allowed, and no more.
        assert_eq!(row.output_tokens, 400, "{row:?}");
    }
    let charged = assert_charged_exactly(&proxy, &user_id, 10_000).await;
    assert!(charged <= 10_000);
}

#[tokio::test]
async fn a_request_without_a_cap_sends_the_default_cap_it_held() {
    let proxy =
        ProxyApp::start_with(|settings| settings.credits.default_max_output_tokens = 50).await;
    model(&proxy, "long", "long", json!({})).await;
    let (_, user_id, key) = user_with(&proxy, "uncapped@example.com", 1_000_000).await;

    let mut bodies = vec![(
        Endpoint::ChatCompletions,
        llm_body(Endpoint::ChatCompletions, "long", false),
    )];
    let mut streamed = llm_body(Endpoint::ChatCompletions, "long", true);
    streamed.as_object_mut().unwrap().remove("max_tokens");
    bodies.push((Endpoint::ChatCompletions, streamed));
    for (_, body) in &mut bodies {
        body.as_object_mut().unwrap().remove("max_tokens");
    }
    let answers = storm(&proxy, &key, bodies).await;

    assert!(
        answers.iter().all(|(status, _)| *status == StatusCode::OK),
        "{answers:?}"
    );
    for row in rows_of(&proxy, &user_id).await {
        // Uncapped, the provider would have said 20,000 words.
        assert_eq!(row.output_tokens, 50, "{row:?}");
    }
    assert_charged_exactly(&proxy, &user_id, 1_000_000).await;
}

#[tokio::test]
async fn a_prompt_of_one_letter_words_is_held_at_a_token_a_byte() {
    let proxy = ProxyApp::start().await;
    model(&proxy, "words", "words", json!({})).await;
    let prompt = "a ".repeat(20_000);
    let body = |endpoint| {
        let mut body = llm_body(endpoint, "words", false);
        body["messages"][0]["content"] = json!(prompt);
        body["max_tokens"] = json!(100);
        body
    };
    // The mock counts 20,000 input tokens. Three bytes a token held 13,362:
    // now the hold is above 40,000, so 30,000 µc cannot cover it.
    let (_, poor_id, poor) = user_with(&proxy, "poor@example.com", 30_000).await;
    let answers = storm(
        &proxy,
        &poor,
        vec![(Endpoint::ChatCompletions, body(Endpoint::ChatCompletions))],
    )
    .await;
    assert_eq!(answers[0].0, StatusCode::PAYMENT_REQUIRED);
    assert_charged_exactly(&proxy, &poor_id, 30_000).await;

    let (_, rich_id, rich) = user_with(&proxy, "rich@example.com", 50_000).await;
    let answers = storm(
        &proxy,
        &rich,
        vec![
            (Endpoint::ChatCompletions, body(Endpoint::ChatCompletions)),
            (Endpoint::Messages, body(Endpoint::Messages)),
        ],
    )
    .await;
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == StatusCode::OK).count(),
        1,
        "{answers:?}"
    );
    let rows = rows_of(&proxy, &rich_id).await;
    let served = rows.iter().find(|row| row.status_code == 200).unwrap();
    assert!(served.input_tokens >= 20_000, "{served:?}");
    assert_charged_exactly(&proxy, &rich_id, 50_000).await;
}

#[tokio::test]
async fn caps_above_the_models_maximum_and_several_choices_are_400_naming_the_field() {
    let proxy = ProxyApp::start().await;
    model(
        &proxy,
        "capped",
        "capped",
        json!({ "max_output_tokens": 1000 }),
    )
    .await;
    model(&proxy, "default-max", "default-max", json!({})).await;

    let cases = [
        (
            Endpoint::ChatCompletions,
            "capped",
            "max_tokens",
            json!(1001),
        ),
        (
            Endpoint::ChatCompletions,
            "capped",
            "max_completion_tokens",
            json!(1001),
        ),
        (Endpoint::Messages, "capped", "max_tokens", json!(1001)),
        (
            Endpoint::ChatCompletions,
            "default-max",
            "max_tokens",
            json!(u64::MAX),
        ),
        (
            Endpoint::Messages,
            "default-max",
            "max_tokens",
            json!(u64::MAX),
        ),
        (Endpoint::ChatCompletions, "capped", "n", json!(2)),
        (Endpoint::ChatCompletions, "capped", "max_tokens", json!(-1)),
    ];
    for (endpoint, model, field, value) in cases {
        let mut body = llm_body(endpoint, model, false);
        if field != "max_tokens" {
            body["max_tokens"] = json!(10);
        }
        body[field] = value;
        if field == "max_completion_tokens" {
            body.as_object_mut().unwrap().remove("max_tokens");
        }
        let (status, _, answer) = proxy.call(endpoint, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}: {answer}");
        let message = match endpoint {
            Endpoint::ChatCompletions | Endpoint::Responses | Endpoint::Embeddings => {
                assert_eq!(answer["error"]["param"], field, "{answer}");
                string_at(&answer, "/error/message")
            }
            Endpoint::Messages | Endpoint::GenerateContent => string_at(&answer, "/error/message"),
        };
        assert!(message.starts_with(field), "{message}");
    }
    let mut at_the_maximum = llm_body(Endpoint::ChatCompletions, "capped", false);
    at_the_maximum["max_tokens"] = json!(1000);
    let (status, _, answer) = proxy.call(Endpoint::ChatCompletions, at_the_maximum).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}

#[tokio::test]
async fn a_provider_that_reports_more_than_it_was_allowed_is_charged_in_full_audited_and_blocks_the_user()
 {
    let proxy = ProxyApp::start().await;
    // Reports ten times the output it says.
    let provider = proxy.provider("openai").await;
    proxy
        .model_with(json!({
            "public_name": "liar", "provider_id": provider, "upstream_model": "overreport",
            "input_price": 0, "output_price": 1_000 * MICRO_PER_TOKEN,
        }))
        .await;
    let (token, user_id, key) = user_with(&proxy, "liar@example.com", 30_000).await;
    let mut body = llm_body(Endpoint::ChatCompletions, "liar", false);
    body["max_tokens"] = json!(20);

    let answers = storm(
        &proxy,
        &key,
        vec![(Endpoint::ChatCompletions, body.clone())],
    )
    .await;

    assert_eq!(answers[0].0, StatusCode::OK);
    let row = proxy.usage_row(&answers[0].1).await;
    // Held: 20 tokens at 1,000 µc. Reported: ten times the words said.
    assert!(row.output_tokens > 20, "{row:?}");
    assert_eq!(row.cost, row.output_tokens * 1_000);
    assert_eq!(row.charged, row.cost, "charged in full");
    assert_eq!(row.overrun, row.cost - 20_000);
    let balance = service::balance(proxy.app.db(), &user_id).await.unwrap();
    assert_eq!(balance, 30_000 - row.cost);
    assert!(balance < 0);
    assert!(verify(proxy.app.db()).await.unwrap().is_empty());
    assert_eq!(proxy.app.state.counters.overruns(), (1, row.overrun));
    let audited = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("credits.overrun"))
        .all(proxy.app.db())
        .await
        .unwrap();
    assert_eq!(audited.len(), 1);
    assert_eq!(audited[0].target_id, row.id);
    assert_eq!(audited[0].actor_id, user_id);
    let after: Value = serde_json::from_str(audited[0].after.as_deref().unwrap()).unwrap();
    assert_eq!(after["overrun"], row.overrun);

    // Blocked until the balance is positive again, free models included.
    let answers = storm(&proxy, &key, vec![(Endpoint::ChatCompletions, body)]).await;
    assert_eq!(answers[0].0, StatusCode::PAYMENT_REQUIRED);
    proxy.app.get_ok("/api/users/me/credits", &token).await;
}
