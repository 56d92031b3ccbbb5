//! Reusable pieces of the UI.

pub mod browser;
pub mod chart;
pub mod empty;
pub mod error_view;
pub mod layout;
pub mod live;
pub mod pager;
pub mod reveal;
pub mod skeleton;
pub mod time;
pub mod toast;
