//! Server-only glue: the Leptos routes mounted on the server's router, and
//! the accessors server functions use to reach the shared state and the
//! caller. Nothing here is compiled to WASM.

use axum::Router;
use http::StatusCode;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, ResponseOptions, generate_route_list};
use server::{AppState, Settings, console::auth::CurrentUser};

use crate::{App, error::AppError, shell};

/// The whole site: the REST API, and the UI's pages, server functions and
/// static files, behind one authentication middleware.
pub fn site_router(state: AppState) -> Router {
    let options = leptos_options(&state.settings);
    let routes = generate_route_list(App);
    let context = {
        let state = state.clone();
        move || provide_context(state.clone())
    };
    let ui = Router::new()
        .leptos_routes_with_context(&options, routes, context.clone(), {
            let options = options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(
            context, shell,
        ))
        .with_state(options);
    server::build_router_with_ui(state, ui)
}

/// Leptos settings from ours: the site's files are wherever the build put
/// them (`server.site_root`), the bundle is always named `tollgate`.
pub fn leptos_options(settings: &Settings) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("tollgate")
        .site_root(settings.server.site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .site_addr(settings.server.addr)
        .build()
}

/// The shared state, provided to every render and server function.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or(AppError::Internal)
}

/// The caller, as the authentication middleware resolved them.
pub fn current_user() -> Option<CurrentUser> {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<CurrentUser>().cloned())
}

pub fn require_user() -> Result<CurrentUser, AppError> {
    current_user().ok_or_else(|| {
        fail(
            StatusCode::UNAUTHORIZED,
            AppError::Unauthorized("Please sign in.".into()),
        )
    })
}

fn require_admin() -> Result<CurrentUser, AppError> {
    let user = require_user()?;
    if user.is_admin() {
        Ok(user)
    } else {
        Err(fail(
            StatusCode::FORBIDDEN,
            AppError::Forbidden("Only admins can do that.".into()),
        ))
    }
}

/// What a signed-in user's server function needs: the shared state and the
/// caller (401 signed out).
pub fn user() -> Result<(AppState, CurrentUser), AppError> {
    let user = require_user()?;
    Ok((state()?, user))
}

/// What an admin's server function needs: the shared state and the admin
/// calling (401 signed out, 403 for anyone else).
pub fn admin() -> Result<(AppState, CurrentUser), AppError> {
    let admin = require_admin()?;
    Ok((state()?, admin))
}

/// One of the contract's values from its wire name (`"openai"`, `"pro"`),
/// as a form sends it; 400 naming `field` otherwise.
pub fn wire_name<T: std::str::FromStr>(field: &str, name: &str) -> Result<T, AppError> {
    name.parse()
        .map_err(|_| invalid(format!("{field}: unknown value {name:?}")))
}

/// Refused input: a 400 with the message people see.
pub fn invalid(message: impl Into<String>) -> AppError {
    fail(StatusCode::BAD_REQUEST, AppError::Invalid(message.into()))
}

/// A server function's arguments that could not be read: 413 when the body
/// is over axum's default limit (2 MB; server function calls are small
/// forms), 400 otherwise, saying what was wrong.
pub fn unreadable_arguments(err: &leptos::server_fn::error::ServerFnErrorErr) -> AppError {
    // `server_fn` hands the body's error over as text only.
    let message = err.to_string();
    if message.contains("length limit exceeded") {
        fail(
            StatusCode::PAYLOAD_TOO_LARGE,
            AppError::Invalid("The form is too large.".into()),
        )
    } else {
        invalid(format!("Invalid input: {message}"))
    }
}

/// The client's address, for login throttling.
pub fn client_ip() -> String {
    use_context::<http::request::Parts>()
        .map(|parts| server::console::auth::ClientAddress::of(&parts).0)
        .unwrap_or_else(|| "local".into())
}

/// This Tollgate's address as the client reached it (`Host`, and the
/// scheme a proxy in front says it used).
pub fn base_url() -> String {
    let header = |name: &str| {
        use_context::<http::request::Parts>().and_then(|parts| {
            parts
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        })
    };
    let scheme = match header("x-forwarded-proto").as_deref() {
        Some("https") => "https",
        _ => "http",
    };
    let host = header("host").unwrap_or_else(|| "127.0.0.1:3000".into());
    format!("{scheme}://{host}")
}

pub fn user_agent() -> Option<String> {
    use_context::<http::request::Parts>().and_then(|parts| {
        parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    })
}

/// The page's content security policy, which lets its own inline scripts
/// (hydration, streamed resources) run by their nonce and nothing else.
pub fn set_content_security_policy() {
    if let (Ok(state), Some(nonce)) = (state(), leptos::nonce::use_nonce()) {
        set_header(
            http::header::CONTENT_SECURITY_POLICY,
            server::console::browser::content_security_policy(&state.settings, Some(&nonce)),
        );
    }
}

pub fn set_header(name: http::HeaderName, value: http::HeaderValue) {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.insert_header(name, value);
    }
}

/// Sets the HTTP status of the server function's response and returns the error.
fn fail(status: StatusCode, error: AppError) -> AppError {
    if let Some(response) = use_context::<ResponseOptions>() {
        response.set_status(status);
    }
    error
}

impl From<server::Error> for AppError {
    fn from(err: server::Error) -> Self {
        let status = err.status_code();
        let message = err.public_message();
        let app_error = match err {
            server::Error::BadRequest(_) | server::Error::MethodNotAllowed => {
                AppError::Invalid(message)
            }
            server::Error::Unauthorized(_) => AppError::Unauthorized(message),
            server::Error::Forbidden(_) => AppError::Forbidden(message),
            server::Error::NotFound(_) => AppError::NotFound(message),
            server::Error::Conflict(_) => AppError::Conflict(message),
            server::Error::TooManyRequests { .. } => AppError::TooManyRequests(message),
            server::Error::Unavailable(err) => {
                tracing::error!(error = %err, "a service is unavailable to a server function");
                AppError::Internal
            }
            server::Error::Internal(err) => {
                tracing::error!(error = ?err, "internal error in a server function");
                AppError::Internal
            }
        };
        fail(status, app_error)
    }
}

/// `at` as the UI shows it, relative to `now`.
pub fn moment(
    at: &chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::dto::Moment {
    crate::dto::Moment {
        at: server::platform::time::iso(at),
        ago: server::console::analytics::dashboard::relative(*at, now),
    }
}

/// `view`, made `at`, as the UI shows it (`now` being when it answers).
pub fn dated<T>(
    view: T,
    at: contract::Timestamp,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::dto::Dated<T> {
    // The server wrote `at` from its clock, so it always reads back.
    let ago = at
        .parse::<chrono::DateTime<chrono::Utc>>()
        .map(|at| server::console::analytics::dashboard::relative(at, now))
        .unwrap_or_default();
    crate::dto::Dated {
        view,
        created: crate::dto::Moment { at: at.into(), ago },
    }
}

#[cfg(test)]
mod tests {
    use contract::{Plan, ProviderKind};

    use super::*;

    #[test]
    fn a_wire_name_reads_as_the_servers_enum_and_anything_else_is_refused() {
        let kind: ProviderKind = wire_name("kind", "openai_responses").unwrap();
        assert_eq!(kind, ProviderKind::OpenaiResponses);
        let plan: Plan = wire_name("plan", "pro").unwrap();
        assert_eq!(plan, Plan::Pro);
        let refused = wire_name::<Plan>("plan", "platinum").unwrap_err();
        assert!(refused.to_string().contains("plan"), "{refused}");
    }
}
