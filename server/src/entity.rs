//! SeaORM entities: one file per table. Services own the queries.

pub mod session;
pub mod user;
