//! Tollgate's server library: configuration, shared state, the axum router, and
//! one module per domain concept. The `tollgate` binary and the Leptos server
//! functions in `app` both call the services defined here.

pub mod accounts;
pub mod analytics;
#[cfg(test)]
mod arbitrary;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod browser;
pub mod cluster;
pub mod config;
pub mod credits;
pub mod db;
pub mod declared;
pub mod entitlements;
pub mod entity;
pub mod error;
pub mod extract;
pub mod housekeeping;
pub mod idle;
pub mod ids;
pub mod invitations;
pub mod keys;
pub mod limits;
pub mod listener;
pub mod live;
pub mod mock;
pub mod models;
pub mod money;
pub mod openapi;
pub mod plan;
pub mod providers;
pub mod proxy;
pub mod reply;
pub mod retention;
pub mod router;
pub mod secret_file;
pub mod seed;
pub mod setup;
pub mod state;
pub mod telemetry;
pub mod time;
pub mod translate;
pub mod usage;
pub mod validate;
pub mod vault;

pub use config::Settings;
pub use error::{Error, Result};
pub use router::{build_router, build_router_with_ui};
pub use state::AppState;
