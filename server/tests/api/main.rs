//! Integration tests for the dashboard API: one binary, one module per area.
//! Every test builds its own app on a fresh data directory and drives the
//! router in memory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_analytics;
mod admin_live;
mod admin_users;
mod audit;
mod auth;
mod billing_ceiling;
mod browser_headers;
mod conformance;
mod credits;
mod embeddings;
mod entitlements;
mod errors;
mod gemini;
mod health;
mod helpers;
mod keys;
mod leaderboard;
mod llm_api;
mod models;
mod openapi;
mod prometheus;
mod providers;
mod proxy_admin;
mod proxy_billing;
mod proxy_errors;
mod proxy_failover;
mod proxy_forwarding;
mod proxy_responses;
mod proxy_streams;
mod proxy_translation;
mod proxy_upstream;
mod rate_limits;
mod registration;
mod retention;
mod sealing;
mod sessions;
mod settings;
mod telemetry;
mod usage_report;
mod users_me;
