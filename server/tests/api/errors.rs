//! The dashboard API's answers to requests it cannot serve: unknown paths,
//! wrong methods and bodies it cannot read, each with its status in the
//! contract's error shape; and the origin check on cookie-authenticated
//! writes.

use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{
    PASSWORD, assert_error, assert_refused, json_request, spawn_app, with_raw_json,
};

const HOST: &str = "127.0.0.1:3000";

#[tokio::test]
async fn a_request_the_api_cannot_serve_gets_its_status_in_the_error_shape() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app.register_grace().await;
    let grace = Some(token.as_str());
    let register =
        json!({ "email": "grace@example.com", "password": PASSWORD, "name": "Grace Hopper" });
    let wrong_type = json!({ "email": 3, "password": PASSWORD, "name": "Grace Hopper" });
    let trailing_garbage = format!("{register} trailing");
    let wrong_type = wrong_type.to_string();
    // One row a case: (case, method, path, bearer, body, status, a word the
    // message names). Kept one line a row, as a table reads.
    #[rustfmt::skip]
    let cases = [
        ("an unknown path", Method::GET, "/api/no/such/endpoint", grace, None, StatusCode::NOT_FOUND, None),
        ("an unknown path without a token", Method::GET, "/api/no/such/endpoint", None, None, StatusCode::UNAUTHORIZED, None),
        ("the api root with a trailing slash", Method::GET, "/api/", grace, None, StatusCode::NOT_FOUND, None),
        ("a wrong method", Method::DELETE, "/api/users/me", grace, None, StatusCode::METHOD_NOT_ALLOWED, None),
        ("a wrong method on a public path", Method::GET, "/api/auth/register", None, None, StatusCode::METHOD_NOT_ALLOWED, None),
        ("malformed JSON", Method::POST, "/api/auth/register", None, Some(r#"{"email":"#), StatusCode::BAD_REQUEST, None),
        ("an empty body", Method::POST, "/api/auth/login", None, Some(""), StatusCode::BAD_REQUEST, None),
        ("trailing garbage", Method::POST, "/api/auth/register", None, Some(trailing_garbage.as_str()), StatusCode::BAD_REQUEST, None),
        ("a field of the wrong type", Method::POST, "/api/auth/register", None, Some(wrong_type.as_str()), StatusCode::BAD_REQUEST, Some("email")),
    ];

    for (case, method, path, bearer, body, expected, named) in cases {
        // Act
        let mut request = json_request(method, path, None, bearer);
        if let Some(raw) = body {
            request = with_raw_json(request, raw);
        }
        let answer = app.send(request).await;

        // Assert
        assert_refused(case, &answer, expected, named);
    }
}

#[tokio::test]
async fn a_cookie_write_from_another_origin_or_none_is_forbidden_and_the_session_survives() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app.register_grace().await;

    for (case, origin) in [
        ("another site", Some("http://evil.example")),
        ("no origin", None),
    ] {
        // Act
        let answer = app
            .cookie_request(Method::POST, "/api/auth/logout", &token, origin, Some(HOST))
            .await;

        // Assert
        assert_refused(case, &answer, StatusCode::FORBIDDEN, None);
        let (status, _, body) = app
            .cookie_request(Method::GET, "/api/users/me", &token, None, Some(HOST))
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{case}: the session must still work: {body}"
        );
        assert_eq!(app.me(&token).await.0, StatusCode::OK, "{case}");
    }
}

#[tokio::test]
async fn a_same_origin_cookie_write_is_allowed() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app.register_grace().await;

    // Act
    let (status, _, body) = app
        .cookie_request(
            Method::POST,
            "/api/auth/logout",
            &token,
            Some("http://127.0.0.1:3000"),
            Some(HOST),
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    assert_error(&app.me(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_bearer_authenticated_write_needs_no_origin() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app.register_grace().await;

    // Act
    let (status, _, body) = app.logout(Some(&token)).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_page_without_a_session_redirects_to_the_login_page() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, headers, _) = app.request(Method::GET, "/dashboard", None, None).await;

    // Assert
    assert_eq!(status, StatusCode::SEE_OTHER);
    let location = headers
        .get(header::LOCATION)
        .expect("no Location header")
        .to_str()
        .unwrap();
    assert!(location.starts_with("/login?next="), "{location}");
    assert_eq!(location, "/login?next=%2Fdashboard");
}
