//! Reusable pieces of the UI.

pub mod browser;
pub mod chart;
pub mod empty;
pub mod error_view;
pub mod layout;
pub mod pager;
pub mod skeleton;
pub mod time;
