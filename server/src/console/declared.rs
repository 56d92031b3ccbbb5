//! The catalog as code: providers, models and plans' rate limits declared
//! in a TOML file
//! (`catalog.file`), kept under version control, applied on every start of
//! `serve` and by `tollgate config apply`, and checked by `tollgate config
//! check`.
//!
//! What the file declares it owns: each provider and model it names is
//! marked with the file's name (`managed_by`), and the admin API and UI
//! refuse to change one, saying where it comes from. Applying is
//! idempotent (a second apply finds nothing to do) and declarative: an item
//! the file managed and no longer names is deleted (a model with usage on
//! record is disabled instead, as an admin's delete would). Upstream keys
//! are never in the file, only the names of the environment variables that
//! hold them.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt,
    path::Path,
};

use figment::{
    Figment,
    providers::{Format, Toml},
};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseConnection};
use serde::Deserialize;

use crate::{
    console::{
        accounts,
        audit::{self, Action, Target},
        models::service::{
            self as models, Deployment, ModelChange, ModelView, NewModel, StoredModel,
        },
        providers::service::{self as providers, NewProvider, ProviderChange, ProviderView},
    },
    gateway::limits::plans,
    platform::{
        db,
        entity::{
            provider::{self, ProviderKind},
            shadow_model::ModelKind,
        },
        error::{Error, Result},
        plan::{Limits, PlanName},
        vault::Vault,
    },
};

/// The file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default)]
    pub providers: Vec<DeclaredProvider>,
    #[serde(default)]
    pub models: Vec<DeclaredModel>,
    /// Requests and tokens per minute by plan, as `PUT
    /// /api/admin/rate-limits/{plan}` would set them.
    #[serde(default)]
    pub rate_limits: HashMap<PlanName, Limits>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredProvider {
    pub name: String,
    pub kind: ProviderKind,
    #[serde(default)]
    pub base_url: String,
    /// Names of environment variables, each holding one upstream key.
    #[serde(default)]
    pub api_key_env: Vec<String>,
    /// Header name → name of the environment variable holding its value.
    #[serde(default)]
    pub extra_headers_env: BTreeMap<String, String>,
    pub timeout_secs: Option<u32>,
    pub connect_timeout_secs: Option<u32>,
    #[serde(default = "yes")]
    pub enabled: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredModel {
    pub public_name: String,
    /// `chat` (the default) or `embedding`.
    #[serde(default)]
    pub kind: ModelKind,
    /// The one-deployment shorthand (a provider of this file, by name).
    pub provider: Option<String>,
    pub upstream_model: Option<String>,
    #[serde(default)]
    pub deployments: Vec<DeclaredDeployment>,
    /// Models of this file, by public name, tried in order.
    #[serde(default)]
    pub fallbacks: Vec<String>,
    /// Micro-credits per million tokens.
    pub input_price: i64,
    pub output_price: i64,
    #[serde(default)]
    pub cache_read_price: i64,
    #[serde(default)]
    pub cache_write_price: i64,
    pub max_output_tokens: Option<i64>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Empty: every plan.
    #[serde(default)]
    pub plans: Vec<PlanName>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredDeployment {
    pub provider: String,
    pub upstream_model: String,
    #[serde(default = "one")]
    pub weight: i32,
    #[serde(default)]
    pub priority: i32,
}

fn yes() -> bool {
    true
}

fn one() -> i32 {
    1
}

/// A catalog file read, its references checked and its secrets read from
/// the environment: ready to apply. Not `Debug`: it holds upstream keys.
#[derive(Clone)]
pub struct Checked {
    /// How the items it manages are marked: the file's name.
    pub source: String,
    catalog: Catalog,
    /// By provider name: its keys and extra header values.
    secrets: HashMap<String, Secrets>,
}

#[derive(Clone, Default)]
struct Secrets {
    keys: Vec<String>,
    headers: BTreeMap<String, String>,
}

/// Counts and names only: never the values.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("keys", &self.keys.len())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Checked {
    pub fn providers(&self) -> usize {
        self.catalog.providers.len()
    }

    pub fn models(&self) -> usize {
        self.catalog.models.len()
    }

    pub fn plans(&self) -> usize {
        self.catalog.rate_limits.len()
    }
}

/// Reads and checks the file at `path`, without the database: every
/// mistake is named (the field, the item, the missing variable).
pub fn check(path: &Path) -> anyhow::Result<Checked> {
    if !path.is_file() {
        anyhow::bail!("the catalog file {} does not exist", path.display());
    }
    let catalog: Catalog = Figment::from(Toml::file(path))
        .extract()
        .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
    let source = path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    );
    let secrets = check_catalog(&catalog, |name| std::env::var(name).ok())
        .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
    Ok(Checked {
        source,
        catalog,
        secrets,
    })
}

