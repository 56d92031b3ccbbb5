//! Extractors whose rejections are our own error, so a malformed body gets the
//! contract's error shape with a message that names the bad field.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use crate::platform::error::Error;

/// JSON body. `{"email": 3}` answers 400 "invalid value for `email`: ...".
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| Error::bad_request("could not read the request body"))?;
        parse_json(&bytes).map(AppJson)
    }
}

/// Deserializes JSON, naming the field that failed.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.is_empty() {
        return Err(Error::bad_request("request body must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|err| {
        let path = err.path().to_string();
        let inner = without_value(&err.into_inner().to_string());
        if path == "." || path.is_empty() {
            Error::bad_request(format!("invalid JSON body: {inner}"))
        } else {
            Error::bad_request(format!("invalid value for `{path}`: {inner}"))
        }
    })?;
    // Trailing bytes after the object mean the body is not the JSON we read.
    de.end()
        .map_err(|err| Error::bad_request(format!("invalid JSON body: {err}")))?;
    Ok(value)
}

/// serde says "invalid type: string \"sk-…\", expected a sequence": the
/// value may be a secret (an upstream key sent in the wrong shape), so only
/// what was expected is repeated.
fn without_value(message: &str) -> String {
    let is_value_error =
        message.starts_with("invalid type:") || message.starts_with("invalid value:");
    match message.rsplit_once(", expected ") {
        Some((_, expected)) if is_value_error => format!("expected {expected}"),
        _ => message.to_owned(),
    }
}

/// Query string. A bad `page=abc` answers 400 naming `page`.
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded_deserializer(query);
        serde_path_to_error::deserialize(de)
            .map(AppQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                Error::bad_request(format!(
                    "invalid query parameter `{path}`: {}",
                    without_value(&err.into_inner().to_string())
                ))
            })
    }
}

fn serde_urlencoded_deserializer(query: &str) -> serde_urlencoded::Deserializer<'_> {
    serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_of_the_wrong_type_is_not_repeated_in_the_error() {
        #[derive(Debug, serde::Deserialize)]
        struct Body {
            #[allow(dead_code)]
            api_keys: Vec<String>,
        }
        let err = parse_json::<Body>(br#"{"api_keys": "sk-live-SECRET"}"#).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("api_keys"), "{message}");
        assert!(message.contains("expected a sequence"), "{message}");
        assert!(!message.contains("SECRET"), "{message}");
    }
}
