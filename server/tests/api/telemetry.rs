//! Every request becomes a `request_metrics` row with its route template.

use axum::http::{Method, StatusCode};
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use server::platform::entity::request_metric;

use crate::helpers::{PASSWORD, spawn_app};

#[tokio::test]
async fn requests_are_recorded_with_route_templates_and_statuses() {
    // Arrange
    let app = spawn_app().await;
    let (token, _) = app.register("mia@example.com", PASSWORD, "Mia").await;

    // Act
    let health = app.request(Method::GET, "/api/health", None, None).await;
    let anonymous = app.request(Method::GET, "/api/users/me", None, None).await;
    let missing_key = app.delete("/api/keys/key_0123456789abcdef", &token).await;
    let unknown = app.get("/nope/secret-path", &token).await;
    app.state.metrics.flush().await;

    // Assert
    assert_eq!(health.0, StatusCode::OK);
    assert_eq!(anonymous.0, StatusCode::UNAUTHORIZED);
    assert_eq!(missing_key.0, StatusCode::NOT_FOUND);
    let rows: Vec<(String, i32)> = request_metric::Entity::find()
        .order_by_asc(request_metric::Column::Id)
        .all(app.db())
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            assert!(row.duration_ms >= 0);
            (row.route, row.status_code)
        })
        .collect();
    let expected = [
        ("/api/auth/register".to_owned(), 202),
        ("/api/auth/login".to_owned(), 200),
        ("/api/health".to_owned(), 200),
        ("/api/users/me".to_owned(), 401),
        ("/api/keys/{id}".to_owned(), 404),
        ("(unmatched)".to_owned(), i32::from(unknown.0.as_u16())),
    ];
    assert_eq!(rows, expected);
    assert!(
        rows.iter()
            .all(|(route, _)| !route.contains("0123456789abcdef"))
    );
}

#[tokio::test]
async fn a_burst_of_requests_is_written_completely() {
    // Arrange
    let app = spawn_app().await;

    // Act
    for _ in 0..250 {
        app.request(Method::GET, "/api/health", None, None).await;
    }
    app.state.metrics.flush().await;

    // Assert
    let written = request_metric::Entity::find()
        .count(app.db())
        .await
        .unwrap();
    assert_eq!(written, 250);
    assert_eq!(app.state.metrics.dropped(), 0);
}
