//! The LLM API's own authentication (API keys, answered in the client's
//! format) and `GET /v1/models`.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode},
};
use serde_json::{Value, json};

use crate::helpers::{Answer, PASSWORD, TestApp, spawn_app};

/// An app with a mock provider and two models (one for every plan, one for
/// `pro` only), a registered user on the trial plan and their key.
async fn app_with_models() -> (TestApp, String, String, String) {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let provider = json!({ "name": "Mock", "kind": "mock" });
    let body = app
        .post_created("/api/admin/providers", provider, &admin)
        .await;
    let provider_id = body["provider"]["id"].as_str().unwrap().to_owned();
    for (name, plans) in [("mock-small", json!([])), ("mock-large", json!(["pro"]))] {
        let model = json!({
            "public_name": name, "provider_id": provider_id, "upstream_model": name,
            "input_price": 1_000_000, "output_price": 2_000_000, "plans": plans,
        });
        app.post_created("/api/admin/models", model, &admin).await;
    }
    let (token, _) = app.register("lena@example.com", PASSWORD, "Lena").await;
    let body = app
        .post_created("/api/keys", json!({ "name": "cli" }), &token)
        .await;
    let key = body["secret"].as_str().unwrap().to_owned();
    (app, admin, token, key)
}

async fn get_models(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut request = Request::builder().method(Method::GET).uri(path);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request.body(Body::empty()).unwrap()).await
}

fn model_ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn models_without_a_key_are_refused_in_the_openai_shape() {
    let (app, _, _, _) = app_with_models().await;

    let (status, _, body) = get_models(&app, "/v1/models", &[]).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "invalid_api_key");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("API key")
    );
    assert!(body["error"].get("param").is_some());
}

#[tokio::test]
async fn an_anthropic_client_gets_the_anthropic_error_shape() {
    let (app, _, _, _) = app_with_models().await;

    let (status, _, body) = get_models(
        &app,
        "/v1/models",
        &[
            ("anthropic-version", "2023-06-01"),
            ("x-api-key", "tg-nope"),
        ],
    )
    .await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "authentication_error");
}

/// Found by schemathesis: the format was read from the path the nested
/// router saw (`/messages`), so a bad key on Anthropic's endpoints was
/// answered in OpenAI's shape unless `anthropic-version` was sent.
#[tokio::test]
async fn anthropics_endpoints_refuse_a_bad_key_in_anthropics_shape_under_both_prefixes() {
    let (app, _, _, _) = app_with_models().await;

    for path in [
        "/v1/messages",
        "/api/v1/messages",
        "/v1/messages/count_tokens",
        "/api/v1/messages/count_tokens",
    ] {
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("x-api-key", "tg-nope")
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"model":"mock-small","max_tokens":5,"messages":[]}"#,
            ))
            .unwrap();
        let (status, _, body) = app.send(request).await;

        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert_eq!(body["type"], "error", "{path}: {body}");
        assert_eq!(
            body["error"]["type"], "authentication_error",
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn a_session_token_is_not_an_api_key() {
    let (app, _, token, _) = app_with_models().await;

    let auth = format!("Bearer {token}");
    let (status, _, _) = get_models(&app, "/v1/models", &[("authorization", &auth)]).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_key_lists_the_models_its_plan_allows_in_the_openai_shape() {
    let (app, _, _, key) = app_with_models().await;

    let auth = format!("Bearer {key}");
    let (status, _, body) = get_models(&app, "/v1/models", &[("authorization", &auth)]).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(
        model_ids(&body),
        ["mock-small"],
        "the trial plan may not use mock-large"
    );
    assert_eq!(body["data"][0]["object"], "model");
    assert!(body["data"][0]["created"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn x_api_key_and_the_api_v1_prefix_work_and_anthropic_gets_its_shape() {
    let (app, _, _, key) = app_with_models().await;

    let (status, _, body) = get_models(
        &app,
        "/api/v1/models",
        &[("x-api-key", &key), ("anthropic-version", "2023-06-01")],
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(model_ids(&body), ["mock-small"]);
    assert_eq!(body["data"][0]["type"], "model");
    assert_eq!(body["has_more"], false);
    assert_eq!(body["first_id"], "mock-small");
}

#[tokio::test]
async fn a_key_limited_to_some_models_lists_only_those() {
    let (app, admin, token, _) = app_with_models().await;
    let user_id = app.user_id_of(&token).await;
    app.patch(
        &format!("/api/admin/users/{user_id}"),
        json!({ "plan": "pro" }),
        &admin,
    )
    .await;
    let new_key = json!({ "name": "large only", "models": ["mock-large"] });
    let (_, _, body) = app.post("/api/keys", new_key, &token).await;
    let limited = body["secret"].as_str().unwrap().to_owned();

    let (status, _, body) = get_models(&app, "/v1/models", &[("x-api-key", &limited)]).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(model_ids(&body), ["mock-large"]);
}

#[tokio::test]
async fn revoking_a_cached_key_takes_effect_at_once() {
    let (app, _, token, key) = app_with_models().await;
    let (status, _, _) = get_models(&app, "/v1/models", &[("x-api-key", &key)]).await;
    assert_eq!(status, StatusCode::OK, "the key is now cached");
    let (_, _, list) = app.get("/api/keys", &token).await;
    let key_id = list["keys"][0]["id"].as_str().unwrap().to_owned();

    app.delete(&format!("/api/keys/{key_id}"), &token).await;
    let (status, _, body) = get_models(&app, "/v1/models", &[("x-api-key", &key)]).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn suspending_the_owner_of_a_cached_key_takes_effect_at_once() {
    let (app, admin, token, key) = app_with_models().await;
    let (status, _, _) = get_models(&app, "/v1/models", &[("x-api-key", &key)]).await;
    assert_eq!(status, StatusCode::OK);
    let user_id = app.user_id_of(&token).await;

    app.patch(
        &format!("/api/admin/users/{user_id}"),
        json!({ "status": "suspended" }),
        &admin,
    )
    .await;
    let (status, _, body) = get_models(&app, "/v1/models", &[("x-api-key", &key)]).await;

    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["type"], "permission_error");
}

#[tokio::test]
async fn a_cached_key_stops_working_when_it_expires() {
    let (app, _, token, _) = app_with_models().await;
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let body = app
        .post_created(
            "/api/keys",
            json!({ "name": "brief", "expires_at": soon }),
            &token,
        )
        .await;
    let brief = body["secret"].as_str().unwrap().to_owned();
    let (status, _, _) = get_models(&app, "/v1/models", &[("x-api-key", &brief)]).await;
    assert_eq!(status, StatusCode::OK);

    tokio::time::sleep(std::time::Duration::from_millis(1700)).await;
    let (status, _, _) = get_models(&app, "/v1/models", &[("x-api-key", &brief)]).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn disabling_a_model_removes_it_from_the_list() {
    let (app, admin, _, key) = app_with_models().await;
    let (_, _, models) = app.get("/api/admin/models", &admin).await;
    let small = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["public_name"] == "mock-small")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    app.patch(
        &format!("/api/admin/models/{small}"),
        json!({ "enabled": false }),
        &admin,
    )
    .await;
    let (_, _, body) = get_models(&app, "/v1/models", &[("x-api-key", &key)]).await;

    assert!(model_ids(&body).is_empty(), "{body}");
}
