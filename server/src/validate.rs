//! Checks shared by every service: text fields are trimmed, required and
//! bounded in characters (not bytes), and errors name the field.

use crate::error::{Error, Result};

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
