//! `/api/openapi.json`: public, and the same table as the router's. Every
//! operation it describes is served, and no other method on its paths.
//! (No path can be served without being described: the route table adds
//! routes only through `routes!`, from the handlers' own descriptions.)

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use server::platform::config::RealtimeMode;

use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::helpers::{TestApp, json_request, spawn_app_with};

/// A status and a JSON body (`null` for CSV and other bodies).
type Answer = (StatusCode, Value);

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Whether the router has no route for the request: the dashboard API's
/// fallbacks answer "no such endpoint" (404) and 405, the LLM API's
/// "no such endpoint: <path>" (404) and 405.
fn unrouted((status, body): &Answer) -> bool {
    let message = body["error"]
        .as_str()
        .or_else(|| body["error"]["message"].as_str())
        .unwrap_or_default();
    *status == StatusCode::METHOD_NOT_ALLOWED
        || (*status == StatusCode::NOT_FOUND && message.starts_with("no such endpoint"))
}

/// An app whose live feed is the WebSocket one: the event stream would
/// never end, and the WebSocket answers a plain GET at once.
async fn app() -> TestApp {
    spawn_app_with(|settings| settings.features.realtime_mode = RealtimeMode::Ws).await
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    token: &str,
) -> Answer {
    let response = app
        .router
        .clone()
        .oneshot(json_request(method, path, body, Some(token)))
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A concrete path: each `{parameter}` filled in.
fn concrete(template: &str) -> String {
    template.replace("{plan}", "pro").replace("{id}", "1")
}

/// The OpenAPI description, read without signing in (it is public).
async fn description(app: &TestApp) -> Value {
    let (status, _, spec) = app
        .request(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{spec}");
    spec
}

#[tokio::test]
async fn the_description_is_public_and_every_operation_in_it_is_served() {
    let app = app().await;
    let spec = description(&app).await;
    assert_eq!(spec["openapi"], "3.1.0");
    let admin = app.create_admin().await;

    let paths = spec["paths"].as_object().expect("paths");
    let mut operations: Vec<(String, Method)> = paths
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| (path.clone(), method.to_uppercase().parse().unwrap()))
        })
        .collect();
    // Signing out ends the session the other requests are made with.
    operations.sort_by_key(|(path, _)| path == "/api/auth/logout");
    assert!(operations.len() >= 58, "{} operations", operations.len());

    for (path, method) in operations {
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let answer = send(&app, method.clone(), &concrete(&path), body, &admin).await;
        assert!(
            !unrouted(&answer),
            "{method} {path} is described but not served: {answer:?}"
        );
    }
}

#[tokio::test]
async fn no_method_is_served_on_a_described_path_but_those_it_describes() {
    let app = app().await;
    let spec = description(&app).await;
    let admin = app.create_admin().await;

    for (path, item) in spec["paths"].as_object().expect("paths") {
        for method in METHODS.iter().filter(|method| item.get(**method).is_none()) {
            let method: Method = method.to_uppercase().parse().unwrap();
            let answer = send(&app, method.clone(), &concrete(path), None, &admin).await;
            assert!(
                unrouted(&answer),
                "{method} {path} is served but not described: {answer:?}"
            );
        }
    }
}

#[tokio::test]
async fn the_described_enums_list_the_values_the_api_sends() {
    let app = app().await;
    let spec = description(&app).await;
    let values = |schema: &str| spec["components"]["schemas"][schema]["enum"].clone();
    #[rustfmt::skip]
    let expected = [
        ("UserRole", json!(["user", "admin"])),
        ("UserPlan", json!(["trial", "free", "pro"])),
        ("UserStatus", json!(["active", "suspended"])),
        ("PlanName", json!(["trial", "free", "pro", "pro_lifetime"])),
        ("KeyStatus", json!(["active", "expired", "revoked", "over_quota"])),
        ("ProviderKind", json!(["openai", "anthropic", "openai_responses", "gemini", "mock"])),
        ("EntryKind", json!(["grant", "charge", "refund", "adjustment"])),
        ("GrantSource", json!(["beta_comp", "manual_override", "partner_referral"])),
    ];
    for (schema, listed) in expected {
        assert_eq!(values(schema), listed, "{schema}");
    }
}
