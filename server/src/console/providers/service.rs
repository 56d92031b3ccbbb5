//! The rules for providers.

use std::collections::BTreeMap;

pub use contract::catalog::ProviderView;
use http::{HeaderName, HeaderValue};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QueryOrder, Set, SqlErr, sea_query::Expr,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    console::{
        audit::{self, Action, Target},
        models::service::deployment_ids_on,
    },
    gateway::proxy::catalog,
    platform::{
        db,
        entity::{
            model_deployment,
            provider::{self, ProviderKind},
        },
        error::{Error, Result},
        ids,
        time::{self},
        validate,
        vault::Vault,
    },
    state::App,
};

pub const DEFAULT_TIMEOUT_SECS: u32 = 600;
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u32 = 10;
const MAX_EXTRA_HEADERS: usize = 32;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProvider {
    pub name: String,
    pub kind: ProviderKind,
    /// e.g. `https://api.openai.com/v1` or `https://api.anthropic.com`;
    /// may be empty for `mock`.
    #[serde(default)]
    pub base_url: String,
    #[serde(default)]
    pub api_keys: Vec<String>,
    pub timeout_secs: Option<u32>,
    pub connect_timeout_secs: Option<u32>,
    #[serde(default)]
    pub extra_headers: BTreeMap<String, String>,
    pub enabled: Option<bool>,
}

impl NewProvider {
    /// Tollgate's built-in mock provider, enabled: no address, no keys.
    pub fn mock(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: ProviderKind::Mock,
            base_url: String::new(),
            api_keys: Vec::new(),
            timeout_secs: None,
            connect_timeout_secs: None,
            extra_headers: BTreeMap::new(),
            enabled: Some(true),
        }
    }
}

/// A change; `api_keys` and `extra_headers` replace the old ones when sent.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderChange {
    pub name: Option<String>,
    pub base_url: Option<String>,
    pub api_keys: Option<Vec<String>>,
    pub timeout_secs: Option<u32>,
    pub connect_timeout_secs: Option<u32>,
    pub extra_headers: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
}

impl From<provider::Model> for ProviderView {
    fn from(p: provider::Model) -> Self {
        let keys: Vec<String> = serde_json::from_str(&p.api_keys).unwrap_or_default();
        let headers: BTreeMap<String, String> =
            serde_json::from_str(&p.extra_headers).unwrap_or_default();
        Self {
            api_key_count: keys.len(),
            extra_header_names: headers.into_keys().collect(),
            id: p.id,
            name: p.name,
            kind: p.kind,
            base_url: p.base_url,
            timeout_secs: p.timeout_secs,
            connect_timeout_secs: p.connect_timeout_secs,
            enabled: p.enabled,
            problem: None,
            managed_by: p.managed_by,
            created_at: p.created_at.into(),
            updated_at: p.updated_at.into(),
        }
    }
}

/// `provider` as the admin API shows it, with its problem if it has one.
pub fn view(provider: provider::Model, vault: &Vault) -> ProviderView {
    let problem = catalog::problem(vault, &provider);
    ProviderView {
        problem,
        ..ProviderView::from(provider)
    }
}

/// Creates a provider as `actor_id`, with its `provider.create` audit entry
/// (the public view: keys as a count) in the same transaction. No model
/// uses it yet, so the proxy's catalog is unchanged.
pub async fn create_as(app: &App, actor_id: &str, new: NewProvider) -> Result<provider::Model> {
    let txn = db::begin_write(&app.db).await?;
    let provider = create(&txn, &app.vault, new).await?;
    let after = audit::snapshot(&ProviderView::from(provider.clone()))?;
    audit::record(
        &txn,
        actor_id,
        Action::ProviderCreate,
        Target::provider(&provider.id),
        None,
        Some(after),
    )
    .await?;
    txn.commit().await?;
    Ok(provider)
}

/// Creates a provider (no audit entry: setup's seed, or [`create_as`]).
pub async fn create<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    new: NewProvider,
) -> Result<provider::Model> {
    let name = validate::required_text("name", &new.name, 100)?;
    let base_url = validate_base_url(new.kind, &new.base_url)?;
    let now = time::now();
    // The id is made here, before the insert, because the sealed values
    // name it (their place).
    let id = ids::prefixed("prov");
    provider::ActiveModel {
        api_keys: Set(seal_keys(vault, &id, new.api_keys)?),
        extra_headers: Set(encode_headers(vault, &id, new.extra_headers)?),
        id: Set(id),
        name: Set(name),
        kind: Set(new.kind),
        base_url: Set(base_url),
        timeout_secs: Set(validate_secs(
            "timeout_secs",
            new.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS),
            3600,
        )?),
        connect_timeout_secs: Set(validate_secs(
            "connect_timeout_secs",
            new.connect_timeout_secs
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS),
            120,
        )?),
        enabled: Set(new.enabled.unwrap_or(true)),
        managed_by: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(name_taken)
}

