//! Registration, signing in and out with a password, the throttle on
//! wrong passwords, and sessions that outlive a restart.

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, assert_error, assert_fields, assert_iso_millis, assert_refused,
    assert_session_cookie, assert_user_id, json_request, send_to, spawn_app, string_at,
};

// --- register ---------------------------------------------------------------

#[tokio::test]
async fn register_answers_202_and_the_new_account_signs_in_without_showing_a_password_hash() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, headers, body) = app
        .register_answer("grace@example.com", PASSWORD, "Grace Hopper")
        .await;
    let (login_status, _, login) = app.login("grace@example.com", PASSWORD).await;

    // Assert: no session from the registration itself.
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        body,
        json!({ "success": true, "message": "registration received: sign in with your email and password" })
    );
    assert!(headers.get(header::SET_COOKIE).is_none(), "{headers:?}");
    assert_eq!(login_status, StatusCode::OK, "{login}");
    let user = &login["user"];
    assert_user_id(&string_at(user, "/id"));
    assert_fields(
        user,
        json!({
            "name": "Grace Hopper", "email": "grace@example.com", "role": "user", "plan": "trial",
            "status": "active"
        }),
    );
    assert_iso_millis(&string_at(user, "/created_at"));
    assert_iso_millis(&string_at(user, "/updated_at"));
    // Neither answer shows the password or its hash.
    let fields = user.as_object().expect("no user object");
    assert!(!fields.contains_key("password_hash"), "{login}");
    assert!(!fields.contains_key("password"), "{login}");
    for body in [body, login] {
        assert!(!body.to_string().contains("password_hash"), "{body}");
        assert!(!body.to_string().contains("argon2"), "{body}");
    }
}

#[tokio::test]
async fn register_lower_cases_the_email() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, _, body) = app
        .register_answer("  Grace@Example.COM ", PASSWORD, "Grace Hopper")
        .await;
    let (_, _, login) = app.login("grace@example.com", PASSWORD).await;

    // Assert
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(login["user"]["email"], json!("grace@example.com"));
}

#[tokio::test]
async fn register_rejects_an_invalid_field_naming_it() {
    // Arrange
    let app = spawn_app().await;
    #[rustfmt::skip]
    let cases = [
        ("an invalid email", "not-an-email", PASSWORD, "Grace Hopper", "email"),
        ("a password of seven characters", "grace@example.com", "1234567", "Grace Hopper", "password"),
        ("a blank name", "grace@example.com", PASSWORD, "   ", "name"),
    ];

    for (case, email, password, name, field) in cases {
        // Act
        let answer = app.register_answer(email, password, name).await;

        // Assert
        assert_refused(case, &answer, StatusCode::BAD_REQUEST, Some(field));
    }
}

#[tokio::test]
async fn register_accepts_a_password_of_eight_characters() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, _, body) = app
        .register_answer("grace@example.com", "12345678", "Grace Hopper")
        .await;

    // Assert
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test]
async fn register_rejects_a_body_missing_a_field_naming_that_field() {
    // Arrange
    let app = spawn_app().await;
    let complete =
        json!({ "email": "grace@example.com", "password": PASSWORD, "name": "Grace Hopper" });

    for field in ["email", "password", "name"] {
        let mut body = complete.clone();
        body.as_object_mut().unwrap().remove(field);

        // Act
        let answer = app
            .request(Method::POST, "/api/auth/register", Some(body), None)
            .await;

        // Assert
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(message.contains(field), "missing `{field}` gave: {message}");
    }
}

