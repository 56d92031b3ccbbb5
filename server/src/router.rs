//! The route table. Paths and handlers only: authentication is applied to
//! everything by [`crate::auth::middleware`], whose public list is explicit.

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    middleware,
    routing::{any, delete, get, patch, post, put},
};
use serde_json::{Value, json};
use tower_http::trace::TraceLayer;

use crate::{
    accounts::handlers as accounts, analytics::handlers as analytics, audit::handlers as audit,
    auth, browser, credits::handlers as credits, entitlements::handlers as grants, error::Error,
    invitations::handlers as invitations, keys::handlers as keys, limits::handlers as limits,
    live::handlers as live, models::handlers as models, providers::handlers as providers, proxy,
    state::AppState, telemetry, usage::handlers as usage,
};

/// The whole API, as tests drive it.
pub fn build_router(state: AppState) -> Router {
    build_router_with_ui(state, Router::new())
}

/// The API plus the web UI's routes (pages, server functions, static files),
/// all behind the same authentication middleware.
pub fn build_router_with_ui(state: AppState, ui: Router) -> Router {
    let api = Router::new()
        .route("/health", get(health))
        .route("/auth/register", post(accounts::register))
        .route("/auth/login", post(accounts::login))
        .route("/auth/logout", post(accounts::logout))
        .route("/users/me", get(accounts::me))
        .route("/users/me/credits", get(credits::mine))
        .route("/users/me/usage", get(usage::report))
        .route("/users/me/usage.csv", get(usage::csv))
        .route("/models", get(models::available))
        .route("/stats", get(analytics::stats))
        .route("/leaderboard", get(analytics::leaderboard))
        .route(
            "/presence",
            get(analytics::online).post(analytics::heartbeat),
        )
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", patch(keys::update).delete(keys::revoke))
        .route(
            "/admin/users",
            get(accounts::list_users).post(accounts::create_user),
        )
        .route(
            "/admin/users/{id}",
            patch(accounts::update_user).delete(accounts::delete_user),
        )
        .route("/admin/users/{id}/credits", get(credits::of_user))
        .route("/admin/users/active", get(analytics::active_users))
        .route("/admin/llm-usage", get(analytics::llm_usage))
        .route("/admin/stats", get(analytics::platform_stats))
        .route("/admin/usage.csv", get(analytics::usage_csv))
        .route("/admin/credits/grant", post(credits::grant))
        .route("/admin/credits/refund", post(credits::refund))
        .route(
            "/admin/providers",
            get(providers::list).post(providers::create),
        )
        .route(
            "/admin/providers/{id}",
            get(providers::get)
                .patch(providers::update)
                .delete(providers::delete),
        )
        .route("/admin/grants", get(grants::list).post(grants::create))
        .route("/admin/grants/{id}", delete(grants::revoke))
        .route(
            "/admin/invitations",
            get(invitations::list).post(invitations::create),
        )
        .route("/admin/invitations/{id}", delete(invitations::revoke))
        .route("/admin/rate-limits", get(limits::list))
        .route("/admin/rate-limits/{plan}", put(limits::set))
        .route("/admin/stats/overview", get(live::overview))
        .route("/admin/live", get(live::live))
        .route("/admin/live/ws", get(live::live_ws))
        .route("/admin/audit", get(audit::list))
        .route("/admin/models", get(models::list).post(models::create))
        .route(
            "/admin/models/{id}",
            get(models::get)
                .patch(models::update)
                .delete(models::delete),
        )
        .fallback(api_not_found)
        .method_not_allowed_fallback(api_method_not_allowed)
        .with_state(state.clone());

    // The LLM API: authenticated by API key (see `proxy::auth`), under
    // `/v1` and, for clients that need one base URL, `/api/v1`.
    // The body limit is the proxy's own (`proxy.max_body_bytes`), answered
    // in the client's format.
    let llm = Router::new()
        .route("/models", get(proxy::models::list))
        .route("/chat/completions", post(proxy::forward::chat_completions))
        .route("/messages", post(proxy::forward::messages))
        .route("/responses", post(proxy::forward::responses))
        .route(
            "/messages/count_tokens",
            post(proxy::count_tokens::count_tokens),
        )
        .fallback(proxy::not_found)
        .layer(DefaultBodyLimit::disable())
        .with_state(state.clone());

    Router::new()
        .nest("/v1", llm.clone())
        .nest("/api/v1", llm)
        .nest("/api", api)
        .route("/api/", any(api_not_found))
        .route("/metrics", get(telemetry::exporter::metrics))
        .with_state(state.clone())
        .merge(ui)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::middleware::authenticate,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            telemetry::middleware::record,
        ))
        .layer(middleware::from_fn_with_state(state, browser::secure))
        .layer(TraceLayer::new_for_http())
}

async fn health() -> Json<Value> {
    Json(json!({ "ok": true }))
}

/// `tollgate health`: whether the server configured to listen on `addr`
/// answers `/api/health` (a container image's health check, which has no
/// curl). An unspecified address (`0.0.0.0`) is asked on loopback.
pub async fn probe_health(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let ip = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    let url = format!(
        "http://{}/api/health",
        std::net::SocketAddr::new(ip, addr.port())
    );
    let client = crate::proxy::upstream::client_builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?;
    let status = client.get(&url).send().await?.status();
    anyhow::ensure!(status.is_success(), "{url} answered {status}");
    Ok(())
}

async fn api_not_found() -> Error {
    Error::not_found("no such endpoint")
}

async fn api_method_not_allowed() -> Error {
    Error::MethodNotAllowed
}
