//! Metering: what each proxied request used ([`reader`], from the
//! provider's answer) and cost, recorded as one `usage_records` row,
//! spooled to disk ([`spool`]) and then stored by a batching writer
//! ([`writer`]) that also keeps the rollups (`llm_usage`, `daily_usage`)
//! and each key's spend and last use current.

pub mod reader;
pub mod recorder;
pub mod spool;
pub mod writer;

pub use recorder::Recorder;
pub use spool::Receipt;
pub use writer::UsageWriter;
