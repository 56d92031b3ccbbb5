//! SeaORM entities: one file per table. Services own the queries.

pub mod api_key;
pub mod audit_entry;
pub mod credit_balance;
pub mod credit_entry;
pub mod daily_usage;
pub mod daily_user_usage;
pub mod entitlement;
pub mod invitation;
pub mod llm_usage;
pub mod model_deployment;
pub mod plan_rate_limit;
pub mod provider;
pub mod request_metric;
pub mod session;
pub mod shadow_model;
pub mod usage_record;
pub mod user;
