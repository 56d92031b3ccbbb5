//! The rules for providers.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use http::{HeaderName, HeaderValue};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, Set, SqlErr,
};
use serde::{Deserialize, Serialize};

use crate::{
    audit::{self, Action, Target},
    db,
    entity::{
        provider::{self, ProviderKind},
        shadow_model,
    },
    error::{Error, Result},
    ids,
    time::{self, serde_iso},
    validate,
    vault::Vault,
};

const DEFAULT_TIMEOUT_SECS: u32 = 600;
const DEFAULT_CONNECT_TIMEOUT_SECS: u32 = 10;
const MAX_EXTRA_HEADERS: usize = 32;

#[derive(Debug, Clone, Deserialize)]
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

/// A change; `api_keys` and `extra_headers` replace the old ones when sent.
#[derive(Debug, Clone, Default, Deserialize)]
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

/// A provider as the admin API shows it: the keys only as a count, the extra
/// headers only by name (their values are sealed like the keys).
#[derive(Debug, Clone, Serialize)]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_key_count: usize,
    pub extra_header_names: Vec<String>,
    pub timeout_secs: i32,
    pub connect_timeout_secs: i32,
    pub enabled: bool,
    #[serde(with = "serde_iso")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "serde_iso")]
    pub updated_at: DateTime<Utc>,
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
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Creates a provider as `actor_id`, with its `provider.create` audit entry
/// (the public view: keys as a count) in the same transaction.
pub async fn create_as(
    db: &DatabaseConnection,
    vault: &Vault,
    actor_id: &str,
    new: NewProvider,
) -> Result<provider::Model> {
    let txn = db::begin_write(db).await?;
    let provider = create(&txn, vault, new).await?;
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
    provider::ActiveModel {
        id: Set(ids::prefixed("prov")),
        name: Set(name),
        kind: Set(new.kind),
        base_url: Set(base_url),
        api_keys: Set(seal_keys(vault, new.api_keys)?),
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
        extra_headers: Set(encode_headers(vault, new.extra_headers)?),
        enabled: Set(new.enabled.unwrap_or(true)),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .map_err(name_taken)
}

pub async fn list(db: &DatabaseConnection) -> Result<Vec<provider::Model>> {
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
/// same transaction.
pub async fn update(
    db: &DatabaseConnection,
    vault: &Vault,
    actor_id: &str,
    id: &str,
    change: ProviderChange,
) -> Result<provider::Model> {
    let txn = db::begin_write(db).await?;
    let current = get(&txn, id).await?;
    let before = audit::snapshot(&ProviderView::from(current.clone()))?;
    let kind = current.kind;
    let mut model = current.into_active_model();
    if let Some(name) = change.name {
        model.name = Set(validate::required_text("name", &name, 100)?);
    }
    if let Some(base_url) = change.base_url {
        model.base_url = Set(validate_base_url(kind, &base_url)?);
    }
    if let Some(keys) = change.api_keys {
        model.api_keys = Set(seal_keys(vault, keys)?);
    }
    if let Some(secs) = change.timeout_secs {
        model.timeout_secs = Set(validate_secs("timeout_secs", secs, 3600)?);
    }
    if let Some(secs) = change.connect_timeout_secs {
        model.connect_timeout_secs = Set(validate_secs("connect_timeout_secs", secs, 120)?);
    }
    if let Some(headers) = change.extra_headers {
        model.extra_headers = Set(encode_headers(vault, headers)?);
    }
    if let Some(enabled) = change.enabled {
        model.enabled = Set(enabled);
    }
    model.updated_at = Set(time::now());
    let provider = model.update(&txn).await.map_err(name_taken)?;
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
    Ok(provider)
}

/// Deletes a provider that no model uses; otherwise 409. The
/// `provider.delete` audit entry commits with it.
pub async fn delete(db: &DatabaseConnection, actor_id: &str, id: &str) -> Result<()> {
    let txn = db::begin_write(db).await?;
    let provider = get(&txn, id).await?;
    let before = audit::snapshot(&ProviderView::from(provider.clone()))?;
    let models = shadow_model::Entity::find()
        .filter(shadow_model::Column::ProviderId.eq(&provider.id))
        .count(&txn)
        .await?;
    if models > 0 {
        return Err(Error::Conflict(format!(
            "provider is used by {models} model(s): delete or move them first"
        )));
    }
    // A model added since the count above makes the foreign key refuse.
    provider::Entity::delete_by_id(provider.id)
        .exec(&txn)
        .await
        .map_err(|err| match err.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                Error::Conflict("provider is used by a model: delete or move it first".into())
            }
            _ => err.into(),
        })?;
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
    Ok(())
}

/// The upstream keys in clear, for the proxy.
pub fn upstream_keys(vault: &Vault, provider: &provider::Model) -> Result<Vec<String>> {
    let sealed: Vec<String> =
        serde_json::from_str(&provider.api_keys).map_err(|err| Error::Internal(err.into()))?;
    sealed
        .iter()
        .map(|value| vault.open(value).map_err(Error::Internal))
        .collect()
}

fn seal_keys(vault: &Vault, keys: Vec<String>) -> Result<String> {
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
        sealed.push(vault.seal(key)?);
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
fn encode_headers(vault: &Vault, headers: BTreeMap<String, String>) -> Result<String> {
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
        if sealed.insert(lower, vault.seal(&value)?).is_some() {
            return Err(Error::bad_request(format!(
                "extra_headers: `{name}` is given twice"
            )));
        }
    }
    serde_json::to_string(&sealed).map_err(|err| Error::Internal(err.into()))
}

/// The extra headers in clear, for the proxy.
pub fn extra_headers(vault: &Vault, provider: &provider::Model) -> Result<Vec<(String, String)>> {
    let sealed: BTreeMap<String, String> =
        serde_json::from_str(&provider.extra_headers).map_err(|err| Error::Internal(err.into()))?;
    sealed
        .into_iter()
        .map(|(name, value)| Ok((name, vault.open(&value).map_err(Error::Internal)?)))
        .collect()
}

fn validate_base_url(kind: ProviderKind, url: &str) -> Result<String> {
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
