//! The rules for shadow models.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, Set, SqlErr,
};
use serde::{Deserialize, Serialize};

use crate::{
    audit::{self, Action, Target},
    db,
    entity::{
        daily_usage,
        provider::{self, ProviderKind},
        shadow_model, usage_record,
    },
    error::{Error, Result},
    ids,
    money::format_credits,
    plan::PlanName,
    time::{self, serde_iso},
    validate,
};

/// Prices beyond this (a million credits per million tokens) are a typo.
const MAX_PRICE: i64 = 1_000_000_000_000;
/// Output caps beyond this (ten million tokens) are a typo.
const MAX_OUTPUT_TOKENS: i64 = 10_000_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewModel {
    pub public_name: String,
    pub provider_id: String,
    pub upstream_model: String,
    /// Micro-credits per million tokens.
    pub input_price: i64,
    pub output_price: i64,
    #[serde(default)]
    pub cache_read_price: i64,
    #[serde(default)]
    pub cache_write_price: i64,
    /// The largest output a request may ask for (`None`: the configured
    /// `credits.max_output_tokens`).
    #[serde(default)]
    pub max_output_tokens: Option<i64>,
    pub enabled: Option<bool>,
    /// Empty (the default): every plan.
    #[serde(default)]
    pub plans: Vec<PlanName>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelChange {
    pub public_name: Option<String>,
    pub provider_id: Option<String>,
    pub upstream_model: Option<String>,
    pub input_price: Option<i64>,
    pub output_price: Option<i64>,
    pub cache_read_price: Option<i64>,
    pub cache_write_price: Option<i64>,
    /// `null` goes back to the configured default.
    #[serde(default, deserialize_with = "validate::present")]
    pub max_output_tokens: Option<Option<i64>>,
    pub enabled: Option<bool>,
    pub plans: Option<Vec<PlanName>>,
}

/// One price, exact in micro-credits and readable in credits.
#[derive(Debug, Clone, Serialize)]
pub struct Price {
    pub micro_credits_per_mtok: i64,
    pub credits_per_mtok: String,
}

impl From<i64> for Price {
    fn from(micros: i64) -> Self {
        Self {
            micro_credits_per_mtok: micros,
            credits_per_mtok: format_credits(micros),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelView {
    pub id: String,
    pub public_name: String,
    pub provider_id: String,
    pub upstream_model: String,
    pub input_price: Price,
    pub output_price: Price,
    pub cache_read_price: Price,
    pub cache_write_price: Price,
    pub max_output_tokens: Option<i64>,
    pub enabled: bool,
    pub plans: Vec<PlanName>,
    #[serde(with = "serde_iso")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "serde_iso")]
    pub updated_at: DateTime<Utc>,
}

impl From<shadow_model::Model> for ModelView {
    fn from(m: shadow_model::Model) -> Self {
        Self {
            plans: plans_of(&m),
            input_price: m.input_price.into(),
            output_price: m.output_price.into(),
            cache_read_price: m.cache_read_price.into(),
            cache_write_price: m.cache_write_price.into(),
            id: m.id,
            public_name: m.public_name,
            provider_id: m.provider_id,
            upstream_model: m.upstream_model,
            max_output_tokens: m.max_output_tokens,
            enabled: m.enabled,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Creates a model as `actor_id`, with its `model.create` audit entry in
/// the same transaction.
pub async fn create_as(
    db: &DatabaseConnection,
    actor_id: &str,
    new: NewModel,
) -> Result<shadow_model::Model> {
    let txn = db::begin_write(db).await?;
    let model = create(&txn, new).await?;
    let after = audit::snapshot(&ModelView::from(model.clone()))?;
    audit::record(
        &txn,
        actor_id,
        Action::ModelCreate,
        Target::model(&model.id),
        None,
        Some(after),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// Creates a model (no audit entry: setup's seed, or [`create_as`]).
pub async fn create<C: ConnectionTrait>(db: &C, new: NewModel) -> Result<shadow_model::Model> {
    let public_name = validate_public_name(&new.public_name)?;
    let upstream_model = validate::required_text("upstream_model", &new.upstream_model, 200)?;
    ensure_provider(db, &new.provider_id).await?;
    let now = time::now();
    shadow_model::ActiveModel {
        id: Set(ids::prefixed("model")),
        public_name: Set(public_name),
        provider_id: Set(new.provider_id),
        upstream_model: Set(upstream_model),
        input_price: Set(validate_price("input_price", new.input_price)?),
        output_price: Set(validate_price("output_price", new.output_price)?),
        cache_read_price: Set(validate_price("cache_read_price", new.cache_read_price)?),
        cache_write_price: Set(validate_price("cache_write_price", new.cache_write_price)?),
        max_output_tokens: Set(validate_max_output(new.max_output_tokens)?),
        enabled: Set(new.enabled.unwrap_or(true)),
        plans: Set(encode_plans(new.plans)?),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(name_taken)
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<shadow_model::Model>> {
    Ok(shadow_model::Entity::find()
        .order_by_asc(shadow_model::Column::PublicName)
        .all(db)
        .await?)
}

pub async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<shadow_model::Model> {
    shadow_model::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("model not found"))
}

/// Applies an admin's change, with its `model.update` audit entry (old and
/// new prices included) in the same transaction.
pub async fn update(
    db: &DatabaseConnection,
    actor_id: &str,
    id: &str,
    change: ModelChange,
) -> Result<shadow_model::Model> {
    let txn = db::begin_write(db).await?;
    let current = get(&txn, id).await?;
    let before = audit::snapshot(&ModelView::from(current.clone()))?;
    let mut model = current.into_active_model();
    if let Some(name) = change.public_name {
        model.public_name = Set(validate_public_name(&name)?);
    }
    if let Some(provider_id) = change.provider_id {
        ensure_provider(&txn, &provider_id).await?;
        model.provider_id = Set(provider_id);
    }
    if let Some(upstream) = change.upstream_model {
        model.upstream_model = Set(validate::required_text("upstream_model", &upstream, 200)?);
    }
    for (field, value, column) in [
        ("input_price", change.input_price, &mut model.input_price),
        ("output_price", change.output_price, &mut model.output_price),
        (
            "cache_read_price",
            change.cache_read_price,
            &mut model.cache_read_price,
        ),
        (
            "cache_write_price",
            change.cache_write_price,
            &mut model.cache_write_price,
        ),
    ] {
        if let Some(price) = value {
            *column = Set(validate_price(field, price)?);
        }
    }
    if let Some(max_output) = change.max_output_tokens {
        model.max_output_tokens = Set(validate_max_output(max_output)?);
    }
    if let Some(enabled) = change.enabled {
        model.enabled = Set(enabled);
    }
    if let Some(plans) = change.plans {
        model.plans = Set(encode_plans(plans)?);
    }
    model.updated_at = Set(time::now());
    let model = model.update(&txn).await.map_err(name_taken)?;
    let after = audit::snapshot(&ModelView::from(model.clone()))?;
    audit::record(
        &txn,
        actor_id,
        Action::ModelUpdate,
        Target::model(id),
        Some(before),
        Some(after),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// What deleting a model did.
#[derive(Debug)]
pub enum Deletion {
    Deleted,
    /// The model has usage on record: it was disabled instead, so that its
    /// history keeps pointing at it.
    Disabled(shadow_model::Model),
}

/// Deletes a model that was never used; disables one that was. Either way
/// the `model.delete` audit entry commits with it (`after`: the disabled
/// model, or nothing).
pub async fn delete(db: &DatabaseConnection, actor_id: &str, id: &str) -> Result<Deletion> {
    let txn = db::begin_write(db).await?;
    let model = get(&txn, id).await?;
    let before = audit::snapshot(&ModelView::from(model.clone()))?;
    // The daily rollups too: usage rows may have been pruned
    // (`retention.usage_days`), and the rollups name the model.
    let used = usage_record::Entity::find()
        .filter(usage_record::Column::ModelId.eq(model.id.as_str()))
        .one(&txn)
        .await?
        .is_some()
        || daily_usage::Entity::find()
            .filter(daily_usage::Column::Model.eq(model.public_name.as_str()))
            .one(&txn)
            .await?
            .is_some();
    let deletion = if used {
        let mut active = model.into_active_model();
        active.enabled = Set(false);
        active.updated_at = Set(time::now());
        Deletion::Disabled(active.update(&txn).await?)
    } else {
        shadow_model::Entity::delete_by_id(model.id)
            .exec(&txn)
            .await?;
        Deletion::Deleted
    };
    let after = match &deletion {
        Deletion::Disabled(model) => Some(audit::snapshot(&ModelView::from(model.clone()))?),
        Deletion::Deleted => None,
    };
    audit::record(
        &txn,
        actor_id,
        Action::ModelDelete,
        Target::model(id),
        Some(before),
        after,
    )
    .await?;
    txn.commit().await?;
    Ok(deletion)
}

/// A model's output ceiling: a whole number of tokens, at least 1.
fn validate_max_output(tokens: Option<i64>) -> Result<Option<i64>> {
    match tokens {
        Some(tokens) if !(1..=MAX_OUTPUT_TOKENS).contains(&tokens) => Err(Error::bad_request(
            format!("max_output_tokens must be between 1 and {MAX_OUTPUT_TOKENS}"),
        )),
        other => Ok(other),
    }
}

/// A model a user may call, with its provider's kind.
#[derive(Debug, Clone, Serialize)]
pub struct AvailableModel {
    pub id: String,
    pub provider_kind: ProviderKind,
    pub input_price: Price,
    pub output_price: Price,
    pub cache_read_price: Price,
    pub cache_write_price: Price,
    #[serde(with = "serde_iso")]
    pub created_at: DateTime<Utc>,
}

/// Enabled models of enabled providers that `plan` may use.
pub async fn available_for(db: &DatabaseConnection, plan: PlanName) -> Result<Vec<AvailableModel>> {
    let rows = shadow_model::Entity::find()
        .filter(shadow_model::Column::Enabled.eq(true))
        .find_also_related(provider::Entity)
        .order_by_asc(shadow_model::Column::PublicName)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(model, provider)| Some((model, provider.filter(|p| p.enabled)?)))
        .filter(|(model, _)| {
            let plans = plans_of(model);
            plans.is_empty() || plans.contains(&plan)
        })
        .map(|(model, provider)| AvailableModel {
            id: model.public_name,
            provider_kind: provider.kind,
            input_price: model.input_price.into(),
            output_price: model.output_price.into(),
            cache_read_price: model.cache_read_price.into(),
            cache_write_price: model.cache_write_price.into(),
            created_at: model.created_at,
        })
        .collect())
}

pub fn plans_of(model: &shadow_model::Model) -> Vec<PlanName> {
    serde_json::from_str(&model.plans).unwrap_or_default()
}

async fn ensure_provider<C: ConnectionTrait>(db: &C, id: &str) -> Result<()> {
    provider::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .map(|_| ())
        .ok_or_else(|| Error::bad_request("provider_id does not name a provider"))
}

fn validate_public_name(name: &str) -> Result<String> {
    let name = name.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._:/@-".contains(c);
    if name.is_empty() || name.len() > 100 || !name.chars().all(allowed) {
        return Err(Error::bad_request(
            "public_name must be 1 to 100 letters, digits or . _ : / @ -",
        ));
    }
    Ok(name.to_owned())
}

fn validate_price(field: &str, price: i64) -> Result<i64> {
    if !(0..=MAX_PRICE).contains(&price) {
        return Err(Error::bad_request(format!(
            "{field} must be between 0 and {MAX_PRICE} micro-credits per million tokens"
        )));
    }
    Ok(price)
}

fn encode_plans(plans: Vec<PlanName>) -> Result<String> {
    let mut unique: Vec<PlanName> = Vec::with_capacity(plans.len());
    for plan in plans {
        if !unique.contains(&plan) {
            unique.push(plan);
        }
    }
    serde_json::to_string(&unique).map_err(|err| Error::Internal(err.into()))
}

/// Constraint failures in words: a taken name, or a provider deleted since
/// it was checked.
fn name_taken(err: sea_orm::DbErr) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::Conflict("a model with this public_name already exists".into())
        }
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
            Error::bad_request("provider_id does not name a provider")
        }
        _ => err.into(),
    }
}
