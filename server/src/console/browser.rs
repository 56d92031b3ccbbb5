//! What Tollgate tells browsers about its answers: no sniffing, no
//! referrer to other sites, no framing, a content security policy on every
//! page, and HSTS and `Secure` cookies when the request came over HTTPS. Pages rendered by the
//! web UI set their own policy with the nonce of their inline scripts; any
//! other HTML answer gets the same policy without one.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, header},
    middleware::Next,
    response::Response,
};

use cookie::Cookie;

use crate::{
    platform::config::{Settings, UpstreamPanel},
    state::AppState,
};

/// Whether the browser reached Tollgate over HTTPS: the operator says so
/// (`auth.secure_cookies`) or the proxy in front does (`X-Forwarded-Proto`).
/// Trusting the header is safe here: it can only make a cookie stricter.
pub fn over_https(settings: &Settings, headers: &HeaderMap) -> bool {
    settings.auth.secure_cookies
        || headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The policy for a page whose inline scripts carry `nonce`. Hydration
/// needs `'wasm-unsafe-eval'` to compile the bundle; styles may be inline
/// (charts position their tooltips with `style`).
pub fn content_security_policy(settings: &Settings, nonce: Option<&str>) -> HeaderValue {
    let nonce = nonce
        .map(|nonce| format!(" 'nonce-{nonce}'"))
        .unwrap_or_default();
    let frames = match settings.ui.upstream_panel() {
        Some(UpstreamPanel::OtherSite { origin, .. }) => origin,
        Some(UpstreamPanel::ThisSite { .. }) => "'self'".to_owned(),
        None => "'none'".to_owned(),
    };
    // `cargo leptos watch` reloads pages through a WebSocket on its own port.
    let reload = if std::env::var_os("LEPTOS_WATCH").is_some() {
        " ws: wss:"
    } else {
        ""
    };
    let policy = format!(
        "default-src 'self'; script-src 'self'{nonce} 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'{reload}; \
         frame-src {frames}; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; \
         form-action 'self'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}

/// The middleware: adds the headers every answer carries, and a policy to
/// HTML answers that have none.
pub async fn secure(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let https = over_https(&state.settings, request.headers());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|kind| kind.starts_with("text/html"));
    if html {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
        if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
            headers.insert(
                header::CONTENT_SECURITY_POLICY,
                content_security_policy(&state.settings, None),
            );
        }
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
        secure_cookies(headers);
    }
    response
}

/// Marks every cookie the answer sets `Secure`, so a browser sends it back
/// over HTTPS only.
fn secure_cookies(headers: &mut HeaderMap) {
    if !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| {
            let Some(mut cookie) = value.to_str().ok().and_then(|v| Cookie::parse(v).ok()) else {
                return value.clone();
            };
            cookie.set_secure(true);
            HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| value.clone())
        })
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(panel: Option<&str>, nonce: Option<&str>) -> String {
        let mut settings = Settings::default();
        settings.ui.upstream_panel_url = panel.map(str::to_owned);
        content_security_policy(&settings, nonce)
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn the_policy_allows_only_this_sites_scripts_and_the_pages_nonce() {
        let with_nonce = policy(None, Some("abc123"));
        assert!(with_nonce.contains("script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval';"));
        assert!(with_nonce.contains("frame-ancestors 'none'"));
        assert!(with_nonce.contains("frame-src 'none'"));
        let scripts = with_nonce
            .split(';')
            .find(|directive| directive.trim().starts_with("script-src"))
            .unwrap();
        assert!(!scripts.contains("unsafe-inline"), "{scripts}");
        assert!(policy(None, None).contains("script-src 'self' 'wasm-unsafe-eval';"));
    }

    #[test]
    fn frames_are_allowed_only_from_the_upstream_panels_origin() {
        assert!(
            policy(Some("http://127.0.0.1:8317/cliproxy/control-panel"), None)
                .contains("frame-src http://127.0.0.1:8317;")
        );
        assert!(policy(Some("/cliproxy/control-panel"), None).contains("frame-src 'self';"));
    }

    #[test]
    fn an_upstream_panel_is_an_http_url_or_a_path_on_this_site() {
        let panel = |url: &str| {
            let mut settings = Settings::default();
            settings.ui.upstream_panel_url = Some(url.to_owned());
            settings.ui.upstream_panel()
        };
        assert_eq!(
            panel("/cliproxy/control-panel"),
            Some(UpstreamPanel::ThisSite {
                path: "/cliproxy/control-panel".into()
            })
        );
        assert!(matches!(
            panel("https://panel.example:8443/x"),
            Some(UpstreamPanel::OtherSite { origin, .. }) if origin == "https://panel.example:8443"
        ));
        for refused in [
            "//evil.example/panel",
            "/\t/evil.example",
            "/\\evil.example",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "panel.example",
        ] {
            assert_eq!(panel(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn https_is_what_the_operator_or_the_proxy_in_front_says() {
        let mut settings = Settings::default();
        let mut headers = HeaderMap::new();
        assert!(!over_https(&settings, &headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(over_https(&settings, &headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!over_https(&settings, &headers));
        settings.auth.secure_cookies = true;
        assert!(over_https(&settings, &headers));
    }
}
