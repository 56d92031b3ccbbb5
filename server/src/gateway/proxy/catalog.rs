//! The proxy's routing table in memory: public model name → model, prices,
//! deployments (each a provider, with its upstream keys opened once, and
//! an upstream model) and fallbacks. Built from the
//! database on first use and rebuilt after any admin change to models or
//! providers, so a request resolves its model without a query.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::http::{HeaderName, HeaderValue};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};

use crate::{
    gateway::{
        adapter::{self, Adapter},
        proxy::health::key_target,
    },
    platform::{
        cluster::bus::{Bus, Change},
        entity::{
            model_deployment,
            provider::{self, ProviderKind},
            shadow_model,
        },
        error::{Error, Result},
        plan::PlanName,
        vault::Vault,
    },
};

/// Where a public model name leads.
#[derive(Debug)]
pub struct Route {
    pub model: shadow_model::Model,
    /// Empty: every plan.
    pub plans: Vec<PlanName>,
    /// Those of enabled providers, in the admin's order; never empty.
    pub deployments: Vec<Deployment>,
    /// Public names of the models tried when every deployment failed.
    pub fallbacks: Vec<String>,
    /// The public name as a header value, for the answers it serves.
    pub name_header: Option<HeaderValue>,
}

/// A provider and upstream model that may serve a route.
#[derive(Debug)]
pub struct Deployment {
    /// Also its health target (`proxy::health`).
    pub id: String,
    pub provider: Arc<Upstream>,
    pub upstream_model: String,
    pub weight: u32,
    pub priority: i32,
    /// The health target of each of the provider's keys for this
    /// deployment, in the order of its credentials (one, for a provider
    /// without keys), made once here rather than on every request.
    pub key_targets: Vec<String>,
}

impl Deployment {
    pub fn new(
        id: String,
        provider: Arc<Upstream>,
        upstream_model: String,
        weight: u32,
        priority: i32,
    ) -> Self {
        let key_targets = if provider.credentials.is_empty() {
            vec![key_target(&id, "")]
        } else {
            provider
                .credentials
                .iter()
                .map(|credential| key_target(&id, &credential.tag))
                .collect()
        };
        Self {
            id,
            provider,
            upstream_model,
            weight,
            priority,
            key_targets,
        }
    }

    /// Each key to try (`None`: the provider takes none) with its health
    /// target, starting with the next in round-robin order.
    pub fn keys_in_turn(&self) -> impl Iterator<Item = (Option<&Credential>, &str)> {
        let count = self.key_targets.len();
        let start = self
            .provider
            .next_credential
            .fetch_add(1, Ordering::Relaxed)
            % count.max(1);
        (0..count).map(move |offset| {
            let index = (start + offset) % count;
            (
                self.provider.credentials.get(index),
                self.key_targets[index].as_str(),
            )
        })
    }
}

/// One upstream key, ready to send.
#[derive(Debug)]
pub struct Credential {
    pub name: HeaderName,
    /// Marked sensitive, so it never prints.
    pub value: HeaderValue,
    /// Names the key in health records and logs without revealing it: the
    /// first 8 hex digits of its SHA-256.
    pub tag: String,
}

impl Route {
    pub fn allows_plan(&self, plan: PlanName) -> bool {
        self.plans.is_empty() || self.plans.contains(&plan)
    }

    /// The deployment a request without failover would use: the first of
    /// the best priority (token counting asks it).
    pub fn primary(&self) -> &Deployment {
        let best = self.deployments.iter().map(|d| d.priority).min();
        self.deployments
            .iter()
            .find(|d| Some(d.priority) == best)
            .unwrap_or(&self.deployments[0])
    }
}

