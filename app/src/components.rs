//! Reusable pieces of the UI.

pub mod error_view;
pub mod layout;
