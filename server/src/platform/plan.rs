//! What a plan is, and the rate limits a plan or a key carries: plain
//! values the configuration, the catalog, the rate limiter and the proxy
//! all name, so none of them has to import another for them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::platform::entity::user::Plan;

/// A plan a model can be offered to. `pro_lifetime` is the entitlement an
/// admin grants; the others are the account plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanName {
    Trial,
    Free,
    Pro,
    ProLifetime,
}

impl PlanName {
    pub const ALL: [Self; 4] = [Self::Trial, Self::Free, Self::Pro, Self::ProLifetime];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trial => "trial",
            Self::Free => "free",
            Self::Pro => "pro",
            Self::ProLifetime => "pro_lifetime",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|plan| plan.as_str() == text)
    }
}

impl From<Plan> for PlanName {
    fn from(plan: Plan) -> Self {
        match plan {
            Plan::Trial => Self::Trial,
            Plan::Free => Self::Free,
            Plan::Pro => Self::Pro,
        }
    }
}

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
