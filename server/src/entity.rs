//! SeaORM entities: one file per table. Services own the queries.

pub mod api_key;
pub mod provider;
pub mod request_metric;
pub mod session;
pub mod shadow_model;
pub mod user;
