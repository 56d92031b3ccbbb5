//! Accounts: registration, password sign-in, the profile, and the admin's
//! user management. Handlers in [`handlers`] are thin; the rules live in
//! [`service`], which the web UI's server functions call too.

pub mod handlers;
pub mod service;
pub mod view;

pub use view::UserView;
