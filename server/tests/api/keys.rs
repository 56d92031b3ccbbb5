//! `/api/keys` (a user's own API keys), signing in with a key, and the admin
//! creating a person by name with a first key (the hackathon flow).

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::{Value, json};
use server::{gateway::api_keys::secret, platform::entity::api_key};

use crate::helpers::{
    ADMIN_EMAIL, Answer, PASSWORD, TestApp, assert_error, assert_fields, assert_iso_millis,
    assert_prefixed_id, assert_refused, assert_session_cookie, assert_user_id, field_names,
    listed_users, spawn_app, spawn_app_with, string_at,
};

/// Every field of a key as the API shows it, and nothing else.
const KEY_FIELDS: &[&str] = &[
    "id",
    "name",
    "prefix",
    "models",
    "quota_limit_micro_credits",
    "quota_limit_credits",
    "quota_used_micro_credits",
    "quota_used_credits",
    "requests_per_minute",
    "tokens_per_minute",
    "expires_at",
    "created_at",
    "last_used_at",
    "revoked_at",
    "status",
];

fn key_path(id: &str) -> String {
    format!("/api/keys/{id}")
}

/// An app with one registered user; returns the app and their token.
async fn app_with_user() -> (TestApp, String) {
    let app = spawn_app().await;
    let (token, _) = app
        .register("alice@wonderland.example", PASSWORD, "Alice Liddell")
        .await;
    (app, token)
}

/// POST /api/keys.
async fn create_key_answer(app: &TestApp, token: &str, body: Value) -> Answer {
    app.post("/api/keys", body, token).await
}

/// Creates a key and returns its view and secret.
async fn create_key(app: &TestApp, token: &str, body: Value) -> (Value, String) {
    let (status, _, answer) = create_key_answer(app, token, body.clone()).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "creating {body} failed: {answer}"
    );
    (answer["key"].clone(), string_at(&answer, "/secret"))
}

/// Creates a key by name and returns its id and secret.
async fn create_named_key(app: &TestApp, token: &str, name: &str) -> (String, String) {
    let (key, secret) = create_key(app, token, json!({ "name": name })).await;
    (string_at(&key, "/id"), secret)
}

/// GET /api/keys: the keys of the caller.
async fn list_keys(app: &TestApp, token: &str) -> Vec<Value> {
    let body = app.get_ok("/api/keys", token).await;
    assert_eq!(body["success"], json!(true), "{body}");
    body["keys"]
        .as_array()
        .unwrap_or_else(|| panic!("no keys array in {body}"))
        .clone()
}

/// The key with `id` in the caller's list.
async fn listed_key(app: &TestApp, token: &str, id: &str) -> Value {
    list_keys(app, token)
        .await
        .into_iter()
        .find(|key| key["id"] == json!(id))
        .unwrap_or_else(|| panic!("key {id} is not in the list"))
}

/// The ids of a list of keys, in order.
fn ids(keys: &[Value]) -> Vec<String> {
    keys.iter().map(|key| string_at(key, "/id")).collect()
}

/// Changes a key's row directly, as time passing or spending would.
async fn edit_key_in_db(app: &TestApp, id: &str, edit: impl FnOnce(&mut api_key::ActiveModel)) {
    let key = api_key::Entity::find_by_id(id.to_owned())
        .one(app.db())
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no key {id} in the database"));
    let mut model = key.into_active_model();
    edit(&mut model);
    model.update(app.db()).await.unwrap();
}

/// Makes a key expired an hour ago in the database (the API only takes
/// expiry dates in the future); returns when it expired.
async fn expire_in_db(app: &TestApp, id: &str) -> DateTime<Utc> {
    let expired_at = an_hour_ago();
    edit_key_in_db(app, id, |key| key.expires_at = Set(Some(expired_at))).await;
    expired_at
}

/// An hour ago, to the millisecond, as the server stores times.
fn an_hour_ago() -> DateTime<Utc> {
    (Utc::now() - chrono::Duration::hours(1)).trunc_subsecs(3)
}

/// `tg-` and 48 ASCII letters or digits.
fn assert_secret_shape(secret: &str) {
    let random = secret
        .strip_prefix("tg-")
        .unwrap_or_else(|| panic!("secret does not start with tg-: {secret}"));
    assert_eq!(random.len(), 48, "bad secret length: {secret}");
    assert!(
        random.bytes().all(|b| b.is_ascii_alphanumeric()),
        "bad secret characters: {secret}"
    );
}

/// `key_` and 16 lower-case hex digits.
fn assert_key_id(id: &str) {
    assert_prefixed_id(id, "key");
}

/// Whether any string anywhere in `value` contains `needle`.
fn contains_text(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(text) => text.contains(needle),
        Value::Array(items) => items.iter().any(|item| contains_text(item, needle)),
        Value::Object(map) => map
            .iter()
            .any(|(name, item)| name.contains(needle) || contains_text(item, needle)),
        _ => false,
    }
}

/// Whether an object anywhere in `value` has a field called `name`.
fn has_field(value: &Value, name: &str) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| has_field(item, name)),
        Value::Object(map) => {
            map.contains_key(name) || map.values().any(|item| has_field(item, name))
        }
        _ => false,
    }
}

/// Asserts that a body reveals neither the secret nor its stored hash.
fn assert_reveals_no_secret(body: &Value, secret_text: &str) {
    assert!(!contains_text(body, secret_text), "secret leaked: {body}");
    assert!(
        !contains_text(body, &secret::hash(secret_text)),
        "secret hash leaked: {body}"
    );
    assert!(!has_field(body, "secret_hash"), "{body}");
}

