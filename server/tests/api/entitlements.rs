//! Entitlement grants (the admin contract's `/api/admin/grants`) and the
//! effective plan they give: `PRO_LIFETIME` while a grant is active, on the
//! dashboard API and on the LLM API alike, at once on grant and revoke.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use server::{
    gateway::proxy::request::Endpoint,
    platform::{
        config::RateLimitSettings,
        entity::audit_entry,
        plan::{Limits, PlanName},
    },
};

use crate::helpers::{
    Answer, ProxyApp, assert_error, assert_iso_millis, llm_body, send_to, string_at,
};

const GRANTS: &str = "/api/admin/grants";

fn grant_body(user_id: &str) -> Value {
    json!({
        "user_id": user_id,
        "label": "Pro — Lifetime",
        "source": "beta_comp",
        "notes": "Founding tester wave A",
    })
}

async fn grant(app: &ProxyApp, body: Value) -> Answer {
    app.app.post(GRANTS, body, &app.admin).await
}

async fn revoke(app: &ProxyApp, id: &str) -> Answer {
    app.app.delete(&format!("{GRANTS}/{id}"), &app.admin).await
}

async fn list(app: &ProxyApp, query: &str) -> Vec<Value> {
    let body = app
        .app
        .get_ok(&format!("{GRANTS}{query}"), &app.admin)
        .await;
    body["grants"].as_array().unwrap().clone()
}

async fn effective_plan(app: &ProxyApp) -> Value {
    let (status, _, body) = app.app.me(&app.user).await;
    assert_eq!(status, StatusCode::OK);
    body["effective_plan"].clone()
}

