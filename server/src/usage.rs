//! Metering: what each proxied request used and cost, recorded as one
//! `usage_records` row, spooled to disk and then stored by a batching writer that also keeps the rollups
//! (`llm_usage`, `daily_usage`) and each key's spend and last use current;
//! and each user's own report of it (`report`, JSON; `export`, CSV).

pub mod export;
pub mod handlers;
pub mod meter;
pub mod recorder;
pub mod report;
pub mod spool;
pub mod writer;

pub use meter::{Prices, Tokens};
pub use recorder::Recorder;
pub use spool::Receipt;
pub use writer::UsageWriter;
