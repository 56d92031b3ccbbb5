//! `usage_records`: one row per proxied request, with its tokens and cost.

use std::collections::HashSet;

use sea_orm::{QuerySelect, entity::prelude::*};
use serde::{Deserialize, Serialize};

use crate::platform::batch;

/// Serialisable so that the usage spool can keep rows on disk.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize, Deserialize)]
#[sea_orm(table_name = "usage_records")]
pub struct Model {
    /// `req_<16 hex>`, also sent to the client as `x-request-id`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub api_key_id: String,
    /// The public model name the client sent.
    pub model: String,
    /// The shadow model it resolved to; `None` when it resolved to nothing.
    pub model_id: Option<String>,
    pub provider_id: Option<String>,
    pub upstream_model: String,
    /// `chat_completions` or `messages`.
    pub endpoint: String,
    pub streamed: bool,
    pub status_code: i32,
    /// Input tokens not served from the provider's cache.
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub cache_write_tokens: i64,
    /// Part of `output_tokens`, where the provider reports it.
    pub reasoning_tokens: i64,
    /// Micro-credits, at the prices below.
    pub cost: i64,
    /// Micro-credits taken from the balance: the cost (zero for a request
    /// that was never admitted).
    pub charged: i64,
    /// Micro-credits the request cost beyond its hold: the provider reported
    /// more than it was allowed. Charged all the same; zero normally.
    pub overrun: i64,
    /// The model's prices when the request ran, micro-credits per million.
    pub input_price: i64,
    pub output_price: i64,
    pub cache_read_price: i64,
    pub cache_write_price: i64,
    pub duration_ms: i32,
    /// Time to the first byte of the upstream's body.
    pub ttft_ms: Option<i32>,
    pub error_kind: Option<String>,
    pub created_at: DateTimeUtc,
    /// Provider calls the request made (retries and failover included).
    #[serde(default = "one")]
    pub attempts: i32,
    /// The failed calls before the last one, as JSON:
    /// `[{"model","provider_id","upstream_model","status","error"}]`.
    #[serde(default)]
    pub attempt_errors: Option<String>,
    /// The public name of the model that answered: `model`, or the fallback
    /// that served it.
    #[serde(default)]
    pub served_model: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Rows spooled before attempts were counted made one call.
fn one() -> i32 {
    1
}

/// Of `ids`, those `usage_records` has.
pub async fn stored_among(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<HashSet<String>, DbErr> {
    let mut stored = HashSet::new();
    for chunk in batch::chunks(ids) {
        let found: Vec<String> = Entity::find()
            .select_only()
            .column(Column::Id)
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        stored.extend(found);
    }
    Ok(stored)
}
