//! A user's usage report as the API shows it: money exact in micro-credits
//! and readable in credits.

use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// Usage added up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = UsageTotals))]
pub struct Totals {
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub cost_micro_credits: i64,
    pub cost_credits: String,
    /// What the balance was charged: the cost, unless it ran out first.
    pub charged_micro_credits: i64,
    pub charged_credits: String,
}

impl Totals {
    /// Input and output tokens (cache tokens are part of the input).
    pub fn tokens(&self) -> i64 {
        self.input_tokens + self.output_tokens
    }
}

/// One day of the series (every day of the range is there, zeros too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = UsageDay))]
pub struct Day {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub requests: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micro_credits: i64,
    pub cost_credits: String,
}

impl Day {
    pub fn tokens(&self) -> i64 {
        self.input_tokens + self.output_tokens
    }
}

/// One model's share of the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = UsageByModel))]
pub struct ModelUsage {
    pub model: String,
    #[serde(flatten)]
    pub usage: Totals,
}

/// One key's share of the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct KeyUsage {
    pub key_id: String,
    /// `null` once the key is gone.
    pub key_name: Option<String>,
    #[serde(flatten)]
    pub usage: Totals,
}

/// One request as the report and the CSV show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct RequestRow {
    pub id: String,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    /// The public model name, as the client sent it.
    pub model: String,
    pub key_id: String,
    /// `null` once the key is gone.
    pub key_name: Option<String>,
    /// `chat_completions`, `messages`, `responses` or `embeddings`.
    pub endpoint: String,
    pub streamed: bool,
    pub status_code: i32,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    pub reasoning_tokens: i64,
    pub cost_micro_credits: i64,
    pub cost_credits: String,
    pub charged_micro_credits: i64,
    pub charged_credits: String,
    pub duration_ms: i32,
    pub error_kind: Option<String>,
}
