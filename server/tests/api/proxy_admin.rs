//! Admin changes to models and providers reach the proxy at once: the
//! routing table in memory is rebuilt after every change.

use axum::http::StatusCode;
use serde_json::json;
use server::gateway::proxy::request::Endpoint;

use crate::helpers::{Answer, COST, ProxyApp, request_id};

const ENDPOINT: Endpoint = Endpoint::ChatCompletions;

async fn ask(proxy: &ProxyApp, model: &str) -> Answer {
    proxy.ask(ENDPOINT, model).await
}

/// Asserts the proxy's 404 for a model it no longer routes.
fn assert_model_not_found(answer: &Answer) {
    let (status, _, body) = answer;
    assert_eq!(*status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");
}

#[tokio::test]
async fn deleting_a_model_with_usage_disables_it_and_the_proxy_then_answers_404() {
    let proxy = ProxyApp::start().await;
    let model = proxy.route("mock", "mock-test").await;
    assert_eq!(ask(&proxy, "mock-test").await.0, StatusCode::OK);
    proxy.usage_rows().await;

    let path = format!("/api/admin/models/{model}");
    let body = proxy.app.delete_ok(&path, &proxy.admin).await;

    assert_eq!(body["disabled"], model.as_str(), "{body}");
    assert!(body.get("deleted").is_none(), "{body}");
    assert_model_not_found(&ask(&proxy, "mock-test").await);
    let kept = proxy.admin_get(&path).await;
    assert_eq!(kept["model"]["enabled"], false);
}

#[tokio::test]
async fn a_model_whose_usage_rows_were_pruned_is_still_disabled_not_deleted() {
    use sea_orm::EntityTrait;
    let proxy = ProxyApp::start().await;
    let model = proxy.route("mock", "mock-test").await;
    assert_eq!(ask(&proxy, "mock-test").await.0, StatusCode::OK);
    proxy.usage_rows().await;
    // As `retention.usage_days` would leave it: the rollups, no rows.
    server::platform::entity::usage_record::Entity::delete_many()
        .exec(proxy.app.db())
        .await
        .unwrap();

    let path = format!("/api/admin/models/{model}");
    let body = proxy.app.delete_ok(&path, &proxy.admin).await;

    assert_eq!(body["disabled"], model.as_str(), "{body}");
    let kept = proxy.admin_get(&path).await;
    assert_eq!(kept["model"]["enabled"], false);
}

#[tokio::test]
async fn deleting_an_unused_model_deletes_it_and_the_proxy_then_answers_404() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("mock").await;
    let unused = proxy.model(&provider, "mock-unused", "mock-unused").await;
    proxy.model(&provider, "mock-used", "mock-used").await;
    assert_eq!(
        ask(&proxy, "mock-used").await.0,
        StatusCode::OK,
        "the routing table, with both models, is now loaded"
    );

    let path = format!("/api/admin/models/{unused}");
    let body = proxy.app.delete_ok(&path, &proxy.admin).await;

    assert_eq!(body["deleted"], unused.as_str(), "{body}");
    assert_model_not_found(&ask(&proxy, "mock-unused").await);
    let (status, _, _) = proxy.app.get(&path, &proxy.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// With `mock-test` answering, disables what `path` names as the admin:
/// the proxy answers 404 at once, and again 200 once it is enabled.
async fn assert_disabling_takes_effect_at_once(proxy: &ProxyApp, path: &str) {
    assert_eq!(ask(proxy, "mock-test").await.0, StatusCode::OK);
    let admin = &proxy.admin;
    proxy
        .app
        .patch_ok(path, json!({ "enabled": false }), admin)
        .await;
    assert_model_not_found(&ask(proxy, "mock-test").await);
    proxy
        .app
        .patch_ok(path, json!({ "enabled": true }), admin)
        .await;
    assert_eq!(ask(proxy, "mock-test").await.0, StatusCode::OK);
}

#[tokio::test]
async fn disabling_a_model_makes_the_proxy_answer_404_at_once_and_enabling_it_restores_it() {
    let proxy = ProxyApp::start().await;
    let model = proxy.route("mock", "mock-test").await;
    let path = format!("/api/admin/models/{model}");

    assert_disabling_takes_effect_at_once(&proxy, &path).await;
}

#[tokio::test]
async fn disabling_a_provider_makes_its_models_answer_404_at_once() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("mock").await;
    proxy.model(&provider, "mock-test", "mock-test").await;
    let path = format!("/api/admin/providers/{provider}");

    assert_disabling_takes_effect_at_once(&proxy, &path).await;
}

#[tokio::test]
async fn a_changed_upstream_model_is_used_on_the_next_request() {
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("openai").await;
    let model = proxy.model(&provider, "gpt-test", "mock-one").await;
    let (_, _, before) = ask(&proxy, "gpt-test").await;
    assert_eq!(before["model"], "mock-one", "{before}");

    proxy
        .app
        .patch_ok(
            &format!("/api/admin/models/{model}"),
            json!({ "upstream_model": "mock-two" }),
            &proxy.admin,
        )
        .await;
    let (status, headers, after) = ask(&proxy, "gpt-test").await;

    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["model"], "mock-two", "the upstream was asked for it");
    let row = proxy.usage_row(&request_id(&headers)).await;
    assert_eq!(row.upstream_model, "mock-two");
    assert_eq!(row.model, "gpt-test");
}

#[tokio::test]
async fn changed_prices_apply_to_the_next_request() {
    let proxy = ProxyApp::start().await;
    let model = proxy.route("mock", "mock-test").await;
    let (_, first, _) = ask(&proxy, "mock-test").await;

    proxy
        .app
        .patch_ok(
            &format!("/api/admin/models/{model}"),
            json!({ "input_price": 6_000_000, "output_price": 30_000_000 }),
            &proxy.admin,
        )
        .await;
    let (_, second, _) = ask(&proxy, "mock-test").await;

    assert_eq!(proxy.usage_row(&request_id(&first)).await.cost, COST);
    assert_eq!(proxy.usage_row(&request_id(&second)).await.cost, 2 * COST);
}
