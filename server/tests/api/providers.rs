//! `/api/admin/providers`: admin CRUD of upstream providers, whose keys are
//! write-only and sealed at rest.

use axum::http::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use server::platform::entity::provider;

use crate::helpers::{
    PASSWORD, TestApp, assert_error, assert_fields, assert_iso_millis, assert_prefixed_id,
    assert_refused, field_names, spawn_app, string_at, strings_in,
};

const KEY_ONE: &str = "sk-upstream-first-0123456789abcdef";
const KEY_TWO: &str = "sk-upstream-second-fedcba9876543210";
const KEY_THREE: &str = "sk-upstream-third-aaaabbbbccccdddd";
const HEADER_VALUE: &str = "org-secret-header-value-42";

const PROVIDERS: &str = "/api/admin/providers";

fn provider_path(id: &str) -> String {
    format!("{PROVIDERS}/{id}")
}

/// A valid OpenAI provider with two keys.
fn openai_body(name: &str) -> Value {
    json!({
        "name": name,
        "kind": "openai",
        "base_url": "https://api.openai.com/v1",
        "api_keys": [KEY_ONE, KEY_TWO],
    })
}

/// An app with an admin; returns the admin's token.
async fn app_with_admin() -> (TestApp, String) {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    (app, admin)
}

/// An app with an admin and one OpenAI provider; returns the token and the id.
async fn app_with_provider() -> (TestApp, String, String) {
    let (app, admin) = app_with_admin().await;
    let provider = app.create_provider(&admin, openai_body("openai")).await;
    let id = string_at(&provider, "/id");
    (app, admin, id)
}

/// The stored row of a provider.
async fn stored(app: &TestApp, id: &str) -> provider::Model {
    provider::Entity::find_by_id(id.to_owned())
        .one(app.db())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("provider {id} is not stored"))
}

/// POSTs a provider and asserts a 400 whose message names `field`.
async fn assert_create_rejected(app: &TestApp, admin: &str, body: Value, field: &str) {
    let answer = app.post(PROVIDERS, body.clone(), admin).await;
    let message = assert_error(&answer, StatusCode::BAD_REQUEST);
    assert!(
        message.contains(field),
        "the message does not name `{field}` for {body}: {message}"
    );
}

/// Asserts that no part of a response body holds any of `secrets`.
fn assert_holds_none(body: &Value, secrets: &[&str]) {
    let text = body.to_string();
    for secret in secrets {
        assert!(!text.contains(secret), "`{secret}` leaked in {text}");
    }
}

// --- authentication ------------------------------------------------------------

/// Every provider route with its method, on an existing provider's id.
fn every_route(id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, PROVIDERS.to_owned(), None),
        (
            Method::POST,
            PROVIDERS.to_owned(),
            Some(openai_body("other")),
        ),
        (Method::GET, provider_path(id), None),
        (
            Method::PATCH,
            provider_path(id),
            Some(json!({ "name": "renamed" })),
        ),
        (Method::DELETE, provider_path(id), None),
    ]
}

#[tokio::test]
async fn every_provider_route_refuses_strangers_and_non_admins() {
    // Arrange
    let (app, admin, id) = app_with_provider().await;
    let (user, _) = app.register("user@example.com", PASSWORD, "Una User").await;
    let cases = [
        ("no token", None, StatusCode::UNAUTHORIZED),
        ("a non-admin", Some(user.as_str()), StatusCode::FORBIDDEN),
    ];

    for (case, bearer, expected) in cases {
        for (method, path, body) in every_route(&id) {
            // Act
            let answer = app.request(method.clone(), &path, body, bearer).await;

            // Assert
            assert_refused(&format!("{case}: {method} {path}"), &answer, expected, None);
        }
        let body = app.get_ok(PROVIDERS, &admin).await;
        assert_eq!(
            body["providers"].as_array().unwrap().len(),
            1,
            "{case}: {body}"
        );
        assert_eq!(body["providers"][0]["name"], json!("openai"), "{case}");
    }
}

