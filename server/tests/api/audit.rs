//! The audit log: every admin change to users, providers, models, credits,
//! rate limits and entitlement grants writes one entry with the actor and
//! the target's public view before and after, never a secret; admins read
//! it at `GET /api/admin/audit`.

use axum::http::{Method, StatusCode};
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};
use server::{
    gateway::proxy::request::Endpoint,
    platform::entity::{audit_entry, provider, user},
};

use crate::helpers::{
    ADMIN_EMAIL, INPUT_PRICE, PASSWORD, ProxyApp, TestApp, assert_error, request_id, spawn_app,
    string_at,
};

const AUDIT: &str = "/api/admin/audit";

/// Every row of the audit log, oldest first, straight from the table.
async fn stored(app: &TestApp) -> Vec<audit_entry::Model> {
    audit_entry::Entity::find()
        .order_by_asc(audit_entry::Column::Id)
        .all(app.db())
        .await
        .unwrap()
}

/// The whole table as text: what a secret must never be part of.
async fn stored_text(app: &TestApp) -> String {
    stored(app)
        .await
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {} {} {}",
                e.actor_id,
                e.action,
                e.target_type,
                e.target_id,
                e.before.as_deref().unwrap_or_default(),
                e.after.as_deref().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// GET /api/admin/audit?`query` as `admin`; asserts 200.
async fn log(app: &TestApp, admin: &str, query: &str) -> Value {
    let body = app.get_ok(&format!("{AUDIT}?{query}"), admin).await;
    assert_eq!(body["success"], true);
    body
}

/// The newest entry of `action`, as the API shows it.
async fn latest(app: &TestApp, admin: &str, action: &str) -> Value {
    let body = log(app, admin, &format!("action={action}&per_page=1")).await;
    body["entries"][0].clone()
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    admin: &str,
) -> Value {
    let (status, _, answer) = app.request(method, path, body, Some(admin)).await;
    assert!(status.is_success(), "{path}: {status} {answer}");
    answer
}

#[tokio::test]
async fn a_model_price_change_is_logged_with_the_old_and_new_price() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let admin_id = app.user_id_of(&admin).await;
    let provider = app
        .create_provider(&admin, json!({ "name": "Mock", "kind": "mock" }))
        .await;
    let model = app
        .create_model(
            &admin,
            json!({
                "public_name": "priced", "provider_id": provider["id"],
                "upstream_model": "priced", "input_price": INPUT_PRICE, "output_price": 1,
            }),
        )
        .await;
    let model_id = string_at(&model, "/id");

    send(
        &app,
        Method::PATCH,
        &format!("/api/admin/models/{model_id}"),
        Some(json!({ "input_price": 5_000_000 })),
        &admin,
    )
    .await;

    let entry = latest(&app, &admin, "model.update").await;
    assert_eq!(entry["actor_id"], admin_id.as_str());
    assert_eq!(entry["actor_email"], ADMIN_EMAIL);
    assert_eq!(entry["target_type"], "model");
    assert_eq!(entry["target_id"], model_id.as_str());
    assert_eq!(
        entry["before"]["input_price"]["micro_credits_per_mtok"],
        INPUT_PRICE
    );
    assert_eq!(
        entry["after"]["input_price"]["micro_credits_per_mtok"],
        5_000_000
    );
    assert_eq!(
        entry["after"]["input_price"]["credits_per_mtok"],
        "5.000000"
    );
    assert_eq!(
        entry["before"]["output_price"],
        entry["after"]["output_price"]
    );
    crate::helpers::assert_iso_millis(entry["created_at"].as_str().unwrap());

    let created = latest(&app, &admin, "model.create").await;
    assert!(created["before"].is_null());
    assert_eq!(created["after"]["public_name"], "priced");

    send(
        &app,
        Method::DELETE,
        &format!("/api/admin/models/{model_id}"),
        None,
        &admin,
    )
    .await;
    let deleted = latest(&app, &admin, "model.delete").await;
    assert_eq!(
        deleted["before"]["input_price"]["micro_credits_per_mtok"],
        5_000_000
    );
    assert!(
        deleted["after"].is_null(),
        "an unused model is gone: {deleted}"
    );

    let actions: Vec<String> = stored(&app).await.into_iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            "provider.create",
            "model.create",
            "model.update",
            "model.delete"
        ]
    );
}

