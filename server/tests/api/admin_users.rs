//! The admin's user API: listing and searching users, changing their name,
//! role, plan and status, and deleting them, with the changes an admin may
//! not make.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    ADMIN_EMAIL, PASSWORD, TestApp, assert_error, assert_fields, assert_refused, json_request,
    listed_users, send_to, spawn_app,
};

/// An app with an admin and two users; returns the admin's token and the
/// users' `(token, id)`.
async fn app_with_users() -> (TestApp, String, (String, String), (String, String)) {
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let alice = app
        .register("alice@wonderland.example", PASSWORD, "Alice Liddell")
        .await;
    let bob = app
        .register("bob@builders.example", PASSWORD, "Bob Builder")
        .await;
    (app, admin, alice, bob)
}

fn users_path(id: &str) -> String {
    format!("/api/admin/users/{id}")
}

// --- listing ----------------------------------------------------------------

#[tokio::test]
async fn listing_users_returns_a_page_with_totals() {
    // Arrange
    let (app, admin, (_, alice_id), (_, bob_id)) = app_with_users().await;

    // Act
    let body = app.get_ok("/api/admin/users", &admin).await;

    // Assert
    assert_fields(
        &body,
        json!({ "success": true, "total": 3, "page": 1, "per_page": 20 }),
    );
    let users = listed_users(&body);
    assert_eq!(users.len(), 3);
    let ids: Vec<&str> = users.iter().map(|(id, _)| id.as_str()).collect();
    assert!(
        ids.contains(&alice_id.as_str()) && ids.contains(&bob_id.as_str()),
        "{body}"
    );
    assert!(
        users
            .iter()
            .any(|(_, email)| email.as_deref() == Some(ADMIN_EMAIL)),
        "{body}"
    );
    for user in body["users"].as_array().unwrap() {
        assert!(
            !user.as_object().unwrap().contains_key("password_hash"),
            "{user}"
        );
    }
}

#[tokio::test]
async fn listing_users_pages_through_them() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    // Act
    let body = app
        .get_ok("/api/admin/users?page=2&per_page=2", &admin)
        .await;

    // Assert
    assert_fields(&body, json!({ "total": 3, "page": 2, "per_page": 2 }));
    assert_eq!(listed_users(&body).len(), 1);
}

#[tokio::test]
async fn listing_users_is_refused_to_non_admins_strangers_and_bad_queries() {
    // Arrange
    let (app, admin, (alice, _), _) = app_with_users().await;
    #[rustfmt::skip]
    let cases = [
        ("a non-admin", "", Some(alice.as_str()), StatusCode::FORBIDDEN, None),
        ("no token", "", None, StatusCode::UNAUTHORIZED, None),
        ("per_page of zero", "?per_page=0", Some(admin.as_str()), StatusCode::BAD_REQUEST, Some("per_page")),
        ("per_page over one hundred", "?per_page=101", Some(admin.as_str()), StatusCode::BAD_REQUEST, Some("per_page")),
        ("a page that is not a number", "?page=abc", Some(admin.as_str()), StatusCode::BAD_REQUEST, Some("page")),
        ("page zero", "?page=0", Some(admin.as_str()), StatusCode::BAD_REQUEST, Some("page")),
    ];

    for (case, query, bearer, expected, named) in cases {
        // Act
        let path = format!("/api/admin/users{query}");
        let answer = app.request(Method::GET, &path, None, bearer).await;

        // Assert
        assert_refused(case, &answer, expected, named);
    }
}

#[tokio::test]
async fn searching_users_by_part_of_the_name_finds_them() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;

    for search in ["lidd", "LIDDELL", "Alice%20L"] {
        // Act
        let path = format!("/api/admin/users?search={search}");
        let body = app.get_ok(&path, &admin).await;

        // Assert
        assert_eq!(body["total"], json!(1), "search={search}: {body}");
        assert_eq!(listed_users(&body)[0].0, alice_id, "search={search}");
    }
}

#[tokio::test]
async fn searching_users_by_part_of_the_email_finds_them() {
    // Arrange
    let (app, admin, _, (_, bob_id)) = app_with_users().await;

    // Act
    let body = app
        .get_ok("/api/admin/users?search=builders.exam", &admin)
        .await;

    // Assert
    assert_eq!(body["total"], json!(1), "{body}");
    assert_eq!(
        listed_users(&body),
        vec![(bob_id, Some("bob@builders.example".to_owned()))]
    );
}

#[tokio::test]
async fn searching_users_for_nothing_known_finds_no_one() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    // Act
    let body = app.get_ok("/api/admin/users?search=zebra", &admin).await;

    // Assert
    assert_eq!(body["total"], json!(0));
    assert!(listed_users(&body).is_empty());
}

