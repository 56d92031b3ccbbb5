//! SeaORM entities: one file per table. Services own the queries.

pub mod api_key;
pub mod session;
pub mod user;
