//! `/api/admin/models` (admin CRUD of shadow models) and `/api/models` (the
//! models the signed-in user's plan may call).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_error, assert_fields, assert_iso_millis, assert_prefixed_id,
    assert_refused, spawn_app, string_at, strings_in,
};

const MODELS: &str = "/api/admin/models";
const AVAILABLE: &str = "/api/models";
const MAX_PRICE: i64 = 1_000_000_000_000;

fn model_path(id: &str) -> String {
    format!("{MODELS}/{id}")
}

/// A valid model on `provider_id`, with only the required fields.
fn model_body(public_name: &str, provider_id: &str) -> Value {
    json!({
        "public_name": public_name,
        "provider_id": provider_id,
        "upstream_model": "claude-sonnet-4-5-20250929",
        "input_price": 3_000_000,
        "output_price": 15_000_000,
    })
}

/// An app with an admin and one Anthropic provider; returns the admin's token
/// and the provider's id.
async fn app_with_provider() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let provider = app
        .create_provider(
            &admin,
            json!({
                "name": "anthropic",
                "kind": "anthropic",
                "base_url": "https://api.anthropic.com",
                "api_keys": ["sk-ant-upstream"],
            }),
        )
        .await;
    let provider_id = string_at(&provider, "/id");
    (app, admin, provider_id)
}

/// An app with an admin, a provider and one model; returns the admin's
/// token, the provider's id and the model's id.
async fn app_with_model() -> (TestApp, String, String, String) {
    let (app, admin, provider_id) = app_with_provider().await;
    let model = app
        .create_model(&admin, model_body("sonnet-4.5", &provider_id))
        .await;
    let model_id = string_at(&model, "/id");
    (app, admin, provider_id, model_id)
}

/// POSTs a model and asserts a 400 whose message names `field`.
async fn assert_create_rejected(app: &TestApp, admin: &str, body: Value, field: &str) {
    let answer = app.post(MODELS, body.clone(), admin).await;
    let message = assert_error(&answer, StatusCode::BAD_REQUEST);
    assert!(
        message.contains(field),
        "the message does not name `{field}` for {body}: {message}"
    );
}

/// The public names `/api/models` lists for a token.
async fn available_names(app: &TestApp, token: &str) -> Vec<String> {
    let body = app.get_ok(AVAILABLE, token).await;
    assert_eq!(body["success"], json!(true));
    body["models"]
        .as_array()
        .unwrap_or_else(|| panic!("no models array in {body}"))
        .iter()
        .map(|model| string_at(model, "/id"))
        .collect()
}

/// PATCHes a model as the admin and asserts success.
async fn patch_model(app: &TestApp, admin: &str, id: &str, change: Value) -> Value {
    let body = app.patch_ok(&model_path(id), change, admin).await;
    body["model"].clone()
}

/// The `{micro_credits_per_mtok, credits_per_mtok}` of a price.
fn price(micros: i64, credits: &str) -> Value {
    json!({ "micro_credits_per_mtok": micros, "credits_per_mtok": credits })
}

// --- authentication ------------------------------------------------------------

/// Every admin model route with its method, on an existing model's id.
fn every_route(provider_id: &str, model_id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, MODELS.to_owned(), None),
        (
            Method::POST,
            MODELS.to_owned(),
            Some(model_body("other", provider_id)),
        ),
        (Method::GET, model_path(model_id), None),
        (
            Method::PATCH,
            model_path(model_id),
            Some(json!({ "input_price": 1 })),
        ),
        (Method::DELETE, model_path(model_id), None),
    ]
}