// --- creating -----------------------------------------------------------------

#[tokio::test]
async fn creating_a_key_returns_201_with_the_key_and_its_secret() {
    // Arrange
    let (app, alice) = app_with_user().await;

    // Act
    let (status, _, body) = create_key_answer(&app, &alice, json!({ "name": "Laptop" })).await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], json!(true));
    let secret = string_at(&body, "/secret");
    assert_secret_shape(&secret);

    let key = &body["key"];
    let fields = field_names(key);
    let mut expected = KEY_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(fields, expected, "{key}");

    assert_key_id(&string_at(key, "/id"));
    assert_eq!(key["name"], json!("Laptop"));
    let prefix = string_at(key, "/prefix");
    assert!(prefix.starts_with("tg-"), "{prefix}");
    assert_eq!(prefix, secret[..11], "the prefix is the secret's start");
    assert_eq!(key["models"], json!([]));
    assert_eq!(key["quota_limit_micro_credits"], Value::Null);
    assert_eq!(key["quota_limit_credits"], Value::Null);
    assert_eq!(key["quota_used_micro_credits"], json!(0));
    assert_eq!(key["quota_used_credits"], json!("0.000000"));
    assert_eq!(key["expires_at"], Value::Null);
    assert_iso_millis(&string_at(key, "/created_at"));
    assert_eq!(key["last_used_at"], Value::Null);
    assert_eq!(key["revoked_at"], Value::Null);
    assert_eq!(key["status"], json!("active"));
}

#[tokio::test]
async fn creating_a_key_with_models_quota_and_expiry_returns_them() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let body = json!({
        "name": "CI runner",
        "models": ["gpt-4o", "claude-sonnet"],
        "quota_micro_credits": 12_500_000,
        "expires_at": "2099-01-02T03:04:05Z",
    });

    // Act
    let (status, _, answer) = create_key_answer(&app, &alice, body).await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    let key = &answer["key"];
    assert_fields(
        key,
        json!({
            "name": "CI runner", "models": ["gpt-4o", "claude-sonnet"],
            "quota_limit_micro_credits": 12_500_000, "quota_limit_credits": "12.500000",
            "quota_used_micro_credits": 0, "quota_used_credits": "0.000000",
            "expires_at": "2099-01-02T03:04:05.000Z", "status": "active"
        }),
    );
}

#[tokio::test]
async fn the_created_key_never_contains_its_secret_or_a_hash() {
    // Arrange
    let (app, alice) = app_with_user().await;

    // Act
    let (key, secret) = create_key(&app, &alice, json!({ "name": "Laptop" })).await;

    // Assert
    assert_reveals_no_secret(&key, &secret);
    assert!(!has_field(&key, "secret"), "{key}");
}

#[tokio::test]
async fn two_keys_get_different_secrets_and_ids() {
    // Arrange
    let (app, alice) = app_with_user().await;

    // Act
    let (first_id, first_secret) = create_named_key(&app, &alice, "One").await;
    let (second_id, second_secret) = create_named_key(&app, &alice, "Two").await;

    // Assert
    assert_ne!(first_secret, second_secret);
    assert_ne!(first_id, second_id);
}

#[tokio::test]
async fn the_secret_is_shown_only_once_and_never_in_the_list() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (id, secret) = create_named_key(&app, &alice, "Laptop").await;

    // Act
    let body = app.get_ok("/api/keys", &alice).await;

    // Assert
    assert_eq!(ids(body["keys"].as_array().unwrap()), vec![id]);
    assert!(!has_field(&body, "secret"), "{body}");
    assert_reveals_no_secret(&body, &secret);
}

#[tokio::test]
async fn a_new_user_has_no_keys() {
    // Arrange
    let (app, alice) = app_with_user().await;

    // Act
    let keys = list_keys(&app, &alice).await;

    // Assert
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn key_names_and_models_are_trimmed_and_models_de_duplicated() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let body = json!({
        "name": "  Laptop  ",
        "models": [" gpt-4o ", "gpt-4o", "claude-sonnet", "claude-sonnet "],
    });

    // Act
    let (key, _) = create_key(&app, &alice, body).await;

    // Assert
    assert_eq!(key["name"], json!("Laptop"));
    assert_eq!(key["models"], json!(["gpt-4o", "claude-sonnet"]));
}

#[tokio::test]
async fn a_key_name_of_one_hundred_characters_is_accepted() {
    // Arrange: non-ASCII, so a byte-length limit would refuse it.
    let (app, alice) = app_with_user().await;
    let name = "é".repeat(100);

    // Act
    let (key, _) = create_key(&app, &alice, json!({ "name": name })).await;

    // Assert
    assert_eq!(key["name"], json!(name));
    assert_eq!(
        listed_key(&app, &alice, &string_at(&key, "/id")).await["name"],
        json!(name)
    );
}

#[tokio::test]
async fn a_key_with_a_quota_of_zero_is_over_quota_at_once() {
    // Arrange
    let (app, alice) = app_with_user().await;

    // Act
    let (key, _) = create_key(
        &app,
        &alice,
        json!({ "name": "Frozen", "quota_micro_credits": 0 }),
    )
    .await;

    // Assert
    assert_eq!(key["quota_limit_micro_credits"], json!(0));
    assert_eq!(key["quota_limit_credits"], json!("0.000000"));
    assert_eq!(key["status"], json!("over_quota"));
}

// --- validation -----------------------------------------------------------------

