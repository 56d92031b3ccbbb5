//! Upstream providers (admin): where requests go, with which sealed keys,
//! timeouts and extra headers. Upstream keys are write-only: no API returns
//! them, only how many there are.

pub mod handlers;
pub mod service;
