//! Who is calling: session tokens (JWT + a `sessions` row), the cookie the web
//! UI uses, passwords, login throttling, and the middleware that makes
//! authentication the default for every route.

pub mod cookie;
pub mod jwt;
pub mod middleware;
pub mod password;
pub mod session;
pub mod throttle;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{Extensions, HeaderMap, request::Parts},
};

use crate::{
    console::entitlements::EffectivePlan,
    platform::{
        entity::user::{self, Role},
        error::Error,
    },
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

/// The caller's address, what the login and registration throttles count
/// by; `local` when the server was not given connection info (the tests
/// drive the router in memory). The authentication middleware resolves it
/// once per request ([`ClientAddress::resolve`]).
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

impl ClientAddress {
    /// The TCP peer, or, when the peer is one of `trusted_proxies`, the
    /// nearest address in `X-Forwarded-For` that is not (the header's
    /// earlier entries are whatever the client wrote). An IPv6 address
    /// stands for its /64, the share one host usually gets: counting each
    /// address apart would let one host throttle-hop through 2^64.
    pub fn resolve(
        trusted_proxies: &[IpAddr],
        headers: &HeaderMap,
        extensions: &Extensions,
    ) -> Self {
        let Some(peer) = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
        else {
            return Self("local".into());
        };
        let mut client = peer;
        if trusted_proxies.contains(&peer) {
            let forwarded: Vec<IpAddr> = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .filter_map(|hop| hop.trim().parse().ok())
                .collect();
            for hop in forwarded.into_iter().rev() {
                if !trusted_proxies.contains(&client) {
                    break;
                }
                client = hop;
            }
        }
        Self(bucket(client))
    }

    /// What the middleware resolved, or the TCP peer.
    pub fn of(parts: &Parts) -> Self {
        parts
            .extensions
            .get::<ClientAddress>()
            .cloned()
            .unwrap_or_else(|| Self::resolve(&[], &parts.headers, &parts.extensions))
    }
}

fn bucket(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V6(v6) => format!("{}/64", Ipv6Addr::from(u128::from(v6) & !(u128::MAX >> 64))),
        v4 => v4.to_string(),
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

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn client(peer: &str, forwarded: Option<&str>, trusted: &[&str]) -> String {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::new(peer.parse().unwrap(), 40_000)));
        let mut headers = HeaderMap::new();
        if let Some(forwarded) = forwarded {
            headers.insert("x-forwarded-for", HeaderValue::from_str(forwarded).unwrap());
        }
        let trusted: Vec<IpAddr> = trusted.iter().map(|ip| ip.parse().unwrap()).collect();
        ClientAddress::resolve(&trusted, &headers, &extensions).0
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        // A client's own X-Forwarded-For is not believed.
        assert_eq!(
            client("203.0.113.7", Some("198.51.100.1"), &[]),
            "203.0.113.7"
        );
        // Behind a trusted proxy: the nearest hop it did not add itself.
        assert_eq!(
            client("10.0.0.2", Some("198.51.100.1, 203.0.113.9"), &["10.0.0.2"]),
            "203.0.113.9"
        );
        // Through two trusted proxies, a forged first entry still loses.
        assert_eq!(
            client(
                "10.0.0.2",
                Some("1.2.3.4, 203.0.113.9, 10.0.0.1"),
                &["10.0.0.2", "10.0.0.1"]
            ),
            "203.0.113.9"
        );
        assert_eq!(client("10.0.0.2", None, &["10.0.0.2"]), "10.0.0.2");
    }

    #[test]
    fn an_ipv6_client_counts_as_its_64() {
        assert_eq!(
            client("2001:db8:1:2:aaaa::1", None, &[]),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client("2001:db8:1:2:ffff::9", None, &[]),
            "2001:db8:1:2::/64"
        );
        assert_eq!(client("::ffff:192.0.2.5", None, &[]), "192.0.2.5");
    }
}
