//! Numbers and times for people. Pure functions on plain values, so the
//! server's render and the browser's agree to the character (hydration
//! reuses the server's text).

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    group(&digits, &mut out);
    out
}

/// An exact decimal amount of credits (`"1234.500000"`, as the server
/// formats it) with thousands separators: `"1,234.500000"`. Text that is
/// not such an amount is returned as it is.
pub fn credits(amount: &str) -> String {
    let (sign, unsigned) = match amount.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", amount),
    };
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return amount.to_owned();
    }
    let mut out = String::with_capacity(amount.len() + whole.len() / 3);
    out.push_str(sign);
    group(whole, &mut out);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// A ledger amount with its direction: `"+5.000000"`, `"-0.000150"`.
pub fn signed_credits(amount: &str) -> String {
    if amount.starts_with('-') {
        credits(amount)
    } else {
        format!("+{}", credits(amount))
    }
}

/// Short figures for chart axes: `950`, `1.2k`, `3.4M`, `0.25`.
pub fn compact(value: f64) -> String {
    let abs = value.abs();
    let (scaled, suffix) = if abs >= 1e9 {
        (value / 1e9, "B")
    } else if abs >= 1e6 {
        (value / 1e6, "M")
    } else if abs >= 1e3 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = if scaled.fract() == 0.0 {
        format!("{scaled:.0}")
    } else if scaled.abs() >= 10.0 || !suffix.is_empty() {
        format!("{scaled:.1}")
    } else if scaled.abs() >= 1.0 {
        format!("{scaled:.2}")
    } else {
        // Small amounts (credits per day) keep two significant digits.
        let decimals = (1.0 - scaled.abs().log10().floor()).clamp(2.0, 6.0) as usize;
        format!("{scaled:.decimals$}")
    };
    // `1.50` → `1.5`, `2.0` → `2`.
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// `2026-11-25T17:00:38.921Z` → `2026-11-25 17:00:38 UTC`, the exact time
/// shown on hover. Anything else is returned as it is.
pub fn exact_time(iso: &str) -> String {
    match (iso.get(..10), iso.get(11..19)) {
        (Some(day), Some(time)) if iso.as_bytes().get(10) == Some(&b'T') => {
            format!("{day} {time} UTC")
        }
        _ => iso.to_owned(),
    }
}

/// `2026-11-25` → `Nov 25`, for chart labels.
pub fn short_date(date: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = date
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)));
    let day = date.get(8..10).and_then(|d| d.parse::<u32>().ok());
    match (month, day) {
        (Some(month), Some(day)) => format!("{month} {day}"),
        _ => date.to_owned(),
    }
}

/// `1 request`, `3 requests`.
pub fn count(n: i64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

fn group(digits: &str, out: &mut String) {
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-12_345), "-12,345");
        assert_eq!(thousands(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn credits_keep_every_decimal() {
        assert_eq!(credits("0.000000"), "0.000000");
        assert_eq!(credits("1234.500000"), "1,234.500000");
        assert_eq!(credits("-1234567.000150"), "-1,234,567.000150");
        assert_eq!(credits("not a number"), "not a number");
        assert_eq!(signed_credits("5.000000"), "+5.000000");
        assert_eq!(signed_credits("-0.000150"), "-0.000150");
    }

    #[test]
    fn compact_figures_for_axes() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(1_200.0), "1.2k");
        assert_eq!(compact(25_000.0), "25k");
        assert_eq!(compact(3_400_000.0), "3.4M");
        assert_eq!(compact(0.25), "0.25");
        assert_eq!(compact(2.5), "2.5");
        assert_eq!(compact(0.00005), "0.00005");
        assert_eq!(compact(0.025), "0.025");
    }

    #[test]
    fn times_and_dates_for_people() {
        assert_eq!(
            exact_time("2026-11-25T17:00:38.921Z"),
            "2026-11-25 17:00:38 UTC"
        );
        assert_eq!(exact_time("soon"), "soon");
        assert_eq!(short_date("2026-11-05"), "Nov 5");
        assert_eq!(short_date("2026-13-05"), "2026-13-05");
        assert_eq!(count(1, "request", "requests"), "1 request");
        assert_eq!(count(1_500, "request", "requests"), "1,500 requests");
    }
}
