//! Checks shared by every service: text fields are trimmed, required and
//! bounded in characters (not bytes), and errors name the field.

use email_address::EmailAddress;
use serde::{Deserialize, Deserializer};

use crate::platform::error::{Error, Result};

/// For `Option<Option<T>>` fields of a change: a missing field is `None`
/// (left as it is), a present `null` is `Some(None)` (removed).
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    de: D,
) -> std::result::Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(de).map(Some)
}

/// The trimmed value, or 400 "`field` is required" / "… at most N characters".
pub fn required_text(field: &str, value: &str, max_chars: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::bad_request(format!("{field} is required")));
    }
    if value.chars().count() > max_chars {
        return Err(Error::bad_request(format!(
            "{field} must be at most {max_chars} characters"
        )));
    }
    Ok(value.to_owned())
}

/// The trimmed value, `None` when absent or blank, or 400 "… at most N
/// characters".
pub fn optional_text(field: &str, value: Option<&str>, max_chars: usize) -> Result<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) if text.chars().count() > max_chars => Err(Error::bad_request(format!(
            "{field} must be at most {max_chars} characters"
        ))),
        Some(text) => Ok(Some(text.to_owned())),
    }
}

/// Far beyond any real listing, and small enough that offsets never overflow.
pub const MAX_PAGE: u64 = 1_000_000;

/// `page` (from 1, default 1) and `per_page` (default `default_per_page`, at
/// most `max_per_page`), or a 400 naming the one out of range.
pub fn paging(
    page: Option<u64>,
    per_page: Option<u64>,
    default_per_page: u64,
    max_per_page: u64,
) -> Result<(u64, u64)> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(default_per_page);
    if page == 0 || page > MAX_PAGE {
        return Err(Error::bad_request(format!(
            "page must be between 1 and {MAX_PAGE}"
        )));
    }
    if !(1..=max_per_page).contains(&per_page) {
        return Err(Error::bad_request(format!(
            "per_page must be between 1 and {max_per_page}"
        )));
    }
    Ok((page, per_page))
}

/// Trimmed and lower-cased, or 400 when it is not an email address.
pub fn normalize_email(email: &str) -> Result<String> {
    let email = email.trim().to_lowercase();
    if email.len() > 254 || !EmailAddress::is_valid(&email) {
        return Err(Error::bad_request("email must be a valid email address"));
    }
    Ok(email)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_required_and_bounded_in_characters() {
        assert_eq!(required_text("name", "  Ann ", 5).unwrap(), "Ann");
        assert!(
            required_text("name", "   ", 5)
                .unwrap_err()
                .to_string()
                .contains("name is required")
        );
        assert!(required_text("name", "éééééé", 5).is_err());
        assert!(required_text("name", "ééééé", 5).is_ok());
    }
}