#[tokio::test]
async fn a_taken_email_gets_the_very_answer_a_new_one_gets_and_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let (_, grace_id) = app.register_grace().await;

    // Act: a new email, the taken one, and the taken one in another case.
    let new = app
        .register_answer("new@example.com", "another password", "Newcomer")
        .await;
    let taken = app
        .register_answer("grace@example.com", "another password", "Not Grace")
        .await;
    let shouted = app
        .register_answer("GRACE@example.com", "another password", "Not Grace")
        .await;

    // Assert: status, headers that matter and body are identical.
    for answer in [&taken, &shouted] {
        assert_eq!(answer.0, new.0, "{}", answer.2);
        assert_eq!(answer.2, new.2);
        assert!(answer.1.get(header::SET_COOKIE).is_none());
    }
    assert!(new.1.get(header::SET_COOKIE).is_none());
    // The owner's account is untouched: their password still signs in, the
    // other one does not, and the name is theirs.
    let (status, _, body) = app.login("grace@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], json!(grace_id));
    assert_eq!(body["user"]["name"], json!("Grace Hopper"));
    let (status, _, _) = app.login("grace@example.com", "another password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

// --- login ------------------------------------------------------------------

#[tokio::test]
async fn login_returns_a_token_and_a_session_cookie() {
    // Arrange
    let app = spawn_app().await;
    let (_, user_id) = app.register_grace().await;

    // Act
    let (status, headers, body) = app.login("grace@example.com", PASSWORD).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["user"]["id"], json!(user_id));
    assert_iso_millis(&string_at(&body, "/expires_at"));
    let token = string_at(&body, "/token");
    assert_session_cookie(&headers, &token);
    assert_eq!(app.user_id_of(&token).await, user_id);
}

#[tokio::test]
async fn login_ignores_the_case_of_the_email() {
    // Arrange
    let app = spawn_app().await;
    app.register_grace().await;

    // Act
    let (status, _, body) = app.login("GRACE@example.com", PASSWORD).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn login_with_a_wrong_password_and_with_an_unknown_email_fail_alike() {
    // Arrange
    let app = spawn_app().await;
    app.register_grace().await;

    // Act
    let wrong_password = app.login("grace@example.com", "not the password").await;
    let unknown_email = app.login("nobody@example.com", PASSWORD).await;

    // Assert
    assert_error(&wrong_password, StatusCode::UNAUTHORIZED);
    assert_error(&unknown_email, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password.2, unknown_email.2);
}

#[tokio::test]
async fn login_is_throttled_after_five_failures_even_with_the_right_password() {
    // Arrange
    let app = spawn_app().await;
    app.register_grace().await;
    for attempt in 1..=5 {
        let answer = app.login("grace@example.com", "not the password").await;
        assert_eq!(
            answer.0,
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}: {}",
            answer.2
        );
    }

    // Act
    let answer = app.login("grace@example.com", PASSWORD).await;

    // Assert
    assert_error(&answer, StatusCode::TOO_MANY_REQUESTS);
    let retry_after = answer
        .1
        .get(header::RETRY_AFTER)
        .expect("no Retry-After header")
        .to_str()
        .unwrap()
        .parse::<u64>()
        .expect("Retry-After is not a whole number of seconds");
    assert!(retry_after > 0);
}

#[tokio::test]
async fn login_throttling_of_one_email_leaves_other_emails_alone() {
    // Arrange
    let app = spawn_app().await;
    app.register_grace().await;
    app.register("ada@example.com", PASSWORD, "Ada Lovelace")
        .await;
    for _ in 0..5 {
        app.login("grace@example.com", "not the password").await;
    }
    assert_eq!(
        app.login("grace@example.com", PASSWORD).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );

    // Act
    let (status, _, body) = app.login("ada@example.com", PASSWORD).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
}

// --- logout -----------------------------------------------------------------

#[tokio::test]
async fn logout_revokes_the_session_token() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app.register_grace().await;

    // Act
    let (status, headers, body) = app.logout(Some(&token)).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    let cleared = headers
        .get(header::SET_COOKIE)
        .expect("the cookie is not cleared")
        .to_str()
        .unwrap();
    assert!(cleared.starts_with("tollgate_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_error(&app.me(&token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_leaves_the_users_other_sessions_open() {
    // Arrange
    let app = spawn_app().await;
    let (first, _) = app.register_grace().await;
    let second = string_at(&app.login("grace@example.com", PASSWORD).await.2, "/token");

    // Act
    app.logout(Some(&first)).await;

    // Assert
    assert_eq!(app.me(&second).await.0, StatusCode::OK);
}

#[tokio::test]
async fn logout_without_a_token_is_unauthorized() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = app.logout(None).await;

    // Assert
    assert_error(&answer, StatusCode::UNAUTHORIZED);
}

// --- sessions across restarts -----------------------------------------------

#[tokio::test]
async fn a_session_survives_a_restart_on_the_same_data_dir() {
    // Arrange
    let app = spawn_app().await;
    let (token, user_id) = app.register_grace().await;
    assert!(
        app.data_dir.path().join("jwt_secret").is_file(),
        "no generated secret file"
    );

    // Act
    let restarted = app.restart().await;
    let (status, _, body) = send_to(
        &restarted,
        json_request(Method::GET, "/api/users/me", None, Some(&token)),
    )
    .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], Value::String(user_id));
}