/// Asserts a 400 in the error shape whose message names `field`, and that
/// no key was created.
async fn assert_create_rejected(app: &TestApp, token: &str, case: &str, body: Value, field: &str) {
    let answer = create_key_answer(app, token, body.clone()).await;
    assert_refused(case, &answer, StatusCode::BAD_REQUEST, Some(field));
    assert!(
        list_keys(app, token).await.is_empty(),
        "{case}: {body} created a key"
    );
}

#[tokio::test]
async fn creating_a_key_with_an_invalid_field_is_rejected_naming_it() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let cases = [
        ("an empty name", json!({ "name": "" }), "name"),
        ("a blank name", json!({ "name": "   " }), "name"),
        ("no name", json!({ "models": [] }), "name"),
        (
            "a name of 101 characters",
            json!({ "name": "k".repeat(101) }),
            "name",
        ),
        (
            "a negative quota",
            json!({ "name": "Laptop", "quota_micro_credits": -1 }),
            "quota_micro_credits",
        ),
        (
            "an expiry in the past",
            json!({ "name": "Laptop", "expires_at": "2020-01-01T00:00:00Z" }),
            "expires_at",
        ),
        (
            "an expiry in words",
            json!({ "name": "Laptop", "expires_at": "next tuesday" }),
            "expires_at",
        ),
        (
            "an impossible date",
            json!({ "name": "Laptop", "expires_at": "2099-13-45" }),
            "expires_at",
        ),
        (
            "a number for an expiry",
            json!({ "name": "Laptop", "expires_at": 42 }),
            "expires_at",
        ),
        (
            "an unknown field",
            json!({ "name": "Laptop", "colour": "blue" }),
            "colour",
        ),
        (
            "an empty model name",
            json!({ "name": "Laptop", "models": ["gpt-4o", ""] }),
            "models",
        ),
        (
            "a blank model name",
            json!({ "name": "Laptop", "models": ["   "] }),
            "models",
        ),
    ];

    for (case, body, field) in cases {
        // Act and assert
        assert_create_rejected(&app, &alice, case, body, field).await;
    }
}

// --- authentication and ownership -----------------------------------------------

#[tokio::test]
async fn every_keys_route_without_a_token_is_unauthorized() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (id, _) = create_named_key(&app, &alice, "Laptop").await;
    let routes = [
        (Method::GET, "/api/keys".to_owned(), None),
        (
            Method::POST,
            "/api/keys".to_owned(),
            Some(json!({ "name": "Sneaky" })),
        ),
        (
            Method::PATCH,
            key_path(&id),
            Some(json!({ "name": "Sneaky" })),
        ),
        (Method::DELETE, key_path(&id), None),
    ];

    for (method, path, body) in routes {
        // Act
        let answer = app.request(method.clone(), &path, body, None).await;

        // Assert
        assert_error(&answer, StatusCode::UNAUTHORIZED);
    }
    let keys = list_keys(&app, &alice).await;
    assert_eq!(ids(&keys), vec![id]);
    assert_eq!(keys[0]["name"], json!("Laptop"));
    assert_eq!(keys[0]["status"], json!("active"));
}

#[tokio::test]
async fn listing_keys_shows_only_the_callers_own_keys_newest_first() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (bob, _) = app
        .register("bob@builders.example", PASSWORD, "Bob Builder")
        .await;
    let mut alice_ids = Vec::new();
    for name in ["First", "Second", "Third"] {
        alice_ids.push(create_named_key(&app, &alice, name).await.0);
        // Creation times are kept to the millisecond: keep them apart.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (bob_id, _) = create_named_key(&app, &bob, "Bob's").await;

    // Act
    let alice_keys = list_keys(&app, &alice).await;
    let bob_keys = list_keys(&app, &bob).await;

    // Assert
    alice_ids.reverse();
    assert_eq!(ids(&alice_keys), alice_ids);
    let names: Vec<&Value> = alice_keys.iter().map(|key| &key["name"]).collect();
    assert_eq!(names, [&json!("Third"), &json!("Second"), &json!("First")]);
    assert_eq!(ids(&bob_keys), vec![bob_id]);
}

#[tokio::test]
async fn changing_another_users_key_is_not_found_and_leaves_it_unchanged() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (bob, _) = app
        .register("bob@builders.example", PASSWORD, "Bob Builder")
        .await;
    let (key, _) = create_key(
        &app,
        &alice,
        json!({ "name": "Laptop", "quota_micro_credits": 5_000_000 }),
    )
    .await;
    let id = string_at(&key, "/id");

    // Act
    let answer = app
        .patch(
            &key_path(&id),
            json!({ "name": "Stolen", "quota_micro_credits": null }),
            &bob,
        )
        .await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
    assert_eq!(listed_key(&app, &alice, &id).await, key);
    assert!(list_keys(&app, &bob).await.is_empty());
}

#[tokio::test]
async fn revoking_another_users_key_is_not_found_and_leaves_it_active() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (bob, _) = app
        .register("bob@builders.example", PASSWORD, "Bob Builder")
        .await;
    let (key, _) = create_key(&app, &alice, json!({ "name": "Laptop" })).await;
    let id = string_at(&key, "/id");

    // Act
    let answer = app.delete(&key_path(&id), &bob).await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
    let listed = listed_key(&app, &alice, &id).await;
    assert_eq!(listed, key);
    assert_eq!(listed["status"], json!("active"), "{listed}");
}

// --- changing -------------------------------------------------------------------

