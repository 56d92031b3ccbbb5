//! Each user's own usage, as the gateway metered it ([`crate::gateway::metering`]):
//! the report (`report`, JSON) and its CSV (`export`).

pub mod export;
pub mod handlers;
pub mod report;
