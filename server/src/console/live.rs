//! The admin dashboard's figures: the overview (`GET /api/admin/stats/overview`)
//! and the live telemetry that keeps it current, as server-sent events
//! (`GET /api/admin/live`) or over a WebSocket (`/api/admin/live/ws`),
//! whichever `features.realtime_mode` chooses.
//!
//! Every watcher of this instance shares one [`Hub`]: a single producer task
//! queries the database once per tick and broadcasts the result, so the cost
//! does not grow with the number of open dashboards.

pub mod event;
pub mod handlers;
pub mod hub;
pub mod overview;
pub mod watch;

pub use hub::{Cadence, Hub, HubStats};
