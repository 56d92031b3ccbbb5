//! The web UI's session cookie: HttpOnly, SameSite=Lax, path `/`; made
//! `Secure` behind HTTPS by [`crate::console::browser`], which sees every answer.

use axum::http::{HeaderMap, HeaderValue, header::COOKIE};
use cookie::{Cookie, SameSite, time::Duration};

pub const SESSION_COOKIE: &str = "tollgate_session";

/// `Set-Cookie` value that stores a session token.
pub fn set(token: &str, max_age_secs: i64) -> HeaderValue {
    let cookie = Cookie::build((SESSION_COOKIE, token.to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(Duration::seconds(max_age_secs))
        .build();
    header_value(&cookie)
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear() -> HeaderValue {
    let cookie = Cookie::build((SESSION_COOKIE, ""))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .max_age(Duration::ZERO)
        .build();
    header_value(&cookie)
}

/// The session token from the request's cookies, if any.
pub fn read(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == SESSION_COOKIE && !cookie.value().is_empty())
        .map(|cookie| cookie.value().to_owned())
}

fn header_value(cookie: &Cookie<'_>) -> HeaderValue {
    // A token is ASCII (base64url and dots), so this cannot fail in practice.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}
