//! Analytics: what was used, by whom, when. Everything here reads the
//! rollups the usage writer keeps in the same transaction as the usage rows
//! (`daily_user_usage` per UTC day, user and model; `daily_usage` per UTC
//! day and model; `llm_usage` per user and model, all time), never
//! `usage_records` itself, so a date range costs a row per user, model and
//! day (or per day and model) rather than a row per request.
//!
//! A "request" (the contract's "title generation") is one proxied request
//! that resolved a model; `errors` are those answered with a status of 400
//! or more. Services take the database (and the presence map) explicitly;
//! `handlers` only parse, call one service and shape the answer.

pub mod active;
pub mod dashboard;
pub mod export;
pub mod handlers;
pub mod llm_usage;
pub mod platform;
pub mod presence;
pub mod range;
pub mod visibility;
