//! Tollgate's server library. The tree shows the design:
//!
//! - [`gateway`]: the request path of the LLM API, from the key to the
//!   charge (endpoints, wire formats, provider adapters, limits, holds,
//!   metering);
//! - [`console`]: what people and admins do through the dashboard API and
//!   the web UI (accounts, keys, credits, the catalog, figures, audit);
//! - [`platform`]: the foundations both stand on (the configuration, the
//!   database and its entities, errors, money, time, sealed secrets, the
//!   cluster, telemetry);
//! - at the top, what assembles them: the shared state, the router and its
//!   OpenAPI description, the HTTP listener, first-start setup and the
//!   periodic housekeeping.
//!
//! `docs/architecture.md` has the map and the direction of dependencies.

pub mod console;
pub mod gateway;
pub mod housekeeping;
pub mod listener;
pub mod openapi;
pub mod platform;
pub mod retention;
pub mod router;
pub mod setup;
pub mod state;

pub use platform::config::Settings;
pub use platform::error::{Error, Result};
pub use router::{build_router, build_router_with_ui};
pub use state::AppState;
