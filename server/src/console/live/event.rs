//! The live telemetry's events, with the admin contract's names and payloads.
//! A tick's payload is serialised once, however many watch it.

use std::sync::Arc;

pub use contract::live::{ActiveUsers, PerformanceTick, SystemStatus};
use serde::Serialize;

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
