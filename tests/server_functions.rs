//! The web UI's server functions, through the whole site's router in
//! memory: input they cannot read is the caller's fault (400, or 413 when
//! too large) with the problem named, never a 500.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use server::{AppState, Settings};
use tower::ServiceExt;

/// POSTs `form` to the server function at `path`; the status and the body.
async fn post_form(state: &AppState, path: &str, form: String) -> (StatusCode, String) {
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .unwrap();
    let response = app::ssr::site_router(state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_ten_megabyte_form_is_413_and_a_form_without_its_fields_is_400() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        data_dir: dir.path().to_owned(),
        ..Settings::default()
    };
    let state = AppState::build(settings).await.unwrap();
    let huge = format!("email={}&password=x", "a".repeat(10 << 20));

    // Act
    let (too_large, too_large_body) = post_form(&state, "/rpc/public/login", huge).await;
    let (missing, missing_body) = post_form(&state, "/rpc/public/login", "name=x".into()).await;
    let (garbled, garbled_body) =
        post_form(&state, "/rpc/public/register", "email=%zz&&&=".into()).await;

    // Assert
    assert_eq!(too_large, StatusCode::PAYLOAD_TOO_LARGE, "{too_large_body}");
    assert!(too_large_body.contains("too large"), "{too_large_body}");
    assert_eq!(missing, StatusCode::BAD_REQUEST, "{missing_body}");
    assert!(missing_body.contains("email"), "{missing_body}");
    assert_eq!(garbled, StatusCode::BAD_REQUEST, "{garbled_body}");
    state.flush_writers().await;
}
