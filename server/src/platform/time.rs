//! Timestamps: one clock for the whole server, rounded to milliseconds so that
//! what we store compares correctly as text in SQLite and prints as the API
//! contract's ISO 8601 with milliseconds.

pub mod days;

use chrono::{DateTime, SubsecRound, Utc};
use contract::Timestamp;

/// The current time, truncated to milliseconds.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

/// `2025-10-28T12:34:56.789Z`, the format every API response uses (the
/// contract's [`Timestamp`] writes it).
pub fn iso(at: &DateTime<Utc>) -> String {
    Timestamp::from(*at).into()
}

/// Serde helpers for timestamp fields in API responses.
pub mod serde_iso {
    use chrono::{DateTime, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::iso(at))
    }

    /// For `Option<DateTime<Utc>>` fields: `null` when absent.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::Serializer;

        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&super::super::iso(at)),
                None => s.serialize_none(),
            }
        }
    }
}