#[tokio::test]
async fn a_grant_answers_the_contracts_shape_and_makes_the_plan_pro_lifetime() {
    let app = ProxyApp::start().await;
    let user_id = app.app.user_id_of(&app.user).await;
    assert_eq!(
        effective_plan(&app).await,
        json!({ "plan": "TRIAL", "source": "billing", "grant_id": null })
    );

    let (status, _, body) = grant(&app, grant_body(&user_id)).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_iso_millis(&string_at(&body, "/created_at"));
    insta::assert_json_snapshot!(body, {
        ".grant_id" => insta::dynamic_redaction(|value, _| {
            assert!(value.as_i64().is_some(), "grant_id is a number: {value:?}");
            "[id]"
        }),
        ".user_id" => "[user]",
        ".created_at" => "[timestamp]",
    }, @r#"
    {
      "success": true,
      "grant_id": "[id]",
      "user_id": "[user]",
      "label": "Pro — Lifetime",
      "active": true,
      "created_at": "[timestamp]"
    }
    "#);
    assert!(body["grant_id"].is_i64(), "{body}");
    assert_eq!(body["user_id"], user_id.as_str());
    assert_eq!(body["label"], "Pro — Lifetime");
    assert_eq!(body["active"], true);
    assert_iso_millis(&string_at(&body, "/created_at"));
    // At once: no cache to wait for.
    assert_eq!(
        effective_plan(&app).await,
        json!({ "plan": "PRO_LIFETIME", "source": "beta_comp", "grant_id": body["grant_id"] })
    );
}

#[tokio::test]
async fn a_revoked_grant_keeps_its_row_and_the_plan_falls_back_at_once() {
    let app = ProxyApp::start().await;
    let user_id = app.app.user_id_of(&app.user).await;
    let admin_id = app.app.user_id_of(&app.admin).await;
    let (_, _, body) = grant(&app, grant_body(&user_id)).await;
    let id = body["grant_id"].to_string();
    assert_eq!(effective_plan(&app).await["plan"], "PRO_LIFETIME");

    let (status, _, body) = revoke(&app, &id).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    insta::assert_json_snapshot!(body, {
        ".grant_id" => "[id]",
        ".revoked_at" => "[timestamp]",
    }, @r#"
    {
      "success": true,
      "grant_id": "[id]",
      "revoked_at": "[timestamp]"
    }
    "#);
    assert_eq!(body["grant_id"].to_string(), id);
    assert_iso_millis(&string_at(&body, "/revoked_at"));
    assert_eq!(effective_plan(&app).await["plan"], "TRIAL");

    let grants = list(&app, "").await;
    assert_eq!(grants.len(), 1, "the row stays");
    assert_eq!(grants[0]["active"], false);
    assert_eq!(grants[0]["revoked_at"], body["revoked_at"]);
    assert!(
        grants[0].get("revoked_by").is_none(),
        "not a field of the contract: {}",
        grants[0]
    );
    let audited = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("grant.revoke"))
        .one(app.app.db())
        .await
        .unwrap()
        .expect("the revocation is audited");
    assert_eq!(audited.actor_id, admin_id);

    // Revoked twice: 400. A new grant may follow.
    let message = assert_error(&revoke(&app, &id).await, StatusCode::BAD_REQUEST);
    assert!(message.contains("already revoked"), "{message}");
    let (status, _, _) = grant(&app, grant_body(&user_id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(effective_plan(&app).await["plan"], "PRO_LIFETIME");
}

#[tokio::test]
async fn grants_are_validated_field_by_field() {
    let app = ProxyApp::start().await;
    let user_id = app.app.user_id_of(&app.user).await;
    let long = "x".repeat(101);
    let cases = [
        (json!({ "label": "Pro", "source": "beta_comp" }), "user_id"),
        (
            json!({ "user_id": user_id, "source": "beta_comp" }),
            "label",
        ),
        (
            json!({ "user_id": user_id, "label": long, "source": "beta_comp" }),
            "label",
        ),
        (json!({ "user_id": user_id, "label": "Pro" }), "source"),
        (
            json!({ "user_id": user_id, "label": "Pro", "source": "gift" }),
            "source",
        ),
        (
            json!({ "user_id": user_id, "label": "Pro", "source": "beta_comp", "notes": "n".repeat(501) }),
            "notes",
        ),
        (
            json!({ "user_id": user_id, "label": "Pro", "source": "beta_comp", "extra": 1 }),
            "extra",
        ),
    ];
    for (body, field) in cases {
        let message = assert_error(&grant(&app, body.clone()).await, StatusCode::BAD_REQUEST);
        assert!(message.contains(field), "{body}: {message}");
    }
    assert!(list(&app, "").await.is_empty(), "nothing was written");

    let unknown = grant(&app, grant_body("user_0000000000000000")).await;
    assert_error(&unknown, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_one_active_grant_per_user_even_under_concurrent_grants() {
    let app = ProxyApp::start().await;
    let user_id = app.app.user_id_of(&app.user).await;
    let requests = (0..10).map(|_| grant(&app, grant_body(&user_id)));
    let answers = futures_util::future::join_all(requests).await;
    let ok = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::OK)
        .count();
    let conflicts = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!((ok, conflicts), (1, 9));
    assert_eq!(list(&app, "?active=true").await.len(), 1);
}

#[tokio::test]
async fn grants_are_listed_with_emails_and_filtered() {
    let app = ProxyApp::start().await;
    let lena = app.app.user_id_of(&app.user).await;
    let (_, other) = app
        .app
        .register("omar@example.com", crate::helpers::PASSWORD, "Omar")
        .await;
    let (_, _, first) = grant(&app, grant_body(&lena)).await;
    revoke(&app, &first["grant_id"].to_string()).await;
    grant(&app, grant_body(&lena)).await;
    grant(
        &app,
        json!({ "user_id": other, "label": "Pro — Lifetime", "source": "partner_referral" }),
    )
    .await;

    let all = list(&app, "").await;
    assert_eq!(all.len(), 3);
    let newest = &all[0];
    assert_eq!(newest["user_id"], other.as_str());
    assert_eq!(newest["email"], "omar@example.com");
    assert_eq!(newest["source"], "partner_referral");
    assert_eq!(newest["notes"], Value::Null);
    assert_eq!(newest["granted_by_email"], crate::helpers::ADMIN_EMAIL);
    assert_eq!(
        newest["granted_by"],
        app.app.user_id_of(&app.admin).await.as_str()
    );
    insta::assert_json_snapshot!(newest, {
        ".id" => "[id]",
        ".user_id" => "[omar]",
        ".granted_by" => "[admin]",
        ".created_at" => "[timestamp]",
    }, @r#"
    {
      "id": "[id]",
      "user_id": "[omar]",
      "email": "omar@example.com",
      "label": "Pro — Lifetime",
      "source": "partner_referral",
      "notes": null,
      "active": true,
      "granted_by": "[admin]",
      "granted_by_email": "admin@example.com",
      "created_at": "[timestamp]",
      "revoked_at": null
    }
    "#);

    assert_eq!(list(&app, &format!("?user_id={lena}")).await.len(), 2);
    assert_eq!(
        list(&app, &format!("?user_id={lena}&active=true"))
            .await
            .len(),
        1
    );
    assert_eq!(list(&app, "?active=false").await.len(), 1);
    let (status, _, _) = app
        .app
        .get(&format!("{GRANTS}?active=maybe"), &app.admin)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn revoking_an_unknown_or_malformed_grant_is_refused() {
    let app = ProxyApp::start().await;
    assert_error(&revoke(&app, "987654").await, StatusCode::NOT_FOUND);
    assert_error(&revoke(&app, "abc").await, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_grant_endpoints_are_for_admins_only() {
    let app = ProxyApp::start().await;
    let user_id = app.app.user_id_of(&app.user).await;
    let calls = [
        (Method::POST, GRANTS.to_owned(), Some(grant_body(&user_id))),
        (Method::GET, GRANTS.to_owned(), None),
        (Method::DELETE, format!("{GRANTS}/1"), None),
    ];
    for (method, path, body) in calls {
        let answer = app
            .app
            .request(method.clone(), &path, body.clone(), Some(&app.user))
            .await;
        assert_error(&answer, StatusCode::FORBIDDEN);
        let answer = app
            .app
            .request(method.clone(), &path, body.clone(), None)
            .await;
        assert_error(&answer, StatusCode::UNAUTHORIZED);
        let answer = app
            .app
            .request(method, &path, body, Some("not-a-token"))
            .await;
        assert_error(&answer, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn the_effective_plan_decides_the_models_and_rate_limits_of_the_llm_api() {
    let app = ProxyApp::start_with(|settings| {
        settings.rate_limits = RateLimitSettings::unlimited()
            .with(PlanName::Trial, Limits::new(50, 0))
            .with(PlanName::ProLifetime, Limits::new(500, 0));
    })
    .await;
    let provider = app.provider("mock").await;
    app.model_with(json!({
        "public_name": "lifetime-only",
        "provider_id": provider,
        "upstream_model": "lifetime-only",
        "input_price": 0,
        "output_price": 0,
        "plans": ["pro_lifetime"],
    }))
    .await;
    let body = llm_body(Endpoint::ChatCompletions, "lifetime-only", false);
    let (status, headers, _) = app.call(Endpoint::ChatCompletions, body.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(headers["x-ratelimit-limit-requests"], "50");

    let user_id = app.app.user_id_of(&app.user).await;
    let (_, _, granted) = grant(&app, grant_body(&user_id)).await;
    let (status, headers, _) = app.call(Endpoint::ChatCompletions, body.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-ratelimit-limit-requests"], "500");
    let (_, _, models) = app.app.get("/api/models", &app.user).await;
    assert!(models.to_string().contains("lifetime-only"), "{models}");

    revoke(&app, &granted["grant_id"].to_string()).await;
    let (status, _, _) = app.call(Endpoint::ChatCompletions, body).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_api_key_reads_the_users_own_figures_but_nothing_else() {
    let app = ProxyApp::start().await;
    let by_key = |path: &str| {
        Request::builder()
            .uri(path)
            .header("x-api-key", &app.key)
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, body) = send_to(&app.app.router, by_key("/api/users/me")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["email"], "lena@example.com");
    assert_eq!(body["effective_plan"]["plan"], "TRIAL");

    for path in ["/api/keys", "/api/admin/users", "/api/models"] {
        let (status, _, _) = send_to(&app.app.router, by_key(path)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
    }
    // A wrong key is a 401 too.
    let wrong = Request::builder()
        .uri("/api/users/me")
        .header("x-api-key", "tg-nope")
        .header(header::ACCEPT, "application/json")
        .body(Body::empty())
        .unwrap();
    let (status, _, _) = send_to(&app.app.router, wrong).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
