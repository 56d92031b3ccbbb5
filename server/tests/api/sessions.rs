//! `last_seen_at`: refreshed when a request comes more than a minute after the
//! last write, and not rewritten on every request.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use server::platform::entity::session;

use crate::helpers::{TestApp, spawn_app};

/// The only session of a user, as stored.
async fn session_of(app: &TestApp, user_id: &str) -> session::Model {
    let mut sessions = session::Entity::find()
        .filter(session::Column::UserId.eq(user_id))
        .all(app.db())
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1, "expected one session: {sessions:?}");
    sessions.remove(0)
}

/// Pretends the session was last seen at `at`.
async fn set_last_seen(app: &TestApp, jti: &str, at: DateTime<Utc>) {
    let result = session::Entity::update_many()
        .col_expr(session::Column::LastSeenAt, Expr::value(at))
        .filter(session::Column::Jti.eq(jti))
        .exec(app.db())
        .await
        .unwrap();
    assert_eq!(result.rows_affected, 1);
}

/// An app where Grace's session was last seen `ago`; returns the app, her
/// token and id, and when the session was last seen.
async fn grace_last_seen(ago: Duration) -> (TestApp, String, String, DateTime<Utc>) {
    let app = spawn_app().await;
    let (token, user_id) = app.register_grace().await;
    let jti = session_of(&app, &user_id).await.jti;
    let seen = Utc::now().trunc_subsecs(3) - ago;
    set_last_seen(&app, &jti, seen).await;
    (app, token, user_id, seen)
}

async fn assert_me_ok(app: &TestApp, token: &str) {
    app.get_ok("/api/users/me", token).await;
}

#[tokio::test]
async fn last_seen_at_is_refreshed_when_older_than_a_minute_and_not_on_every_request() {
    // Arrange
    let (app, token, user_id, _) = grace_last_seen(Duration::minutes(2)).await;

    // Act
    let before = Utc::now().trunc_subsecs(3);
    assert_me_ok(&app, &token).await;
    let after = Utc::now();
    let refreshed = session_of(&app, &user_id).await.last_seen_at;
    assert_me_ok(&app, &token).await;
    let again = session_of(&app, &user_id).await.last_seen_at;

    // Assert
    assert!(
        before <= refreshed && refreshed <= after,
        "last_seen_at was not moved to now: {refreshed} is not within {before}..{after}"
    );
    assert_eq!(
        again, refreshed,
        "last_seen_at was rewritten within a minute"
    );
}

#[tokio::test]
async fn a_session_seen_less_than_a_minute_ago_is_not_rewritten() {
    // Arrange
    let (app, token, user_id, half_a_minute_ago) = grace_last_seen(Duration::seconds(30)).await;

    // Act
    assert_me_ok(&app, &token).await;

    // Assert
    assert_eq!(
        session_of(&app, &user_id).await.last_seen_at,
        half_a_minute_ago
    );
}
