use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{
    ADMIN_EMAIL, PASSWORD, TestApp, assert_error, json_request, listed_users, send_to, spawn_app,
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
    let (status, _, body) = app.get("/api/admin/users", &admin).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    assert_eq!(body["total"], json!(3));
    assert_eq!(body["page"], json!(1));
    assert_eq!(body["per_page"], json!(20));
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
    let (status, _, body) = app.get("/api/admin/users?page=2&per_page=2", &admin).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], json!(3));
    assert_eq!(body["page"], json!(2));
    assert_eq!(body["per_page"], json!(2));
    assert_eq!(listed_users(&body).len(), 1);
}

#[tokio::test]
async fn listing_users_as_a_non_admin_is_forbidden() {
    // Arrange
    let (app, _, (alice, _), _) = app_with_users().await;

    // Act
    let answer = app.get("/api/admin/users", &alice).await;

    // Assert
    assert_error(&answer, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn listing_users_without_a_token_is_unauthorized() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let answer = app
        .request(Method::GET, "/api/admin/users", None, None)
        .await;

    // Assert
    assert_error(&answer, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn searching_users_by_part_of_the_name_finds_them() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;

    for search in ["lidd", "LIDDELL", "Alice%20L"] {
        // Act
        let path = format!("/api/admin/users?search={search}");
        let (status, _, body) = app.get(&path, &admin).await;

        // Assert
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["total"], json!(1), "search={search}: {body}");
        assert_eq!(listed_users(&body)[0].0, alice_id, "search={search}");
    }
}

#[tokio::test]
async fn searching_users_by_part_of_the_email_finds_them() {
    // Arrange
    let (app, admin, _, (_, bob_id)) = app_with_users().await;

    // Act
    let (status, _, body) = app
        .get("/api/admin/users?search=builders.exam", &admin)
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
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
    let (status, _, body) = app.get("/api/admin/users?search=zebra", &admin).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], json!(0));
    assert!(listed_users(&body).is_empty());
}

#[tokio::test]
async fn listing_users_rejects_per_page_of_zero_or_above_one_hundred() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    for per_page in ["0", "101"] {
        // Act
        let path = format!("/api/admin/users?per_page={per_page}");
        let answer = app.get(&path, &admin).await;

        // Assert
        let message = assert_error(&answer, StatusCode::BAD_REQUEST);
        assert!(
            message.contains("per_page"),
            "per_page={per_page}: {message}"
        );
    }
}

#[tokio::test]
async fn listing_users_accepts_per_page_of_one_hundred() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    // Act
    let (status, _, body) = app.get("/api/admin/users?per_page=100", &admin).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["per_page"], json!(100));
}

#[tokio::test]
async fn listing_users_rejects_a_non_numeric_page_naming_it() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    // Act
    let answer = app.get("/api/admin/users?page=abc", &admin).await;

    // Assert
    let message = assert_error(&answer, StatusCode::BAD_REQUEST);
    assert!(message.contains("page"), "{message}");
}

#[tokio::test]
async fn listing_users_rejects_page_zero() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    // Act
    let answer = app.get("/api/admin/users?page=0", &admin).await;

    // Assert
    let message = assert_error(&answer, StatusCode::BAD_REQUEST);
    assert!(message.contains("page"), "{message}");
}

// --- updating ---------------------------------------------------------------

#[tokio::test]
async fn updating_a_user_changes_name_role_plan_and_status() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;
    let change =
        json!({ "name": "Alice Pleasance", "role": "admin", "plan": "pro", "status": "suspended" });

    // Act
    let (status, _, body) = app.patch(&users_path(&alice_id), change, &admin).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], json!(true));
    let user = &body["user"];
    assert_eq!(user["id"], json!(alice_id));
    assert_eq!(user["name"], json!("Alice Pleasance"));
    assert_eq!(user["role"], json!("admin"));
    assert_eq!(user["plan"], json!("pro"));
    assert_eq!(user["status"], json!("suspended"));
    assert_eq!(user["email"], json!("alice@wonderland.example"));
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
    assert_eq!(me["user"]["plan"], json!("free"));
    assert_eq!(me["user"]["name"], json!("Alice Liddell"));
    assert_eq!(me["user"]["role"], json!("user"));
    assert_eq!(me["user"]["status"], json!("active"));
}

#[tokio::test]
async fn updating_a_user_with_an_unknown_field_is_rejected() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;

    // Act
    let answer = app
        .patch(&users_path(&alice_id), json!({ "nickname": "Al" }), &admin)
        .await;

    // Assert
    let message = assert_error(&answer, StatusCode::BAD_REQUEST);
    assert!(message.contains("nickname"), "{message}");
}

