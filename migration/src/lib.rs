//! Tollgate's schema, as forward-only migrations that run on SQLite and PostgreSQL.
//!
//! `tollgate serve` and `tollgate migrate` apply whatever is pending; nothing is
//! ever rolled back, so each change is a new migration.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_accounts;
mod m20261125_000002_api_keys;
mod m20261125_000003_providers_models;
mod m20261125_000004_session_key;
mod m20261125_000005_request_metrics;
mod m20261125_000006_usage;
mod m20261125_000007_credits;
mod m20261125_000008_usage_prices;
mod m20261125_000009_rate_limits;
mod m20261125_000010_entitlements;
mod m20261125_000011_daily_user_usage;
mod m20261125_000012_usage_indexes_audit;
mod m20261125_000014_analytics_indexes;
mod m20261204_000015_billing_ceiling;
mod m20261205_000016_invitations;
mod m20261205_000017_retention;
mod m20261206_000018_deployments;
mod m20261207_000019_managed;
mod m20261208_000020_model_kind;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_accounts::Migration),
            Box::new(m20261125_000002_api_keys::Migration),
            Box::new(m20261125_000003_providers_models::Migration),
            Box::new(m20261125_000004_session_key::Migration),
            Box::new(m20261125_000005_request_metrics::Migration),
            Box::new(m20261125_000006_usage::Migration),
            Box::new(m20261125_000007_credits::Migration),
            Box::new(m20261125_000008_usage_prices::Migration),
            Box::new(m20261125_000009_rate_limits::Migration),
            Box::new(m20261125_000010_entitlements::Migration),
            Box::new(m20261125_000011_daily_user_usage::Migration),
            Box::new(m20261125_000012_usage_indexes_audit::Migration),
            Box::new(m20261125_000014_analytics_indexes::Migration),
            Box::new(m20261204_000015_billing_ceiling::Migration),
            Box::new(m20261205_000016_invitations::Migration),
            Box::new(m20261205_000017_retention::Migration),
            Box::new(m20261206_000018_deployments::Migration),
            Box::new(m20261207_000019_managed::Migration),
            Box::new(m20261208_000020_model_kind::Migration),
        ]
    }
}