// --- creating ----------------------------------------------------------------

#[tokio::test]
async fn creating_a_provider_returns_it_with_the_defaults() {
    // Arrange
    let (app, admin) = app_with_admin().await;
    let body = json!({
        "name": "OpenAI",
        "kind": "openai",
        "base_url": "https://api.openai.com/v1/",
        "api_keys": [KEY_ONE, KEY_TWO],
    });

    // Act
    let body = app.post_created(PROVIDERS, body, &admin).await;

    // Assert
    assert_eq!(body["success"], json!(true));
    let provider = &body["provider"];
    assert_prefixed_id(&string_at(provider, "/id"), "prov");
    assert_fields(
        provider,
        json!({
            "name": "OpenAI", "kind": "openai", "base_url": "https://api.openai.com/v1",
            "api_key_count": 2, "extra_header_names": [], "timeout_secs": 600,
            "connect_timeout_secs": 10, "enabled": true
        }),
    );
    let created_at = string_at(provider, "/created_at");
    assert_iso_millis(&created_at);
    assert_eq!(string_at(provider, "/updated_at"), created_at);
    let keys = field_names(provider);
    assert_eq!(
        keys,
        [
            "api_key_count",
            "base_url",
            "connect_timeout_secs",
            "created_at",
            "enabled",
            "extra_header_names",
            "id",
            "kind",
            "name",
            "timeout_secs",
            "updated_at",
        ],
        "{body}"
    );
}

#[tokio::test]
async fn creating_a_provider_with_every_field_keeps_them() {
    // Arrange
    let (app, admin) = app_with_admin().await;
    let body = json!({
        "name": "Anthropic",
        "kind": "anthropic",
        "base_url": "https://api.anthropic.com",
        "api_keys": [KEY_ONE],
        "timeout_secs": 3600,
        "connect_timeout_secs": 120,
        "extra_headers": { "x-org": HEADER_VALUE, "anthropic-beta": "tools-2024" },
        "enabled": false,
    });

    // Act
    let body = app.post_created(PROVIDERS, body, &admin).await;

    // Assert
    let provider = &body["provider"];
    assert_eq!(provider["kind"], json!("anthropic"));
    assert_eq!(provider["base_url"], json!("https://api.anthropic.com"));
    assert_eq!(provider["api_key_count"], json!(1));
    assert_eq!(
        provider["extra_header_names"],
        json!(["anthropic-beta", "x-org"])
    );
    assert_eq!(provider["timeout_secs"], json!(3600));
    assert_eq!(provider["connect_timeout_secs"], json!(120));
    assert_eq!(provider["enabled"], json!(false));
}

#[tokio::test]
async fn creating_a_mock_provider_without_a_base_url_or_keys_is_allowed() {
    // Arrange
    let (app, admin) = app_with_admin().await;
    let body = json!({ "name": "mock", "kind": "mock", "base_url": "" });

    // Act
    let body = app.post_created(PROVIDERS, body, &admin).await;

    // Assert
    assert_fields(
        &body["provider"],
        json!({ "kind": "mock", "base_url": "", "api_key_count": 0 }),
    );
}

// --- upstream keys and header values are write-only ----------------------------

#[tokio::test]
async fn no_provider_response_contains_an_upstream_key_or_a_header_value() {
    // Arrange
    let (app, admin) = app_with_admin().await;
    let mut body = openai_body("openai");
    body["extra_headers"] = json!({ "x-org": HEADER_VALUE });
    let secrets = [KEY_ONE, KEY_TWO, KEY_THREE, HEADER_VALUE];

    // Act
    let (created_status, _, created) = app.post(PROVIDERS, body, &admin).await;
    let id = string_at(&created, "/provider/id");
    let (_, _, fetched) = app.get(&provider_path(&id), &admin).await;
    let (_, _, listed) = app.get(PROVIDERS, &admin).await;
    let (patched_status, _, patched) = app
        .patch(
            &provider_path(&id),
            json!({ "api_keys": [KEY_THREE], "extra_headers": { "x-org": HEADER_VALUE } }),
            &admin,
        )
        .await;

    // Assert
    assert_eq!(created_status, StatusCode::CREATED, "{created}");
    assert_eq!(patched_status, StatusCode::OK, "{patched}");
    for answer in [&created, &fetched, &listed, &patched] {
        assert_holds_none(answer, &secrets);
    }
    assert_eq!(fetched["provider"]["extra_header_names"], json!(["x-org"]));
    assert_eq!(listed["providers"][0]["api_key_count"], json!(2));
    assert_eq!(patched["provider"]["api_key_count"], json!(1));
}

