//! The state every handler and server function shares.

use std::sync::Arc;

use anyhow::Context;
use sea_orm::DatabaseConnection;

use crate::{
    console::{
        analytics::presence::Presence,
        auth::{
            jwt::JwtKeys,
            throttle::{LoginThrottle, RegistrationThrottle},
        },
        entitlements::Entitlements,
        live::Hub,
    },
    gateway::{
        api_keys::cache::KeyCache,
        limits::{RateLimits, plans},
        metering::Recorder,
        proxy::{catalog::Catalog, health::Health, upstream::Clients},
        wallets::Wallets,
    },
    platform::{
        cluster::{
            Cluster,
            bus::{Bus, Change, Subscriber},
        },
        config::Settings,
        db,
        telemetry::{
            counters::Counters,
            metrics::{self, MetricsWriter},
            traces::Traces,
        },
        vault::{Vault, reseal},
    },
};

/// What every handler, server function and task shares. One pointer: each
/// extractor and task that takes the state costs one atomic increment, not
/// one per part.
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// The parts of [`AppState`].
pub struct App {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub jwt: Arc<JwtKeys>,
    pub login_throttle: Arc<LoginThrottle>,
    /// Registrations per client address.
    pub registration_throttle: Arc<RegistrationThrottle>,
    pub vault: Arc<Vault>,
    pub key_cache: Arc<KeyCache>,
    pub metrics: MetricsWriter,
    /// Public model names → provider routes, in memory.
    pub catalog: Arc<Catalog>,
    /// The pooled HTTP client(s) for providers.
    pub upstream: Arc<Clients>,
    /// Which deployments and keys are cooling down after failures.
    pub health: Arc<Health>,
    /// Usage rows: spooled to disk, then written in batches.
    pub usage: Recorder,
    /// Refusals and overruns, counted in memory.
    pub counters: Arc<Counters>,
    /// A span per proxied request, when OpenTelemetry export is set up.
    pub traces: Option<Traces>,
    /// Balances and holds in memory.
    pub wallets: Arc<Wallets>,
    /// Requests and tokens per minute, per key and per user.
    pub rate_limits: Arc<RateLimits>,
    /// Active entitlement grants, per user, in memory.
    pub entitlements: Arc<Entitlements>,
    /// Heartbeats of the web UI and API-key callers, per user, in memory.
    pub presence: Arc<Presence>,
    /// The admin's live telemetry: one producer for every watcher.
    pub live: Arc<Hub>,
    /// What instances share through Redis, when `redis.url` is set.
    pub cluster: Option<Arc<Cluster>>,
}

