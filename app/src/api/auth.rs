//! Sign-up, sign-in and sign-out for the web UI. Login and register are
//! public (under `/rpc/public`); they set the same HttpOnly session cookie
//! as the REST API.

use leptos::prelude::*;

use crate::{dto::UserView, error::AppError};

/// The signed-in user, or `None` for a visitor.
#[server(prefix = "/rpc/public", endpoint = "current_user")]
pub async fn current_user() -> Result<Option<UserView>, AppError> {
    Ok(crate::ssr::current_user().map(|current| current.user.into()))
}

#[server(prefix = "/rpc/public", endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    use server::console::accounts::service;
    let state = crate::ssr::state()?;
    let user = service::authenticate_password(
        &state.db,
        &state.login_throttle,
        &email,
        &password,
        &crate::ssr::client_ip(),
    )
    .await?;
    start_session(&state, &user, None).await?;
    leptos_axum::redirect(&safe_next(next));
    Ok(())
}

/// The hackathon flow: a person an admin created by name signs in with the
/// API key they were given.
#[server(prefix = "/rpc/public", endpoint = "login_with_key")]
pub async fn login_with_key(api_key: String, next: Option<String>) -> Result<(), AppError> {
    let state = crate::ssr::state()?;
    let (key, user) = server::console::accounts::service::authenticate_key_sign_in(
        &state.db,
        &state.key_cache,
        &api_key,
    )
    .await?;
    start_session(&state, &user, Some(&key)).await?;
    leptos_axum::redirect(&safe_next(next));
    Ok(())
}

/// Registers, then signs in with the same email and password, as a person
/// would next. The registration answers alike whether or not the email had
/// an account; only the sign-in can tell, and it is throttled like the
/// login form's. `invitation` is needed when registration is by invitation.
#[server(prefix = "/rpc/public", endpoint = "register")]
pub async fn register(
    name: String,
    email: String,
    password: String,
    #[server(default)] invitation: Option<String>,
) -> Result<(), AppError> {
    use server::console::accounts::service::{self, SignUp};
    let state = crate::ssr::state()?;
    let client = crate::ssr::client_ip();
    let form = SignUp {
        email: email.clone(),
        password: password.clone(),
        name,
        invitation,
    };
    service::register(&state, &client, form).await?;
    let user = service::authenticate_password(
        &state.db,
        &state.login_throttle,
        &email,
        &password,
        &client,
    )
    .await
    .map_err(|err| match err {
        server::Error::Unauthorized(_) => AppError::from(server::Error::Unauthorized(
            "Registration received, but this email and password do not sign in. \
                     If you already have an account, sign in with its password."
                .into(),
        )),
        other => AppError::from(other),
    })?;
    start_session(&state, &user, None).await?;
    leptos_axum::redirect("/dashboard");
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    let (state, current) = crate::ssr::user()?;
    if let Some(session_id) = &current.session_id {
        server::console::auth::session::revoke(&state.db, session_id).await?;
    }
    crate::ssr::set_header(
        http::header::SET_COOKIE,
        server::console::auth::cookie::clear(),
    );
    leptos_axum::redirect("/");
    Ok(())
}

#[cfg(feature = "ssr")]
async fn start_session(
    state: &server::AppState,
    user: &server::platform::entity::user::Model,
    via_key: Option<&server::platform::entity::api_key::Model>,
) -> Result<(), AppError> {
    let issued =
        server::console::accounts::service::sign_in(state, user, crate::ssr::user_agent(), via_key)
            .await?;
    let max_age = (issued.expires_at - server::platform::time::now()).num_seconds();
    crate::ssr::set_header(
        http::header::SET_COOKIE,
        server::console::auth::cookie::set(&issued.token, max_age),
    );
    Ok(())
}

/// Only paths on Tollgate's own origin are followed after login.
#[cfg(feature = "ssr")]
fn safe_next(next: Option<String>) -> String {
    next.as_deref()
        .and_then(server::platform::next_url::local_target)
        .unwrap_or_else(|| "/dashboard".to_owned())
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/admin/users".into())), "/admin/users");
        assert_eq!(safe_next(Some("//evil.example".into())), "/dashboard");
        assert_eq!(safe_next(Some("https://evil.example".into())), "/dashboard");
        assert_eq!(safe_next(Some("/\t/evil.example".into())), "/dashboard");
        assert_eq!(safe_next(None), "/dashboard");
    }
}