#[tokio::test]
async fn upstream_keys_are_stored_sealed_and_open_to_the_originals_in_order() {
    // Arrange
    let (app, admin) = app_with_admin().await;

    // Act
    let provider = app.create_provider(&admin, openai_body("openai")).await;

    // Assert
    let row = stored(&app, &string_at(&provider, "/id")).await;
    for key in [KEY_ONE, KEY_TWO] {
        assert!(
            !row.api_keys.contains(key),
            "key in clear: {}",
            row.api_keys
        );
    }
    let sealed: Vec<String> = serde_json::from_str(&row.api_keys).unwrap();
    assert_eq!(sealed.len(), 2, "{}", row.api_keys);
    assert!(row.api_keys.starts_with("[\"v2:"), "{}", row.api_keys);
    assert!(sealed.iter().all(|value| value.starts_with("v2:")));
    assert_eq!(
        row.upstream_keys(&app.state.vault).unwrap(),
        [KEY_ONE, KEY_TWO]
    );
}

// --- validation --------------------------------------------------------------

#[tokio::test]
async fn creating_a_provider_with_an_invalid_field_is_rejected_naming_it_and_stores_nothing() {
    // Arrange: a valid OpenAI provider with the fields of `changes` set.
    let (app, admin) = app_with_admin().await;
    let mut cases = vec![
        (json!({ "name": "" }), "name"),
        (json!({ "name": "   " }), "name"),
        (json!({ "name": "vertex", "kind": "vertex_ai" }), "kind"),
        (json!({ "timeout_secs": 0 }), "timeout_secs"),
        (json!({ "timeout_secs": 3601 }), "timeout_secs"),
        (json!({ "connect_timeout_secs": 0 }), "connect_timeout_secs"),
        (
            json!({ "connect_timeout_secs": 121 }),
            "connect_timeout_secs",
        ),
        (json!({ "api_keys": [KEY_ONE, ""] }), "api_keys"),
        (json!({ "api_keys": [KEY_ONE, "   "] }), "api_keys"),
        (
            json!({ "extra_headers": { "bad header": "value" } }),
            "extra_headers",
        ),
        (json!({ "region": "eu" }), "region"),
    ];
    for kind in ["openai", "anthropic", "gemini"] {
        for base_url in [
            "",
            "ftp://files.example.com",
            "api.openai.com/v1",
            "not a url",
        ] {
            cases.push((json!({ "kind": kind, "base_url": base_url }), "base_url"));
        }
    }

    for (changes, field) in cases {
        let mut body = openai_body("upstream");
        for (name, value) in changes.as_object().unwrap() {
            body[name] = value.clone();
        }

        // Act + Assert: the message names the field (a failure shows the body).
        assert_create_rejected(&app, &admin, body, field).await;
    }
    let body = app.get_ok(PROVIDERS, &admin).await;
    assert_eq!(body["providers"], json!([]));
}

#[tokio::test]
async fn creating_a_provider_with_a_taken_name_is_a_conflict() {
    // Arrange
    let (app, admin, _) = app_with_provider().await;

    // Act
    let answer = app.post(PROVIDERS, openai_body("openai"), &admin).await;

    // Assert
    assert_error(&answer, StatusCode::CONFLICT);
}

