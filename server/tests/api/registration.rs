//! Who may register (`auth.registration`: open, invite, closed), the
//! invitations admins create for it, the per-address limit on
//! registration, and a register answer that does not tell whether an
//! email has an account.

use std::time::{Duration, Instant};

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};
use server::{
    Settings,
    gateway::api_keys::secret,
    platform::{
        config::Registration,
        entity::{invitation, user},
    },
};

use crate::helpers::{
    Answer, PASSWORD, TestApp, assert_error, json_request, send_all, spawn_app, spawn_app_with,
    string_at, strings_in,
};

fn registration(mode: Registration) -> impl FnOnce(&mut Settings) {
    move |settings| settings.auth.registration = mode
}

/// POST /api/auth/register with an invitation code (or none).
async fn register_with(app: &TestApp, email: &str, invitation: Option<&str>) -> Answer {
    let body = json!({
        "email": email,
        "password": PASSWORD,
        "name": "Invitee",
        "invitation": invitation,
    });
    app.request(Method::POST, "/api/auth/register", Some(body), None)
        .await
}

/// POST /api/admin/invitations as `admin`; asserts 201 and returns the
/// answer.
async fn invite(app: &TestApp, admin: &str, body: Value) -> Value {
    app.post_created("/api/admin/invitations", body, admin)
        .await
}

/// `count` registrations to send at once, of `<who><n>@example.com` named
/// `name`, with `extra` fields (an invitation) in every body.
fn registrations(count: usize, who: &str, name: &str, extra: Value) -> Vec<Request<Body>> {
    (0..count)
        .map(|n| {
            let mut body = json!({
                "email": format!("{who}{n}@example.com"),
                "password": PASSWORD,
                "name": name,
            });
            if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                body.extend(extra.clone());
            }
            json_request(Method::POST, "/api/auth/register", Some(body), None)
        })
        .collect()
}

/// How many of the answers accepted a registration.
fn accepted(answers: &[Answer]) -> usize {
    answers
        .iter()
        .filter(|(status, _, _)| *status == StatusCode::ACCEPTED)
        .count()
}

async fn users_with_email(app: &TestApp, email: &str) -> u64 {
    user::Entity::find()
        .filter(user::Column::Email.eq(email))
        .count(app.db())
        .await
        .unwrap()
}

#[tokio::test]
async fn closed_registration_is_refused_with_403_and_creates_no_account() {
    // Arrange
    let app = spawn_app_with(registration(Registration::Closed)).await;

    // Act
    let answer = register_with(&app, "grace@example.com", None).await;

    // Assert
    let message = assert_error(&answer, StatusCode::FORBIDDEN);
    assert!(message.contains("registration is closed"), "{message}");
    assert_eq!(users_with_email(&app, "grace@example.com").await, 0);
}

#[tokio::test]
async fn open_registration_needs_no_invitation() {
    // Arrange
    let app = spawn_app_with(registration(Registration::Open)).await;

    // Act
    let (status, _, body) = register_with(&app, "grace@example.com", None).await;

    // Assert
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(users_with_email(&app, "grace@example.com").await, 1);
}

#[tokio::test]
async fn registration_by_invitation_needs_a_valid_code() {
    // Arrange
    let app = spawn_app_with(registration(Registration::Invite)).await;
    let admin = app.create_admin().await;
    let code = string_at(&invite(&app, &admin, json!({})).await, "/code");

    // Act
    let without = register_with(&app, "a@example.com", None).await;
    let wrong = register_with(&app, "a@example.com", Some("inv-not-a-real-code")).await;
    let (status, _, body) = register_with(&app, "grace@example.com", Some(&code)).await;

    // Assert
    let message = assert_error(&without, StatusCode::FORBIDDEN);
    assert!(message.contains("invitation"), "{message}");
    let message = assert_error(&wrong, StatusCode::FORBIDDEN);
    assert!(message.contains("invitation"), "{message}");
    assert_eq!(users_with_email(&app, "a@example.com").await, 0);
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _, login) = app.login("grace@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{login}");
}

