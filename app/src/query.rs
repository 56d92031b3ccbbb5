//! Query strings for the pages' own links: only the parameters that are
//! set, percent-encoded so that plain values (dates, ids, model names)
//! stay readable in a shared URL.

/// `?from=2026-11-01&model=gpt-4o`, or empty when no value is set.
pub fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (name, value) in pairs.iter().filter(|(_, value)| !value.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        encode(name, &mut out);
        out.push('=');
        encode(value, &mut out);
    }
    out
}

/// RFC 3986: everything but the unreserved characters is escaped.
fn encode(text: &str, out: &mut String) {
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::query_string;

    #[test]
    fn only_set_values_are_kept_and_escaped() {
        assert_eq!(query_string(&[]), "");
        assert_eq!(query_string(&[("kind", "")]), "");
        assert_eq!(
            query_string(&[("from", "2026-11-01"), ("key_id", ""), ("model", "gpt-4o")]),
            "?from=2026-11-01&model=gpt-4o"
        );
        assert_eq!(
            query_string(&[("model", "a b&c=d/é")]),
            "?model=a%20b%26c%3Dd%2F%C3%A9"
        );
    }
}
