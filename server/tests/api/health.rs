//! The health check load balancers poll, open to everyone.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_check_answers_ok_without_authentication() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, _, body) = app.request(Method::GET, "/api/health", None, None).await;

    // Assert
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "ok": true }));
}