#[tokio::test]
async fn provider_changes_are_logged_and_no_upstream_secret_is_stored() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let first_key = "sk-audit-first-secret-0123456789";
    let second_key = "sk-audit-second-secret-9876543210";
    let header_value = "org-audit-header-secret-42";
    let created = app
        .create_provider(
            &admin,
            json!({
                "name": "OpenAI", "kind": "openai", "base_url": "https://api.openai.com/v1",
                "api_keys": [first_key], "extra_headers": { "OpenAI-Organization": header_value },
            }),
        )
        .await;
    let id = string_at(&created, "/id");
    let sealed_keys = || async {
        provider::Entity::find_by_id(id.clone())
            .one(app.db())
            .await
            .unwrap()
            .unwrap()
            .api_keys
    };
    let sealed = sealed_keys().await;
    let path = format!("/api/admin/providers/{id}");
    send(
        &app,
        Method::PATCH,
        &path,
        Some(json!({ "name": "OpenAI EU", "api_keys": [first_key, second_key] })),
        &admin,
    )
    .await;
    let resealed = sealed_keys().await;
    send(&app, Method::DELETE, &path, None, &admin).await;

    let entries = stored(&app).await;
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["provider.create", "provider.update", "provider.delete"]
    );
    assert!(
        entries
            .iter()
            .all(|e| e.target_type == "provider" && e.target_id == id)
    );
    let update = latest(&app, &admin, "provider.update").await;
    assert_eq!(update["before"]["name"], "OpenAI");
    assert_eq!(update["after"]["name"], "OpenAI EU");
    assert_eq!(update["before"]["api_key_count"], 1);
    assert_eq!(update["after"]["api_key_count"], 2);
    assert_eq!(
        update["after"]["extra_header_names"],
        json!(["openai-organization"])
    );
    let deleted = latest(&app, &admin, "provider.delete").await;
    assert_eq!(deleted["before"]["name"], "OpenAI EU");
    assert!(deleted["after"].is_null());

    let text = stored_text(&app).await;
    let listed = log(&app, &admin, "").await.to_string();
    for secret in [
        first_key,
        second_key,
        header_value,
        sealed.as_str(),
        resealed.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} is in the audit log");
        assert!(!listed.contains(secret), "{secret} is in the audit API");
    }
    // Not even part of the sealed value.
    assert!(!text.contains("sk-audit"), "{text}");
}

#[tokio::test]
async fn user_changes_are_logged_without_key_secrets_or_password_hashes() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let admin_id = app.user_id_of(&admin).await;

    // Created by name, with a first key whose secret is in the answer only.
    let created = send(
        &app,
        Method::POST,
        "/api/admin/users",
        Some(json!({ "name": "Hack Er" })),
        &admin,
    )
    .await;
    let secret = string_at(&created, "/secret");
    let new_id = string_at(&created, "/user/id");
    let entry = latest(&app, &admin, "user.create").await;
    assert_eq!(entry["actor_id"], admin_id.as_str());
    assert_eq!(entry["target_id"], new_id.as_str());
    assert!(entry["before"].is_null());
    assert_eq!(entry["after"]["user"]["name"], "Hack Er");
    assert_eq!(entry["after"]["key"]["prefix"], created["key"]["prefix"]);

    // A person with a password: a plan change, then deletion.
    let (_, user_id) = app.register("pat@example.com", PASSWORD, "Pat").await;
    let hash = user::Entity::find_by_id(user_id.clone())
        .one(app.db())
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    let path = format!("/api/admin/users/{user_id}");
    send(
        &app,
        Method::PATCH,
        &path,
        Some(json!({ "plan": "pro" })),
        &admin,
    )
    .await;
    let update = latest(&app, &admin, "user.update").await;
    assert_eq!(update["target_id"], user_id.as_str());
    assert_eq!(update["before"]["plan"], "trial");
    assert_eq!(update["after"]["plan"], "pro");
    send(&app, Method::DELETE, &path, None, &admin).await;
    let deleted = latest(&app, &admin, "user.delete").await;
    assert_eq!(deleted["before"]["email"], "pat@example.com");
    assert!(deleted["after"]["email"].is_null());
    assert_eq!(deleted["after"]["status"], "suspended");

    let text = stored_text(&app).await;
    assert!(!text.contains(&secret), "the key's secret is in the log");
    assert!(!text.contains(&hash), "the password hash is in the log");
    assert!(!text.contains("argon2"), "{text}");
    assert!(!text.contains("password"), "{text}");
    assert!(!text.contains("hash"), "{text}");
    assert_eq!(stored(&app).await.len(), 3);
}