#[tokio::test]
async fn listing_users_accepts_per_page_of_one_hundred() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    // Act
    let body = app.get_ok("/api/admin/users?per_page=100", &admin).await;

    // Assert
    assert_eq!(body["per_page"], json!(100));
}

// --- updating ---------------------------------------------------------------

#[tokio::test]
async fn updating_a_user_changes_name_role_plan_and_status() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;
    let change =
        json!({ "name": "Alice Pleasance", "role": "admin", "plan": "pro", "status": "suspended" });

    // Act
    let body = app.patch_ok(&users_path(&alice_id), change, &admin).await;

    // Assert
    assert_eq!(body["success"], json!(true));
    let user = &body["user"];
    assert_fields(
        user,
        json!({
            "id": alice_id, "name": "Alice Pleasance", "role": "admin", "plan": "pro",
            "status": "suspended", "email": "alice@wonderland.example"
        }),
    );
    assert!(
        !user.as_object().unwrap().contains_key("password_hash"),
        "{body}"
    );
}

#[tokio::test]
async fn updating_one_field_leaves_the_others_alone() {
    // Arrange
    let (app, admin, (alice, alice_id), _) = app_with_users().await;

    // Act
    let (status, _, body) = app
        .patch(&users_path(&alice_id), json!({ "plan": "free" }), &admin)
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, _, me) = app.me(&alice).await;
    assert_fields(
        &me["user"],
        json!({
            "plan": "free", "name": "Alice Liddell", "role": "user", "status": "active"
        }),
    );
}

/// A user id no one has.
const UNKNOWN_USER: &str = "user_1_0000000000000000";

#[tokio::test]
async fn a_change_to_a_user_that_is_not_allowed_is_refused_and_changes_nothing() {
    // Arrange
    let (app, admin, (alice, alice_id), (bob, bob_id)) = app_with_users().await;
    let admin_id = app.user_id_of(&admin).await;
    let (as_admin, as_alice) = (admin.as_str(), alice.as_str());
    let (to_alice, to_bob, to_admin) = (
        users_path(&alice_id),
        users_path(&bob_id),
        users_path(&admin_id),
    );
    let to_no_one = users_path(UNKNOWN_USER);
    #[rustfmt::skip]
    let cases = [
        ("an unknown field", Method::PATCH, &to_alice, Some(json!({ "nickname": "Al" })), as_admin, StatusCode::BAD_REQUEST, Some("nickname")),
        ("an unknown role", Method::PATCH, &to_alice, Some(json!({ "role": "boss" })), as_admin, StatusCode::BAD_REQUEST, Some("role")),
        ("a blank name", Method::PATCH, &to_alice, Some(json!({ "name": " " })), as_admin, StatusCode::BAD_REQUEST, Some("name")),
        ("an empty body", Method::PATCH, &to_alice, Some(json!({})), as_admin, StatusCode::BAD_REQUEST, None),
        ("updating an unknown user", Method::PATCH, &to_no_one, Some(json!({ "plan": "pro" })), as_admin, StatusCode::NOT_FOUND, None),
        ("updating as a non-admin", Method::PATCH, &to_bob, Some(json!({ "plan": "pro" })), as_alice, StatusCode::FORBIDDEN, None),
        ("an admin demoting themself", Method::PATCH, &to_admin, Some(json!({ "role": "user" })), as_admin, StatusCode::BAD_REQUEST, None),
        ("an admin suspending themself", Method::PATCH, &to_admin, Some(json!({ "status": "suspended" })), as_admin, StatusCode::BAD_REQUEST, None),
        ("an admin deleting themself", Method::DELETE, &to_admin, None, as_admin, StatusCode::BAD_REQUEST, None),
        ("deleting an unknown user", Method::DELETE, &to_no_one, None, as_admin, StatusCode::NOT_FOUND, None),
        ("deleting as a non-admin", Method::DELETE, &to_bob, None, as_alice, StatusCode::FORBIDDEN, None),
    ];

    for (case, method, path, body, bearer, expected, named) in cases {
        // Act
        let answer = app.request(method, path, body, Some(bearer)).await;

        // Assert
        assert_refused(case, &answer, expected, named);
        let (status, _, me) = app.me(&admin).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{case}: the admin is still in: {me}"
        );
        assert_eq!(me["user"]["role"], json!("admin"), "{case}");
        assert_eq!(
            app.me(&bob).await.0,
            StatusCode::OK,
            "{case}: Bob is still in"
        );
    }
}