/// The references and secrets of `catalog`, with `env` for variables.
fn check_catalog(
    catalog: &Catalog,
    env: impl Fn(&str) -> Option<String>,
) -> Result<HashMap<String, Secrets>, String> {
    let padded = |name: &str| name.trim() != name || name.is_empty();
    let mut secrets = HashMap::new();
    for provider in &catalog.providers {
        let name = &provider.name;
        if padded(name) {
            return Err(format!(
                "provider {name:?}: a name may not be empty or begin or end with a space"
            ));
        }
        let mut found = Secrets::default();
        for variable in &provider.api_key_env {
            // Trimmed as the providers service stores keys (a secret file
            // often ends with a newline).
            let value = env(variable).map(|value| value.trim().to_owned());
            found.keys.push(value.filter(|v| !v.is_empty()).ok_or_else(|| {
                format!("provider {name:?}: the environment variable {variable} (an upstream key) is not set")
            })?);
        }
        for (header, variable) in &provider.extra_headers_env {
            let value = env(variable).map(|value| value.trim().to_owned()).ok_or_else(|| {
                format!("provider {name:?}: the environment variable {variable} (header {header}) is not set")
            })?;
            found.headers.insert(header.clone(), value);
        }
        if secrets.insert(name.clone(), found).is_some() {
            return Err(format!("provider {name:?} is declared twice"));
        }
    }
    let mut models = BTreeSet::new();
    for model in &catalog.models {
        let name = &model.public_name;
        if padded(name) {
            return Err(format!(
                "model {name:?}: a name may not be empty or begin or end with a space"
            ));
        }
        if deployments_of(model)
            .iter()
            .any(|d| padded(&d.upstream_model))
        {
            return Err(format!(
                "model {name:?}: an upstream_model may not be empty or begin or end with a space"
            ));
        }
        if !models.insert(name.as_str()) {
            return Err(format!("model {name:?} is declared twice"));
        }
        let shorthand = model.provider.is_some() || model.upstream_model.is_some();
        match (shorthand, model.deployments.is_empty()) {
            (true, false) => {
                return Err(format!(
                    "model {name:?}: give either provider and upstream_model, or deployments"
                ));
            }
            (false, true) => {
                return Err(format!(
                    "model {name:?}: provider and upstream_model (or deployments) are required"
                ));
            }
            _ => {}
        }
        for provider in deployments_of(model).iter().map(|d| &d.provider) {
            if !secrets.contains_key(provider) {
                return Err(format!(
                    "model {name:?}: the provider {provider:?} is not declared in this file"
                ));
            }
        }
    }
    for model in &catalog.models {
        if let Some(unknown) = model
            .fallbacks
            .iter()
            .find(|f| !models.contains(f.as_str()))
        {
            return Err(format!(
                "model {:?}: the fallback {unknown:?} is not declared in this file",
                model.public_name
            ));
        }
    }
    Ok(secrets)
}

/// A model's deployments, from the shorthand or the list.
fn deployments_of(model: &DeclaredModel) -> Vec<DeclaredDeployment> {
    match (&model.provider, &model.upstream_model) {
        (Some(provider), Some(upstream_model)) => vec![DeclaredDeployment {
            provider: provider.clone(),
            upstream_model: upstream_model.clone(),
            weight: 1,
            priority: 0,
        }],
        (Some(_), None) | (None, Some(_)) => Vec::new(),
        (None, None) => model.deployments.clone(),
    }
}

