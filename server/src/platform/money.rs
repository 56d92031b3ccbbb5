//! Credits are integers: 1 credit = 1,000,000 micro-credits. Amounts are
//! stored and added as `i64` micro-credits and only turned into a decimal
//! string for people.

use serde::{Deserialize, Deserializer};
use utoipa::openapi::{
    RefOr, Schema,
    schema::{ObjectBuilder, OneOfBuilder, Type},
};

/// Micro-credits in one credit.
pub const MICROS_PER_CREDIT: i64 = 1_000_000;

/// `12_500_000` → `"12.500000"`; exact, with six decimals, never a float.
pub fn format_credits(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let per = MICROS_PER_CREDIT.unsigned_abs();
    format!("{sign}{}.{:06}", abs / per, abs % per)
}

/// `"12.5"` → `12_500_000`: a decimal amount of credits as typed by a
/// person, exact to the micro-credit. `None` for anything else (negative,
/// more than six decimals, not a number, too large).
pub fn parse_credits(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() && fraction.is_empty()
        || !digits(whole)
        || !digits(fraction)
        || fraction.len() > 6
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction: i64 = format!("{fraction:0<6}").parse().ok()?;
    whole.checked_mul(MICROS_PER_CREDIT)?.checked_add(fraction)
}

/// An amount of credits as a person types it: `12.5`, `"12.5"`, `-3`,
/// parsed exactly into signed micro-credits (never through a float).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credits(pub i64);

/// In the OpenAPI description: a number or a decimal string.
impl utoipa::PartialSchema for Credits {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(r"^\s*-?[0-9]*(\.[0-9]{0,6})?\s*$")),
            )
            .description(Some(
                "Credits, exact to six decimals: a number, or a string for large amounts",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Credits {}

impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = match &value {
            serde_json::Value::Number(number) => match number.as_i64() {
                Some(whole) => whole.to_string(),
                None => {
                    // A fraction arrives as a float. Below a billion (15
                    // significant digits with six decimals) its shortest
                    // plain-decimal form is exactly what was typed; above,
                    // digits may already be lost.
                    let float = number.as_f64().unwrap_or(f64::NAN);
                    if float.is_nan() || float.abs() >= 1e9 {
                        return Err(serde::de::Error::custom(
                            "give amounts of a billion credits or more as a string, like \"1000000000.5\"",
                        ));
                    }
                    format!("{float}")
                }
            },
            serde_json::Value::String(text) => text.trim().to_owned(),
            _ => return Err(serde::de::Error::custom("expected an amount of credits")),
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `"-3.25"` → `Credits(-3_250_000)`, exact.
impl std::str::FromStr for Credits {
    type Err = &'static str;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let micros = parse_credits(digits)
            .ok_or("expected an amount of credits with at most six decimals, like 12.5")?;
        Ok(Self(if negative { -micros } else { micros }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_credit_amounts_parse_exactly() {
        assert_eq!(parse_credits("12.5"), Some(12_500_000));
        assert_eq!(parse_credits("0.000001"), Some(1));
        assert_eq!(parse_credits(" 3 "), Some(3_000_000));
        assert_eq!(parse_credits(".5"), Some(500_000));
        assert_eq!(parse_credits("1.0000001"), None);
        assert_eq!(parse_credits("-1"), None);
        assert_eq!(parse_credits("abc"), None);
        assert_eq!(parse_credits(""), None);
        assert_eq!(parse_credits("."), None);
        assert_eq!(parse_credits("99999999999999999999"), None);
    }

    #[test]
    fn credits_print_exactly_with_six_decimals() {
        assert_eq!(format_credits(0), "0.000000");
        assert_eq!(format_credits(12_500_000), "12.500000");
        assert_eq!(format_credits(1), "0.000001");
        assert_eq!(format_credits(-1_000_001), "-1.000001");
        assert_eq!(format_credits(i64::MIN), "-9223372036854.775808");
    }
}