// --- reading -----------------------------------------------------------------

#[tokio::test]
async fn listing_providers_sorts_them_by_name() {
    // Arrange
    let (app, admin) = app_with_admin().await;
    for name in ["zeta", "alpha", "mid"] {
        app.create_provider(&admin, openai_body(name)).await;
    }

    // Act
    let body = app.get_ok(PROVIDERS, &admin).await;

    // Assert
    assert_eq!(body["success"], json!(true));
    let names = strings_in(&body["providers"], "/name");
    assert_eq!(names, ["alpha", "mid", "zeta"]);
}

#[tokio::test]
async fn getting_a_provider_by_id_returns_it() {
    // Arrange
    let (app, admin) = app_with_admin().await;
    let created = app.create_provider(&admin, openai_body("openai")).await;
    let id = string_at(&created, "/id");

    // Act
    let body = app.get_ok(&provider_path(&id), &admin).await;

    // Assert
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["provider"], created);
}

#[tokio::test]
async fn an_unknown_provider_id_is_not_found_for_get_patch_and_delete() {
    // Arrange
    let (app, admin, _) = app_with_provider().await;
    let path = provider_path("prov_0000000000000000");

    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({ "name": "renamed" }))),
        (Method::DELETE, None),
    ] {
        // Act
        let answer = app.request(method, &path, body, Some(&admin)).await;

        // Assert
        assert_error(&answer, StatusCode::NOT_FOUND);
    }
}

// --- updating ----------------------------------------------------------------

#[tokio::test]
async fn patching_a_provider_changes_the_fields_sent_and_keeps_the_others() {
    // Arrange
    let (app, admin) = app_with_admin().await;
    let created = app.create_provider(&admin, openai_body("openai")).await;
    let id = string_at(&created, "/id");
    let change = json!({
        "name": "OpenAI EU",
        "base_url": "https://eu.api.openai.com/v1/",
        "timeout_secs": 120,
        "connect_timeout_secs": 3,
        "extra_headers": { "openai-organization": HEADER_VALUE },
        "enabled": false,
    });

    // Act
    let body = app.patch_ok(&provider_path(&id), change, &admin).await;

    // Assert
    assert_eq!(body["success"], json!(true));
    let provider = &body["provider"];
    assert_fields(
        provider,
        json!({
            "id": id, "name": "OpenAI EU", "kind": "openai",
            "base_url": "https://eu.api.openai.com/v1", "timeout_secs": 120,
            "connect_timeout_secs": 3
        }),
    );
    assert_eq!(
        provider["extra_header_names"],
        json!(["openai-organization"])
    );
    assert_eq!(provider["enabled"], json!(false));
    assert_eq!(provider["api_key_count"], json!(2));
    assert_eq!(provider["created_at"], created["created_at"]);
    assert!(
        string_at(provider, "/updated_at") >= string_at(&created, "/updated_at"),
        "{body}"
    );
    let (_, _, fetched) = app.get(&provider_path(&id), &admin).await;
    assert_eq!(&fetched["provider"], provider);
}

#[tokio::test]
async fn patching_api_keys_replaces_the_keys() {
    // Arrange
    let (app, admin, id) = app_with_provider().await;

    // Act
    let body = app
        .patch_ok(
            &provider_path(&id),
            json!({ "api_keys": [KEY_THREE, KEY_ONE, KEY_TWO] }),
            &admin,
        )
        .await;

    // Assert
    assert_eq!(body["provider"]["api_key_count"], json!(3));
    let row = stored(&app, &id).await;
    assert_eq!(
        row.upstream_keys(&app.state.vault).unwrap(),
        [KEY_THREE, KEY_ONE, KEY_TWO]
    );
    assert!(!row.api_keys.contains(KEY_THREE), "{}", row.api_keys);
}

