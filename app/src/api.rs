//! Server functions, grouped by domain. Each one calls the same service the
//! REST API calls; none holds logic of its own.

pub mod admin;
pub mod analytics;
pub mod auth;
pub mod credits;
pub mod dashboard;
pub mod keys;
pub mod reference;
pub mod usage;