/// A provider, ready to be called.
#[derive(Debug)]
pub struct Upstream {
    pub id: String,
    /// The admin's name for it (metrics label it so).
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    /// Its keys as the provider's adapter presents them.
    pub credentials: Vec<Credential>,
    pub extra_headers: Vec<(HeaderName, HeaderValue)>,
    /// Bounds the wait for the response head and every pause in a stream.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    next_credential: AtomicUsize,
    /// `base_url` and each path called, parsed once: parsing costs more
    /// than the rest of building a request.
    urls: RwLock<HashMap<String, reqwest::Url>>,
    /// Why the provider cannot be called (its stored keys or headers do
    /// not open or are not valid headers): its models answer 502 saying
    /// so, and every other provider keeps working.
    pub broken: Option<String>,
}

impl Upstream {
    /// What calling this kind of provider takes.
    pub fn adapter(&self) -> &'static dyn Adapter {
        adapter::for_kind(self.kind)
    }

    /// The provider's URL for `path` (under its base URL).
    pub fn url(&self, path: &str) -> std::result::Result<reqwest::Url, url::ParseError> {
        let known = self
            .urls
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(path)
            .cloned();
        if let Some(url) = known {
            return Ok(url);
        }
        let url = reqwest::Url::parse(&format!("{}{path}", self.base_url))?;
        self.urls
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(path.to_owned(), url.clone());
        Ok(url)
    }

    /// The next credential, round robin over the provider's keys.
    pub fn credential(&self) -> Option<&Credential> {
        if self.credentials.is_empty() {
            return None;
        }
        let index = self.next_credential.fetch_add(1, Ordering::Relaxed) % self.credentials.len();
        self.credentials.get(index)
    }
}

type Table = HashMap<String, Arc<Route>>;

#[derive(Default)]
pub struct Catalog {
    table: RwLock<Option<Arc<Table>>>,
    /// Bumped by every invalidation, so that a load that raced one is not kept.
    generation: AtomicU64,
    /// Tells the other instances when models or providers changed.
    bus: Bus,
}

impl Catalog {
    /// The route for a public model name; `None` when no enabled model of
    /// an enabled provider has that name.
    pub async fn resolve(
        &self,
        db: &DatabaseConnection,
        vault: &Vault,
        name: &str,
    ) -> Result<Option<Arc<Route>>> {
        let table = match self.current() {
            Some(table) => table,
            None => {
                let generation = self.generation.load(Ordering::Acquire);
                let table = Arc::new(load(db, vault).await?);
                if self.generation.load(Ordering::Acquire) == generation {
                    *self.write() = Some(table.clone());
                }
                table
            }
        };
        Ok(table.get(name).cloned())
    }

    pub fn new(bus: Bus) -> Self {
        Self {
            bus,
            ..Self::default()
        }
    }

    /// Forgets the table after a change to models or providers, here and on
    /// every other instance.
    pub fn invalidate(&self) {
        self.drop_table();
        self.bus.publish(Change::Catalog);
    }

    /// Forgets the table on this instance.
    pub fn drop_table(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        *self.write() = None;
    }