#[tokio::test]
async fn renaming_a_key_changes_only_its_name() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (before, _) = create_key(
        &app,
        &alice,
        json!({
            "name": "Laptop",
            "models": ["gpt-4o"],
            "quota_micro_credits": 3_000_000,
            "expires_at": "2099-06-01T00:00:00Z",
        }),
    )
    .await;
    let id = string_at(&before, "/id");

    // Act
    let body = app
        .patch_ok(&key_path(&id), json!({ "name": " Work laptop " }), &alice)
        .await;

    // Assert
    assert_eq!(body["success"], json!(true));
    let mut expected = before.clone();
    expected["name"] = json!("Work laptop");
    assert_eq!(body["key"], expected);
    assert_eq!(listed_key(&app, &alice, &id).await, expected);
}

#[tokio::test]
async fn changing_a_keys_models_replaces_them() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (key, _) = create_key(
        &app,
        &alice,
        json!({ "name": "Laptop", "models": ["gpt-4o"] }),
    )
    .await;
    let path = key_path(&string_at(&key, "/id"));

    // Act
    let (status, _, body) = app
        .patch(
            &path,
            json!({ "models": ["claude-sonnet ", "claude-sonnet", "o3"] }),
            &alice,
        )
        .await;
    let (cleared_status, _, cleared) = app.patch(&path, json!({ "models": [] }), &alice).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"]["models"], json!(["claude-sonnet", "o3"]));
    assert_eq!(cleared_status, StatusCode::OK, "{cleared}");
    assert_eq!(cleared["key"]["models"], json!([]));
}

#[tokio::test]
async fn a_null_quota_removes_the_limit_while_a_missing_quota_keeps_it() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (key, _) = create_key(
        &app,
        &alice,
        json!({ "name": "Laptop", "quota_micro_credits": 12_500_000 }),
    )
    .await;
    let id = string_at(&key, "/id");
    let path = key_path(&id);

    // Act
    let (kept_status, _, kept) = app.patch(&path, json!({ "name": "Renamed" }), &alice).await;
    let (removed_status, _, removed) = app
        .patch(&path, json!({ "quota_micro_credits": null }), &alice)
        .await;

    // Assert
    assert_eq!(kept_status, StatusCode::OK, "{kept}");
    assert_eq!(kept["key"]["quota_limit_micro_credits"], json!(12_500_000));
    assert_eq!(kept["key"]["quota_limit_credits"], json!("12.500000"));
    assert_eq!(removed_status, StatusCode::OK, "{removed}");
    assert_eq!(removed["key"]["quota_limit_micro_credits"], Value::Null);
    assert_eq!(removed["key"]["quota_limit_credits"], Value::Null);
    assert_eq!(removed["key"]["name"], json!("Renamed"));
    let listed = listed_key(&app, &alice, &id).await;
    assert_eq!(listed["quota_limit_micro_credits"], Value::Null);
}

#[tokio::test]
async fn a_quota_can_be_set_on_a_key_that_had_none() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (id, _) = create_named_key(&app, &alice, "Laptop").await;

    // Act
    let body = app
        .patch_ok(&key_path(&id), json!({ "quota_micro_credits": 1 }), &alice)
        .await;

    // Assert
    assert_eq!(body["key"]["quota_limit_micro_credits"], json!(1));
    assert_eq!(body["key"]["quota_limit_credits"], json!("0.000001"));
    assert_eq!(
        listed_key(&app, &alice, &id).await["quota_limit_micro_credits"],
        json!(1)
    );
}

#[tokio::test]
async fn a_null_expiry_removes_it_while_a_missing_expiry_keeps_it() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (key, _) = create_key(
        &app,
        &alice,
        json!({ "name": "Laptop", "expires_at": "2099-06-01T12:00:00Z" }),
    )
    .await;
    let id = string_at(&key, "/id");
    let path = key_path(&id);

    // Act
    let (kept_status, _, kept) = app
        .patch(&path, json!({ "quota_micro_credits": 7 }), &alice)
        .await;
    let (removed_status, _, removed) = app
        .patch(&path, json!({ "expires_at": null }), &alice)
        .await;

    // Assert
    assert_eq!(kept_status, StatusCode::OK, "{kept}");
    assert_eq!(kept["key"]["expires_at"], json!("2099-06-01T12:00:00.000Z"));
    assert_eq!(removed_status, StatusCode::OK, "{removed}");
    assert_eq!(removed["key"]["expires_at"], Value::Null);
    assert_eq!(removed["key"]["quota_limit_micro_credits"], json!(7));
    assert_eq!(
        listed_key(&app, &alice, &id).await["expires_at"],
        Value::Null
    );
}

#[tokio::test]
async fn changing_a_key_with_an_empty_body_is_rejected() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (key, _) = create_key(&app, &alice, json!({ "name": "Laptop" })).await;
    let id = string_at(&key, "/id");

    // Act
    let answer = app.patch(&key_path(&id), json!({}), &alice).await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST);
    assert_eq!(listed_key(&app, &alice, &id).await, key);
}

#[tokio::test]
async fn changing_a_key_with_invalid_values_is_rejected_naming_the_field() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (key, _) = create_key(&app, &alice, json!({ "name": "Laptop" })).await;
    let id = string_at(&key, "/id");
    let cases = [
        (json!({ "name": "  " }), "name"),
        (json!({ "name": "k".repeat(101) }), "name"),
        (json!({ "quota_micro_credits": -5 }), "quota_micro_credits"),
        (
            json!({ "expires_at": "2020-01-01T00:00:00Z" }),
            "expires_at",
        ),
        (json!({ "expires_at": "soon" }), "expires_at"),
        (json!({ "models": [""] }), "models"),
        (json!({ "name": "Ok", "colour": "blue" }), "colour"),
    ];

    for (body, field) in cases {
        // Act
        let answer = app.patch(&key_path(&id), body.clone(), &alice).await;

        // Assert
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message.contains(field), "{body}: {message}");
    }
    assert_eq!(listed_key(&app, &alice, &id).await, key);
}