#[tokio::test]
async fn every_model_route_refuses_strangers_and_every_admin_one_non_admins() {
    // Arrange
    let (app, admin, provider_id, model_id) = app_with_model().await;
    let (user, _) = app.register("user@example.com", PASSWORD, "Una User").await;
    let mut routes = every_route(&provider_id, &model_id);
    let admin_routes = routes.clone();
    routes.push((Method::GET, AVAILABLE.to_owned(), None));
    let cases = [
        ("no token", routes, None, StatusCode::UNAUTHORIZED),
        (
            "a non-admin",
            admin_routes,
            Some(user.as_str()),
            StatusCode::FORBIDDEN,
        ),
    ];

    for (case, routes, bearer, expected) in cases {
        for (method, path, body) in routes {
            // Act
            let answer = app.request(method.clone(), &path, body, bearer).await;

            // Assert
            assert_refused(&format!("{case}: {method} {path}"), &answer, expected, None);
        }
        let body = app.get_ok(&model_path(&model_id), &admin).await;
        assert_eq!(
            body["model"]["input_price"],
            price(3_000_000, "3.000000"),
            "{case}"
        );
        let body = app.get_ok(MODELS, &admin).await;
        assert_eq!(
            body["models"].as_array().unwrap().len(),
            1,
            "{case}: {body}"
        );
    }
}

// --- creating ----------------------------------------------------------------

#[tokio::test]
async fn creating_a_model_returns_it_with_prices_in_micro_credits_and_credits() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;

    // Act
    let body = app
        .post_created(MODELS, model_body("sonnet-4.5", &provider_id), &admin)
        .await;

    // Assert
    assert_eq!(body["success"], json!(true));
    let model = &body["model"];
    assert_prefixed_id(&string_at(model, "/id"), "model");
    assert_eq!(model["public_name"], json!("sonnet-4.5"));
    assert_eq!(model["provider_id"], json!(provider_id));
    assert_eq!(model["upstream_model"], json!("claude-sonnet-4-5-20250929"));
    assert_eq!(model["input_price"], price(3_000_000, "3.000000"));
    assert_eq!(model["output_price"], price(15_000_000, "15.000000"));
    assert_eq!(model["cache_read_price"], price(0, "0.000000"));
    assert_eq!(model["cache_write_price"], price(0, "0.000000"));
    assert_fields(
        model,
        json!({ "enabled": true, "plans": [], "max_output_tokens": null, "kind": "chat" }),
    );
    // The shorthand is the model's one deployment.
    assert_prefixed_id(&string_at(model, "/deployments/0/id"), "deploy");
    assert_eq!(model["deployments"][0]["provider_id"], json!(provider_id));
    assert_eq!(
        model["deployments"][0]["upstream_model"],
        json!("claude-sonnet-4-5-20250929")
    );
    assert_eq!(model["deployments"][0]["weight"], json!(1));
    assert_eq!(model["deployments"][0]["priority"], json!(0));
    assert_eq!(model["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(model["fallbacks"], json!([]));
    let created_at = string_at(model, "/created_at");
    assert_iso_millis(&created_at);
    assert_eq!(string_at(model, "/updated_at"), created_at);
    assert_eq!(model.as_object().unwrap().len(), 16, "{body}");
}

#[tokio::test]
async fn creating_a_model_with_every_field_keeps_them() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;
    let body = json!({
        "public_name": "anthropic/opus@2025:latest_v1",
        "provider_id": provider_id,
        "upstream_model": "claude-opus-4-1",
        "input_price": 15_000_000,
        "output_price": 75_000_000,
        "cache_read_price": 1_500_000,
        "cache_write_price": 18_750_001,
        "enabled": false,
        "plans": ["pro", "pro_lifetime", "pro"],
    });

    // Act
    let body = app.post_created(MODELS, body, &admin).await;

    // Assert
    let model = &body["model"];
    assert_eq!(model["public_name"], json!("anthropic/opus@2025:latest_v1"));
    assert_eq!(model["cache_read_price"], price(1_500_000, "1.500000"));
    assert_eq!(model["cache_write_price"], price(18_750_001, "18.750001"));
    assert_eq!(model["enabled"], json!(false));
    assert_eq!(model["plans"], json!(["pro", "pro_lifetime"]));
}

#[tokio::test]
async fn prices_up_to_a_million_credits_per_million_tokens_are_accepted() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;
    let mut body = model_body("expensive", &provider_id);
    body["input_price"] = json!(MAX_PRICE);
    body["output_price"] = json!(0);

    // Act
    let body = app.post_created(MODELS, body, &admin).await;

    // Assert
    assert_eq!(
        body["model"]["input_price"],
        price(MAX_PRICE, "1000000.000000")
    );
    assert_eq!(body["model"]["output_price"], price(0, "0.000000"));
}

// --- validation --------------------------------------------------------------

