//! What every answer tells browsers (`server::console::browser`): no sniffing, no
//! referrer to other sites, and behind HTTPS, HSTS and `Secure` cookies.

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};

fn login(forwarded_proto: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/login")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(proto) = forwarded_proto {
        builder = builder.header("x-forwarded-proto", proto);
    }
    let body = json!({ "email": "ada@example.com", "password": PASSWORD });
    builder.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn every_answer_forbids_sniffing_and_referrers_to_other_sites() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, headers, _) = app.request(Method::GET, "/api/health", None, None).await;
    let (refused, refused_headers, _) = app.request(Method::GET, "/api/users/me", None, None).await;

    // Assert
    assert_eq!(
        (status, refused),
        (StatusCode::OK, StatusCode::UNAUTHORIZED)
    );
    for headers in [&headers, &refused_headers] {
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::REFERRER_POLICY], "same-origin");
        assert!(!headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
    }
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_secure_and_hsts_is_sent() {
    // Arrange
    let app = spawn_app().await;
    app.register("ada@example.com", PASSWORD, "Ada").await;

    // Act
    let (plain, plain_headers, _) = app.send(login(None)).await;
    let (https, https_headers, _) = app.send(login(Some("https"))).await;

    // Assert
    assert_eq!((plain, https), (StatusCode::OK, StatusCode::OK));
    let cookie =
        |headers: &axum::http::HeaderMap| headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        !cookie(&plain_headers).contains("Secure"),
        "{}",
        cookie(&plain_headers)
    );
    assert!(!plain_headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
    let secure = cookie(&https_headers);
    assert!(secure.contains("; Secure"), "{secure}");
    assert!(
        secure.contains("HttpOnly") && secure.contains("SameSite=Lax"),
        "{secure}"
    );
    assert_eq!(
        https_headers[header::STRICT_TRANSPORT_SECURITY],
        "max-age=31536000"
    );
}

#[tokio::test]
async fn with_auth_secure_cookies_every_session_cookie_is_secure() {
    // Arrange
    let app = spawn_app_with(|settings| settings.auth.secure_cookies = true).await;
    app.register("ada@example.com", PASSWORD, "Ada").await;

    // Act
    let (status, headers, _) = app.send(login(None)).await;

    // Assert
    assert_eq!(status, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(headers.contains_key(header::STRICT_TRANSPORT_SECURITY));
}
