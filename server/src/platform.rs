//! The foundations the gateway and the console stand on: the database and
//! its entities, the error type, money, pricing and time, sealed secrets,
//! state shared between instances, telemetry, and signing in to the web UI.

#[cfg(test)]
pub mod arbitrary;
pub mod auth;
pub mod batch;
pub mod browser;
pub mod cluster;
pub mod db;
pub mod entity;
pub mod error;
pub mod extract;
pub mod idle;
pub mod ids;
pub mod money;
pub mod plan;
pub mod pricing;
pub mod reply;
pub mod secret_file;
pub mod telemetry;
pub mod time;
pub mod validate;
pub mod vault;
