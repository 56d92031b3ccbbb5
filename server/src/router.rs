//! The route table. Paths and handlers only: authentication is applied to
//! everything by [`crate::console::auth::middleware`], whose public list is explicit.

use std::sync::OnceLock;

use axum::{
    Json, Router,
    extract::DefaultBodyLimit,
    http::header,
    middleware,
    response::{IntoResponse, Response},
    routing::{any, get},
};
use tower_http::trace::TraceLayer;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    console::{
        accounts::handlers as accounts, analytics::handlers as analytics, audit::handlers as audit,
        auth, browser, credits::handlers as credits, entitlements::handlers as grants,
        invitations::handlers as invitations, keys::handlers as keys, limits::handlers as limits,
        live::handlers as live, models::handlers as models, providers::handlers as providers,
        usage::handlers as usage,
    },
    gateway::proxy,
    openapi,
    platform::{error::Error, http_client, telemetry},
    state::AppState,
};

/// The OpenAPI description of both tables, built once.
pub fn openapi_document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| openapi::describe(api_routes(), llm_routes()))
}

/// The whole API, as tests drive it.
pub fn build_router(state: AppState) -> Router {
    build_router_with_ui(state, Router::new())
}

/// The API plus the web UI's routes (pages, server functions, static files),
/// all behind the same authentication middleware.
pub fn build_router_with_ui(state: AppState, ui: Router) -> Router {
    let (api, _) = api_routes().split_for_parts();
    let api = api
        .fallback(api_not_found)
        .method_not_allowed_fallback(api_method_not_allowed)
        .with_state(state.clone());

    // The body limit is the proxy's own (`proxy.max_body_bytes`), answered
    // in the client's format.
    let (llm, _) = llm_routes().split_for_parts();
    let llm = llm
        .fallback(proxy::not_found)
        .method_not_allowed_fallback(proxy::not_found)
        .layer(DefaultBodyLimit::disable())
        .with_state(state.clone());
    let gemini = Router::new()
        .route("/models", get(proxy::models::list))
        .route(
            "/models/{model}",
            get(proxy::models::get).post(proxy::gemini::call),
        )
        .fallback(proxy::not_found)
        .method_not_allowed_fallback(proxy::not_found)
        .layer(DefaultBodyLimit::disable())
        .with_state(state.clone());

    Router::new()
        .nest("/v1beta", gemini)
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
        // The path only: a query may carry a key (Gemini's `?key=`).
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    path = %request.uri().path(),
                    version = ?request.version(),
                )
            }),
        )
}

/// The dashboard API, served under `/api`. Every route is added through
/// `routes!`, which takes its path and method from the handler's
/// `#[utoipa::path]`: the OpenAPI description ([`openapi_document`]) is
/// built from this same table.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(openapi_json))
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::logout))
        .routes(routes!(accounts::me))
        .routes(routes!(credits::mine))
        .routes(routes!(usage::report))
        .routes(routes!(usage::csv))
        .routes(routes!(models::available))
        .routes(routes!(analytics::stats))
        .routes(routes!(analytics::leaderboard))
        .routes(routes!(analytics::online, analytics::heartbeat))
        .routes(routes!(keys::list, keys::create))
        .routes(routes!(keys::update, keys::revoke))
        .routes(routes!(accounts::list_users, accounts::create_user))
        .routes(routes!(accounts::update_user, accounts::delete_user))
        .routes(routes!(credits::of_user))
        .routes(routes!(analytics::active_users))
        .routes(routes!(analytics::llm_usage))
        .routes(routes!(analytics::platform_stats))
        .routes(routes!(analytics::usage_csv))
        .routes(routes!(credits::grant))
        .routes(routes!(credits::refund))
        .routes(routes!(providers::list, providers::create))
        .routes(routes!(
            providers::get,
            providers::update,
            providers::delete
        ))
        .routes(routes!(grants::list, grants::create))
        .routes(routes!(grants::revoke))
        .routes(routes!(invitations::list, invitations::create))
        .routes(routes!(invitations::revoke))
        .routes(routes!(limits::list))
        .routes(routes!(limits::set))
        .routes(routes!(live::overview))
        .routes(routes!(live::live))
        .routes(routes!(live::live_ws))
        .routes(routes!(audit::list))
        .routes(routes!(models::list, models::create))
        .routes(routes!(models::get, models::update, models::delete))
}

/// The LLM API: authenticated by API key (see `proxy::auth`), under `/v1`
/// and, for clients that need one base URL, `/api/v1`.
pub fn llm_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(proxy::models::list))
        .routes(routes!(proxy::models::get, proxy::gemini::call))
        .routes(routes!(proxy::forward::chat_completions))
        .routes(routes!(proxy::forward::messages))
        .routes(routes!(proxy::forward::responses))
        .routes(routes!(proxy::forward::embeddings))
        .routes(routes!(proxy::count_tokens::count_tokens))
}

/// `{"ok": true}` while the server answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    pub ok: bool,
}

/// Whether the server answers: for load balancers and health checks.
#[utoipa::path(get, path = "/health", operation_id = "health", tag = "meta", security(()),
    responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { ok: true })
}

/// The OpenAPI description.
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 description of `/api` and `/v1`",
        content_type = "application/json")))]
async fn openapi_json() -> Result<Response, Error> {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = match JSON.get() {
        Some(json) => json,
        None => {
            let json = openapi_document().to_json().map_err(anyhow::Error::from)?;
            JSON.get_or_init(|| json)
        }
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response())
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
    let client = http_client::builder()
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
