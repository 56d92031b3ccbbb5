//! The rules for shadow models: their names, prices, plans, deployments
//! (the providers and upstream models that may serve them) and fallbacks.
//! A model's first deployment is mirrored on the model row
//! (`provider_id`, `upstream_model`), the shorthand for the common case.

use chrono::{DateTime, Utc};
pub use contract::catalog::{DeploymentView, ModelView, Price};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    console::audit::{self, Action, Target},
    gateway::{adapter, proxy::health::Health},
    platform::{
        db,
        entity::{
            daily_usage, model_deployment,
            provider::{self, ProviderKind},
            shadow_model::{self, ModelKind},
            usage_record,
        },
        error::{Error, Result},
        ids,
        money::format_credits,
        plan::PlanName,
        time::{self, serde_iso},
        validate,
    },
    state::App,
};

/// Prices beyond this (a million credits per million tokens) are a typo.
const MAX_PRICE: i64 = 1_000_000_000_000;
/// Output caps beyond this (ten million tokens) are a typo.
const MAX_OUTPUT_TOKENS: i64 = 10_000_000;
/// More deployments or fallbacks than this for one model are a mistake.
const MAX_DEPLOYMENTS: usize = 16;
const MAX_FALLBACKS: usize = 8;
const MAX_WEIGHT: i32 = 1_000;
const MAX_PRIORITY: i32 = 100;

/// A provider and upstream model that may serve a model, as an admin sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub provider_id: String,
    pub upstream_model: String,
    /// Its share of its priority's traffic, relative to the others' (1 to
    /// 1000; default 1).
    #[serde(default = "one")]
    pub weight: i32,
    /// 0 (the default) is tried first; a higher number only when every
    /// deployment before it is failing or cooling down.
    #[serde(default)]
    pub priority: i32,
}