#[tokio::test]
async fn changing_an_unknown_key_is_not_found() {
    // Arrange
    let (app, alice) = app_with_user().await;

    // Act
    let answer = app
        .patch(
            &key_path("key_0123456789abcdef"),
            json!({ "name": "Ghost" }),
            &alice,
        )
        .await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn changing_a_revoked_key_is_rejected() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (id, _) = create_named_key(&app, &alice, "Laptop").await;
    let (status, _, _) = app.delete(&key_path(&id), &alice).await;
    assert_eq!(status, StatusCode::OK);

    // Act
    let answer = app
        .patch(&key_path(&id), json!({ "name": "Revived" }), &alice)
        .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST);
    let listed = listed_key(&app, &alice, &id).await;
    assert_eq!(listed["name"], json!("Laptop"));
    assert_eq!(listed["status"], json!("revoked"));
}

// --- revoking -------------------------------------------------------------------

#[tokio::test]
async fn revoking_a_key_answers_200_and_keeps_it_listed_as_revoked() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (before, _) = create_key(&app, &alice, json!({ "name": "Laptop" })).await;
    let id = string_at(&before, "/id");

    // Act
    let (status, _, body) = app.delete(&key_path(&id), &alice).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    let key = &body["key"];
    assert_eq!(key["id"], json!(id));
    assert_eq!(key["status"], json!("revoked"));
    assert_iso_millis(&string_at(key, "/revoked_at"));
    assert_eq!(key["name"], before["name"]);
    assert_eq!(key["prefix"], before["prefix"]);
    assert_eq!(key["created_at"], before["created_at"]);
    assert_eq!(&listed_key(&app, &alice, &id).await, key);
}

#[tokio::test]
async fn revoking_a_key_twice_is_idempotent() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (id, _) = create_named_key(&app, &alice, "Laptop").await;
    let (_, _, first) = app.delete(&key_path(&id), &alice).await;
    tokio::time::sleep(Duration::from_millis(5)).await;

    // Act
    let (status, _, second) = app.delete(&key_path(&id), &alice).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(second["key"]["status"], json!("revoked"));
    assert_eq!(second["key"]["revoked_at"], first["key"]["revoked_at"]);
    assert_eq!(second["key"], first["key"]);
    assert_eq!(list_keys(&app, &alice).await.len(), 1);
}

#[tokio::test]
async fn revoking_an_unknown_key_is_not_found() {
    // Arrange
    let (app, alice) = app_with_user().await;

    // Act
    let answer = app.delete(&key_path("key_0123456789abcdef"), &alice).await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
}

// --- status -----------------------------------------------------------------------

#[tokio::test]
async fn a_key_past_its_expiry_is_listed_as_expired() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (key, _) = create_key(
        &app,
        &alice,
        json!({ "name": "Laptop", "expires_at": "2099-01-01T00:00:00Z" }),
    )
    .await;
    let id = string_at(&key, "/id");
    let expired_at = expire_in_db(&app, &id).await;

    // Act
    let listed = listed_key(&app, &alice, &id).await;

    // Assert
    assert_eq!(listed["status"], json!("expired"));
    assert_eq!(
        listed["expires_at"],
        json!(server::platform::time::iso(&expired_at)),
        "{listed}"
    );
}

#[tokio::test]
async fn a_key_that_has_used_its_quota_is_listed_as_over_quota() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (at_limit, _) = create_named_key(&app, &alice, "At the limit").await;
    let (beyond, _) = create_named_key(&app, &alice, "Beyond the limit").await;
    let (below, _) = create_named_key(&app, &alice, "Below the limit").await;
    for (id, used) in [
        (&at_limit, 2_000_000),
        (&beyond, 2_000_001),
        (&below, 1_999_999),
    ] {
        edit_key_in_db(&app, id, |key| {
            key.quota_limit = Set(Some(2_000_000));
            key.quota_used = Set(used);
        })
        .await;
    }

    // Act
    let keys = list_keys(&app, &alice).await;

    // Assert
    let status_of = |id: &str| {
        keys.iter()
            .find(|key| key["id"] == json!(id))
            .map(|key| key["status"].clone())
            .unwrap()
    };
    assert_eq!(status_of(&at_limit), json!("over_quota"));
    assert_eq!(status_of(&beyond), json!("over_quota"));
    assert_eq!(status_of(&below), json!("active"));
    let at_limit_key = listed_key(&app, &alice, &at_limit).await;
    assert_eq!(at_limit_key["quota_used_micro_credits"], json!(2_000_000));
    assert_eq!(at_limit_key["quota_used_credits"], json!("2.000000"));
    assert_eq!(at_limit_key["quota_limit_credits"], json!("2.000000"));
}

#[tokio::test]
async fn a_revoked_key_is_listed_as_revoked_even_when_expired_and_over_quota() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (id, _) = create_named_key(&app, &alice, "Laptop").await;
    app.delete(&key_path(&id), &alice).await;
    let expired_at = an_hour_ago();
    edit_key_in_db(&app, &id, |key| {
        key.expires_at = Set(Some(expired_at));
        key.quota_limit = Set(Some(1));
        key.quota_used = Set(5);
    })
    .await;

    // Act
    let listed = listed_key(&app, &alice, &id).await;

    // Assert
    assert_eq!(listed["status"], json!("revoked"));
}

// --- signing in with a key ----------------------------------------------------------

