//! Reusable pieces of the UI.

pub mod browser;
pub mod error_view;
pub mod layout;