    fn current(&self) -> Option<Arc<Table>> {
        self.table
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Arc<Table>>> {
        self.table
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn load(db: &DatabaseConnection, vault: &Vault) -> Result<Table> {
    let models = shadow_model::Entity::find()
        .filter(shadow_model::Column::Enabled.eq(true))
        .all(db)
        .await?;
    let upstreams: HashMap<String, Arc<Upstream>> = provider::Entity::find()
        .filter(provider::Column::Enabled.eq(true))
        .all(db)
        .await?
        .into_iter()
        .map(|provider| {
            let upstream = upstream_of(vault, &provider).unwrap_or_else(|err| {
                tracing::error!(provider = %provider.id, error = %err, "a provider cannot be used until an admin fixes it");
                broken_upstream(&provider)
            });
            (provider.id, Arc::new(upstream))
        })
        .collect();
    let mut deployments = model_deployment::all_by_model(db).await?;
    let mut table = Table::new();
    for model in models {
        // Deployments of disabled providers are left out; a model with
        // none left is not served.
        let deployments: Vec<Deployment> = deployments
            .remove(&model.id)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|d| {
                let provider = upstreams.get(&d.provider_id)?.clone();
                let weight = u32::try_from(d.weight).unwrap_or(1).max(1);
                Some(Deployment::new(
                    d.id,
                    provider,
                    d.upstream_model,
                    weight,
                    d.priority,
                ))
            })
            .collect();
        if deployments.is_empty() {
            continue;
        }
        table.insert(
            model.public_name.clone(),
            Arc::new(Route {
                plans: model.plans(),
                fallbacks: model.fallbacks(),
                name_header: HeaderValue::from_str(&model.public_name).ok(),
                model,
                deployments,
            }),
        );
    }
    Ok(table)
}

/// Why `provider` cannot be called, as its models would say; `None` when
/// its stored keys and headers are usable. For the admin's provider list.
pub fn problem(vault: &Vault, provider: &provider::Model) -> Option<String> {
    upstream_of(vault, provider)
        .err()
        .map(|_| misconfigured(provider))
}

fn misconfigured(provider: &provider::Model) -> String {
    format!(
        "the provider `{}` is misconfigured (its stored keys or headers are not usable); an admin must set them again",
        provider.name
    )
}

#[cfg(test)]
impl Upstream {
    /// A provider of `kind` with no keys, for unit tests.
    pub fn for_tests(kind: ProviderKind) -> Self {
        Self {
            id: "provider_test".into(),
            name: "test".into(),
            kind,
            base_url: String::new(),
            credentials: Vec::new(),
            extra_headers: Vec::new(),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            next_credential: AtomicUsize::new(0),
            urls: RwLock::default(),
            broken: None,
        }
    }
}

/// A provider that cannot be called, so that its models say why.
fn broken_upstream(provider: &provider::Model) -> Upstream {
    Upstream {
        id: provider.id.clone(),
        name: provider.name.clone(),
        kind: provider.kind,
        base_url: provider.base_url.clone(),
        credentials: Vec::new(),
        extra_headers: Vec::new(),
        timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        next_credential: AtomicUsize::new(0),
        urls: RwLock::default(),
        broken: Some(misconfigured(provider)),
    }
}

fn upstream_of(vault: &Vault, provider: &provider::Model) -> Result<Upstream> {
    let adapter = adapter::for_kind(provider.kind);
    let credentials = provider
        .upstream_keys(vault)?
        .into_iter()
        .map(|key| {
            let (name, value) = adapter.credential(&key);
            let mut value = HeaderValue::try_from(value).map_err(|_| {
                Error::Internal(anyhow::anyhow!(
                    "an upstream key is not a valid header value"
                ))
            })?;
            value.set_sensitive(true);
            let tag = hex::encode(&Sha256::digest(key.as_bytes())[..4]);
            Ok(Credential { name, value, tag })
        })
        .collect::<Result<Vec<_>>>()?;
    let extra_headers = provider
        .extra_headers(vault)?
        .into_iter()
        .map(|(name, value)| {
            let name = HeaderName::try_from(name).map_err(|_| {
                Error::Internal(anyhow::anyhow!("an extra header name is not valid"))
            })?;
            let mut value = HeaderValue::try_from(value).map_err(|_| {
                Error::Internal(anyhow::anyhow!("an extra header value is not valid"))
            })?;
            value.set_sensitive(true);
            Ok((name, value))
        })
        .collect::<Result<Vec<_>>>()?;
    let secs = |secs: i32| Duration::from_secs(u64::try_from(secs).unwrap_or(1).max(1));
    Ok(Upstream {
        id: provider.id.clone(),
        name: provider.name.clone(),
        kind: provider.kind,
        base_url: provider.base_url.clone(),
        credentials,
        extra_headers,
        timeout: secs(provider.timeout_secs),
        connect_timeout: secs(provider.connect_timeout_secs),
        next_credential: AtomicUsize::new(0),
        urls: RwLock::default(),
        broken: None,
    })
}