#[tokio::test]
async fn updating_a_user_with_an_unknown_role_is_rejected_naming_role() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;

    // Act
    let answer = app
        .patch(&users_path(&alice_id), json!({ "role": "boss" }), &admin)
        .await;

    // Assert
    let message = assert_error(&answer, StatusCode::BAD_REQUEST);
    assert!(message.contains("role"), "{message}");
}

#[tokio::test]
async fn updating_a_user_with_a_blank_name_is_rejected() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;

    // Act
    let answer = app
        .patch(&users_path(&alice_id), json!({ "name": " " }), &admin)
        .await;

    // Assert
    let message = assert_error(&answer, StatusCode::BAD_REQUEST);
    assert!(message.contains("name"), "{message}");
}

#[tokio::test]
async fn updating_an_unknown_user_is_not_found() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    // Act
    let answer = app
        .patch(
            &users_path("user_1_0000000000000000"),
            json!({ "plan": "pro" }),
            &admin,
        )
        .await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn updating_a_user_with_an_empty_body_is_rejected() {
    // Arrange
    let (app, admin, (_, alice_id), _) = app_with_users().await;

    // Act
    let answer = app.patch(&users_path(&alice_id), json!({}), &admin).await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn updating_a_user_as_a_non_admin_is_forbidden() {
    // Arrange
    let (app, _, (alice, _), (_, bob_id)) = app_with_users().await;

    // Act
    let answer = app
        .patch(&users_path(&bob_id), json!({ "plan": "pro" }), &alice)
        .await;

    // Assert
    assert_error(&answer, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_cannot_demote_themself() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;
    let admin_id = app.user_id_of(&admin).await;

    // Act
    let answer = app
        .patch(&users_path(&admin_id), json!({ "role": "user" }), &admin)
        .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST);
    assert_eq!(app.me(&admin).await.2["user"]["role"], json!("admin"));
}

#[tokio::test]
async fn an_admin_cannot_suspend_themself() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;
    let admin_id = app.user_id_of(&admin).await;

    // Act
    let answer = app
        .patch(
            &users_path(&admin_id),
            json!({ "status": "suspended" }),
            &admin,
        )
        .await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST);
    assert_eq!(app.me(&admin).await.0, StatusCode::OK);
}

#[tokio::test]
async fn suspending_a_user_revokes_their_token_and_blocks_their_login() {
    // Arrange
    let (app, admin, (alice, alice_id), (bob, _)) = app_with_users().await;

    // Act
    let (status, _, body) = app
        .patch(
            &users_path(&alice_id),
            json!({ "status": "suspended" }),
            &admin,
        )
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
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
    let (status, _, body) = app
        .patch(&path, json!({ "status": "active" }), &admin)
        .await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, body) = app.login("alice@wonderland.example", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

// --- deleting ---------------------------------------------------------------

#[tokio::test]
async fn deleting_a_user_revokes_their_token_and_their_login() {
    // Arrange
    let (app, admin, (alice, alice_id), _) = app_with_users().await;

    // Act
    let (status, _, body) = app.delete(&users_path(&alice_id), &admin).await;

    // Assert
    assert_eq!(status, StatusCode::OK, "{body}");
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
    let (status, _, body) = app.get("/api/admin/users", &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
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

#[tokio::test]
async fn an_admin_cannot_delete_themself() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;
    let admin_id = app.user_id_of(&admin).await;

    // Act
    let answer = app.delete(&users_path(&admin_id), &admin).await;

    // Assert
    assert_error(&answer, StatusCode::BAD_REQUEST);
    assert_eq!(app.me(&admin).await.0, StatusCode::OK);
}

#[tokio::test]
async fn deleting_an_unknown_user_is_not_found() {
    // Arrange
    let (app, admin, _, _) = app_with_users().await;

    // Act
    let answer = app
        .delete(&users_path("user_1_0000000000000000"), &admin)
        .await;

    // Assert
    assert_error(&answer, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_a_user_as_a_non_admin_is_forbidden() {
    // Arrange
    let (app, _, (alice, _), (bob, bob_id)) = app_with_users().await;

    // Act
    let answer = app.delete(&users_path(&bob_id), &alice).await;

    // Assert
    assert_error(&answer, StatusCode::FORBIDDEN);
    assert_eq!(app.me(&bob).await.0, StatusCode::OK);
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
        let (status, _, body) = app.get(&path, &admin).await;

        // Assert
        assert_eq!(status, StatusCode::OK, "{body}");
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