#[tokio::test]
async fn credit_grants_and_refunds_are_logged_with_the_balance_before_and_after() {
    // Arrange: ProxyApp grants the user their starting credits as admin.
    let proxy = ProxyApp::start().await;
    let app = &proxy.app;
    let user_id = app.user_id_of(&proxy.user).await;
    let grant = latest(app, &proxy.admin, "credits.grant").await;
    assert_eq!(grant["target_type"], "user");
    assert_eq!(grant["target_id"], user_id.as_str());
    let before = grant["before"]["balance_micro_credits"].as_i64().unwrap();
    let after = grant["after"]["balance_micro_credits"].as_i64().unwrap();
    assert_eq!(after - before, 1_000_000_000);
    assert_eq!(
        grant["after"]["entry"]["amount_micro_credits"],
        1_000_000_000
    );
    assert_eq!(grant["after"]["entry"]["reason"], "test funds");

    // A request, refunded in full.
    proxy.route("mock", "alpha").await;
    let (status, headers, body) = proxy.ask(Endpoint::ChatCompletions, "alpha").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = request_id(&headers);
    let charged = proxy.usage_row(&id).await.charged;
    assert!(charged > 0);
    let refund = json!({ "request_id": id, "reason": "bad answer" });
    send(
        app,
        Method::POST,
        "/api/admin/credits/refund",
        Some(refund.clone()),
        &proxy.admin,
    )
    .await;

    let entry = latest(app, &proxy.admin, "credits.refund").await;
    assert_eq!(entry["target_id"], user_id.as_str());
    assert_eq!(entry["after"]["request_id"], id.as_str());
    let before = entry["before"]["balance_micro_credits"].as_i64().unwrap();
    let after = entry["after"]["balance_micro_credits"].as_i64().unwrap();
    assert_eq!(after - before, charged);
    assert_eq!(entry["after"]["entry"]["kind"], "refund");

    // A repeat changes nothing, so it logs nothing.
    let count = stored(app).await.len();
    let again = send(
        app,
        Method::POST,
        "/api/admin/credits/refund",
        Some(refund),
        &proxy.admin,
    )
    .await;
    assert_eq!(again["applied"], false);
    assert_eq!(stored(app).await.len(), count);
}

#[tokio::test]
async fn rate_limit_and_entitlement_changes_are_logged() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let (_, user_id) = app.register("gus@example.com", PASSWORD, "Gus").await;

    send(
        &app,
        Method::PUT,
        "/api/admin/rate-limits/pro",
        Some(json!({ "requests_per_minute": 7, "tokens_per_minute": 700 })),
        &admin,
    )
    .await;
    let limits = latest(&app, &admin, "rate_limits.update").await;
    assert_eq!(limits["target_type"], "plan");
    assert_eq!(limits["target_id"], "pro");
    assert_eq!(limits["before"]["source"], "config");
    assert_eq!(limits["after"]["source"], "admin");
    assert_eq!(limits["after"]["requests_per_minute"], 7);
    assert_eq!(limits["after"]["tokens_per_minute"], 700);

    let granted = send(
        &app,
        Method::POST,
        "/api/admin/grants",
        Some(json!({ "user_id": user_id, "label": "Pro — Lifetime", "source": "beta_comp" })),
        &admin,
    )
    .await;
    let grant_id = granted["grant_id"].as_i64().unwrap();
    let created = latest(&app, &admin, "grant.create").await;
    assert_eq!(created["target_type"], "grant");
    assert_eq!(created["target_id"], grant_id.to_string().as_str());
    assert!(created["before"].is_null());
    assert_eq!(created["after"]["user_id"], user_id.as_str());
    assert_eq!(created["after"]["active"], true);

    send(
        &app,
        Method::DELETE,
        &format!("/api/admin/grants/{grant_id}"),
        None,
        &admin,
    )
    .await;
    let revoked = latest(&app, &admin, "grant.revoke").await;
    assert_eq!(revoked["before"]["active"], true);
    assert_eq!(revoked["after"]["active"], false);
    assert!(revoked["after"]["revoked_at"].is_string());
    assert_eq!(stored(&app).await.len(), 3);
}

#[tokio::test]
async fn a_refused_change_writes_no_entry() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let provider = app
        .create_provider(&admin, json!({ "name": "Mock", "kind": "mock" }))
        .await;
    let provider_id = string_at(&provider, "/id");
    let model = app
        .create_model(
            &admin,
            json!({
                "public_name": "m", "provider_id": provider_id,
                "upstream_model": "m", "input_price": 1, "output_price": 1,
            }),
        )
        .await;
    let count = stored(&app).await.len();

    let in_use = app
        .delete(&format!("/api/admin/providers/{provider_id}"), &admin)
        .await;
    assert_error(&in_use, StatusCode::CONFLICT);
    let bad_price = app
        .patch(
            &format!("/api/admin/models/{}", string_at(&model, "/id")),
            json!({ "input_price": -1 }),
            &admin,
        )
        .await;
    assert_error(&bad_price, StatusCode::BAD_REQUEST);
    let nobody = app
        .post(
            "/api/admin/grants",
            json!({ "user_id": "user_0_0", "label": "x", "source": "beta_comp" }),
            &admin,
        )
        .await;
    assert_error(&nobody, StatusCode::NOT_FOUND);

    assert_eq!(stored(&app).await.len(), count);
}

