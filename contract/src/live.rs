//! The live telemetry's payloads, with the admin contract's names: the
//! server sends them as server-sent events (or WebSocket messages) and the
//! overview page reads them.

use serde::{Deserialize, Serialize};

use crate::{Timestamp, insights::Light};

/// `active_users`: `{"count": 27, "timestamp": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveUsers {
    pub count: u64,
    pub timestamp: Timestamp,
}

/// `performance_tick`: `{"avgResponseMs": 183, "errorRatePct": 0.7,
/// "timestamp": "…"}`, over the same 24 hours as the overview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceTick {
    pub avg_response_ms: i64,
    pub error_rate_pct: f64,
    pub timestamp: Timestamp,
}

/// `system_status`: `{"api": "green", "db": "green", "timestamp": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    pub api: Light,
    pub db: Light,
    pub timestamp: Timestamp,
}
