//! Request telemetry: every HTTP request becomes a `request_metrics` row,
//! handed to a batching writer so that no request waits on the database;
//! counters in memory are served to Prometheus (`exporter`); each proxied
//! request may also become an OpenTelemetry span (`traces`).

pub mod counters;
pub mod exporter;
pub mod metrics;
pub mod middleware;
pub mod traces;