#[tokio::test]
async fn signing_in_with_an_api_key_returns_a_token_and_cookie_for_its_owner() {
    // Arrange: a person an admin created by name (no password).
    let (app, _, hank_id, secret) = app_with_hank().await;

    // Act
    let (status, headers, body) = app.login_with_key(&secret).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    let token = string_at(&body, "/token");
    assert_session_cookie(&headers, &token);
    assert_iso_millis(&string_at(&body, "/expires_at"));
    assert_eq!(body["user"]["id"], json!(hank_id));
    assert_reveals_no_secret(&body, &secret);

    let (me_status, _, me) = app.me(&token).await;
    assert_eq!(me_status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["id"], json!(hank_id));
    assert_eq!(me["user"]["name"], json!("Hank"));
}

#[tokio::test]
async fn the_key_of_an_admin_or_of_anyone_with_a_password_never_opens_a_web_session() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (_, alices) = create_named_key(&app, &alice, "Laptop").await;
    let admin = app.create_admin().await;
    let (_, admins) = create_named_key(&app, &admin, "ops").await;

    for secret in [alices, admins] {
        // Act
        let answer = app.login_with_key(&secret).await;

        // Assert
        let message = assert_error(&answer, StatusCode::FORBIDDEN);
        assert!(message.contains("password"), "{message}");
        assert!(answer.1.get("set-cookie").is_none());
    }
}

#[tokio::test]
async fn a_session_opened_with_a_key_cannot_create_keys_and_ends_when_the_key_expires() {
    // Arrange
    let (app, _, hank_id, secret) = app_with_hank().await;
    let (_, _, body) = app.login_with_key(&secret).await;
    let session = string_at(&body, "/token");

    // Act
    let created = create_key_answer(&app, &session, json!({ "name": "lasting" })).await;
    edit_key_in_db(&app, &key_id_of(&app, &hank_id).await, |key| {
        key.expires_at = Set(Some(Utc::now() - chrono::Duration::seconds(2)));
    })
    .await;

    // Assert
    let message = assert_error(&created, StatusCode::FORBIDDEN);
    assert!(message.contains("API key"), "{message}");
    assert_error(&app.me(&session).await, StatusCode::UNAUTHORIZED);
}

/// The id of the one key `user_id` has.
async fn key_id_of(app: &TestApp, user_id: &str) -> String {
    use sea_orm::{ColumnTrait, QueryFilter};
    api_key::Entity::find()
        .filter(api_key::Column::UserId.eq(user_id))
        .one(app.db())
        .await
        .unwrap()
        .expect("the user has a key")
        .id
}

