//! Sealed provider secrets in the database: each value bound to its row
//! and field (a value moved elsewhere does not open, and only its provider
//! fails), values of the release before upgraded at start, and the rotation
//! of the encryption key (interrupted or refused, never half done).

use axum::http::{StatusCode, header};
use serde_json::json;
use server::{
    gateway::proxy::request::Endpoint,
    platform::vault::{Vault, rotation},
};

use crate::{
    helpers::{ProxyApp, UPSTREAM_KEY, llm_body, llm_request, send_to, settings_for},
    proxy_upstream::{HEADER_VALUE, capturing_upstream, route_to},
};

/// A provider's row as stored, sealed columns included.
async fn provider_row(proxy: &ProxyApp, id: &str) -> server::platform::entity::provider::Model {
    use sea_orm::EntityTrait;
    server::platform::entity::provider::Entity::find_by_id(id.to_owned())
        .one(proxy.app.db())
        .await
        .unwrap()
        .expect("no such provider")
}

/// Overwrites a provider's stored (sealed) keys, as someone with write
/// access to the database could, and makes the proxy read them again.
pub(crate) async fn set_sealed_keys(proxy: &ProxyApp, id: &str, api_keys: String) {
    set_sealed(proxy, id, api_keys, None).await;
}

async fn set_sealed(proxy: &ProxyApp, id: &str, api_keys: String, headers: Option<String>) {
    use sea_orm::{ActiveModelTrait, IntoActiveModel, Set};
    let mut row = provider_row(proxy, id).await.into_active_model();
    row.api_keys = Set(api_keys);
    if let Some(headers) = headers {
        row.extra_headers = Set(headers);
    }
    row.update(proxy.app.db()).await.unwrap();
    proxy.app.state.catalog.invalidate();
}

#[tokio::test]
async fn a_sealed_value_copied_to_another_provider_or_field_does_not_open_and_breaks_that_provider_alone()
 {
    // Arrange: three providers; B gets A's sealed key, C gets its own
    // sealed header value as its key.
    let proxy = ProxyApp::start().await;
    proxy.route("mock", "mock-fine").await;
    let a = proxy.provider("openai").await;
    proxy.model(&a, "gpt-a", "gpt-a").await;
    let b = proxy.provider("openai").await;
    proxy.model(&b, "gpt-b", "gpt-b").await;
    let c = proxy
        .provider_with(json!({
            "name": "with header", "kind": "openai",
            "base_url": format!("{}/v1", proxy.upstream),
            "api_keys": [UPSTREAM_KEY],
            "extra_headers": { "x-team": UPSTREAM_KEY },
        }))
        .await;
    proxy.model(&c, "gpt-c", "gpt-c").await;
    let a_keys = provider_row(&proxy, &a).await.api_keys;
    set_sealed_keys(&proxy, &b, a_keys).await;
    let c_headers: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&provider_row(&proxy, &c).await.extra_headers).unwrap();
    set_sealed_keys(&proxy, &c, json!([c_headers["x-team"]]).to_string()).await;

    // Act
    let call = |model: &'static str| proxy.ask(Endpoint::ChatCompletions, model);
    let (a_answer, fine, b_answer, c_answer) = (
        call("gpt-a").await,
        call("mock-fine").await,
        call("gpt-b").await,
        call("gpt-c").await,
    );

    // Assert
    assert_eq!(a_answer.0, StatusCode::OK, "{}", a_answer.2);
    assert_eq!(fine.0, StatusCode::OK, "{}", fine.2);
    for failing in [b_answer, c_answer] {
        assert_eq!(failing.0, StatusCode::BAD_GATEWAY, "{}", failing.2);
        let message = failing.2["error"]["message"].as_str().unwrap();
        assert!(message.contains("misconfigured"), "{message}");
    }
    // The admin sees which providers need their keys set again.
    let (_, _, listed) = proxy.app.get("/api/admin/providers", &proxy.admin).await;
    let problems: Vec<(String, bool)> = listed["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_owned(),
                p.get("problem").is_some(),
            )
        })
        .collect();
    for (id, expected) in [(&a, false), (&b, true), (&c, true)] {
        assert!(problems.contains(&(id.clone(), expected)), "{id}: {listed}");
    }
    let (_, _, one) = proxy
        .app
        .get(&format!("/api/admin/providers/{b}"), &proxy.admin)
        .await;
    let problem = one["provider"]["problem"].as_str().unwrap();
    assert!(problem.contains("misconfigured"), "{problem}");
}

/// `plaintext` sealed as the releases before associated data did (`v1:`),
/// with the app's generated key.
fn seal_v1(proxy: &ProxyApp, plaintext: &str) -> String {
    use chacha20poly1305::{AeadCore, KeyInit, XChaCha20Poly1305, aead::Aead, aead::OsRng};
    let key = std::fs::read_to_string(proxy.app.data_dir.path().join("encryption_key")).unwrap();
    let cipher = XChaCha20Poly1305::new_from_slice(&hex::decode(key.trim()).unwrap()).unwrap();
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let mut sealed = nonce.to_vec();
    sealed.extend(cipher.encrypt(&nonce, plaintext.as_bytes()).unwrap());
    format!("v1:{}", hex::encode(sealed))
}

