//! The query parameters analytics endpoints share: a range of UTC days
//! (`from` and `to`, `YYYY-MM-DD`, both included) and a result `limit`.

use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::platform::error::{Error, Result};
pub use crate::platform::time::days::{DateRange, day_key};

/// `?from=&to=&model=` as sent; empty values count as absent.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub model: Option<String>,
}

impl RangeQuery {
    /// The range these parameters name, with `today` for the defaults.
    pub fn range(&self, today: NaiveDate) -> Result<DateRange> {
        DateRange::parse(given(&self.from), given(&self.to), today)
    }

    /// The model filter, if one was given.
    pub fn model(&self) -> Option<String> {
        given(&self.model).map(str::to_owned)
    }
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// `?limit=` as sent: parsed here so that a number too large for an
/// integer is capped like any other large number.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    pub limit: Option<String>,
}

impl LimitQuery {
    /// `default` when absent, at most `max`; zero, negative or not a
    /// number is a 400.
    pub fn limit(&self, default: u64, max: u64) -> Result<u64> {
        let Some(text) = given(&self.limit) else {
            return Ok(default);
        };
        let invalid = || Error::bad_request("invalid `limit`: expected a positive whole number");
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        match text.parse::<u64>() {
            Ok(0) => Err(invalid()),
            Ok(limit) => Ok(limit.min(max)),
            // Only digits, yet too large for u64: far above any maximum.
            Err(_) => Ok(max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_default_cap_and_refuse_nonsense() {
        let limit = |text: Option<&str>| {
            LimitQuery {
                limit: text.map(str::to_owned),
            }
            .limit(50, 200)
        };
        assert_eq!(limit(None).unwrap(), 50);
        assert_eq!(limit(Some("7")).unwrap(), 7);
        assert_eq!(limit(Some("500")).unwrap(), 200);
        assert_eq!(limit(Some("99999999999999999999999")).unwrap(), 200);
        for bad in ["0", "-1", "abc", "1.5", "10x"] {
            assert!(limit(Some(bad)).is_err(), "{bad}");
        }
    }
}
