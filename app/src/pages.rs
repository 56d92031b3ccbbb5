//! One file per route.

pub mod admin_users;
pub mod dashboard;
pub mod keys;
pub mod landing;
pub mod login;
pub mod not_found;
pub mod register;
