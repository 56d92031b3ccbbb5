//! The foundations the gateway and the console stand on: the configuration,
//! the database and its entities, the error type, money, pricing and time, sealed secrets,
//! state shared between instances, and telemetry.

#[cfg(test)]
pub mod arbitrary;
pub mod batch;
pub mod cluster;
pub mod config;
pub mod db;
pub mod entity;
pub mod error;
pub mod extract;
pub mod holds;
pub mod http_client;
pub mod idle;
pub mod ids;
pub mod money;
pub mod next_url;
pub mod plan;
pub mod pricing;
pub mod reply;
pub mod secret_file;
pub mod telemetry;
pub mod time;
pub mod validate;
pub mod vault;
