//! The live telemetry's events, with the admin contract's names and payloads.
//! A tick's payload is serialised once, however many watch it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::overview::Light;
use crate::platform::time::serde_iso;

/// Which figure an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    ActiveUsers,
    PerformanceTick,
    SystemStatus,
}

impl EventKind {
    /// The SSE event name (and the WebSocket message's `event`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::ActiveUsers => "active_users",
            Self::PerformanceTick => "performance_tick",
            Self::SystemStatus => "system_status",
        }
    }
}

/// One event, its JSON payload already written.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    kind: EventKind,
    data: Arc<str>,
}

impl LiveEvent {
    pub fn new(kind: EventKind, payload: &impl Serialize) -> serde_json::Result<Self> {
        Ok(Self {
            kind,
            data: serde_json::to_string(payload)?.into(),
        })
    }

    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The payload as JSON text.
    pub fn data(&self) -> &str {
        &self.data
    }
}

/// `active_users`: `{"count": 27, "timestamp": "…"}`.
#[derive(Debug, Clone, Serialize)]
pub struct ActiveUsers {
    pub count: u64,
    #[serde(with = "serde_iso")]
    pub timestamp: DateTime<Utc>,
}

/// `performance_tick`: `{"avgResponseMs": 183, "errorRatePct": 0.7,
/// "timestamp": "…"}`, over the same 24 hours as the overview.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceTick {
    pub avg_response_ms: i64,
    pub error_rate_pct: f64,
    #[serde(with = "serde_iso")]
    pub timestamp: DateTime<Utc>,
}

/// `system_status`: `{"api": "green", "db": "green", "timestamp": "…"}`.
#[derive(Debug, Clone, Serialize)]
pub struct SystemStatus {
    pub api: Light,
    pub db: Light,
    #[serde(with = "serde_iso")]
    pub timestamp: DateTime<Utc>,
}
