//! One file per route.
//!
//! The larger components end their view with `.into_any()`: without it
//! the nested view types of a page grow past the compiler's type-depth
//! limit in the release WASM build.

pub mod admin;
pub mod credits;
pub mod dashboard;
pub mod keys;
pub mod landing;
pub mod lazy;
pub mod leaderboard;
pub mod login;
pub mod not_found;
pub mod reference;
pub mod register;
pub mod setup;
pub mod usage;