#[tokio::test]
async fn creating_a_model_with_an_invalid_field_is_rejected_naming_it_and_stores_nothing() {
    // Arrange: a valid body with one field set to `value` (`None`: left out).
    let (app, admin, provider_id) = app_with_provider().await;
    let mut cases = vec![
        ("public_name", Some(json!(""))),
        ("public_name", Some(json!("  "))),
        ("public_name", Some(json!("sonnet 4.5"))),
        ("public_name", Some(json!("sonnet!"))),
        ("public_name", Some(json!("a".repeat(101)))),
        ("upstream_model", Some(json!(""))),
        ("upstream_model", Some(json!("   "))),
        ("input_price", Some(json!(1.5))),
        ("input_price", Some(json!("3000000"))),
        ("plans", Some(json!(["pro", "enterprise"]))),
        ("provider_id", Some(json!("prov_0000000000000000"))),
        ("output_price", None),
        ("context_window", Some(json!(200_000))),
    ];
    for price in [
        "input_price",
        "output_price",
        "cache_read_price",
        "cache_write_price",
    ] {
        cases.push((price, Some(json!(-1))));
        cases.push((price, Some(json!(MAX_PRICE + 1))));
    }

    for (field, value) in cases {
        let mut body = model_body("sonnet", &provider_id);
        match value {
            Some(value) => body[field] = value,
            None => {
                body.as_object_mut().unwrap().remove(field);
            }
        }

        // Act + Assert: the message names the field (a failure shows the body).
        assert_create_rejected(&app, &admin, body, field).await;
    }
    let body = app.get_ok(MODELS, &admin).await;
    assert_eq!(body["models"], json!([]));
}

#[tokio::test]
async fn a_public_name_of_100_characters_is_accepted() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;
    let public_name = "a".repeat(100);

    // Act
    let model = app
        .create_model(&admin, model_body(&public_name, &provider_id))
        .await;

    // Assert
    assert_eq!(model["public_name"], json!(public_name));
}

#[tokio::test]
async fn creating_a_model_with_a_taken_public_name_is_a_conflict() {
    // Arrange
    let (app, admin, provider_id, _) = app_with_model().await;

    // Act
    let answer = app
        .post(MODELS, model_body("sonnet-4.5", &provider_id), &admin)
        .await;

    // Assert
    assert_error(&answer, StatusCode::CONFLICT);
}

// --- reading -----------------------------------------------------------------

#[tokio::test]
async fn listing_models_sorts_them_by_public_name() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;
    for name in ["sonnet", "haiku", "opus"] {
        app.create_model(&admin, model_body(name, &provider_id))
            .await;
    }

    // Act
    let body = app.get_ok(MODELS, &admin).await;

    // Assert
    assert_eq!(body["success"], json!(true));
    let names = strings_in(&body["models"], "/public_name");
    assert_eq!(names, ["haiku", "opus", "sonnet"]);
}

#[tokio::test]
async fn getting_a_model_by_id_returns_it() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;
    let created = app
        .create_model(&admin, model_body("sonnet", &provider_id))
        .await;
    let id = string_at(&created, "/id");

    // Act
    let body = app.get_ok(&model_path(&id), &admin).await;

    // Assert
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["model"], created);
}

#[tokio::test]
async fn an_unknown_model_id_is_not_found_for_get_patch_and_delete() {
    // Arrange
    let (app, admin, _, _) = app_with_model().await;
    let path = model_path("model_0000000000000000");

    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({ "input_price": 1 }))),
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
async fn patching_prices_and_plans_changes_them_and_keeps_the_rest() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;
    let created = app
        .create_model(&admin, model_body("sonnet", &provider_id))
        .await;
    let id = string_at(&created, "/id");

    // Act
    let model = patch_model(
        &app,
        &admin,
        &id,
        json!({
            "input_price": 2_500_000,
            "cache_read_price": 300_000,
            "plans": ["pro", "free", "pro", "free"],
        }),
    )
    .await;

    // Assert
    assert_eq!(model["id"], json!(id));
    assert_eq!(model["input_price"], price(2_500_000, "2.500000"));
    assert_eq!(model["cache_read_price"], price(300_000, "0.300000"));
    assert_eq!(model["plans"], json!(["pro", "free"]));
    assert_eq!(model["output_price"], created["output_price"]);
    assert_eq!(model["cache_write_price"], created["cache_write_price"]);
    assert_eq!(model["public_name"], created["public_name"]);
    assert_eq!(model["upstream_model"], created["upstream_model"]);
    assert_eq!(model["enabled"], json!(true));
    assert_eq!(model["created_at"], created["created_at"]);
    let (_, _, fetched) = app.get(&model_path(&id), &admin).await;
    assert_eq!(fetched["model"], model);
}