/// One change an apply makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    CreateProvider(String),
    /// The provider, and the fields that change.
    UpdateProvider(String, Vec<&'static str>),
    DeleteProvider(String),
    /// Kept, and left to the admins: `what`, its name, and why.
    Release(&'static str, String, &'static str),
    CreateModel(String),
    UpdateModel(String, Vec<&'static str>),
    DeleteModel(String),
    SetPlanLimits(PlanName, Limits),
    /// No longer declared: the config file's limits apply again.
    DropPlanLimits(PlanName),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreateProvider(name) => write!(f, "+ provider {name}"),
            Self::UpdateProvider(name, fields) => {
                write!(f, "~ provider {name}: {}", fields.join(", "))
            }
            Self::DeleteProvider(name) => write!(f, "- provider {name}"),
            Self::Release(what, name, why) => {
                write!(f, "- {what} {name}: kept, {why}; no longer managed")
            }
            Self::CreateModel(name) => write!(f, "+ model {name}"),
            Self::UpdateModel(name, fields) => write!(f, "~ model {name}: {}", fields.join(", ")),
            Self::DeleteModel(name) => write!(f, "- model {name}"),
            Self::SetPlanLimits(plan, limits) => write!(
                f,
                "~ rate limits {}: {} requests and {} tokens a minute",
                plan.as_str(),
                limits.requests_per_minute,
                limits.tokens_per_minute
            ),
            Self::DropPlanLimits(plan) => {
                write!(
                    f,
                    "- rate limits {}: the config file's again",
                    plan.as_str()
                )
            }
        }
    }
}

/// What an apply did (or, dry, would do), in order.
#[derive(Debug, Default)]
pub struct Applied {
    pub steps: Vec<Step>,
}

impl Applied {
    /// Plans' limits changed: they are held in memory too.
    pub fn changed_plans(&self) -> bool {
        self.steps
            .iter()
            .any(|step| matches!(step, Step::SetPlanLimits(..) | Step::DropPlanLimits(_)))
    }
}

/// Brings the database to what `checked` declares, in one transaction;
/// with `dry_run`, works out the same steps and rolls them back.
pub async fn apply(
    db: &DatabaseConnection,
    vault: &Vault,
    checked: &Checked,
    dry_run: bool,
) -> Result<Applied> {
    let txn = db::begin_write(db).await?;
    let actor = accounts::service::oldest_admin(&txn).await?;
    let mut run = Run {
        conn: &txn,
        vault,
        checked,
        actor: actor.as_deref(),
        applied: Applied::default(),
    };
    run.providers().await?;
    run.models().await?;
    run.fallbacks().await?;
    run.removed().await?;
    run.plan_limits().await?;
    let applied = run.applied;
    if dry_run {
        txn.rollback().await?;
    } else {
        txn.commit().await?;
    }
    Ok(applied)
}

/// An apply in progress.
struct Run<'a, C> {
    conn: &'a C,
    vault: &'a Vault,
    checked: &'a Checked,
    /// Who the audit entries name: the first admin (none yet: no entries).
    actor: Option<&'a str>,
    applied: Applied,
}

