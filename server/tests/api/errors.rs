use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::helpers::{PASSWORD, assert_error, spawn_app};

const HOST: &str = "127.0.0.1:3000";

#[tokio::test]
async fn an_unknown_api_path_is_not_found_in_the_error_shape() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app
        .register("grace@example.com", PASSWORD, "Grace Hopper")
        .await;

    // Act
    let answer = app
        .request(Method::GET, "/api/no/such/endpoint", None, Some(&token))
        .await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_unknown_api_path_without_a_token_is_unauthorized() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = app
        .request(Method::GET, "/api/no/such/endpoint", None, None)
        .await;

    // Assert
    assert_error(&answer, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_method_is_method_not_allowed_in_the_error_shape() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app
        .register("grace@example.com", PASSWORD, "Grace Hopper")
        .await;

    // Act
    let answer = app
        .request(Method::DELETE, "/api/users/me", None, Some(&token))
        .await;

    // Assert
    assert_error(&answer, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_wrong_method_on_a_public_path_is_method_not_allowed() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = app
        .request(Method::GET, "/api/auth/register", None, None)
        .await;

    // Assert
    assert_error(&answer, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_malformed_json_body_is_a_bad_request_in_the_error_shape() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = app
        .request_raw(Method::POST, "/api/auth/register", r#"{"email":"#)
        .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_empty_body_is_a_bad_request_in_the_error_shape() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = app.request_raw(Method::POST, "/api/auth/login", "").await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_field_of_the_wrong_type_is_rejected_naming_the_field() {
    // Arrange
    let app = spawn_app().await;
    let body = json!({ "email": 3, "password": PASSWORD, "name": "Grace Hopper" });

    // Act
    let answer = app
        .request(Method::POST, "/api/auth/register", Some(body), None)
        .await;

    // Assert
    let message = assert_error(&answer, StatusCode::BAD_REQUEST);
    assert!(message.contains("email"), "{message}");
}

#[tokio::test]
async fn a_cross_site_cookie_write_is_forbidden_and_the_session_survives() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app
        .register("grace@example.com", PASSWORD, "Grace Hopper")
        .await;

    // Act
    let answer = app
        .cookie_request(
            Method::POST,
            "/api/auth/logout",
            &token,
            Some("http://evil.example"),
            Some(HOST),
        )
        .await;

    // Assert
    assert_error(&answer, StatusCode::FORBIDDEN);
    let (status, _, body) = app
        .cookie_request(Method::GET, "/api/users/me", &token, None, Some(HOST))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the session must still work: {body}"
    );
}

#[tokio::test]
async fn a_cookie_write_without_any_origin_is_forbidden() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app
        .register("grace@example.com", PASSWORD, "Grace Hopper")
        .await;

    // Act
    let answer = app
        .cookie_request(Method::POST, "/api/auth/logout", &token, None, Some(HOST))
        .await;

    // Assert
    assert_error(&answer, StatusCode::FORBIDDEN);
    assert_eq!(app.me(&token).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_same_origin_cookie_write_is_allowed() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app
        .register("grace@example.com", PASSWORD, "Grace Hopper")
        .await;

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
    let (token, _) = app
        .register("grace@example.com", PASSWORD, "Grace Hopper")
        .await;

    // Act
    let (status, _, body) = app
        .request(Method::POST, "/api/auth/logout", None, Some(&token))
        .await;

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

// --- edge cases found in review --------------------------------------------

#[tokio::test]
async fn a_json_body_with_trailing_garbage_is_a_bad_request() {
    // Arrange
    let app = spawn_app().await;
    let body =
        json!({ "email": "grace@example.com", "password": PASSWORD, "name": "Grace Hopper" });

    // Act
    let answer = app
        .request_raw(
            Method::POST,
            "/api/auth/register",
            &format!("{body} trailing"),
        )
        .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_api_root_with_a_trailing_slash_is_not_found_in_the_error_shape() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app
        .register("grace@example.com", PASSWORD, "Grace Hopper")
        .await;

    // Act
    let answer = app.request(Method::GET, "/api/", None, Some(&token)).await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
}
