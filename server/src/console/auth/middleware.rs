//! Authentication is the default for every route: this middleware resolves the
//! caller from `Authorization: Bearer` or the session cookie, and only the
//! routes in [`PUBLIC_PATHS`] and [`PUBLIC_PREFIXES`] pass without one.
//! Cookie-authenticated writes must come from our own origin (CSRF).

use axum::{
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};

use crate::{
    console::{
        auth::{ClientAddress, Credential, CurrentUser, cookie, session},
        keys,
    },
    platform::error::Error,
    state::AppState,
};

/// Paths anyone may request.
pub const PUBLIC_PATHS: &[&str] = &[
    "/",
    "/login",
    "/register",
    "/favicon.ico",
    "/favicon.svg",
    "/api/health",
    "/api/openapi.json",
    "/api/auth/login",
    "/api/auth/register",
    // Authenticated by its own token (`metrics.token`), as Prometheus sends it.
    "/metrics",
];

/// Path prefixes anyone may request: static assets and the server functions
/// behind the login and register pages.
pub const PUBLIC_PREFIXES: &[&str] = &["/pkg/", "/assets/", "/rpc/public/"];

/// The LLM API authenticates by API key, not by session: its handlers take
/// [`crate::gateway::proxy::auth::ApiKeyAuth`], which refuses a request without a valid key.
pub const API_KEY_PREFIXES: &[&str] = &["/v1/", "/api/v1/", "/v1beta/"];

/// Dashboard paths that also take an API key (`x-api-key`) instead of a
/// session: the hackathon dashboard and a user's own figures, so that a
/// script or CLI holding only a key can read them. Nothing that changes
/// an account, a key or anything of an admin's.
pub const API_KEY_DASHBOARD_PATHS: &[&str] = &[
    "/api/users/me",
    "/api/users/me/credits",
    "/api/users/me/usage",
    "/api/users/me/usage.csv",
    "/api/stats",
    "/api/leaderboard",
    "/api/presence",
];

/// Prefixes whose clients are programs: they get a 401 in JSON rather than a
/// redirect to the login page.
const API_PREFIXES: &[&str] = &["/api/", "/rpc/", "/v1/", "/v1beta/"];

/// Whether `path` may be requested without signing in. A path with a dot
/// segment (`/pkg/../admin`) never is: what it names is decided after
/// normalisation, not by its prefix.
pub fn is_public(path: &str) -> bool {
    if has_dot_segment(path) {
        return false;
    }
    PUBLIC_PATHS.contains(&path)
        || PUBLIC_PREFIXES
            .iter()
            .any(|prefix| path.starts_with(prefix))
}

/// `.` or `..` as a segment, plainly or percent-encoded.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
        decoded == "." || decoded == ".."
    })
}

pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let public = is_public(&path);
    let static_asset = public && (path.starts_with("/pkg/") || path.starts_with("/assets/"));
    if static_asset
        || API_KEY_PREFIXES
            .iter()
            .any(|prefix| path.starts_with(prefix))
    {
        return next.run(request).await;
    }

    let client = ClientAddress::resolve(
        &state.settings.server.trusted_proxies,
        request.headers(),
        request.extensions(),
    );
    request.extensions_mut().insert(client);

    // Login CSRF: a foreign page must not sign a visitor in (to the
    // attacker's account) or register for them. Browsers say where a
    // request comes from; programs (curl, SDKs) say nothing and pass.
    if public && !is_safe(request.method()) && from_another_site(request.headers()) {
        return Error::Forbidden("cross-site request refused".into()).into_response();
    }

    let credential = bearer_token(request.headers())
        .map(|token| (token, Credential::Bearer))
        .or_else(|| cookie::read(request.headers()).map(|token| (token, Credential::Cookie)));
    let api_key = request
        .headers()
        .get("x-api-key")
        .and_then(|value| value.to_str().ok())
        .filter(|_| API_KEY_DASHBOARD_PATHS.contains(&path.as_str()));
    let resolved = match (credential, api_key) {
        (Some((token, kind)), _) => {
            session::authenticate(&state.db, &state.jwt, &state.entitlements, &token, kind).await
        }
        (None, Some(key)) => by_api_key(&state, key).await,
        (None, None) => Err(Error::Unauthorized("authentication required".into())),
    };

    match resolved {
        Ok(current) => {
            if !public
                && current.credential == Credential::Cookie
                && !is_safe(request.method())
                && !same_origin(request.headers())
            {
                return Error::Forbidden("cross-site request refused".into()).into_response();
            }
            request.extensions_mut().insert(current);
        }
        Err(err) if !public => return refuse(&request, err),
        // A public page with a stale cookie is simply served anonymously.
        Err(_) => {}
    }
    next.run(request).await
}