impl<C: ConnectionTrait> Run<'_, C> {
    /// An audit entry for a change, with the views before and after.
    async fn audit<V: serde::Serialize>(
        &self,
        action: Action,
        target: Target,
        before: Option<V>,
        after: Option<V>,
    ) -> Result<()> {
        let Some(actor) = self.actor else {
            return Ok(());
        };
        let before = before.map(|view| audit::snapshot(&view)).transpose()?;
        let after = after.map(|view| audit::snapshot(&view)).transpose()?;
        audit::record(self.conn, actor, action, target, before, after).await?;
        Ok(())
    }

    /// Changes a stored model, with its audit entry.
    async fn change_model(&self, current: &StoredModel, change: ModelChange) -> Result<()> {
        let changed = models::change(self.conn, current.clone(), change).await?;
        self.audit(
            Action::ModelUpdate,
            Target::model(&changed.model.id),
            Some(ModelView::from(current.clone())),
            Some(ModelView::from(changed)),
        )
        .await
    }

    async fn providers(&mut self) -> Result<()> {
        let existing = providers::list(self.conn).await?;
        for declared in &self.checked.catalog.providers {
            let secrets = &self.checked.secrets[&declared.name];
            let named = existing.iter().find(|p| p.name == declared.name);
            let provider = match named {
                None => {
                    let new = NewProvider {
                        name: declared.name.clone(),
                        kind: declared.kind,
                        base_url: declared.base_url.clone(),
                        api_keys: secrets.keys.clone(),
                        timeout_secs: declared.timeout_secs,
                        connect_timeout_secs: declared.connect_timeout_secs,
                        extra_headers: secrets.headers.clone(),
                        enabled: Some(declared.enabled),
                    };
                    let created = providers::create(self.conn, self.vault, new).await?;
                    let view = ProviderView::from(created.clone());
                    let target = Target::provider(&created.id);
                    self.audit(Action::ProviderCreate, target, None, Some(view))
                        .await?;
                    self.applied
                        .steps
                        .push(Step::CreateProvider(declared.name.clone()));
                    created
                }
                Some(current) => {
                    let (change, mut fields) = self.provider_change(current, declared, secrets)?;
                    if !fields.is_empty() {
                        let changed =
                            providers::change(self.conn, self.vault, current.clone(), change)
                                .await?;
                        let target = Target::provider(&changed.id);
                        let (before, after) = (current.clone().into(), changed.into());
                        self.audit::<ProviderView>(
                            Action::ProviderUpdate,
                            target,
                            Some(before),
                            Some(after),
                        )
                        .await?;
                    }
                    if current.managed_by.as_deref() != Some(self.checked.source.as_str()) {
                        fields.push("managed_by");
                    }
                    if !fields.is_empty() {
                        self.applied
                            .steps
                            .push(Step::UpdateProvider(declared.name.clone(), fields));
                    }
                    current.clone()
                }
            };
            if provider.managed_by.as_deref() != Some(self.checked.source.as_str()) {
                providers::set_managed(self.conn, &provider.id, Some(&self.checked.source)).await?;
            }
        }
        Ok(())
    }

    /// What differs between a stored provider and its declaration.
    fn provider_change(
        &self,
        current: &provider::Model,
        declared: &DeclaredProvider,
        secrets: &Secrets,
    ) -> Result<(ProviderChange, Vec<&'static str>)> {
        if current.kind != declared.kind {
            return Err(Error::Conflict(format!(
                "provider {:?} is of kind {} in the database and {} in {}: a kind cannot change; rename one of them",
                declared.name,
                current.kind.to_value(),
                declared.kind.to_value(),
                self.checked.source
            )));
        }
        let mut change = ProviderChange::default();
        let mut fields = Vec::new();
        if current.base_url != providers::validate_base_url(declared.kind, &declared.base_url)? {
            change.base_url = Some(declared.base_url.clone());
            fields.push("base_url");
        }
        if current.upstream_keys(self.vault)? != secrets.keys {
            change.api_keys = Some(secrets.keys.clone());
            fields.push("api_keys");
        }
        let headers: BTreeMap<String, String> =
            current.extra_headers(self.vault)?.into_iter().collect();
        let declared_headers: BTreeMap<String, String> = secrets
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
            .collect();
        if headers != declared_headers {
            change.extra_headers = Some(secrets.headers.clone());
            fields.push("extra_headers");
        }
        let timeout = declared
            .timeout_secs
            .unwrap_or(providers::DEFAULT_TIMEOUT_SECS);
        if i64::from(current.timeout_secs) != i64::from(timeout) {
            change.timeout_secs = Some(timeout);
            fields.push("timeout_secs");
        }
        let connect = declared
            .connect_timeout_secs
            .unwrap_or(providers::DEFAULT_CONNECT_TIMEOUT_SECS);
        if i64::from(current.connect_timeout_secs) != i64::from(connect) {
            change.connect_timeout_secs = Some(connect);
            fields.push("connect_timeout_secs");
        }
        if current.enabled != declared.enabled {
            change.enabled = Some(declared.enabled);
            fields.push("enabled");
        }
        Ok((change, fields))
    }

    /// Provider ids by name, as they are now in the transaction.
    async fn provider_ids(&self) -> Result<HashMap<String, String>> {
        Ok(providers::list(self.conn)
            .await?
            .into_iter()
            .map(|p| (p.name, p.id))
            .collect())
    }

    fn deployments(declared: &DeclaredModel, ids: &HashMap<String, String>) -> Vec<Deployment> {
        deployments_of(declared)
            .into_iter()
            .map(|d| Deployment {
                provider_id: ids.get(&d.provider).cloned().unwrap_or_default(),
                upstream_model: d.upstream_model,
                weight: d.weight,
                priority: d.priority,
            })
            .collect()
    }

    /// Creates and changes models, all but their fallbacks (which may name
    /// models created after them).
    async fn models(&mut self) -> Result<()> {
        let ids = self.provider_ids().await?;
        let existing = models::list(self.conn).await?;
        for declared in &self.checked.catalog.models {
            let deployments = Self::deployments(declared, &ids);
            let named = existing
                .iter()
                .find(|m| m.model.public_name == declared.public_name);
            let stored = match named {
                None => {
                    let new = NewModel {
                        public_name: declared.public_name.clone(),
                        kind: Some(declared.kind),
                        provider_id: None,
                        upstream_model: None,
                        deployments: Some(deployments),
                        fallbacks: Vec::new(),
                        input_price: declared.input_price,
                        output_price: declared.output_price,
                        cache_read_price: declared.cache_read_price,
                        cache_write_price: declared.cache_write_price,
                        max_output_tokens: declared.max_output_tokens,
                        enabled: Some(declared.enabled),
                        plans: declared.plans.clone(),
                    };
                    let created = models::create(self.conn, new).await?;
                    let view = ModelView::from(created.clone());
                    let target = Target::model(&created.model.id);
                    self.audit(Action::ModelCreate, target, None, Some(view))
                        .await?;
                    self.applied
                        .steps
                        .push(Step::CreateModel(declared.public_name.clone()));
                    created
                }
                Some(current) => {
                    let (change, mut fields) = model_change(current, declared, deployments);
                    if !fields.is_empty() {
                        self.change_model(current, change).await?;
                    }
                    if current.model.managed_by.as_deref() != Some(self.checked.source.as_str()) {
                        fields.push("managed_by");
                    }
                    if !fields.is_empty() {
                        self.applied
                            .steps
                            .push(Step::UpdateModel(declared.public_name.clone(), fields));
                    }
                    current.clone()
                }
            };
            if stored.model.managed_by.as_deref() != Some(self.checked.source.as_str()) {
                models::set_managed(self.conn, &stored.model.id, Some(&self.checked.source))
                    .await?;
            }
        }
        Ok(())
    }

    /// Sets the fallbacks that differ, once every model exists.
    async fn fallbacks(&mut self) -> Result<()> {
        let existing = models::list(self.conn).await?;
        for declared in &self.checked.catalog.models {
            let Some(current) = existing
                .iter()
                .find(|m| m.model.public_name == declared.public_name)
            else {
                continue;
            };
            if current.model.fallbacks() == declared.fallbacks {
                continue;
            }
            let change = ModelChange {
                fallbacks: Some(declared.fallbacks.clone()),
                ..ModelChange::default()
            };
            self.change_model(current, change).await?;
            let name = &declared.public_name;
            match self.applied.steps.iter_mut().find(
                |step| matches!(step, Step::CreateModel(n) | Step::UpdateModel(n, _) if n == name),
            ) {
                Some(Step::UpdateModel(_, fields)) => fields.push("fallbacks"),
                Some(_) => {}
                None => self
                    .applied
                    .steps
                    .push(Step::UpdateModel(name.clone(), vec!["fallbacks"])),
            }
        }
        Ok(())
    }

    /// Stores the declared plans' limits, and drops those this file set and
    /// no longer declares.
    async fn plan_limits(&mut self) -> Result<()> {
        let source = self.checked.source.as_str();
        for plan in PlanName::ALL {
            let row = plans::stored_row(self.conn, plan).await?;
            let before = row.as_ref().map(plans::stored);
            let ours = row.as_ref().and_then(|row| row.managed_by.as_deref()) == Some(source);
            match self.checked.catalog.rate_limits.get(&plan) {
                Some(&declared) if !(ours && before == Some(declared)) => {
                    plans::store(self.conn, plan, declared, None, Some(source)).await?;
                    let target = Target::plan(plan.as_str());
                    self.audit(Action::RateLimitsUpdate, target, before, Some(declared))
                        .await?;
                    self.applied.steps.push(Step::SetPlanLimits(plan, declared));
                }
                None if row.as_ref().is_some_and(|row| row.managed_by.is_some()) && !ours => {
                    if let Some(limits) = before {
                        plans::store(self.conn, plan, limits, None, None).await?;
                    }
                    let name = plan.as_str().to_owned();
                    let why = "its catalog file is not this one";
                    self.applied
                        .steps
                        .push(Step::Release("rate limits", name, why));
                }
                None if ours => {
                    plans::unstore(self.conn, plan).await?;
                    let target = Target::plan(plan.as_str());
                    self.audit(Action::RateLimitsUpdate, target, before, None)
                        .await?;
                    self.applied.steps.push(Step::DropPlanLimits(plan));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Deletes what this file managed and no longer declares: models first,
    /// then the providers they used.
    async fn removed(&mut self) -> Result<()> {
        let source = Some(self.checked.source.as_str());
        let catalog = &self.checked.catalog;
        // Marked by a file of another name (the file was renamed): this one
        // does not know them, so they go back to the admins.
        let elsewhere = |managed_by: Option<&str>| managed_by.is_some() && managed_by != source;
        const RENAMED: &str = "its catalog file is not this one";
        for stored in models::list(self.conn).await? {
            let declared = catalog
                .models
                .iter()
                .any(|m| m.public_name == stored.model.public_name);
            if !declared && elsewhere(stored.model.managed_by.as_deref()) {
                models::set_managed(self.conn, &stored.model.id, None).await?;
                let name = stored.model.public_name.clone();
                self.applied
                    .steps
                    .push(Step::Release("model", name, RENAMED));
                continue;
            }
            if !declared && stored.model.managed_by.as_deref() == source {
                let name = stored.model.public_name.clone();
                let id = stored.model.id.clone();
                let before = ModelView::from(stored.clone());
                let outcome = models::remove(self.conn, stored).await?;
                let after = match outcome {
                    models::Deletion::Deleted => None,
                    models::Deletion::Disabled(model) => {
                        models::set_managed(self.conn, &id, None).await?;
                        Some(ModelView::from(*model))
                    }
                };
                self.audit(Action::ModelDelete, Target::model(&id), Some(before), after)
                    .await?;
                self.applied.steps.push(Step::DeleteModel(name));
            }
        }
        for provider in providers::list(self.conn).await? {
            let declared = catalog.providers.iter().any(|p| p.name == provider.name);
            let (id, name) = (provider.id.clone(), provider.name.clone());
            if !declared && elsewhere(provider.managed_by.as_deref()) {
                providers::set_managed(self.conn, &id, None).await?;
                self.applied
                    .steps
                    .push(Step::Release("provider", name, RENAMED));
                continue;
            }
            if !declared && provider.managed_by.as_deref() == source {
                let before = ProviderView::from(provider.clone());
                if !models::deployment_ids_on(self.conn, &id).await?.is_empty() {
                    providers::set_managed(self.conn, &id, None).await?;
                    let why = "models kept for their usage still name it";
                    self.applied
                        .steps
                        .push(Step::Release("provider", name, why));
                    continue;
                }
                providers::remove(self.conn, provider).await?;
                self.audit(
                    Action::ProviderDelete,
                    Target::provider(&id),
                    Some(before),
                    None,
                )
                .await?;
                self.applied.steps.push(Step::DeleteProvider(name));
            }
        }
        Ok(())
    }
}

/// What differs between a stored model and its declaration (fallbacks
/// aside), with its deployments' provider ids resolved.
fn model_change(
    current: &StoredModel,
    declared: &DeclaredModel,
    deployments: Vec<Deployment>,
) -> (ModelChange, Vec<&'static str>) {
    let m = &current.model;
    let mut change = ModelChange::default();
    let mut fields = Vec::new();
    let stored: Vec<Deployment> = current
        .deployments
        .iter()
        .map(|d| Deployment {
            provider_id: d.provider_id.clone(),
            upstream_model: d.upstream_model.clone(),
            weight: d.weight,
            priority: d.priority,
        })
        .collect();
    if stored != deployments {
        change.deployments = Some(deployments);
        fields.push("deployments");
    }
    for (field, now, wanted, slot) in [
        (
            "input_price",
            m.input_price,
            declared.input_price,
            &mut change.input_price,
        ),
        (
            "output_price",
            m.output_price,
            declared.output_price,
            &mut change.output_price,
        ),
        (
            "cache_read_price",
            m.cache_read_price,
            declared.cache_read_price,
            &mut change.cache_read_price,
        ),
        (
            "cache_write_price",
            m.cache_write_price,
            declared.cache_write_price,
            &mut change.cache_write_price,
        ),
    ] {
        if now != wanted {
            *slot = Some(wanted);
            fields.push(field);
        }
    }
    if m.max_output_tokens != declared.max_output_tokens {
        change.max_output_tokens = Some(declared.max_output_tokens);
        fields.push("max_output_tokens");
    }
    if m.kind != declared.kind {
        change.kind = Some(declared.kind);
        fields.push("kind");
    }
    if m.enabled != declared.enabled {
        change.enabled = Some(declared.enabled);
        fields.push("enabled");
    }
    let plans: BTreeSet<&str> = m.plans().into_iter().map(PlanName::as_str).collect();
    let wanted: BTreeSet<&str> = declared.plans.iter().map(|p| p.as_str()).collect();
    if plans != wanted {
        change.plans = Some(declared.plans.clone());
        fields.push("plans");
    }
    (change, fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(text: &str) -> Catalog {
        Figment::from(Toml::string(text)).extract().unwrap()
    }

    const TWO: &str = r#"
        [[providers]]
        name = "openai"
        kind = "openai"
        base_url = "https://api.openai.com/v1"
        api_key_env = ["OPENAI_KEY"]

        [[models]]
        public_name = "gpt"
        provider = "openai"
        upstream_model = "gpt-4o"
        input_price = 1
        output_price = 2
        fallbacks = ["cheap"]

        [[models]]
        public_name = "cheap"
        deployments = [{ provider = "openai", upstream_model = "gpt-4o-mini", weight = 3 }]
        input_price = 0
        output_price = 0
    "#;

    #[test]
    fn a_catalog_whose_references_hold_reads_its_keys_from_the_environment() {
        let secrets = check_catalog(&catalog(TWO), |name| {
            (name == "OPENAI_KEY").then(|| "sk-from-env".to_owned())
        })
        .unwrap();
        assert_eq!(secrets["openai"].keys, vec!["sk-from-env".to_owned()]);
    }

    #[test]
    fn a_missing_variable_is_named_with_its_provider() {
        let err = check_catalog(&catalog(TWO), |_| None).unwrap_err();
        assert!(
            err.contains("OPENAI_KEY") && err.contains("\"openai\""),
            "{err}"
        );
    }

    #[test]
    fn an_undeclared_provider_or_fallback_is_named() {
        let env = |_: &str| Some("sk".to_owned());
        let text = TWO.replace(
            "provider = \"openai\"\n        upstream_model = \"gpt-4o\"",
            "provider = \"azure\"\n        upstream_model = \"gpt-4o\"",
        );
        let err = check_catalog(&catalog(&text), env).unwrap_err();
        assert!(err.contains("\"azure\""), "{err}");
        let text = TWO.replace("fallbacks = [\"cheap\"]", "fallbacks = [\"dear\"]");
        let err = check_catalog(&catalog(&text), env).unwrap_err();
        assert!(err.contains("\"dear\""), "{err}");
    }
}