#[tokio::test]
async fn a_dot_segment_after_a_static_prefix_does_not_skip_sign_in() {
    let app = spawn_app().await;

    for path in [
        "/pkg/../admin",
        "/pkg/%2e%2e/admin",
        "/assets/../api/admin/users",
    ] {
        let (status, headers, _) = app.request(Method::GET, path, None, None).await;

        assert!(
            matches!(status, StatusCode::SEE_OTHER | StatusCode::UNAUTHORIZED),
            "{path}: {status}"
        );
        if status == StatusCode::SEE_OTHER {
            let location = headers[header::LOCATION].to_str().unwrap();
            assert!(location.starts_with("/login?next="), "{path}: {location}");
        }
    }
}

#[tokio::test]
async fn sixty_concurrent_wrong_passwords_get_five_checks_and_fifty_five_refusals() {
    // Arrange
    let app = spawn_app().await;
    app.register_grace().await;
    let body = json!({ "email": "grace@example.com", "password": "not the password" });

    // Act: all at once, as a scripted guesser sends them.
    let tasks: Vec<_> = (0..60)
        .map(|_| {
            let request = json_request(Method::POST, "/api/auth/login", Some(body.clone()), None);
            let router = app.router.clone();
            tokio::spawn(async move { send_to(&router, request).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }

    // Assert: only the limit's worth were checked against the password.
    let checked = statuses
        .iter()
        .filter(|status| **status == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|status| **status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 55), "{statuses:?}");
}

#[tokio::test]
async fn a_foreign_page_cannot_sign_a_visitor_in_or_register_them() {
    // Arrange
    let app = spawn_app().await;
    app.register_grace().await;
    let login = json!({ "email": "grace@example.com", "password": PASSWORD });
    let register = json!({ "email": "new@example.com", "password": PASSWORD, "name": "New" });
    let with = |path: &str, body: &serde_json::Value, headers: &[(&str, &str)]| {
        let mut request = json_request(Method::POST, path, Some(body.clone()), None);
        for (name, value) in headers {
            request.headers_mut().insert(
                header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        request
    };
    let foreign: [&[(&str, &str)]; 2] = [
        &[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:3000"),
        ],
        &[("sec-fetch-site", "cross-site")],
    ];

    for headers in foreign {
        for (path, body) in [
            ("/api/auth/login", &login),
            ("/api/auth/register", &register),
        ] {
            // Act
            let answer = send_to(&app.router, with(path, body, headers)).await;

            // Assert
            assert_error(&answer, StatusCode::FORBIDDEN);
            assert!(answer.1.get(header::SET_COOKIE).is_none(), "{path}");
        }
    }
    // The same page's own form, and a program that says nothing, sign in.
    let own = [
        ("origin", "http://127.0.0.1:3000"),
        ("host", "127.0.0.1:3000"),
    ];
    assert_eq!(
        send_to(&app.router, with("/api/auth/login", &login, &own))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        send_to(&app.router, with("/api/auth/login", &login, &[]))
            .await
            .0,
        StatusCode::OK
    );
}
