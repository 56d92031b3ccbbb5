//! Ranges of whole UTC days (`from` and `to` as `YYYY-MM-DD`, both
//! included), as every analytics and usage query takes them.

use chrono::{DateTime, Days, NaiveDate, Utc};

use crate::platform::error::{Error, Result};

/// Days in the default range, today included.
pub const DEFAULT_DAYS: u64 = 30;
/// The longest range one request may ask for, in days.
pub const MAX_DAYS: u64 = 366;

/// UTC days from `from` to `to`, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl DateRange {
    /// `to` defaults to `today`, `from` to 29 days before `to` (30 days in
    /// all). A malformed date, `from` after `to`, or more than
    /// [`MAX_DAYS`] days are 400s.
    pub fn parse(from: Option<&str>, to: Option<&str>, today: NaiveDate) -> Result<Self> {
        let to = match to {
            Some(text) => parse_day("to", text)?,
            None => today,
        };
        let from = match from {
            Some(text) => parse_day("from", text)?,
            None => to
                .checked_sub_days(Days::new(DEFAULT_DAYS - 1))
                .unwrap_or(NaiveDate::MIN),
        };
        if from > to {
            return Err(Error::bad_request(format!(
                "`from` ({from}) is after `to` ({to})"
            )));
        }
        let range = Self { from, to };
        if range.days() > MAX_DAYS {
            return Err(Error::bad_request(format!(
                "the range covers {} days; ask for at most {MAX_DAYS}",
                range.days()
            )));
        }
        Ok(range)
    }

    /// How many days the range covers.
    pub fn days(&self) -> u64 {
        u64::try_from((self.to - self.from).num_days() + 1).unwrap_or(0)
    }

    /// Every day of the range, in order.
    pub fn each_day(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let to = self.to;
        self.from.iter_days().take_while(move |day| *day <= to)
    }

    /// `from` as stored in the rollups' `date` column.
    pub fn from_key(&self) -> String {
        day_key(self.from)
    }

    /// `to` as stored in the rollups' `date` column.
    pub fn to_key(&self) -> String {
        day_key(self.to)
    }

    /// The first instant of the range.
    pub fn start(&self) -> DateTime<Utc> {
        midnight(self.from)
    }

    /// The first instant after the range.
    pub fn end(&self) -> DateTime<Utc> {
        self.to
            .checked_add_days(Days::new(1))
            .map_or(DateTime::<Utc>::MAX_UTC, midnight)
    }
}

/// `YYYY-MM-DD`, as the rollups store days.
pub fn day_key(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

fn midnight(day: NaiveDate) -> DateTime<Utc> {
    day.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Exactly `YYYY-MM-DD` (chrono alone would take `2025-1-5`).
fn parse_day(name: &str, text: &str) -> Result<NaiveDate> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    shaped
        .then(|| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            Error::bad_request(format!(
                "invalid `{name}`: expected a date as YYYY-MM-DD, like 2025-10-28"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_default_range_is_the_last_thirty_days() {
        let range = DateRange::parse(None, None, day("2025-10-28")).unwrap();
        assert_eq!(range.from, day("2025-09-29"));
        assert_eq!(range.to, day("2025-10-28"));
        assert_eq!(range.days(), 30);
        assert_eq!(range.each_day().count(), 30);
        let only_to = DateRange::parse(None, Some("2025-03-01"), day("2025-10-28")).unwrap();
        assert_eq!(only_to.from, day("2025-01-31"));
    }

    #[test]
    fn bad_dates_reversed_and_long_ranges_are_refused() {
        let today = day("2025-10-28");
        for bad in [
            "2025-1-05",
            "2025-13-01",
            "2025-02-30",
            "yesterday",
            "2025/10/01",
            "+2025-10-0",
        ] {
            assert!(DateRange::parse(Some(bad), None, today).is_err(), "{bad}");
        }
        assert!(DateRange::parse(Some("2025-10-29"), Some("2025-10-28"), today).is_err());
        let longest = DateRange::parse(Some("2024-10-28"), Some("2025-10-28"), today).unwrap();
        assert_eq!(longest.days(), MAX_DAYS);
        assert!(DateRange::parse(Some("2024-10-27"), Some("2025-10-28"), today).is_err());
    }

    #[test]
    fn the_range_covers_whole_utc_days() {
        let range =
            DateRange::parse(Some("2025-10-27"), Some("2025-10-28"), day("2025-10-28")).unwrap();
        assert_eq!(
            crate::platform::time::iso(&range.start()),
            "2025-10-27T00:00:00.000Z"
        );
        assert_eq!(
            crate::platform::time::iso(&range.end()),
            "2025-10-29T00:00:00.000Z"
        );
    }
}