#[tokio::test]
async fn the_log_pages_newest_first_and_filters_by_actor_action_and_target() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let admin_id = app.user_id_of(&admin).await;
    let provider = app
        .create_provider(&admin, json!({ "name": "Mock", "kind": "mock" }))
        .await;
    let mut models = Vec::new();
    for name in ["a", "b", "c"] {
        let model = app
            .create_model(
                &admin,
                json!({
                    "public_name": name, "provider_id": provider["id"],
                    "upstream_model": name, "input_price": 1, "output_price": 1,
                }),
            )
            .await;
        models.push(string_at(&model, "/id"));
    }
    for price in [2, 3] {
        send(
            &app,
            Method::PATCH,
            &format!("/api/admin/models/{}", models[1]),
            Some(json!({ "output_price": price })),
            &admin,
        )
        .await;
    }
    let ids: Vec<i64> = stored(&app).await.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 6);

    // Pages of four, newest first.
    let first = log(&app, &admin, "per_page=4").await;
    assert_eq!(first["total"], 6);
    assert_eq!(first["page"], 1);
    assert_eq!(first["per_page"], 4);
    let second = log(&app, &admin, "per_page=4&page=2").await;
    let listed: Vec<i64> = first["entries"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["entries"].as_array().unwrap())
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    let newest_first: Vec<i64> = ids.iter().rev().copied().collect();
    assert_eq!(listed, newest_first);
    assert_eq!(
        first["entries"][0]["after"]["output_price"]["micro_credits_per_mtok"],
        3
    );
    assert_eq!(log(&app, &admin, "").await["per_page"], 50);

    // Filters.
    let updates = log(&app, &admin, "action=model.update").await;
    assert_eq!(updates["total"], 2);
    let target = format!("target_type=model&target_id={}", models[1]);
    let of_b = log(&app, &admin, &target).await;
    assert_eq!(of_b["total"], 3);
    assert!(
        of_b["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["target_id"] == models[1].as_str())
    );
    assert_eq!(log(&app, &admin, "target_type=provider").await["total"], 1);
    assert_eq!(
        log(&app, &admin, &format!("actor_id={admin_id}")).await["total"],
        6
    );
    assert_eq!(log(&app, &admin, "actor_id=user_0_0").await["total"], 0);

    for query in [
        "per_page=201",
        "per_page=0",
        "page=0",
        "page=x",
        "colour=red",
    ] {
        let answer = app.get(&format!("{AUDIT}?{query}"), &admin).await;
        assert_error(&answer, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn only_admins_read_the_log() {
    let app = spawn_app().await;
    let (user, _) = app.register("mo@example.com", PASSWORD, "Mo").await;
    let answer = app.get(AUDIT, &user).await;
    assert_error(&answer, StatusCode::FORBIDDEN);
    let answer = app.request(Method::GET, AUDIT, None, None).await;
    assert_error(&answer, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_admins_own_keys_are_logged_without_their_secret_and_a_users_are_not() {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let (user, _) = app.register("kim@example.com", PASSWORD, "Kim").await;
    let (secret, key_id) = app.create_key(&admin, json!({ "name": "ops" })).await;
    app.create_key(&user, json!({ "name": "laptop" })).await;

    let created = latest(&app, &admin, "key.create").await;
    assert_eq!(created["target_type"], "key");
    assert_eq!(created["target_id"], key_id.as_str());
    assert_eq!(created["before"], Value::Null);
    assert_eq!(created["after"]["name"], "ops");

    let path = format!("/api/keys/{key_id}");
    let (status, _, _) = app.patch(&path, json!({ "name": "ops-2" }), &admin).await;
    assert_eq!(status, StatusCode::OK);
    let updated = latest(&app, &admin, "key.update").await;
    assert_eq!(updated["before"]["name"], "ops");
    assert_eq!(updated["after"]["name"], "ops-2");

    let (status, _, _) = app.delete(&path, &admin).await;
    assert_eq!(status, StatusCode::OK);
    let revoked = latest(&app, &admin, "key.revoke").await;
    assert_eq!(revoked["before"]["status"], "active");
    assert_eq!(revoked["after"]["status"], "revoked");

    // Exactly the admin's three; the user's own key is not an admin action.
    let keys: Vec<_> = stored(&app)
        .await
        .into_iter()
        .filter(|e| e.target_type == "key")
        .collect();
    assert_eq!(keys.len(), 3);
    let text = stored_text(&app).await;
    assert!(!text.contains(&secret), "a key secret is in the audit log");
    assert!(!text.contains("secret_hash"), "{text}");
}