#[tokio::test]
async fn signing_in_with_a_key_surrounded_by_spaces_works() {
    // Arrange
    let (app, _, _, secret) = app_with_hank().await;

    // Act
    let (status, _, body) = app.login_with_key(&format!("  {secret}\n")).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn signing_in_with_a_key_never_issued_is_unauthorized() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (_, secret) = create_named_key(&app, &alice, "Laptop").await;
    // The right shape, but not a key anyone was given.
    let forged = format!("tg-{}", "A".repeat(48));
    let mut altered = secret.clone();
    let last = if altered.ends_with('x') { "y" } else { "x" };
    altered.replace_range(altered.len() - 1.., last);

    for candidate in [forged.as_str(), altered.as_str(), "sk-12345", "", "tg-"] {
        // Act
        let answer = app.login_with_key(candidate).await;

        // Assert
        let (status, _, body) = &answer;
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{candidate:?}: {body}");
        assert_error(&answer, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_revoked_an_expired_and_an_unknown_key_are_unauthorized_alike() {
    // Arrange
    let (app, alice) = app_with_user().await;
    let (revoked_id, revoked) = create_named_key(&app, &alice, "Revoked").await;
    app.delete(&key_path(&revoked_id), &alice).await;
    let (expired_key, expired) = create_key(
        &app,
        &alice,
        json!({ "name": "Expired", "expires_at": "2099-01-01T00:00:00Z" }),
    )
    .await;
    expire_in_db(&app, &string_at(&expired_key, "/id")).await;
    let unknown = format!("tg-{}", "b".repeat(48));

    // Act
    let messages: Vec<String> = {
        let mut messages = Vec::new();
        for candidate in [&revoked, &expired, &unknown] {
            let answer = app.login_with_key(candidate).await;
            messages.push(assert_error(&answer, StatusCode::UNAUTHORIZED));
        }
        messages
    };

    // Assert
    assert_eq!(messages[0], messages[1]);
    assert_eq!(messages[1], messages[2]);
}

#[tokio::test]
async fn an_over_quota_key_still_signs_in() {
    // Arrange
    let (app, _, hank_id, secret) = app_with_hank().await;
    edit_key_in_db(&app, &key_id_of(&app, &hank_id).await, |key| {
        key.quota_limit = Set(Some(1_000));
        key.quota_used = Set(1_000);
    })
    .await;

    // Act
    let (status, _, body) = app.login_with_key(&secret).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.me(&string_at(&body, "/token")).await.0, StatusCode::OK);
}

/// Registers a user at `email` with one key; returns the admin path of the
/// user and the key's secret.
async fn user_with_a_key(app: &TestApp, email: &str) -> (String, String) {
    let (token, id) = app.register(email, PASSWORD, "Key Holder").await;
    let (_, secret) = create_named_key(app, &token, "Laptop").await;
    (format!("/api/admin/users/{id}"), secret)
}

#[tokio::test]
async fn the_key_of_a_suspended_or_deleted_user_no_longer_signs_in() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let (suspended, suspended_key) = user_with_a_key(&app, "alice@wonderland.example").await;
    let (deleted, deleted_key) = user_with_a_key(&app, "bob@builders.example").await;
    app.patch_ok(&suspended, json!({ "status": "suspended" }), &admin)
        .await;
    app.delete_ok(&deleted, &admin).await;

    // Act
    let suspended_answer = app.login_with_key(&suspended_key).await;
    let deleted_answer = app.login_with_key(&deleted_key).await;

    // Assert
    assert_error(&suspended_answer, StatusCode::FORBIDDEN);
    // A deleted account is as unknown as a wrong key.
    assert_error(&deleted_answer, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signing_in_with_neither_a_key_nor_an_email_is_rejected_naming_email() {
    // Arrange
    let app = spawn_app().await;

    for body in [json!({}), json!({ "password": PASSWORD })] {
        // Act
        let answer = app
            .request(Method::POST, "/api/auth/login", Some(body.clone()), None)
            .await;

        // Assert
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message.contains("email"), "{body}: {message}");
    }
}

#[tokio::test]
async fn signing_in_with_an_email_but_no_password_is_rejected_naming_password() {
    // Arrange
    let app = spawn_app().await;
    app.register("alice@wonderland.example", PASSWORD, "Alice Liddell")
        .await;

    // Act
    let answer = app
        .request(
            Method::POST,
            "/api/auth/login",
            Some(json!({ "email": "alice@wonderland.example" })),
            None,
        )
        .await;

    // Assert
    let message = assert_error(&answer, StatusCode::BAD_REQUEST);
    assert!(message.contains("password"), "{message}");
}

// --- the hackathon flow: an admin creates a person by name ------------------------

/// POST /api/admin/users.
async fn create_person_answer(app: &TestApp, token: Option<&str>, body: Value) -> Answer {
    app.request(Method::POST, "/api/admin/users", Some(body), token)
        .await
}

/// An app with an admin who created Hank; returns the app, the admin's
/// token, Hank's id and his secret.
async fn app_with_hank() -> (TestApp, String, String, String) {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let (status, _, body) =
        create_person_answer(&app, Some(&admin), json!({ "name": "Hank" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let hank_id = string_at(&body, "/user/id");
    let secret = string_at(&body, "/secret");
    (app, admin, hank_id, secret)
}

#[tokio::test]
async fn an_admin_creates_a_person_by_name_with_a_first_key() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.create_admin().await;

    // Act
    let (status, _, body) =
        create_person_answer(&app, Some(&admin), json!({ "name": "  Hank  " })).await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], json!(true));
    let user = &body["user"];
    assert_user_id(&string_at(user, "/id"));
    assert_eq!(user["name"], json!("Hank"));
    assert_eq!(user["email"], Value::Null);
    assert_fields(
        user,
        json!({ "role": "user", "plan": "trial", "status": "active" }),
    );
    assert!(!has_field(user, "password_hash"), "{body}");

    let secret = string_at(&body, "/secret");
    assert_secret_shape(&secret);
    let key = &body["key"];
    assert_key_id(&string_at(key, "/id"));
    assert_eq!(key["status"], json!("active"));
    assert_eq!(string_at(key, "/prefix"), secret[..11]);
    assert_eq!(key["models"], json!([]));
    assert_eq!(key["quota_limit_micro_credits"], Value::Null);
    assert_eq!(key["expires_at"], Value::Null);
    assert_reveals_no_secret(key, &secret);
    assert_reveals_no_secret(user, &secret);
}

#[tokio::test]
async fn an_admin_can_create_a_person_on_the_pro_plan() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.create_admin().await;

    // Act
    let (status, _, body) =
        create_person_answer(&app, Some(&admin), json!({ "name": "Hank", "plan": "pro" })).await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["user"]["plan"], json!("pro"));
}

#[tokio::test]
async fn creating_a_person_as_a_non_admin_is_forbidden() {
    // Arrange
    let (app, alice) = app_with_user().await;

    // Act
    let answer = create_person_answer(&app, Some(&alice), json!({ "name": "Hank" })).await;

    // Assert
    assert_error(&answer, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn creating_a_person_without_a_token_is_unauthorized() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = create_person_answer(&app, None, json!({ "name": "Hank" })).await;

    // Assert
    assert_error(&answer, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn creating_a_person_with_invalid_input_is_rejected_naming_the_field() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let cases = [
        (json!({ "name": "" }), "name"),
        (json!({ "name": "   " }), "name"),
        (json!({ "name": "h".repeat(101) }), "name"),
        (json!({ "plan": "pro" }), "name"),
        (
            json!({ "name": "Hank", "email": "hank@example.com" }),
            "email",
        ),
        (json!({ "name": "Hank", "plan": "platinum" }), "plan"),
    ];

    for (body, field) in cases {
        // Act
        let answer = create_person_answer(&app, Some(&admin), body.clone()).await;

        // Assert
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message.contains(field), "{body}: {message}");
    }
    let (_, _, list) = app.get("/api/admin/users", &admin).await;
    assert_eq!(list["total"], json!(1), "no one was created: {list}");
}

#[tokio::test]
async fn the_created_person_signs_in_with_the_secret_and_sees_themself() {
    // Arrange
    let (app, _, hank_id, secret) = app_with_hank().await;

    // Act
    let (status, headers, body) = app.login_with_key(&secret).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = string_at(&body, "/token");
    assert_session_cookie(&headers, &token);
    let (me_status, _, me) = app.me(&token).await;
    assert_eq!(me_status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["id"], json!(hank_id));
    assert_eq!(me["user"]["name"], json!("Hank"));
    assert_eq!(me["user"]["email"], Value::Null);
    let keys = list_keys(&app, &token).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["status"], json!("active"));
    assert_eq!(string_at(&keys[0], "/prefix"), secret[..11]);
}