impl AppState {
    /// Connects to the database, applies pending migrations and loads (or
    /// creates) the session signing key.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = db::connect(&settings).await?;
        db::migrate(&db).await?;
        let jwt = JwtKeys::load_or_create(&settings)?;
        let vault = Vault::load_or_create(&settings)?;
        // Values of earlier releases are bound to their row and field now.
        reseal::upgrade_sealed(&db, &vault)
            .await
            .context("cannot upgrade the sealed provider keys")?;
        let cluster = match &settings.redis.url {
            Some(_) => Some(Cluster::connect(&settings.redis).await?),
            None => None,
        };
        let login_throttle = LoginThrottle::new(
            settings.auth.login_max_failures,
            std::time::Duration::from_secs(settings.auth.login_window_secs),
            cluster.clone(),
        );
        let registration_throttle = RegistrationThrottle::new(
            settings.auth.register_max_per_window,
            std::time::Duration::from_secs(settings.auth.login_window_secs),
            cluster.clone(),
        );
        let (bus, outbox) = match cluster {
            Some(_) => {
                let (bus, outbox) = Bus::new();
                (bus, Some(outbox))
            }
            None => (Bus::default(), None),
        };
        let rate_limits = RateLimits::new(settings.rate_limits.by_plan(), bus.clone())
            .shared(cluster.clone(), settings.redis.serve_free_when_down);
        plans::load(&db, &rate_limits).await?;
        let live = Arc::new(Hub::new(db.clone(), &settings.live));
        let spool_dir = settings
            .usage
            .spool
            .then(|| settings.data_dir.join("spool"));
        if spool_dir.is_some() {
            settings.ensure_data_dir()?;
        }
        let usage = Recorder::start(&db, spool_dir.as_deref(), cluster.clone()).await?;
        let wallets = Arc::new(Wallets::new(
            cluster.clone(),
            settings.redis.serve_free_when_down,
        ));
        let counters = Arc::new(Counters::new());
        let key_cache = Arc::new(KeyCache::new(bus.clone(), counters.key_lookups()));
        let catalog = Arc::new(Catalog::new(bus.clone()));
        let health = Health::new(&settings.proxy);
        let health = Arc::new(match &cluster {
            Some(cluster) => health.shared(cluster.clone(), bus.clone()),
            None => health,
        });
        health.reload().await;
        let entitlements = Arc::new(Entitlements::new(bus));
        let rate_limits = Arc::new(rate_limits);
        if let (Some(cluster), Some(outbox)) = (&cluster, outbox) {
            cluster.start_bus(
                outbox,
                Caches {
                    db: db.clone(),
                    keys: key_cache.clone(),
                    entitlements: entitlements.clone(),
                    catalog: catalog.clone(),
                    rate_limits: rate_limits.clone(),
                    health: health.clone(),
                },
            );
        }
        Ok(Self(Arc::new(App {
            db: db.clone(),
            settings: Arc::new(settings),
            jwt: Arc::new(jwt),
            login_throttle: Arc::new(login_throttle),
            registration_throttle: Arc::new(registration_throttle),
            vault: Arc::new(vault),
            key_cache,
            metrics: metrics::start(db.clone()),
            catalog,
            upstream: Arc::new(Clients::default()),
            health,
            usage,
            counters,
            traces: Traces::from_env()?,
            wallets,
            rate_limits,
            entitlements,
            presence: Arc::new(Presence::new(cluster.clone())),
            live,
            cluster,
        })))
    }

    /// Graceful shutdown, after the server stopped taking requests and the
    /// in-flight ones finished: every queued row is written.
    pub async fn flush_writers(&self) {
        self.usage.shutdown().await;
        self.metrics.shutdown().await;
        if let Some(cluster) = &self.cluster {
            cluster.shutdown(std::time::Duration::from_secs(5)).await;
        }
        // Last: a collector that is away must not delay what money needs.
        if let Some(traces) = &self.traces {
            traces.shutdown().await;
        }
    }
}

/// This instance's caches, which the other instances' changes drop.
struct Caches {
    db: DatabaseConnection,
    keys: Arc<KeyCache>,
    entitlements: Arc<Entitlements>,
    catalog: Arc<Catalog>,
    rate_limits: Arc<RateLimits>,
    health: Arc<Health>,
}

impl Caches {
    async fn reload_plans(&self) {
        if let Err(err) = plans::load(&self.db, &self.rate_limits).await {
            tracing::warn!(error = %err, "cannot reload the plans' rate limits");
        }
    }
}

impl Subscriber for Caches {
    async fn apply(&self, change: Change) {
        match change {
            Change::Key(hash) => self.keys.drop_key(&hash),
            Change::User(id) => self.keys.drop_user(&id),
            Change::Entitlements(id) => self.entitlements.drop_user(&id),
            Change::Catalog => self.catalog.drop_table(),
            Change::Plans => self.reload_plans().await,
            Change::Cooling { target, until_ms } => self.health.cooled_elsewhere(&target, until_ms),
            Change::Restored(target) => self.health.restored_elsewhere(&target),
        }
    }

    async fn drop_all(&self) {
        self.keys.drop_all();
        self.entitlements.drop_all();
        self.catalog.drop_table();
        self.reload_plans().await;
        self.health.reload().await;
    }
}