#[tokio::test]
async fn suspending_a_user_revokes_their_token_and_blocks_their_login() {
    // Arrange
    let (app, admin, (alice, alice_id), (bob, _)) = app_with_users().await;

    // Act
    app.patch_ok(
        &users_path(&alice_id),
        json!({ "status": "suspended" }),
        &admin,
    )
    .await;

    // Assert
    assert_error(&app.me(&alice).await, StatusCode::UNAUTHORIZED);
    assert_error(
        &app.login("alice@wonderland.example", PASSWORD).await,
        StatusCode::FORBIDDEN,
    );
    assert_eq!(
        app.me(&bob).await.0,
        StatusCode::OK,
        "other users keep their sessions"
    );
}

#[tokio::test]
async fn reactivating_a_suspended_user_lets_them_log_in_again() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;
    let path = users_path(&alice_id);
    app.patch(&path, json!({ "status": "suspended" }), &admin)
        .await;

    // Act
    app.patch_ok(&path, json!({ "status": "active" }), &admin)
        .await;

    // Assert
    let (status, _, body) = app.login("alice@wonderland.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// --- deleting ---------------------------------------------------------------

#[tokio::test]
async fn deleting_a_user_revokes_their_token_and_their_login() {
    // Arrange
    let (app, admin, (alice, alice_id), _) = app_with_users().await;

    // Act
    let body = app.delete_ok(&users_path(&alice_id), &admin).await;

    // Assert
    assert_eq!(body["success"], json!(true));
    assert_error(&app.me(&alice).await, StatusCode::UNAUTHORIZED);
    assert_error(
        &app.login("alice@wonderland.example", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
    );
}

#[tokio::test]
async fn a_deleted_user_vanishes_from_the_list() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;

    // Act
    app.delete(&users_path(&alice_id), &admin).await;

    // Assert
    let body = app.get_ok("/api/admin/users", &admin).await;
    assert_eq!(body["total"], json!(2));
    assert!(
        listed_users(&body).iter().all(|(id, _)| *id != alice_id),
        "{body}"
    );
}

#[tokio::test]
async fn a_deleted_user_can_no_longer_be_updated_or_deleted() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;
    app.delete(&users_path(&alice_id), &admin).await;

    // Act
    let update = app
        .patch(&users_path(&alice_id), json!({ "plan": "pro" }), &admin)
        .await;
    let delete = app.delete(&users_path(&alice_id), &admin).await;

    // Assert
    assert_error(&update, StatusCode::NOT_FOUND);
    assert_error(&delete, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_deleted_users_email_can_register_again() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;
    app.delete(&users_path(&alice_id), &admin).await;

    // Act
    let (_, new_id) = app
        .register("alice@wonderland.example", PASSWORD, "Alice Again")
        .await;

    // Assert
    assert_ne!(new_id, alice_id, "a new account, not the old one");
}

// --- edge cases found in review --------------------------------------------

#[tokio::test]
async fn listing_users_with_a_huge_page_answers_without_crashing() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    for page in [
        "100000000000000000",
        "1000000000000000000",
        "18446744073709551615",
    ] {
        // Act
        let path = format!("/api/admin/users?page={page}&per_page=100");
        let answer = app.get(&path, &admin).await;

        // Assert: either refused, or an empty page.
        if answer.0 == StatusCode::OK {
            assert!(
                listed_users(&answer.2).is_empty(),
                "page={page}: {}",
                answer.2
            );
        } else {
            assert_error(&answer, StatusCode::BAD_REQUEST);
        }
    }
}

#[tokio::test]
async fn searching_users_treats_percent_and_underscore_literally() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    for search in ["_", "%25"] {
        // Act
        let path = format!("/api/admin/users?search={search}");
        let body = app.get_ok(&path, &admin).await;

        // Assert
        assert_eq!(body["total"], json!(0), "search={search}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_admin_updates_all_succeed() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let mut paths = Vec::new();
    for i in 0..8 {
        let (_, id) = app
            .register(&format!("user{i}@example.com"), PASSWORD, "Some User")
            .await;
        paths.push(users_path(&id));
    }

    // Act
    let mut requests = tokio::task::JoinSet::new();
    for round in 0..3 {
        for path in &paths {
            let router = app.router.clone();
            let plan = if round % 2 == 0 { "pro" } else { "free" };
            let request = json_request(
                Method::PATCH,
                path,
                Some(json!({ "plan": plan })),
                Some(&admin),
            );
            requests.spawn(async move { send_to(&router, request).await });
        }
    }

    // Assert
    while let Some(answer) = requests.join_next().await {
        let (status, _, body) = answer.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