#[tokio::test]
async fn the_created_person_cannot_sign_in_with_an_email_and_password() {
    // Arrange
    let (app, _, _, secret) = app_with_hank().await;

    for (email, password) in [
        ("hank", secret.as_str()),
        ("hank@example.com", secret.as_str()),
        ("", secret.as_str()),
        ("hank@example.com", PASSWORD),
    ] {
        // Act
        let answer = app.login(email, password).await;

        // Assert
        let (status, _, body) = &answer;
        assert_eq!(*status, StatusCode::UNAUTHORIZED, "{email:?}: {body}");
        assert_error(&answer, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn the_created_person_appears_in_the_admin_list_without_an_email() {
    // Arrange
    let (app, admin, hank_id, _) = app_with_hank().await;

    // Act
    let body = app.get_ok("/api/admin/users", &admin).await;

    // Assert
    assert_eq!(body["total"], json!(2));
    let users = listed_users(&body);
    assert!(users.contains(&(hank_id, None)), "{body}");
    assert!(
        users
            .iter()
            .any(|(_, email)| email.as_deref() == Some(ADMIN_EMAIL)),
        "{body}"
    );
}

#[tokio::test]
async fn two_people_created_by_name_get_different_secrets() {
    // Arrange
    let (app, admin, hank_id, hank_secret) = app_with_hank().await;

    // Act
    let (status, _, body) =
        create_person_answer(&app, Some(&admin), json!({ "name": "Hank" })).await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_ne!(string_at(&body, "/user/id"), hank_id);
    let second_secret = string_at(&body, "/secret");
    assert_ne!(second_secret, hank_secret);
    let (_, _, signed_in) = app.login_with_key(&second_secret).await;
    assert_eq!(signed_in["user"]["id"], body["user"]["id"]);
}

#[tokio::test]
async fn revoking_a_key_ends_the_web_sessions_opened_with_it_and_no_others() {
    // Arrange: Hank's session opened with his key, and the admin's own.
    let (app, admin, hank_id, secret) = app_with_hank().await;
    let (status, _, body) = app.login_with_key(&secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key_session = string_at(&body, "/token");
    assert_eq!(app.me(&key_session).await.0, StatusCode::OK);
    let key_id = key_id_of(&app, &hank_id).await;

    // Act
    app.delete_ok(&format!("/api/keys/{key_id}"), &key_session)
        .await;

    // Assert
    assert_error(&app.me(&key_session).await, StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&admin).await.0, StatusCode::OK);
}

// --- how many -----------------------------------------------------------------

#[tokio::test]
async fn the_key_after_the_hundredth_active_one_is_refused_with_409() {
    // Arrange: the default limit, reached.
    let (app, token) = app_with_user().await;
    for n in 0..100 {
        create_named_key(&app, &token, &format!("key {n}")).await;
    }

    // Act
    let answer = create_key_answer(&app, &token, json!({ "name": "one too many" })).await;

    // Assert
    let message = assert_error(&answer, StatusCode::CONFLICT);
    assert!(message.contains("100"), "{message}");
    assert_eq!(list_keys(&app, &token).await.len(), 100);
}

/// An app whose users may hold `max` keys, with one registered user.
async fn app_with_key_limit(max: u32) -> (TestApp, String) {
    let app = spawn_app_with(|settings| settings.keys.max_per_user = max).await;
    let (token, _) = app
        .register("alice@wonderland.example", PASSWORD, "Alice Liddell")
        .await;
    (app, token)
}

#[tokio::test]
async fn concurrent_creations_never_pass_the_key_limit() {
    // Arrange
    let (app, token) = app_with_key_limit(5).await;

    // Act: forty at once.
    let answers = futures_util::future::join_all(
        (0..40).map(|n| create_key_answer(&app, &token, json!({ "name": format!("burst {n}") }))),
    )
    .await;

    // Assert
    let created = answers
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 5);
    for answer in answers
        .iter()
        .filter(|(status, _, _)| *status != StatusCode::CREATED)
    {
        assert_error(answer, StatusCode::CONFLICT);
    }
    assert_eq!(list_keys(&app, &token).await.len(), 5);
}

#[tokio::test]
async fn a_revoked_key_frees_its_place_and_an_expired_one_does_not() {
    // Arrange: two keys, the limit; one expires, one is revoked.
    let (app, token) = app_with_key_limit(2).await;
    let (expired, _) = create_named_key(&app, &token, "expired").await;
    let (revoked, _) = create_named_key(&app, &token, "revoked").await;
    expire_in_db(&app, &expired).await;
    assert_error(
        &create_key_answer(&app, &token, json!({ "name": "third" })).await,
        StatusCode::CONFLICT,
    );
    app.delete_ok(&key_path(&revoked), &token).await;

    // Act
    let (status, _, body) = create_key_answer(&app, &token, json!({ "name": "third" })).await;
    let again = create_key_answer(&app, &token, json!({ "name": "fourth" })).await;

    // Assert
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_error(&again, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_key_limit_of_zero_means_no_limit() {
    // Arrange
    let (app, token) = app_with_key_limit(0).await;

    // Act and Assert
    for n in 0..3 {
        create_named_key(&app, &token, &format!("key {n}")).await;
    }
    assert_eq!(list_keys(&app, &token).await.len(), 3);
}