#[tokio::test]
async fn patching_a_provider_without_api_keys_keeps_them() {
    // Arrange
    let (app, admin, id) = app_with_provider().await;

    // Act
    let body = app
        .patch_ok(
            &provider_path(&id),
            json!({ "name": "renamed", "timeout_secs": 30 }),
            &admin,
        )
        .await;

    // Assert
    assert_eq!(body["provider"]["api_key_count"], json!(2));
    let row = stored(&app, &id).await;
    assert_eq!(
        row.upstream_keys(&app.state.vault).unwrap(),
        [KEY_ONE, KEY_TWO]
    );
}

#[tokio::test]
async fn patching_a_provider_with_invalid_values_is_rejected_and_changes_nothing() {
    // Arrange
    let (app, admin, id) = app_with_provider().await;
    let before = stored(&app, &id).await;

    for (change, field) in [
        (json!({ "name": " " }), "name"),
        (json!({ "base_url": "ftp://example.com" }), "base_url"),
        (json!({ "timeout_secs": 0 }), "timeout_secs"),
        (
            json!({ "connect_timeout_secs": 121 }),
            "connect_timeout_secs",
        ),
        (json!({ "api_keys": [""] }), "api_keys"),
        (
            json!({ "extra_headers": { "bad header": "x" } }),
            "extra_headers",
        ),
        (json!({ "colour": "blue" }), "colour"),
    ] {
        // Act
        let answer = app.patch(&provider_path(&id), change.clone(), &admin).await;

        // Assert
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(
            message.contains(field),
            "the message does not name `{field}` for {change}: {message}"
        );
    }
    assert_eq!(stored(&app, &id).await, before);
}

#[tokio::test]
async fn renaming_a_provider_onto_another_ones_name_is_a_conflict() {
    // Arrange
    let (app, admin, id) = app_with_provider().await;
    app.create_provider(&admin, openai_body("backup")).await;

    // Act
    let answer = app
        .patch(&provider_path(&id), json!({ "name": "backup" }), &admin)
        .await;

    // Assert
    assert_error(&answer, StatusCode::CONFLICT);
    assert_eq!(stored(&app, &id).await.name, "openai");
}

// --- deleting ----------------------------------------------------------------

#[tokio::test]
async fn deleting_a_provider_removes_it() {
    // Arrange
    let (app, admin, id) = app_with_provider().await;

    // Act
    let body = app.delete_ok(&provider_path(&id), &admin).await;

    // Assert
    assert_eq!(body, json!({ "success": true, "deleted": id }));
    let answer = app.get(&provider_path(&id), &admin).await;
    assert_error(&answer, StatusCode::NOT_FOUND);
    let (_, _, listed) = app.get(PROVIDERS, &admin).await;
    assert_eq!(listed["providers"], json!([]));
}

#[tokio::test]
async fn deleting_a_provider_used_by_a_model_is_a_conflict_and_keeps_it() {
    // Arrange
    let (app, admin, id) = app_with_provider().await;
    app.create_model(
        &admin,
        json!({
            "public_name": "gpt-4o",
            "provider_id": id,
            "upstream_model": "gpt-4o-2024-08-06",
            "input_price": 2_500_000,
            "output_price": 10_000_000,
        }),
    )
    .await;

    // Act
    let answer = app.delete(&provider_path(&id), &admin).await;

    // Assert
    assert_error(&answer, StatusCode::CONFLICT);
    app.get_ok(&provider_path(&id), &admin).await;
}

#[tokio::test]
async fn a_provider_can_be_deleted_once_its_models_are_gone() {
    // Arrange
    let (app, admin, id) = app_with_provider().await;
    let model = app
        .create_model(
            &admin,
            json!({
                "public_name": "gpt-4o",
                "provider_id": id,
                "upstream_model": "gpt-4o",
                "input_price": 1,
                "output_price": 1,
            }),
        )
        .await;
    let model_path = format!("/api/admin/models/{}", string_at(&model, "/id"));
    app.delete_ok(&model_path, &admin).await;

    // Act
    app.delete_ok(&provider_path(&id), &admin).await;

    // Assert
}
