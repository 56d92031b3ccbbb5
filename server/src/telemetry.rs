//! Request telemetry: every HTTP request becomes a `request_metrics` row,
//! handed to a batching writer so that no request waits on the database.

pub mod counters;
pub mod metrics;
pub mod middleware;
