//! Request telemetry: every HTTP request becomes a `request_metrics` row,
//! handed to a batching writer so that no request waits on the database;
//! counters in memory are served to Prometheus (`exporter`).

pub mod counters;
pub mod exporter;
pub mod metrics;
pub mod middleware;
