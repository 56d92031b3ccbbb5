//! GET /api/users/me: the signed-in user, by bearer token or session
//! cookie, and the tokens it refuses.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    PASSWORD, assert_error, assert_fields, assert_iso_millis, assert_refused, build_state,
    json_request, send_to, settings_for, spawn_app, string_at,
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
    assert_fields(
        user,
        json!({
            "id": user_id, "name": "Grace Hopper", "email": "grace@example.com", "role": "user",
            "plan": "trial", "status": "active"
        }),
    );
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
async fn me_without_a_token_or_with_a_garbage_one_is_unauthorized() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answers = [
        (
            "no token",
            app.request(Method::GET, "/api/users/me", None, None).await,
        ),
        ("a garbage bearer token", app.me("not.a.token").await),
        (
            "a garbage cookie",
            app.cookie_request(Method::GET, "/api/users/me", "garbage", None, None)
                .await,
        ),
    ];

    // Assert
    for (case, answer) in answers {
        assert_refused(case, &answer, StatusCode::UNAUTHORIZED, None);
    }
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