#[tokio::test]
async fn patching_the_name_upstream_and_provider_of_a_model_changes_them() {
    // Arrange
    let (app, admin, _, id) = app_with_model().await;
    let other = app
        .create_provider(
            &admin,
            json!({ "name": "mock", "kind": "mock", "base_url": "" }),
        )
        .await;
    let other_id = string_at(&other, "/id");

    // Act
    let model = patch_model(
        &app,
        &admin,
        &id,
        json!({
            "public_name": "mock-model",
            "upstream_model": "echo",
            "provider_id": other_id,
            "enabled": false,
            "plans": [],
        }),
    )
    .await;

    // Assert
    assert_fields(
        &model,
        json!({
            "public_name": "mock-model", "upstream_model": "echo", "provider_id": other_id,
            "enabled": false, "plans": []
        }),
    );
}

#[tokio::test]
async fn patching_a_model_with_invalid_values_is_rejected_and_changes_nothing() {
    // Arrange
    let (app, admin, _, id) = app_with_model().await;
    let (_, _, before) = app.get(&model_path(&id), &admin).await;

    for (change, field) in [
        (json!({ "public_name": "has space" }), "public_name"),
        (json!({ "upstream_model": "" }), "upstream_model"),
        (json!({ "output_price": -5 }), "output_price"),
        (
            json!({ "cache_write_price": MAX_PRICE + 1 }),
            "cache_write_price",
        ),
        (json!({ "plans": ["gold"] }), "plans"),
        (
            json!({ "provider_id": "prov_0000000000000000" }),
            "provider_id",
        ),
        (json!({ "colour": "blue" }), "colour"),
    ] {
        // Act
        let answer = app.patch(&model_path(&id), change.clone(), &admin).await;

        // Assert
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(
            message.contains(field),
            "the message does not name `{field}` for {change}: {message}"
        );
    }
    let (_, _, after) = app.get(&model_path(&id), &admin).await;
    assert_eq!(after, before);
}

#[tokio::test]
async fn renaming_a_model_onto_another_ones_public_name_is_a_conflict() {
    // Arrange
    let (app, admin, provider_id, id) = app_with_model().await;
    app.create_model(&admin, model_body("haiku", &provider_id))
        .await;

    // Act
    let answer = app
        .patch(&model_path(&id), json!({ "public_name": "haiku" }), &admin)
        .await;

    // Assert
    assert_error(&answer, StatusCode::CONFLICT);
    let (_, _, body) = app.get(&model_path(&id), &admin).await;
    assert_eq!(body["model"]["public_name"], json!("sonnet-4.5"));
}

// --- deleting ----------------------------------------------------------------

#[tokio::test]
async fn deleting_a_model_removes_it() {
    // Arrange
    let (app, admin, _, id) = app_with_model().await;

    // Act
    let body = app.delete_ok(&model_path(&id), &admin).await;

    // Assert
    assert_eq!(body, json!({ "success": true, "deleted": id }));
    let answer = app.get(&model_path(&id), &admin).await;
    assert_error(&answer, StatusCode::NOT_FOUND);
    let (_, _, listed) = app.get(MODELS, &admin).await;
    assert_eq!(listed["models"], json!([]));
}

// --- the models a user may call ------------------------------------------------

