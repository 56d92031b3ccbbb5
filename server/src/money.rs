//! Credits are integers: 1 credit = 1,000,000 micro-credits. Amounts are
//! stored and added as `i64` micro-credits and only turned into a decimal
//! string for people.

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
