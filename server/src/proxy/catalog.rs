//! The proxy's routing table in memory: public model name → model, prices
//! and provider (with its upstream keys opened once). Built from the
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

use crate::{
    cluster::bus::{Bus, Change},
    entity::{
        provider::{self, ProviderKind},
        shadow_model,
    },
    error::{Error, Result},
    providers::service::{extra_headers, upstream_keys},
    proxy::adapter::{self, Adapter},
    vault::Vault,
    {models::service::plans_of, plan::PlanName},
};

/// Where a public model name leads.
#[derive(Debug)]
pub struct Route {
    pub model: shadow_model::Model,
    /// Empty: every plan.
    pub plans: Vec<PlanName>,
    pub provider: Arc<Upstream>,
}

impl Route {
    pub fn allows_plan(&self, plan: PlanName) -> bool {
        self.plans.is_empty() || self.plans.contains(&plan)
    }
}

/// A provider, ready to be called.
#[derive(Debug)]
pub struct Upstream {
    pub id: String,
    pub kind: ProviderKind,
    pub base_url: String,
    /// Authentication headers as the provider's adapter presents its keys,
    /// values marked sensitive so they never print.
    credentials: Vec<(HeaderName, HeaderValue)>,
    pub extra_headers: Vec<(HeaderName, HeaderValue)>,
    /// Bounds the wait for the response head and every pause in a stream.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    next_credential: AtomicUsize,
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

    /// The next credential, round robin over the provider's keys.
    pub fn credential(&self) -> Option<&(HeaderName, HeaderValue)> {
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
    let rows = shadow_model::Entity::find()
        .filter(shadow_model::Column::Enabled.eq(true))
        .find_also_related(provider::Entity)
        .all(db)
        .await?;
    let mut upstreams: HashMap<String, Arc<Upstream>> = HashMap::new();
    let mut table = Table::new();
    for (model, provider) in rows {
        let Some(provider) = provider.filter(|p| p.enabled) else {
            continue;
        };
        let upstream = match upstreams.get(&provider.id) {
            Some(upstream) => upstream.clone(),
            None => {
                let upstream = Arc::new(upstream_of(vault, &provider).unwrap_or_else(|err| {
                    tracing::error!(provider = %provider.id, error = %err, "a provider cannot be used until an admin fixes it");
                    broken_upstream(&provider)
                }));
                upstreams.insert(provider.id.clone(), upstream.clone());
                upstream
            }
        };
        table.insert(
            model.public_name.clone(),
            Arc::new(Route {
                plans: plans_of(&model),
                model,
                provider: upstream,
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

/// A provider that cannot be called, so that its models say why.
fn broken_upstream(provider: &provider::Model) -> Upstream {
    Upstream {
        id: provider.id.clone(),
        kind: provider.kind,
        base_url: provider.base_url.clone(),
        credentials: Vec::new(),
        extra_headers: Vec::new(),
        timeout: Duration::from_secs(1),
        connect_timeout: Duration::from_secs(1),
        next_credential: AtomicUsize::new(0),
        broken: Some(misconfigured(provider)),
    }
}

fn upstream_of(vault: &Vault, provider: &provider::Model) -> Result<Upstream> {
    let adapter = adapter::for_kind(provider.kind);
    let credentials = upstream_keys(vault, provider)?
        .into_iter()
        .map(|key| {
            let (name, value) = adapter.credential(&key);
            let mut value = HeaderValue::try_from(value).map_err(|_| {
                Error::Internal(anyhow::anyhow!(
                    "an upstream key is not a valid header value"
                ))
            })?;
            value.set_sensitive(true);
            Ok((name, value))
        })
        .collect::<Result<Vec<_>>>()?;
    let extra_headers = extra_headers(vault, provider)?
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
        kind: provider.kind,
        base_url: provider.base_url.clone(),
        credentials,
        extra_headers,
        timeout: secs(provider.timeout_secs),
        connect_timeout: secs(provider.connect_timeout_secs),
        next_credential: AtomicUsize::new(0),
        broken: None,
    })
}