#[tokio::test]
async fn values_sealed_by_the_previous_release_are_resealed_at_start_and_still_reach_the_provider()
{
    // Arrange: a provider whose key and header are stored as v1 values.
    let proxy = ProxyApp::start().await;
    let (base, captured) = capturing_upstream().await;
    let provider = route_to(
        &proxy,
        &base,
        "openai",
        "gpt-old",
        json!({ "extra_headers": { "x-team": HEADER_VALUE } }),
    )
    .await;
    set_sealed(
        &proxy,
        &provider,
        json!([seal_v1(&proxy, UPSTREAM_KEY)]).to_string(),
        Some(json!({ "x-team": seal_v1(&proxy, HEADER_VALUE) }).to_string()),
    )
    .await;

    // Act: start again on the same data, then call the model.
    let restarted = proxy.app.restart().await;
    let (status, _, body) = send_to(&restarted, chat_request(&proxy, "gpt-old")).await;

    // Assert: stored as v2 now, and the provider got the same secrets.
    let row = provider_row(&proxy, &provider).await;
    let keys: Vec<String> = serde_json::from_str(&row.api_keys).unwrap();
    let headers: serde_json::Value = serde_json::from_str(&row.extra_headers).unwrap();
    assert!(keys[0].starts_with("v2:"), "{keys:?}");
    assert!(
        headers["x-team"].as_str().unwrap().starts_with("v2:"),
        "{headers}"
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let received = captured.only();
    assert_eq!(
        received[header::AUTHORIZATION],
        format!("Bearer {UPSTREAM_KEY}")
    );
    assert_eq!(received["x-team"], HEADER_VALUE);
}

/// A request for `model` with the test key, for a restarted app.
fn chat_request(proxy: &ProxyApp, model: &str) -> axum::http::Request<axum::body::Body> {
    llm_request(
        Endpoint::ChatCompletions.path(),
        Endpoint::ChatCompletions,
        Some(&proxy.key),
        &[],
        llm_body(Endpoint::ChatCompletions, model, false).to_string(),
    )
}

#[tokio::test]
async fn an_interrupted_rotation_stops_the_start_until_a_second_run_finishes_it() {
    use secrecy::ExposeSecret;
    use server::platform::vault::reseal::{Reseal, reseal};
    // Arrange: a rotation that stopped after its commit: the values are
    // sealed with the next key, which waits beside the old one.
    let proxy = ProxyApp::start().await;
    let provider = proxy.provider("openai").await;
    proxy.model(&provider, "gpt-kept", "gpt-kept").await;
    let dir = proxy.app.data_dir.path();
    let settings = || settings_for(dir, proxy.app.database_url.as_deref());
    let (next, next_key) = Vault::generate().unwrap();
    std::fs::write(dir.join("encryption_key.next"), next_key.expose_secret()).unwrap();
    let txn = server::platform::db::begin_write(proxy.app.db())
        .await
        .unwrap();
    let done = reseal(&txn, &[&proxy.app.state.vault], &next, Reseal::All)
        .await
        .unwrap();
    txn.commit().await.unwrap();
    assert!(done.left.is_empty(), "{:?}", done.left);

    // Act
    let refused = server::AppState::build(settings()).await.err();
    let said = std::sync::Mutex::new(Vec::new());
    let say = |line: &str| said.lock().unwrap().push(line.to_owned());
    let resealed = rotation::rotate(proxy.app.db(), &settings(), None, &say)
        .await
        .unwrap();
    let restarted = proxy.app.restart().await;
    let (status, _, body) = send_to(&restarted, chat_request(&proxy, "gpt-kept")).await;

    // Assert
    let refused = format!("{:#}", refused.expect("the start was not refused"));
    assert!(refused.contains("interrupted"), "{refused}");
    assert_eq!(resealed, 1);
    let said = said.into_inner().unwrap().join("\n");
    assert!(said.contains("Finishing the rotation"), "{said}");
    let key = std::fs::read_to_string(dir.join("encryption_key")).unwrap();
    assert_eq!(key, next_key.expose_secret());
    assert!(!dir.join("encryption_key.next").exists());
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_rotation_that_meets_a_value_no_key_opens_changes_nothing_and_names_the_provider() {
    // Arrange: B holds a copy of A's sealed key, which opens only in A.
    let proxy = ProxyApp::start().await;
    let a = proxy.provider("openai").await;
    let b = proxy.provider("openai").await;
    let a_keys = provider_row(&proxy, &a).await.api_keys;
    set_sealed_keys(&proxy, &b, a_keys.clone()).await;
    let dir = proxy.app.data_dir.path();
    let key_before = std::fs::read_to_string(dir.join("encryption_key")).unwrap();
    let settings = settings_for(dir, proxy.app.database_url.as_deref());

    // Act
    let refused = rotation::rotate(proxy.app.db(), &settings, None, &|_| {}).await;

    // Assert
    let refused = format!("{:#}", refused.expect_err("the rotation went ahead"));
    assert!(refused.contains("nothing was changed"), "{refused}");
    assert!(refused.contains(&b), "{refused}");
    assert!(!refused.contains(&a), "{refused}");
    assert_eq!(provider_row(&proxy, &a).await.api_keys, a_keys);
    let key_after = std::fs::read_to_string(dir.join("encryption_key")).unwrap();
    assert_eq!(key_after, key_before);
    assert!(!dir.join("encryption_key.next").exists());
}