pub async fn list<C: ConnectionTrait>(db: &C) -> Result<Vec<provider::Model>> {
    Ok(provider::Entity::find()
        .order_by_asc(provider::Column::Name)
        .all(db)
        .await?)
}

pub async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<provider::Model> {
    provider::Entity::find_by_id(id.to_owned())
        .one(db)
        .await?
        .ok_or_else(|| Error::not_found("provider not found"))
}

/// Applies an admin's change, with its `provider.update` audit entry in the
/// same transaction; a provider the catalog file manages is refused. The
/// proxy's catalog reloads, and the provider's deployments start healthy
/// at its new settings.
pub async fn update(
    app: &App,
    actor_id: &str,
    id: &str,
    change: ProviderChange,
) -> Result<provider::Model> {
    let txn = db::begin_write(&app.db).await?;
    let current = get(&txn, id).await?;
    ensure_unmanaged(&current)?;
    let before = audit::snapshot(&ProviderView::from(current.clone()))?;
    let provider = self::change(&txn, &app.vault, current, change).await?;
    let after = audit::snapshot(&ProviderView::from(provider.clone()))?;
    audit::record(
        &txn,
        actor_id,
        Action::ProviderUpdate,
        Target::provider(id),
        Some(before),
        Some(after),
    )
    .await?;
    txn.commit().await?;
    app.catalog.invalidate();
    let deployments = deployment_ids_on(&app.db, id).await?;
    app.health.forget(&deployments).await;
    Ok(provider)
}

/// Applies `change` to `current` (no audit entry: [`update`], or the
/// catalog file's apply).
pub async fn change<C: ConnectionTrait>(
    db: &C,
    vault: &Vault,
    current: provider::Model,
    change: ProviderChange,
) -> Result<provider::Model> {
    let (id, kind) = (current.id.clone(), current.kind);
    let id = id.as_str();
    let mut model = current.into_active_model();
    if let Some(name) = change.name {
        model.name = Set(validate::required_text("name", &name, 100)?);
    }
    if let Some(base_url) = change.base_url {
        model.base_url = Set(validate_base_url(kind, &base_url)?);
    }
    if let Some(keys) = change.api_keys {
        model.api_keys = Set(seal_keys(vault, id, keys)?);
    }
    if let Some(secs) = change.timeout_secs {
        model.timeout_secs = Set(validate_secs("timeout_secs", secs, 3600)?);
    }
    if let Some(secs) = change.connect_timeout_secs {
        model.connect_timeout_secs = Set(validate_secs("connect_timeout_secs", secs, 120)?);
    }
    if let Some(headers) = change.extra_headers {
        model.extra_headers = Set(encode_headers(vault, id, headers)?);
    }
    if let Some(enabled) = change.enabled {
        model.enabled = Set(enabled);
    }
    model.updated_at = Set(time::now());
    model.update(db).await.map_err(name_taken)
}

/// Deletes a provider that no model uses; otherwise 409. The
/// `provider.delete` audit entry commits with it; a provider the catalog
/// file manages is refused. The proxy's catalog reloads.
pub async fn delete(app: &App, actor_id: &str, id: &str) -> Result<()> {
    let txn = db::begin_write(&app.db).await?;
    let provider = get(&txn, id).await?;
    ensure_unmanaged(&provider)?;
    let before = audit::snapshot(&ProviderView::from(provider.clone()))?;
    remove(&txn, provider).await?;
    audit::record(
        &txn,
        actor_id,
        Action::ProviderDelete,
        Target::provider(id),
        Some(before),
        None,
    )
    .await?;
    txn.commit().await?;
    app.catalog.invalidate();
    Ok(())
}