#[tokio::test]
async fn available_models_show_public_names_provider_kinds_and_prices() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;
    let mut body = model_body("sonnet-4.5", &provider_id);
    body["cache_read_price"] = json!(300_000);
    body["cache_write_price"] = json!(3_750_000);
    let created = app.create_model(&admin, body).await;
    let (user, _) = app.register("user@example.com", PASSWORD, "Una User").await;

    // Act
    let body = app.get_ok(AVAILABLE, &user).await;

    // Assert
    assert_eq!(
        body,
        json!({
            "success": true,
            "models": [{
                "id": "sonnet-4.5",
                "provider_kind": "anthropic",
                "input_price": price(3_000_000, "3.000000"),
                "output_price": price(15_000_000, "15.000000"),
                "cache_read_price": price(300_000, "0.300000"),
                "cache_write_price": price(3_750_000, "3.750000"),
                "created_at": created["created_at"],
            }],
        })
    );
}

#[tokio::test]
async fn available_models_are_sorted_by_public_name() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;
    for name in ["sonnet", "haiku", "opus"] {
        app.create_model(&admin, model_body(name, &provider_id))
            .await;
    }
    let (user, _) = app.register("user@example.com", PASSWORD, "Una User").await;

    // Act
    let names = available_names(&app, &user).await;

    // Assert
    assert_eq!(names, ["haiku", "opus", "sonnet"]);
}

#[tokio::test]
async fn available_models_leave_out_disabled_models() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;
    app.create_model(&admin, model_body("on", &provider_id))
        .await;
    let mut off = model_body("off", &provider_id);
    off["enabled"] = json!(false);
    app.create_model(&admin, off).await;
    let (user, _) = app.register("user@example.com", PASSWORD, "Una User").await;

    // Act
    let names = available_names(&app, &user).await;

    // Assert
    assert_eq!(names, ["on"]);
}

#[tokio::test]
async fn disabling_a_model_removes_it_from_the_available_models() {
    // Arrange
    let (app, admin, _, id) = app_with_model().await;
    let (user, _) = app.register("user@example.com", PASSWORD, "Una User").await;
    assert_eq!(available_names(&app, &user).await, ["sonnet-4.5"]);

    // Act
    patch_model(&app, &admin, &id, json!({ "enabled": false })).await;

    // Assert
    assert!(available_names(&app, &user).await.is_empty());
    patch_model(&app, &admin, &id, json!({ "enabled": true })).await;
    assert_eq!(available_names(&app, &user).await, ["sonnet-4.5"]);
}

#[tokio::test]
async fn disabling_a_provider_removes_its_models_from_the_available_models() {
    // Arrange
    let (app, admin, provider_id, _) = app_with_model().await;
    let other = app
        .create_provider(
            &admin,
            json!({ "name": "mock", "kind": "mock", "base_url": "" }),
        )
        .await;
    app.create_model(&admin, model_body("echo", &string_at(&other, "/id")))
        .await;
    let (user, _) = app.register("user@example.com", PASSWORD, "Una User").await;
    assert_eq!(available_names(&app, &user).await, ["echo", "sonnet-4.5"]);

    // Act
    app.patch_ok(
        &format!("/api/admin/providers/{provider_id}"),
        json!({ "enabled": false }),
        &admin,
    )
    .await;

    // Assert
    assert_eq!(available_names(&app, &user).await, ["echo"]);
}

#[tokio::test]
async fn available_models_follow_the_users_plan() {
    // Arrange
    let (app, admin, provider_id) = app_with_provider().await;
    let mut everyone = model_body("everyone", &provider_id);
    everyone["plans"] = json!([]);
    let mut trial_only = model_body("trial-only", &provider_id);
    trial_only["plans"] = json!(["trial"]);
    let mut paid = model_body("paid", &provider_id);
    paid["plans"] = json!(["free", "pro"]);
    let mut lifetime = model_body("lifetime", &provider_id);
    lifetime["plans"] = json!(["pro_lifetime"]);
    for body in [everyone, trial_only, paid, lifetime] {
        app.create_model(&admin, body).await;
    }
    let (user, user_id) = app.register("user@example.com", PASSWORD, "Una User").await;
    let on_trial = available_names(&app, &user).await;

    // Act
    app.patch_ok(
        &format!("/api/admin/users/{user_id}"),
        json!({ "plan": "pro" }),
        &admin,
    )
    .await;
    let on_pro = available_names(&app, &user).await;

    // Assert
    assert_eq!(on_trial, ["everyone", "trial-only"]);
    assert_eq!(on_pro, ["everyone", "paid"]);
}
