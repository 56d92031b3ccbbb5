use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    PASSWORD, assert_error, assert_iso_millis, build_state, json_request, send_to, settings_for,
    spawn_app, string_at,
};

#[tokio::test]
async fn me_returns_the_signed_in_user_with_a_bearer_token() {
    // Arrange
    let app = spawn_app().await;
    let (token, user_id) = app.register_grace().await;

    // Act
    let (status, _, body) = app.me(&token).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    let user = &body["user"];
    assert_eq!(user["id"], json!(user_id));
    assert_eq!(user["name"], json!("Grace Hopper"));
    assert_eq!(user["email"], json!("grace@example.com"));
    assert_eq!(user["role"], json!("user"));
    assert_eq!(user["plan"], json!("trial"));
    assert_eq!(user["status"], json!("active"));
    assert_iso_millis(&string_at(user, "/created_at"));
    assert!(
        !user.as_object().unwrap().contains_key("password_hash"),
        "{body}"
    );
}

#[tokio::test]
async fn me_accepts_the_session_cookie_alone() {
    // Arrange
    let app = spawn_app().await;
    let (token, user_id) = app.register_grace().await;

    // Act
    let (status, _, body) = app
        .cookie_request(Method::GET, "/api/users/me", &token, None, None)
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], json!(user_id));
}

#[tokio::test]
async fn me_without_a_token_is_unauthorized() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = app.request(Method::GET, "/api/users/me", None, None).await;

    // Assert
    assert_error(&answer, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn me_with_a_garbage_token_is_unauthorized() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let bearer = app.me("not.a.token").await;
    let cookie = app
        .cookie_request(Method::GET, "/api/users/me", "garbage", None, None)
        .await;

    // Assert
    assert_error(&bearer, StatusCode::UNAUTHORIZED);
    assert_error(&cookie, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn me_with_a_token_signed_by_another_secret_is_unauthorized() {
    // Arrange: a second app shares the first one's database but signs with
    // another secret, so its token names a real session of a real user.
    let app = spawn_app().await;
    app.register_grace().await;
    let other_dir = tempfile::tempdir().unwrap();
    let mut settings = settings_for(other_dir.path(), None);
    settings.database.url = Some(app.state.settings.database_url().into());
    settings.auth.jwt_secret = Some("another-secret-another-secret-another-secret".into());
    let impostor = server::build_router(build_state(settings).await);
    let login = json!({ "email": "grace@example.com", "password": PASSWORD });
    let (status, _, body) = send_to(
        &impostor,
        json_request(Method::POST, "/api/auth/login", Some(login), None),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let foreign_token = string_at(&body, "/token");
    let (status, _, _) = send_to(
        &impostor,
        json_request(Method::GET, "/api/users/me", None, Some(&foreign_token)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the token is valid where it was signed"
    );

    // Act
    let answer = app.me(&foreign_token).await;

    // Assert
    assert_error(&answer, StatusCode::UNAUTHORIZED);
}