fn one() -> i32 {
    1
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewModel {
    pub public_name: String,
    /// `chat` (the default) or `embedding`.
    #[serde(default)]
    pub kind: Option<ModelKind>,
    /// The one-deployment shorthand; or `deployments`.
    #[serde(default)]
    pub provider_id: Option<String>,
    #[serde(default)]
    pub upstream_model: Option<String>,
    #[serde(default)]
    pub deployments: Option<Vec<Deployment>>,
    /// Public names of models tried, in order, when every deployment failed.
    #[serde(default)]
    pub fallbacks: Vec<String>,
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

impl NewModel {
    /// `name`, enabled for every plan at `prices`, on one deployment: the
    /// upstream model of the same name at `provider_id`.
    pub fn on_one_deployment(
        name: &str,
        provider_id: String,
        prices: crate::platform::pricing::Prices,
    ) -> Self {
        Self {
            public_name: name.to_owned(),
            kind: None,
            provider_id: Some(provider_id),
            upstream_model: Some(name.to_owned()),
            deployments: None,
            fallbacks: Vec::new(),
            input_price: prices.input,
            output_price: prices.output,
            cache_read_price: prices.cache_read,
            cache_write_price: prices.cache_write,
            max_output_tokens: None,
            enabled: Some(true),
            plans: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelChange {
    pub public_name: Option<String>,
    pub kind: Option<ModelKind>,
    /// Change the only deployment of a model that has one.
    pub provider_id: Option<String>,
    pub upstream_model: Option<String>,
    /// Replaces the deployments (those with the same provider and upstream
    /// model keep their identity, and so their health).
    pub deployments: Option<Vec<Deployment>>,
    pub fallbacks: Option<Vec<String>>,
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

impl From<model_deployment::Model> for DeploymentView {
    fn from(d: model_deployment::Model) -> Self {
        Self {
            id: d.id,
            provider_id: d.provider_id,
            upstream_model: d.upstream_model,
            weight: d.weight,
            priority: d.priority,
            health: None,
        }
    }
}

/// A model with its deployments, as stored.
#[derive(Debug, Clone)]
pub struct StoredModel {
    pub model: shadow_model::Model,
    /// In the admin's order.
    pub deployments: Vec<model_deployment::Model>,
}

/// `model` as the admin API shows it, with each deployment's health as
/// `health` sees it.
pub fn view(model: StoredModel, health: &Health) -> ModelView {
    let mut view = ModelView::from(model);
    for deployment in &mut view.deployments {
        deployment.health = Some(health.of_deployment(&deployment.id));
    }
    view
}

/// A price per million tokens, exact and in credits.
fn price(micros: i64) -> Price {
    Price {
        micro_credits_per_mtok: micros,
        credits_per_mtok: format_credits(micros),
    }
}

impl From<StoredModel> for ModelView {
    fn from(
        StoredModel {
            model: m,
            deployments,
        }: StoredModel,
    ) -> Self {
        Self {
            deployments: deployments.into_iter().map(DeploymentView::from).collect(),
            fallbacks: m.fallbacks(),
            plans: m.plans(),
            input_price: price(m.input_price),
            output_price: price(m.output_price),
            cache_read_price: price(m.cache_read_price),
            cache_write_price: price(m.cache_write_price),
            id: m.id,
            public_name: m.public_name,
            kind: m.kind,
            provider_id: m.provider_id,
            upstream_model: m.upstream_model,
            max_output_tokens: m.max_output_tokens,
            enabled: m.enabled,
            managed_by: m.managed_by,
            created_at: m.created_at.into(),
            updated_at: m.updated_at.into(),
        }
    }
}

/// Creates a model as `actor_id`, with its `model.create` audit entry in
/// the same transaction; the proxy's catalog reloads.
pub async fn create_as(app: &App, actor_id: &str, new: NewModel) -> Result<StoredModel> {
    let txn = db::begin_write(&app.db).await?;
    let stored = create(&txn, new).await?;
    let after = audit::snapshot(&ModelView::from(stored.clone()))?;
    audit::record(
        &txn,
        actor_id,
        Action::ModelCreate,
        Target::model(&stored.model.id),
        None,
        Some(after),
    )
    .await?;
    txn.commit().await?;
    app.catalog.invalidate();
    Ok(stored)
}

/// Creates a model (no audit entry: setup's seed, or [`create_as`]).
pub async fn create<C: ConnectionTrait>(db: &C, new: NewModel) -> Result<StoredModel> {
    let public_name = validate_public_name(&new.public_name)?;
    let deployments = match (new.provider_id, new.upstream_model, new.deployments) {
        (Some(provider_id), Some(upstream_model), None) => vec![Deployment {
            provider_id,
            upstream_model,
            weight: 1,
            priority: 0,
        }],
        (None, None, Some(deployments)) => deployments,
        (_, _, Some(_)) => return Err(either_shorthand_or_list()),
        _ => {
            return Err(Error::bad_request(
                "provider_id and upstream_model are required (or deployments: [{provider_id, upstream_model, weight, priority}])",
            ));
        }
    };
    let deployments = validate_deployments(db, deployments).await?;
    let fallbacks = validate_fallbacks(db, &public_name, new.fallbacks).await?;
    let kind = new.kind.unwrap_or(ModelKind::Chat);
    let provider_ids: Vec<&str> = deployments.iter().map(|d| d.provider_id.as_str()).collect();
    check_kind(db, kind, &provider_ids, &fallbacks).await?;
    let first = deployments[0].clone();
    let now = time::now();
    let model = shadow_model::ActiveModel {
        id: Set(ids::prefixed("model")),
        public_name: Set(public_name),
        kind: Set(kind),
        provider_id: Set(first.provider_id),
        upstream_model: Set(first.upstream_model),
        input_price: Set(validate_price("input_price", new.input_price)?),
        output_price: Set(validate_price("output_price", new.output_price)?),
        cache_read_price: Set(validate_price("cache_read_price", new.cache_read_price)?),
        cache_write_price: Set(validate_price("cache_write_price", new.cache_write_price)?),
        max_output_tokens: Set(validate_max_output(new.max_output_tokens)?),
        enabled: Set(new.enabled.unwrap_or(true)),
        plans: Set(encode_plans(new.plans)?),
        fallbacks: Set(encode_names(fallbacks)?),
        managed_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(name_taken)?;
    let deployments = replace_deployments(db, &model.id, deployments).await?;
    Ok(StoredModel { model, deployments })
}

fn either_shorthand_or_list() -> Error {
    Error::bad_request(
        "give either provider_id and upstream_model (one deployment) or deployments, not both",
    )
}

/// Every deployment's provider exists, its upstream model is named, its
/// weight and priority are in range, and no pair appears twice.
async fn validate_deployments<C: ConnectionTrait>(
    db: &C,
    deployments: Vec<Deployment>,
) -> Result<Vec<Deployment>> {
    if deployments.is_empty() || deployments.len() > MAX_DEPLOYMENTS {
        return Err(Error::bad_request(format!(
            "deployments: between 1 and {MAX_DEPLOYMENTS} are required"
        )));
    }
    let mut checked: Vec<Deployment> = Vec::with_capacity(deployments.len());
    for (index, deployment) in deployments.into_iter().enumerate() {
        let field = |name: &str| format!("deployments[{index}].{name}");
        ensure_provider(db, &deployment.provider_id)
            .await
            .map_err(|_| {
                Error::bad_request(format!("{} does not name a provider", field("provider_id")))
            })?;
        let upstream_model =
            validate::required_text(&field("upstream_model"), &deployment.upstream_model, 200)?;
        if !(1..=MAX_WEIGHT).contains(&deployment.weight) {
            return Err(Error::bad_request(format!(
                "{} must be between 1 and {MAX_WEIGHT}",
                field("weight")
            )));
        }
        if !(0..=MAX_PRIORITY).contains(&deployment.priority) {
            return Err(Error::bad_request(format!(
                "{} must be between 0 and {MAX_PRIORITY}",
                field("priority")
            )));
        }
        let deployment = Deployment {
            upstream_model,
            ..deployment
        };
        if checked.iter().any(|d| {
            d.provider_id == deployment.provider_id && d.upstream_model == deployment.upstream_model
        }) {
            return Err(Error::bad_request(format!(
                "deployments[{index}]: the same provider and upstream model are listed twice"
            )));
        }
        checked.push(deployment);
    }
    Ok(checked)
}

/// Fallbacks name other existing models, each once.
async fn validate_fallbacks<C: ConnectionTrait>(
    db: &C,
    own_name: &str,
    fallbacks: Vec<String>,
) -> Result<Vec<String>> {
    if fallbacks.len() > MAX_FALLBACKS {
        return Err(Error::bad_request(format!(
            "fallbacks: at most {MAX_FALLBACKS}"
        )));
    }
    let mut checked: Vec<String> = Vec::with_capacity(fallbacks.len());
    for name in fallbacks {
        let name = name.trim().to_owned();
        if name == own_name {
            return Err(Error::bad_request(
                "fallbacks: a model cannot fall back to itself",
            ));
        }
        if checked.contains(&name) {
            return Err(Error::bad_request(format!(
                "fallbacks: `{name}` is listed twice"
            )));
        }
        let exists = shadow_model::Entity::find()
            .filter(shadow_model::Column::PublicName.eq(name.as_str()))
            .one(db)
            .await?
            .is_some();
        if !exists {
            return Err(Error::bad_request(format!(
                "fallbacks: there is no model named `{name}`"
            )));
        }
        checked.push(name);
    }
    Ok(checked)
}

/// Makes `deployments` the model's, in their order: a deployment with the
/// same provider and upstream model as one it had keeps that one's id (its
/// health follows it), the others are new, and the rest go.
async fn replace_deployments<C: ConnectionTrait>(
    db: &C,
    model_id: &str,
    deployments: Vec<Deployment>,
) -> Result<Vec<model_deployment::Model>> {
    let existing = deployments_of(db, model_id).await?;
    let mut kept = Vec::with_capacity(deployments.len());
    for (position, deployment) in deployments.into_iter().enumerate() {
        let position = i32::try_from(position).unwrap_or(i32::MAX);
        let same = existing.iter().find(|d| {
            d.provider_id == deployment.provider_id && d.upstream_model == deployment.upstream_model
        });
        let row = model_deployment::ActiveModel {
            id: Set(same.map_or_else(|| ids::prefixed("deploy"), |d| d.id.clone())),
            model_id: Set(model_id.to_owned()),
            provider_id: Set(deployment.provider_id),
            upstream_model: Set(deployment.upstream_model),
            weight: Set(deployment.weight),
            priority: Set(deployment.priority),
            position: Set(position),
        };
        kept.push(if same.is_some() {
            row.update(db).await?
        } else {
            row.insert(db).await.map_err(name_taken)?
        });
    }
    let gone: Vec<String> = existing
        .into_iter()
        .filter(|d| !kept.iter().any(|k| k.id == d.id))
        .map(|d| d.id)
        .collect();
    if !gone.is_empty() {
        model_deployment::Entity::delete_many()
            .filter(model_deployment::Column::Id.is_in(gone))
            .exec(db)
            .await?;
    }
    Ok(kept)
}

/// A model's deployments in the admin's order.
pub async fn deployments_of<C: ConnectionTrait>(
    db: &C,
    model_id: &str,
) -> Result<Vec<model_deployment::Model>> {
    Ok(model_deployment::Entity::find()
        .filter(model_deployment::Column::ModelId.eq(model_id))
        .order_by_asc(model_deployment::Column::Position)
        .all(db)
        .await?)
}

/// The ids of the deployments on a provider.
pub async fn deployment_ids_on<C: ConnectionTrait>(
    db: &C,
    provider_id: &str,
) -> Result<Vec<String>> {
    Ok(model_deployment::Entity::find()
        .select_only()
        .column(model_deployment::Column::Id)
        .filter(model_deployment::Column::ProviderId.eq(provider_id))
        .into_tuple()
        .all(db)
        .await?)
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<StoredModel>> {
    let models = shadow_model::Entity::find()
        .order_by_asc(shadow_model::Column::PublicName)
        .all(db)
        .await?;
    let mut deployments = model_deployment::all_by_model(db).await?;
    Ok(models
        .into_iter()
        .map(|model| StoredModel {
            deployments: deployments.remove(&model.id).unwrap_or_default(),
            model,
        })
        .collect())
}

pub async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<StoredModel> {
    let model = shadow_model::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("model not found"))?;
    Ok(StoredModel {
        deployments: deployments_of(db, &model.id).await?,
        model,
    })
}

/// Applies an admin's change, with its `model.update` audit entry (old and
/// new prices included) in the same transaction; a model the catalog file
/// manages is refused. The proxy's catalog reloads.
pub async fn update(
    app: &App,
    actor_id: &str,
    id: &str,
    change: ModelChange,
) -> Result<StoredModel> {
    let txn = db::begin_write(&app.db).await?;
    let current = get(&txn, id).await?;
    ensure_unmanaged(&current.model)?;
    let before = audit::snapshot(&ModelView::from(current.clone()))?;
    let stored = self::change(&txn, current, change).await?;
    let after = audit::snapshot(&ModelView::from(stored.clone()))?;
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
    app.catalog.invalidate();
    Ok(stored)
}

/// Applies `change` to `current` (no audit entry: [`update`], or the
/// catalog file's apply).
pub async fn change<C: ConnectionTrait>(
    txn: &C,
    current: StoredModel,
    change: ModelChange,
) -> Result<StoredModel> {
    let id = current.model.id.clone();
    let id = id.as_str();
    let public_name = match change.public_name {
        Some(name) => validate_public_name(&name)?,
        None => current.model.public_name.clone(),
    };
    let shorthand = change.provider_id.is_some() || change.upstream_model.is_some();
    let deployments = match (shorthand, change.deployments) {
        (true, Some(_)) => return Err(either_shorthand_or_list()),
        (false, Some(deployments)) => Some(deployments),
        (true, None) => {
            let [only] = current.deployments.as_slice() else {
                return Err(Error::bad_request(format!(
                    "this model has {} deployments: change them with deployments",
                    current.deployments.len()
                )));
            };
            Some(vec![Deployment {
                provider_id: change
                    .provider_id
                    .unwrap_or_else(|| only.provider_id.clone()),
                upstream_model: change
                    .upstream_model
                    .unwrap_or_else(|| only.upstream_model.clone()),
                weight: only.weight,
                priority: only.priority,
            }])
        }
        (false, None) => None,
    };
    let deployments = match deployments {
        Some(deployments) => Some(validate_deployments(txn, deployments).await?),
        None => None,
    };
    let fallbacks = match change.fallbacks {
        Some(fallbacks) => Some(validate_fallbacks(txn, &public_name, fallbacks).await?),
        None => None,
    };
    let kind = change.kind.unwrap_or(current.model.kind);
    let provider_ids: Vec<&str> = match &deployments {
        Some(deployments) => deployments.iter().map(|d| d.provider_id.as_str()).collect(),
        None => current
            .deployments
            .iter()
            .map(|d| d.provider_id.as_str())
            .collect(),
    };
    let kept_fallbacks = current.model.fallbacks();
    let checked_fallbacks = fallbacks.as_deref().unwrap_or(&kept_fallbacks);
    check_kind(txn, kind, &provider_ids, checked_fallbacks).await?;
    let mut model = current.model.into_active_model();
    model.public_name = Set(public_name.clone());
    if let Some(first) = deployments.as_ref().and_then(|d| d.first()) {
        model.provider_id = Set(first.provider_id.clone());
        model.upstream_model = Set(first.upstream_model.clone());
    }
    if let Some(fallbacks) = fallbacks {
        model.fallbacks = Set(encode_names(fallbacks)?);
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
    model.kind = Set(kind);
    if let Some(plans) = change.plans {
        model.plans = Set(encode_plans(plans)?);
    }
    model.updated_at = Set(time::now());
    let model = model.update(txn).await.map_err(name_taken)?;
    let deployments = match deployments {
        Some(deployments) => replace_deployments(txn, id, deployments).await?,
        None => current.deployments,
    };
    Ok(StoredModel { model, deployments })
}

/// What deleting a model did.
#[derive(Debug)]
pub enum Deletion {
    Deleted,
    /// The model has usage on record: it was disabled instead, so that its
    /// history keeps pointing at it.
    Disabled(Box<StoredModel>),
}

/// Deletes a model that was never used; disables one that was. Either way
/// the `model.delete` audit entry commits with it (`after`: the disabled
/// model, or nothing). Requests that already finished count as usage: the
/// writer's queue is flushed first. The proxy's catalog reloads.
pub async fn delete(app: &App, actor_id: &str, id: &str) -> Result<Deletion> {
    app.usage.flush().await;
    let txn = db::begin_write(&app.db).await?;
    let stored = get(&txn, id).await?;
    ensure_unmanaged(&stored.model)?;
    let before = audit::snapshot(&ModelView::from(stored.clone()))?;
    let deletion = remove(&txn, stored).await?;
    let after = match &deletion {
        Deletion::Disabled(model) => Some(audit::snapshot(&ModelView::from((**model).clone()))?),
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
    app.catalog.invalidate();
    Ok(deletion)
}

/// Deletes a model that was never used, disables one that was (no audit
/// entry: [`delete`], or the catalog file's apply).
pub async fn remove<C: ConnectionTrait>(txn: &C, stored: StoredModel) -> Result<Deletion> {
    let StoredModel { model, deployments } = stored;
    // The daily rollups too: usage rows may have been pruned
    // (`retention.usage_days`), and the rollups name the model.
    let used = usage_record::Entity::find()
        .filter(usage_record::Column::ModelId.eq(model.id.as_str()))
        .one(txn)
        .await?
        .is_some()
        || daily_usage::Entity::find()
            .filter(daily_usage::Column::Model.eq(model.public_name.as_str()))
            .one(txn)
            .await?
            .is_some();
    let deletion = if used {
        let mut active = model.into_active_model();
        active.enabled = Set(false);
        active.updated_at = Set(time::now());
        Deletion::Disabled(Box::new(StoredModel {
            model: active.update(txn).await?,
            deployments,
        }))
    } else {
        model_deployment::Entity::delete_many()
            .filter(model_deployment::Column::ModelId.eq(model.id.as_str()))
            .exec(txn)
            .await?;
        shadow_model::Entity::delete_by_id(model.id)
            .exec(txn)
            .await?;
        Deletion::Deleted
    };
    Ok(deletion)
}

/// Marks a model as the catalog file `source`'s (`None`: an admin's).
pub async fn set_managed<C: ConnectionTrait>(db: &C, id: &str, source: Option<&str>) -> Result<()> {
    shadow_model::Entity::update_many()
        .col_expr(
            shadow_model::Column::ManagedBy,
            sea_orm::sea_query::Expr::value(source.map(str::to_owned)),
        )
        .filter(shadow_model::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// 409 for an admin's edit of a model the catalog file manages.
fn ensure_unmanaged(model: &shadow_model::Model) -> Result<()> {
    match &model.managed_by {
        Some(source) => Err(Error::managed_by_file("model", &model.public_name, source)),
        None => Ok(()),
    }
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
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AvailableModel {
    pub id: String,
    /// Not in the answer (the user's model list keeps its shape): the LLM
    /// API's list in Anthropic's format leaves embedding models out.
    #[serde(skip)]
    pub kind: ModelKind,
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
            let plans = model.plans();
            plans.is_empty() || plans.contains(&plan)
        })
        .map(|(model, provider)| AvailableModel {
            id: model.public_name,
            kind: model.kind,
            provider_kind: provider.kind,
            input_price: price(model.input_price),
            output_price: price(model.output_price),
            cache_read_price: price(model.cache_read_price),
            cache_write_price: price(model.cache_write_price),
            created_at: model.created_at,
        })
        .collect())
}

fn encode_names(names: Vec<String>) -> Result<String> {
    serde_json::to_string(&names).map_err(|err| Error::Internal(err.into()))
}

/// A model serves its kind: an embedding model only on providers that
/// embed, and its fallbacks are of its own kind (400 naming the field).
async fn check_kind<C: ConnectionTrait>(
    db: &C,
    kind: ModelKind,
    provider_ids: &[&str],
    fallbacks: &[String],
) -> Result<()> {
    if kind == ModelKind::Embedding {
        let providers = provider::Entity::find()
            .filter(provider::Column::Id.is_in(provider_ids.iter().copied()))
            .all(db)
            .await?;
        if let Some(p) = providers
            .iter()
            .find(|p| !adapter::for_kind(p.kind).embeds())
        {
            return Err(Error::bad_request(format!(
                "kind: the provider `{}` ({}) serves no embeddings",
                p.name, p.kind
            )));
        }
    }
    if fallbacks.is_empty() {
        return Ok(());
    }
    let other = shadow_model::Entity::find()
        .filter(shadow_model::Column::PublicName.is_in(fallbacks.iter().map(String::as_str)))
        .filter(shadow_model::Column::Kind.ne(kind))
        .one(db)
        .await?;
    match other {
        Some(other) => Err(Error::bad_request(format!(
            "fallbacks: `{}` is not a {kind} model",
            other.public_name
        ))),
        None => Ok(()),
    }
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
