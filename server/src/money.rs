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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_print_exactly_with_six_decimals() {
        assert_eq!(format_credits(0), "0.000000");
        assert_eq!(format_credits(12_500_000), "12.500000");
        assert_eq!(format_credits(1), "0.000001");
        assert_eq!(format_credits(-1_000_001), "-1.000001");
        assert_eq!(format_credits(i64::MIN), "-9223372036854.775808");
    }
}