#[tokio::test]
async fn an_invitation_is_spent_once_even_by_concurrent_registrations() {
    // Arrange
    let app = spawn_app_with(registration(Registration::Invite)).await;
    let admin = app.create_admin().await;
    let code = string_at(&invite(&app, &admin, json!({})).await, "/code");

    // Act: twelve different people race for the one use.
    let requests = registrations(12, "racer", "Racer", json!({ "invitation": code }));
    let answers = send_all(&app.router, requests).await;

    // Assert
    assert_eq!(accepted(&answers), 1, "{answers:?}");
    for answer in answers.iter().filter(|a| a.0 != StatusCode::ACCEPTED) {
        assert_error(answer, StatusCode::FORBIDDEN);
    }
    let racers = user::Entity::find()
        .filter(user::Column::Email.like("racer%"))
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(racers, 1);
    let row = invitation::Entity::find()
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.uses, row.max_uses), (1, 1));
}

#[tokio::test]
async fn an_expired_a_revoked_or_a_used_up_invitation_is_refused() {
    // Arrange
    let app = spawn_app_with(registration(Registration::Invite)).await;
    let admin = app.create_admin().await;
    let expired = invite(&app, &admin, json!({})).await;
    let revoked = invite(&app, &admin, json!({})).await;
    let twice = invite(&app, &admin, json!({ "max_uses": 2 })).await;
    invitation::Entity::update_many()
        .col_expr(
            invitation::Column::ExpiresAt,
            Expr::value(server::platform::time::now() - chrono::Duration::seconds(1)),
        )
        .filter(invitation::Column::Id.eq(string_at(&expired, "/invitation/id")))
        .exec(app.db())
        .await
        .unwrap();
    let revoke_path = format!(
        "/api/admin/invitations/{}",
        string_at(&revoked, "/invitation/id")
    );
    let body = app.delete_ok(&revoke_path, &admin).await;
    assert_eq!(body["invitation"]["state"], json!("revoked"));
    let twice_code = string_at(&twice, "/code");

    // Act
    let after_expiry =
        register_with(&app, "a@example.com", Some(&string_at(&expired, "/code"))).await;
    let after_revoke =
        register_with(&app, "b@example.com", Some(&string_at(&revoked, "/code"))).await;
    let first = register_with(&app, "c@example.com", Some(&twice_code)).await;
    let second = register_with(&app, "d@example.com", Some(&twice_code)).await;
    let third = register_with(&app, "e@example.com", Some(&twice_code)).await;

    // Assert
    assert_error(&after_expiry, StatusCode::FORBIDDEN);
    assert_error(&after_revoke, StatusCode::FORBIDDEN);
    assert_eq!(first.0, StatusCode::ACCEPTED, "{}", first.2);
    assert_eq!(second.0, StatusCode::ACCEPTED, "{}", second.2);
    assert_error(&third, StatusCode::FORBIDDEN);
    let (_, _, list) = app.get("/api/admin/invitations", &admin).await;
    let states = strings_in(&list["invitations"], "/state");
    let mut sorted = states.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["expired", "revoked", "used"], "{list}");
    // Revoking twice is refused; an unknown one is not found.
    assert_error(
        &app.delete(&revoke_path, &admin).await,
        StatusCode::BAD_REQUEST,
    );
    assert_error(
        &app.delete("/api/admin/invitations/inv_0000000000000000", &admin)
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn an_invitation_bound_to_an_email_admits_only_that_email() {
    // Arrange
    let app = spawn_app_with(registration(Registration::Invite)).await;
    let admin = app.create_admin().await;
    let code = string_at(
        &invite(&app, &admin, json!({ "email": "Grace@Example.com" })).await,
        "/code",
    );

    // Act
    let other = register_with(&app, "mallory@example.com", Some(&code)).await;
    let grace = register_with(&app, "grace@example.com", Some(&code)).await;

    // Assert
    assert_error(&other, StatusCode::FORBIDDEN);
    assert_eq!(grace.0, StatusCode::ACCEPTED, "{}", grace.2);
}

#[tokio::test]
async fn invitations_are_for_admins_shown_once_stored_hashed_and_audited() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.create_admin().await;
    let (user, _) = app.register("lena@example.com", PASSWORD, "Lena").await;

    // Act
    let refused = app.post("/api/admin/invitations", json!({}), &user).await;
    let refused_list = app.get("/api/admin/invitations", &user).await;
    let created = invite(
        &app,
        &admin,
        json!({ "email": "kim@example.com", "note": "Kim from the meetup", "max_uses": 1 }),
    )
    .await;
    let (status, _, list) = app.get("/api/admin/invitations", &admin).await;
    let bad = app
        .post("/api/admin/invitations", json!({ "max_uses": 0 }), &admin)
        .await;
    let past = app
        .post(
            "/api/admin/invitations",
            json!({ "expires_at": "2020-01-01T00:00:00Z" }),
            &admin,
        )
        .await;
    let id = string_at(&created, "/invitation/id");
    app.delete(&format!("/api/admin/invitations/{id}"), &admin)
        .await;
    let (_, _, audit) = app
        .get(&format!("/api/admin/audit?target_id={id}"), &admin)
        .await;

    // Assert
    assert_error(&refused, StatusCode::FORBIDDEN);
    assert_error(&refused_list, StatusCode::FORBIDDEN);
    assert_error(&bad, StatusCode::BAD_REQUEST);
    assert_error(&past, StatusCode::BAD_REQUEST);
    let code = string_at(&created, "/code");
    assert!(code.starts_with("inv-") && code.len() == 36, "{code}");
    assert_eq!(created["invitation"]["state"], json!("active"));
    assert_eq!(created["invitation"]["email"], json!("kim@example.com"));
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["invitations"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&code), "the list shows no code");
    assert!(code.starts_with(&string_at(&list, "/invitations/0/prefix")));
    let row = invitation::Entity::find_by_id(id.clone())
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.code_hash, secret::hash(&code));
    let actions = strings_in(&audit["entries"], "/action");
    assert_eq!(
        actions,
        ["invitation.revoke", "invitation.create"],
        "{audit}"
    );
    assert!(
        !audit.to_string().contains(&code),
        "the audit log shows no code"
    );
}