async fn by_api_key(state: &AppState, key: &str) -> Result<CurrentUser, Error> {
    let (key, user) = keys::service::authenticate(&state.db, &state.key_cache, key.trim()).await?;
    let plan = state.entitlements.resolve(&state.db, &user).await?;
    Ok(CurrentUser {
        user,
        session_id: None,
        api_key_id: Some(key.id),
        credential: Credential::ApiKey,
        plan,
    })
}

/// Programs get the error; people are sent to the login page and back.
fn refuse(request: &Request, err: Error) -> Response {
    let path = request.uri().path();
    let is_api = path == "/api" || API_PREFIXES.iter().any(|prefix| path.starts_with(prefix));
    let is_page = request.method() == Method::GET && !is_api;
    if !is_page || !matches!(err, Error::Unauthorized(_)) {
        return err.into_response();
    }
    let target = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let next: String = form_urlencoded::byte_serialize(target.as_bytes()).collect();
    let mut response = Redirect::to(&format!("/login?next={next}")).into_response();
    *response.status_mut() = StatusCode::SEE_OTHER;
    response
}

fn bearer_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_owned())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Browsers say where a request comes from in `Sec-Fetch-Site`, `Origin` or
/// `Referer`; a write is accepted only when that is this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let header_str = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header_str(header::HeaderName::from_static("sec-fetch-site")) {
        return site == "same-origin" || site == "none";
    }
    let Some(host) = header_str(header::HOST) else {
        return false;
    };
    let source = header_str(header::ORIGIN).or_else(|| header_str(header::REFERER));
    source
        .and_then(authority_of)
        .is_some_and(|authority| authority.eq_ignore_ascii_case(host))
}

/// Whether a browser says the request comes from another site: a
/// `Sec-Fetch-Site` other than same-origin or none, or an `Origin` that is
/// not this host. A request that says neither is not a browser's.
fn from_another_site(headers: &HeaderMap) -> bool {
    let says_where = headers.contains_key("sec-fetch-site") || headers.contains_key(header::ORIGIN);
    says_where && !same_origin(headers)
}

/// `https://example.com:8443/path` → `example.com:8443`.
fn authority_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    Some(rest.split(['/', '?', '#']).next().unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_list_is_explicit() {
        assert!(is_public("/api/health"));
        assert!(is_public("/pkg/tollgate.wasm"));
        assert!(is_public("/rpc/public/login"));
        assert!(!is_public("/api/users/me"));
        assert!(!is_public("/dashboard"));
        assert!(!is_public("/api/health/extra"));
        assert!(!is_public("/rpc/dashboard"));
        assert!(!is_public("/pkg/../admin"));
        assert!(!is_public("/pkg/%2E%2e/admin"));
        assert!(!is_public("/assets/./x/../../admin"));
        assert!(is_public("/pkg/app..v2.wasm"));
    }

    #[test]
    fn origin_checks_compare_the_authority() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "127.0.0.1:3000".parse().unwrap());
        assert!(!same_origin(&headers), "no origin at all is refused");
        headers.insert(header::ORIGIN, "http://127.0.0.1:3000".parse().unwrap());
        assert!(same_origin(&headers));
        headers.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&headers));
        headers.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&headers));
        headers.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&headers));
    }
}
