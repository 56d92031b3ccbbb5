//! Where to go after signing in: the `next` parameter, resolved against
//! Tollgate's own origin the way a browser would resolve it, and followed
//! only when it stays there. Browsers drop tabs and newlines inside a URL,
//! so `/\t/evil.example` is `//evil.example`, another host: a prefix check
//! on the raw text cannot see that.

use url::Url;

/// Stands for Tollgate's own origin while resolving.
const OWN_ORIGIN: &str = "http://tollgate.invalid/";

/// The path (with query and fragment) `next` leads to on this origin, or
/// `None` when it leaves it.
pub fn local_target(next: &str) -> Option<String> {
    let base = Url::parse(OWN_ORIGIN).ok()?;
    let target = base.join(next).ok()?;
    if target.origin() != base.origin() || !next.trim_start().starts_with('/') {
        return None;
    }
    let mut local = target.path().to_owned();
    if let Some(query) = target.query() {
        local.push('?');
        local.push_str(query);
    }
    if let Some(fragment) = target.fragment() {
        local.push('#');
        local.push_str(fragment);
    }
    Some(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_on_this_origin_are_followed() {
        assert_eq!(
            local_target("/admin/users").as_deref(),
            Some("/admin/users")
        );
        assert_eq!(
            local_target("/usage?model=a%20b#top").as_deref(),
            Some("/usage?model=a%20b#top")
        );
        for foreign in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "\\\\evil.example",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "",
        ] {
            assert_eq!(local_target(foreign), None, "{foreign:?}");
        }
    }
}