#[tokio::test]
async fn registrations_from_one_address_are_limited_per_window_even_at_once() {
    // Arrange
    let app = spawn_app_with(|settings| settings.auth.register_max_per_window = 3).await;

    // Act: ten at once from one address.
    let requests = registrations(10, "burst", "Burst", json!({}));
    let answers = send_all(&app.router, requests).await;

    // Assert
    assert_eq!(accepted(&answers), 3, "{answers:?}");
    for answer in answers.iter().filter(|a| a.0 != StatusCode::ACCEPTED) {
        let message = assert_error(answer, StatusCode::TOO_MANY_REQUESTS);
        assert!(message.contains("too many registrations"), "{message}");
        assert!(answer.1.get(header::RETRY_AFTER).is_some());
    }
    let created = user::Entity::find()
        .filter(user::Column::Email.like("burst%"))
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(created, 3);
}

#[tokio::test]
async fn a_taken_email_takes_about_as_long_as_a_new_one() {
    // Arrange
    let app = spawn_app().await;
    app.register_grace().await;
    let timed = |email: String| {
        let app = &app;
        async move {
            let started = Instant::now();
            let (status, _, _) = app.register_answer(&email, PASSWORD, "Someone").await;
            assert_eq!(status, StatusCode::ACCEPTED);
            started.elapsed()
        }
    };

    // Act: interleaved, so that load on the machine hits both alike.
    let mut new = Vec::new();
    let mut taken = Vec::new();
    for n in 0..5 {
        new.push(timed(format!("new{n}@example.com")).await);
        taken.push(timed("grace@example.com".to_owned()).await);
    }

    // Assert: no answer comes before the floor, whatever the outcome (a
    // taken email skips the writes, so without it it answers sooner); and
    // the medians agree, so a taken email does not skip the hash either.
    let floor = server::console::accounts::service::REGISTRATION_ANSWER_FLOOR;
    for took in new.iter().chain(&taken) {
        assert!(*took >= floor, "answered after {took:?}, before {floor:?}");
    }
    new.sort();
    taken.sort();
    let (new, taken): (Duration, Duration) = (new[2], taken[2]);
    assert!(
        taken * 2 >= new && new * 2 >= taken,
        "median: taken {taken:?} against new {new:?}"
    );
}