/// Deletes a provider that no model uses; otherwise 409 (no audit entry:
/// [`delete`], or the catalog file's apply).
pub async fn remove<C: ConnectionTrait>(db: &C, provider: provider::Model) -> Result<()> {
    let models = model_deployment::Entity::find()
        .filter(model_deployment::Column::ProviderId.eq(&provider.id))
        .count(db)
        .await?;
    if models > 0 {
        return Err(Error::Conflict(format!(
            "provider serves {models} model deployment(s): delete or move them first"
        )));
    }
    // A model added since the count above makes the foreign key refuse.
    provider::Entity::delete_by_id(provider.id)
        .exec(db)
        .await
        .map_err(|err| match err.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                Error::Conflict("provider is used by a model: delete or move it first".into())
            }
            _ => err.into(),
        })?;
    Ok(())
}

/// Marks a provider as the catalog file `source`'s (`None`: an admin's).
pub async fn set_managed<C: ConnectionTrait>(db: &C, id: &str, source: Option<&str>) -> Result<()> {
    provider::Entity::update_many()
        .col_expr(
            provider::Column::ManagedBy,
            Expr::value(source.map(str::to_owned)),
        )
        .filter(provider::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// 409 for an admin's edit of a provider the catalog file manages.
fn ensure_unmanaged(provider: &provider::Model) -> Result<()> {
    match &provider.managed_by {
        Some(source) => Err(Error::managed_by_file("provider", &provider.name, source)),
        None => Ok(()),
    }
}

fn seal_keys(vault: &Vault, provider_id: &str, keys: Vec<String>) -> Result<String> {
    let place = provider::api_key_place(provider_id);
    let mut sealed = Vec::with_capacity(keys.len());
    for key in keys {
        let key = key.trim();
        if key.is_empty() || key.len() > 4096 {
            return Err(Error::bad_request(
                "api_keys must be non-empty strings of at most 4096 characters",
            ));
        }
        // It goes into a header: a newline or other control character
        // would make every request to the provider fail.
        if HeaderValue::from_str(key).is_err() {
            return Err(Error::bad_request(
                "api_keys: a key may hold only visible characters (no newlines or other control characters)",
            ));
        }
        sealed.push(vault.seal(key, &place)?);
    }
    serde_json::to_string(&sealed).map_err(|err| Error::Internal(err.into()))
}

/// Headers an admin may not add: hop-by-hop and framing headers, which
/// would corrupt the request, and credentials, which Tollgate sets from the
/// provider's keys (a second `authorization` would be ambiguous).
const RESERVED_HEADERS: [&str; 14] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "authorization",
    "x-api-key",
    "cookie",
];

/// Extra headers, names lower-cased, values sealed like the keys: they are
/// often credentials too.
fn encode_headers(
    vault: &Vault,
    provider_id: &str,
    headers: BTreeMap<String, String>,
) -> Result<String> {
    if headers.len() > MAX_EXTRA_HEADERS {
        return Err(Error::bad_request(format!(
            "extra_headers may hold at most {MAX_EXTRA_HEADERS} headers"
        )));
    }
    let mut sealed = BTreeMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Error::bad_request(format!(
                "extra_headers: `{name}` is set by Tollgate itself (framing, routing or credentials) and cannot be added"
            )));
        }
        if HeaderName::from_bytes(lower.as_bytes()).is_err()
            || HeaderValue::from_str(&value).is_err()
        {
            return Err(Error::bad_request(format!(
                "extra_headers: `{name}` is not a valid header name and value"
            )));
        }
        let value = vault.seal(&value, &provider::header_place(provider_id, &lower))?;
        if sealed.insert(lower, value).is_some() {
            return Err(Error::bad_request(format!(
                "extra_headers: `{name}` is given twice"
            )));
        }
    }
    serde_json::to_string(&sealed).map_err(|err| Error::Internal(err.into()))
}

/// The base URL as stored: trimmed, without a trailing `/`; 400 unless
/// http(s).
pub fn validate_base_url(kind: ProviderKind, url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    if url.is_empty() && kind == ProviderKind::Mock {
        return Ok(String::new());
    }
    let valid = url
        .parse::<http::Uri>()
        .ok()
        .filter(|uri| matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some());
    if valid.is_none() || url.len() > 500 {
        return Err(Error::bad_request(
            "base_url must be an http:// or https:// URL",
        ));
    }
    Ok(url.to_owned())
}

fn validate_secs(field: &str, secs: u32, max: u32) -> Result<i32> {
    if secs == 0 || secs > max {
        return Err(Error::bad_request(format!(
            "{field} must be between 1 and {max}"
        )));
    }
    i32::try_from(secs).map_err(|_| Error::bad_request(format!("{field} is too large")))
}

fn name_taken(err: sea_orm::DbErr) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::Conflict("a provider with this name already exists".into())
        }
        _ => err.into(),
    }
}
