//! An instant as every API answer writes it.

use std::{fmt, ops::Deref};

use serde::{Deserialize, Serialize};

/// ISO 8601 in UTC with milliseconds (`2025-10-28T12:34:56.789Z`). The web
/// UI only shows it, so it stays text there; the server makes it from its
/// clock (`From<DateTime<Utc>>`, the one place that writes the format).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text, for what reads or slices it (`&at[..10]` is the date).
impl Deref for Timestamp {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Timestamp> for String {
    fn from(at: Timestamp) -> Self {
        at.0
    }
}

#[cfg(feature = "server")]
impl From<chrono::DateTime<chrono::Utc>> for Timestamp {
    fn from(at: chrono::DateTime<chrono::Utc>) -> Self {
        Self(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    }
}
