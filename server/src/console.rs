//! The console: what people and admins do through the dashboard API
//! (`/api`) and the web UI's server functions. Each domain has a `service`
//! (the rules: validation, the change, its audit entry and the caches it
//! invalidates) and `handlers` (the REST API, thin callers of the service);
//! the UI's server functions call the same services.

pub mod accounts;
pub mod analytics;
pub mod audit;
pub mod auth;
pub mod browser;
pub mod credits;
pub mod declared;
pub mod entitlements;
pub mod invitations;
pub mod keys;
pub mod limits;
pub mod live;
pub mod models;
pub mod providers;
pub mod usage;
