//! What a plan is, and the rate limits a plan or a key carries: plain
//! values the configuration, the catalog, the rate limiter and the proxy
//! all name, so none of them has to import another for them.

pub use contract::PlanName;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Requests and tokens per minute; 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub requests_per_minute: u32,
    pub tokens_per_minute: u32,
}

impl Limits {
    pub const NONE: Self = Self {
        requests_per_minute: 0,
        tokens_per_minute: 0,
    };

    pub const fn new(requests_per_minute: u32, tokens_per_minute: u32) -> Self {
        Self {
            requests_per_minute,
            tokens_per_minute,
        }
    }
}
