//! Who is calling: session tokens (JWT + a `sessions` row), the cookie the web
//! UI uses, passwords, login throttling, and the middleware that makes
//! authentication the default for every route.

pub mod cookie;
pub mod jwt;
pub mod middleware;
pub mod next;
pub mod password;
pub mod session;
pub mod throttle;

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};

use crate::{
    entitlements::EffectivePlan,
    entity::user::{self, Role},
    error::Error,
};

/// How the caller proved who they are. Cookie-authenticated writes are the
/// ones that need CSRF protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Bearer,
    Cookie,
    /// `x-api-key`, accepted on the few read-mostly paths of
    /// [`middleware::API_KEY_DASHBOARD_PATHS`].
    ApiKey,
}

/// The signed-in user of this request, put in the request's extensions by the
/// authentication middleware.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user: user::Model,
    /// The session (`jti`) this request runs under; `None` for an API key.
    pub session_id: Option<String>,
    /// The API key this request was signed in with: the key itself
    /// (`x-api-key`), or the key a session was opened with. Such a caller
    /// cannot create keys, so a leaked key cannot mint a lasting one.
    pub api_key_id: Option<String>,
    pub credential: Credential,
    /// The plan in effect: `PRO_LIFETIME` with an active grant.
    pub plan: EffectivePlan,
}

impl CurrentUser {
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or_else(|| Error::Unauthorized("authentication required".into()))
    }
}

/// The caller's IP address, what the login and registration throttles
/// count by; `local` when the server was not given connection info (the
/// tests drive the router in memory).
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

impl ClientAddress {
    pub fn of(parts: &Parts) -> Self {
        Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip().to_string())
                .unwrap_or_else(|| "local".into()),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(parts))
    }
}

/// A signed-in admin; anyone else gets 403.
#[derive(Debug, Clone)]
pub struct AdminUser(pub CurrentUser);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let current = CurrentUser::from_request_parts(parts, state).await?;
        if current.is_admin() {
            Ok(AdminUser(current))
        } else {
            Err(Error::Forbidden("admin access required".into()))
        }
    }
}
