//! One typed settings tree, read from an optional TOML file and then from
//! `TOLLGATE__SECTION__KEY` environment variables (and `DATABASE_URL`).
//! Unknown keys and bad values stop the start with a message naming the key.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::Context;
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::platform::{
    money::Credits,
    next_url,
    plan::{Limits, PlanName},
};

/// Environment variables read as plain strings, never parsed, and the keys
/// they set.
const RAW_ENV_KEYS: [(&str, &str); 4] = [
    ("TOLLGATE__AUTH__JWT_SECRET", "auth.jwt_secret"),
    (
        "TOLLGATE__SECRETS__ENCRYPTION_KEY",
        "secrets.encryption_key",
    ),
    ("TOLLGATE__DATABASE__URL", "database.url"),
    ("TOLLGATE__REDIS__URL", "redis.url"),
];

/// Everything Tollgate can be configured with. See `tollgate.example.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where the SQLite database and generated secrets live.
    pub data_dir: PathBuf,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub secrets: SecretSettings,
    pub proxy: ProxySettings,
    pub credits: CreditSettings,
    pub usage: UsageSettings,
    pub rate_limits: RateLimitSettings,
    pub features: FeatureSettings,
    pub live: LiveSettings,
    pub ui: UiSettings,
    pub keys: KeySettings,
    pub caches: CacheSettings,
    pub retention: RetentionSettings,
    pub redis: RedisSettings,
    pub metrics: MetricsSettings,
    pub log: LogSettings,
    pub catalog: CatalogSettings,
}

/// Redis, for several instances on one PostgreSQL (`server::platform::cluster`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisSettings {
    /// `redis://host:port/db`; `REDIS_URL` overrides it. Absent: one
    /// instance keeps everything in memory.
    pub url: Option<SecretString>,
    /// Every key and channel Tollgate uses starts with it, so that several
    /// deployments (or tests) can share one Redis.
    pub prefix: String,
    /// While Redis cannot be reached, requests to free models are still
    /// served (with this instance's own rate-limit windows); priced ones
    /// are refused either way, since their holds cannot be shared.
    pub serve_free_when_down: bool,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: None,
            prefix: "tollgate:".to_owned(),
            serve_free_when_down: true,
        }
    }
}

/// How many API keys a person may hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// Keys a user may have that are not revoked (expired ones count: their
    /// expiry can be moved); creating one more is 409. 0: no limit.
    pub max_per_user: u32,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self { max_per_user: 100 }
    }
}

/// The in-memory caches keyed by key or user (the key cache, the
/// rate-limit windows): an entry unused for `idle_secs` is dropped by a
/// sweep every `sweep_secs`, so they hold only what is in use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// At least 60: a rate-limit window idle for a minute is full again,
    /// so dropping it loses nothing.
    pub idle_secs: u64,
    pub sweep_secs: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            idle_secs: 15 * 60,
            sweep_secs: 60,
        }
    }
}

/// How long rows that only grow are kept; `tollgate serve` prunes them every
/// `every_minutes` (and once at start), `tollgate admin prune` on demand.
/// 0 days keeps them forever.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// `request_metrics` rows older than this.
    pub request_metrics_days: u32,
    /// Sessions this long after they expired.
    pub expired_sessions_days: u32,
    /// `usage_records` older than this (the per-request history: the daily
    /// rollups, the ledger and balances stay). Rows with an overrun are
    /// kept, since `admin verify-ledger` reads them.
    pub usage_days: u32,
    pub every_minutes: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            request_metrics_days: 30,
            expired_sessions_days: 7,
            usage_days: 0,
            every_minutes: 60,
        }
    }
}

/// The web UI's own settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UiSettings {
    /// A page the admin's "Upstream panel" embeds in a frame, e.g. a CLI
    /// proxy's control panel (`http://127.0.0.1:8317/cliproxy/control-panel`);
    /// also `UPSTREAM_PANEL_URL`. None: the page says none is configured.
    pub upstream_panel_url: Option<String>,
}

/// The upstream panel as the page frames it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamPanel {
    /// A page of another site; `origin` is what the content security
    /// policy lets the page frame.
    OtherSite { url: String, origin: String },
    /// A path on Tollgate's own origin (a panel behind the same reverse
    /// proxy). Framed without its origin, so it cannot act with the
    /// admin's session.
    ThisSite { path: String },
}

impl UiSettings {
    /// `ui.upstream_panel_url` when it is an http(s) URL or a path on this
    /// site; `None` for anything else (`//host`, `javascript:`, …).
    pub fn upstream_panel(&self) -> Option<UpstreamPanel> {
        let url = self.upstream_panel_url.as_deref()?;
        if url.starts_with('/') {
            return next_url::local_target(url).map(|path| UpstreamPanel::ThisSite { path });
        }
        let parsed = url::Url::parse(url).ok()?;
        (matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some()).then(|| {
            UpstreamPanel::OtherSite {
                url: parsed.to_string(),
                origin: parsed.origin().ascii_serialization(),
            }
        })
    }
}

/// How often the admin's live telemetry (`/api/admin/live`) refreshes each
/// figure, in milliseconds. The defaults are the admin contract's; other
/// values are for tests and tuning.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveSettings {
    /// `active_users` events.
    pub active_users_ms: u64,
    /// `performance_tick` events.
    pub performance_ms: u64,
    /// `system_status` events.
    pub system_ms: u64,
    /// The `: heartbeat` comment that keeps idle connections open.
    pub heartbeat_ms: u64,
    /// Live streams and sockets open at once, all admins together; more
    /// are refused with 429 until one closes.
    pub max_watchers: usize,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            active_users_ms: 5_000,
            performance_ms: 10_000,
            system_ms: 30_000,
            heartbeat_ms: 10_000,
            max_watchers: 64,
        }
    }
}

/// The admin contract's feature flags, also read from the environment
/// variables it names: `REALTIME_MODE=sse|ws|polling`, `GAMIFICATION=on|off`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureSettings {
    /// How the admin dashboard gets live figures: server-sent events at
    /// `/api/admin/live`, a WebSocket at `/api/admin/live/ws`, or polling
    /// the overview (the live endpoints answer 404).
    pub realtime_mode: RealtimeMode,
    /// Leaderboard, podium and presence; off hides them and their
    /// endpoints answer 404.
    pub gamification: bool,
    /// Whose names and ids the leaderboard and presence show to someone
    /// who is not an admin.
    pub leaderboard_visibility: LeaderboardVisibility,
}

impl Default for FeatureSettings {
    fn default() -> Self {
        Self {
            realtime_mode: RealtimeMode::Sse,
            gamification: true,
            leaderboard_visibility: LeaderboardVisibility::Everyone,
        }
    }
}

/// Whose names the leaderboard and presence show to a non-admin. Admins
/// see every name; everyone sees their own. Someone hidden keeps their
/// place (rank, figures, when) as "Anonymous" with no user id
/// ([`crate::console::analytics::visibility`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaderboardVisibility {
    /// Every name, to every signed-in user (the hackathon default).
    Everyone,
    /// The names of people on the caller's own effective plan.
    SamePlan,
    /// Only the caller's own name.
    Admins,
}

/// Who may create an account with `POST /api/auth/register` (and the
/// register page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone who reaches the port (the hackathon flow).
    Open,
    /// Only with a valid invitation code from an admin.
    Invite,
    /// Nobody: admins create accounts (`POST /api/admin/users`, the CLI).
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RealtimeMode {
    Sse,
    Ws,
    Polling,
}

/// Each plan's default rate limits, for each key and for each user (all
/// their keys together); 0 means no limit. Admins can change them at run
/// time (`PUT /api/admin/rate-limits/{plan}`), which overrides these.
/// In the file, `[rate_limits.<plan>]`; a plan left out keeps its default.
#[derive(Debug, Clone)]
pub struct RateLimitSettings(HashMap<PlanName, Limits>);

impl<'de> Deserialize<'de> for RateLimitSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let given = HashMap::<PlanName, Limits>::deserialize(deserializer)?;
        let mut limits = Self::default();
        limits.0.extend(given);
        Ok(limits)
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self(HashMap::from([
            (PlanName::Trial, Limits::new(30, 200_000)),
            (PlanName::Free, Limits::new(60, 400_000)),
            (PlanName::Pro, Limits::new(600, 4_000_000)),
            (PlanName::ProLifetime, Limits::new(600, 4_000_000)),
        ]))
    }
}

impl RateLimitSettings {
    /// No limits for any plan.
    pub fn unlimited() -> Self {
        Self(
            PlanName::ALL
                .into_iter()
                .map(|plan| (plan, Limits::NONE))
                .collect(),
        )
    }

    /// The same, with `plan` held to `limits`.
    #[must_use]
    pub fn with(mut self, plan: PlanName, limits: Limits) -> Self {
        self.0.insert(plan, limits);
        self
    }

    pub fn by_plan(&self) -> HashMap<PlanName, Limits> {
        self.0.clone()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CreditSettings {
    /// The output cap a request gets when it names none: held on the
    /// balance and sent to the provider.
    pub default_max_output_tokens: u32,
    /// The largest output cap a request may name, for models without their
    /// own `max_output_tokens`.
    pub max_output_tokens: u32,
    /// Tokens held for each image or audio part of a request (text,
    /// documents and files are held at one token per byte).
    pub attachment_tokens: u32,
    /// Credits every new user starts with (`5` or `"2.5"`), recorded in the
    /// ledger as a grant.
    pub starting_grant: Credits,
}

impl Default for CreditSettings {
    fn default() -> Self {
        Self {
            default_max_output_tokens: 4096,
            max_output_tokens: 131_072,
            attachment_tokens: 8_192,
            starting_grant: Credits(0),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    /// Largest request body `/v1/chat/completions` and `/v1/messages`
    /// accept; bigger ones get 413. Anthropic's own limit is 32 MB.
    pub max_body_bytes: usize,
    /// How long a request waits for room in the usage writer's queue
    /// before it is refused with 503.
    pub admission_wait_ms: u64,
    /// The largest JSON answer read from a provider; beyond it, 502.
    pub max_answer_bytes: usize,
    /// The largest single event of a provider's stream; beyond it the
    /// stream is cut (the provider controls no more of our memory).
    pub max_event_bytes: usize,
    /// Provider calls one request may make: the first and its retries on
    /// other keys, deployments and fallback models.
    pub max_attempts: u32,
    /// No new attempt starts this long after the first one did.
    pub attempts_deadline_secs: u64,
    /// Failures (unreachable, timed out, 5xx) that cool a deployment down
    /// when they happen within `failure_window_secs`.
    pub failures_to_cool_down: u32,
    pub failure_window_secs: u64,
    /// How long a failing deployment is skipped before a single trial
    /// request may use it again.
    pub cooldown_secs: u64,
    /// How long a key that answered 429 without `Retry-After` is skipped.
    pub rate_limited_cooldown_secs: u64,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            max_body_bytes: 32 * 1024 * 1024,
            admission_wait_ms: 2_000,
            max_answer_bytes: 64 * 1024 * 1024,
            max_event_bytes: 8 * 1024 * 1024,
            max_attempts: 3,
            attempts_deadline_secs: 60,
            failures_to_cool_down: 3,
            failure_window_secs: 60,
            cooldown_secs: 30,
            rate_limited_cooldown_secs: 10,
        }
    }
}

/// How logs are written (to stderr; `RUST_LOG` chooses what).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people: one line per event, coloured on a terminal.
    #[default]
    Text,
    /// For machines: one JSON object per line, with the fields of the
    /// spans it happened in (a proxied request's `request_id`).
    Json,
}

/// `GET /metrics` (Prometheus): served only with a token, which the
/// scraper sends as `Authorization: Bearer <token>`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// `None` (the default): `/metrics` answers 404.
    pub token: Option<SecretString>,
}

/// The catalog as code (`server::console::declared`): providers and models declared
/// in a file, applied on start and by `tollgate config apply`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogSettings {
    /// A TOML file of `[[providers]]` and `[[models]]`; `None` (the
    /// default): the catalog is only what admins make.
    pub file: Option<PathBuf>,
}

/// How usage rows reach the database.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UsageSettings {
    /// Append each row to a spool file in `data_dir`, fsync'd before the
    /// answer completes and replayed on start.
    pub spool: bool,
}

impl Default for UsageSettings {
    fn default() -> Self {
        Self { spool: true }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretSettings {
    /// 64 hex characters (32 bytes) that seal upstream API keys at rest.
    /// When absent, generated on first start into `data_dir/encryption_key`.
    /// Several instances must share one.
    pub encryption_key: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on.
    pub addr: SocketAddr,
    /// The built web UI (`cargo leptos build` writes it to `target/site`).
    pub site_root: PathBuf,
    /// A connection must send a whole request head within this time; the
    /// clock also runs while a kept-alive connection sits idle.
    pub header_timeout_secs: u64,
    /// A request's whole body must arrive within this time of its head.
    pub body_timeout_secs: u64,
    /// Connections open at once; more wait until one closes. The process's
    /// file-descriptor limit (`ulimit -n`) must allow as many.
    pub max_connections: usize,
    /// Reverse proxies in front of Tollgate whose `X-Forwarded-For` is
    /// believed, so that the throttles count clients, not the proxy.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://...` or `postgres://...`; `DATABASE_URL` overrides it. When
    /// absent, an SQLite file in `data_dir`.
    pub url: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 key for session tokens. When absent, one is generated on first
    /// start and kept in `data_dir/jwt_secret`, so restarts keep sessions.
    pub jwt_secret: Option<SecretString>,
    /// How long a sign-in lasts.
    pub session_ttl_hours: u32,
    /// Tollgate is reached over HTTPS (set it when a proxy in front does not
    /// send `X-Forwarded-Proto: https`): cookies are `Secure`, and HSTS is sent.
    pub secure_cookies: bool,
    /// Failed logins allowed per email and client within `login_window_secs`.
    pub login_max_failures: u32,
    pub login_window_secs: u64,
    /// Who may register: `open`, `invite` or `closed`.
    pub registration: Registration,
    /// Registrations allowed per client address within `login_window_secs`,
    /// counted before any work (whatever their outcome).
    pub register_max_per_window: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            server: ServerSettings::default(),
            database: DatabaseSettings::default(),
            auth: AuthSettings::default(),
            secrets: SecretSettings::default(),
            proxy: ProxySettings::default(),
            credits: CreditSettings::default(),
            usage: UsageSettings::default(),
            rate_limits: RateLimitSettings::default(),
            features: FeatureSettings::default(),
            live: LiveSettings::default(),
            ui: UiSettings::default(),
            keys: KeySettings::default(),
            caches: CacheSettings::default(),
            retention: RetentionSettings::default(),
            redis: RedisSettings::default(),
            metrics: MetricsSettings::default(),
            log: LogSettings::default(),
            catalog: CatalogSettings::default(),
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            site_root: PathBuf::from("target/site"),
            header_timeout_secs: 20,
            body_timeout_secs: 60,
            max_connections: 10_000,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            session_ttl_hours: 24 * 7,
            secure_cookies: false,
            login_max_failures: 5,
            login_window_secs: 15 * 60,
            registration: Registration::Open,
            register_max_per_window: 10,
        }
    }
}

impl Settings {
    /// Reads the settings. `file` is optional unless given explicitly.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::new();
        match file {
            Some(path) => {
                anyhow::ensure!(
                    path.exists(),
                    "config file {} does not exist",
                    path.display()
                );
                figment = figment.merge(Toml::file_exact(path));
            }
            None if Path::new("tollgate.toml").exists() => {
                figment = figment.merge(Toml::file_exact("tollgate.toml"))
            }
            None => {}
        }
        // Secrets are taken as they are: figment would otherwise parse a
        // value that looks like a number or a list, and could echo it.
        figment = figment.merge(Env::prefixed("TOLLGATE__").split("__").filter(|key| {
            !RAW_ENV_KEYS
                .iter()
                .filter_map(|(name, _)| name.strip_prefix("TOLLGATE__"))
                .any(|suffix| key.as_str().eq_ignore_ascii_case(suffix))
        }));
        for (name, key) in RAW_ENV_KEYS {
            if let Ok(value) = std::env::var(name) {
                figment = figment.merge(Serialized::default(key, value));
            }
        }
        if let Ok(url) = std::env::var("DATABASE_URL") {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        if let Ok(url) = std::env::var("REDIS_URL") {
            figment = figment.merge(Serialized::default("redis.url", url));
        }
        if let Ok(url) = std::env::var("UPSTREAM_PANEL_URL") {
            figment = figment.merge(Serialized::default("ui.upstream_panel_url", url));
        }
        // The contract's own flag names.
        if let Ok(mode) = std::env::var("REALTIME_MODE") {
            figment = figment.merge(Serialized::default(
                "features.realtime_mode",
                mode.to_ascii_lowercase(),
            ));
        }
        if let Ok(flag) = std::env::var("GAMIFICATION") {
            let on = match flag.to_ascii_lowercase().as_str() {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => anyhow::bail!("invalid configuration: GAMIFICATION must be on or off"),
            };
            figment = figment.merge(Serialized::default("features.gamification", on));
        }
        let settings: Settings = figment
            .extract()
            .map_err(|err| anyhow::anyhow!("invalid configuration: {err}"))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.auth.session_ttl_hours > 0,
            "invalid configuration: auth.session_ttl_hours must be at least 1"
        );
        anyhow::ensure!(
            self.credits.default_max_output_tokens > 0
                && self.credits.default_max_output_tokens <= self.credits.max_output_tokens,
            "invalid configuration: credits.default_max_output_tokens must be between 1 and credits.max_output_tokens"
        );
        for (key, value) in [
            (
                "server.header_timeout_secs",
                self.server.header_timeout_secs,
            ),
            ("server.body_timeout_secs", self.server.body_timeout_secs),
            ("server.max_connections", self.server.max_connections as u64),
            ("proxy.max_attempts", u64::from(self.proxy.max_attempts)),
            (
                "proxy.attempts_deadline_secs",
                self.proxy.attempts_deadline_secs,
            ),
            (
                "proxy.failures_to_cool_down",
                u64::from(self.proxy.failures_to_cool_down),
            ),
            ("proxy.failure_window_secs", self.proxy.failure_window_secs),
            ("proxy.cooldown_secs", self.proxy.cooldown_secs),
            (
                "proxy.rate_limited_cooldown_secs",
                self.proxy.rate_limited_cooldown_secs,
            ),
        ] {
            anyhow::ensure!(value > 0, "invalid configuration: {key} must be at least 1");
        }
        anyhow::ensure!(
            self.auth.login_max_failures > 0,
            "invalid configuration: auth.login_max_failures must be at least 1"
        );
        anyhow::ensure!(
            self.auth.register_max_per_window > 0,
            "invalid configuration: auth.register_max_per_window must be at least 1"
        );
        anyhow::ensure!(
            self.caches.idle_secs >= 60,
            "invalid configuration: caches.idle_secs must be at least 60"
        );
        anyhow::ensure!(
            self.caches.sweep_secs > 0,
            "invalid configuration: caches.sweep_secs must be at least 1"
        );
        anyhow::ensure!(
            self.retention.every_minutes > 0,
            "invalid configuration: retention.every_minutes must be at least 1"
        );
        for (key, ms) in [
            ("live.active_users_ms", self.live.active_users_ms),
            ("live.performance_ms", self.live.performance_ms),
            ("live.system_ms", self.live.system_ms),
            ("live.heartbeat_ms", self.live.heartbeat_ms),
        ] {
            anyhow::ensure!(ms > 0, "invalid configuration: {key} must be at least 1");
        }
        if let Some(token) = &self.metrics.token {
            anyhow::ensure!(
                token.expose_secret().len() >= 16,
                "invalid configuration: metrics.token must be at least 16 characters"
            );
        }
        if let Some(secret) = &self.auth.jwt_secret {
            anyhow::ensure!(
                secret.expose_secret().len() >= 32,
                "invalid configuration: auth.jwt_secret must be at least 32 characters"
            );
        }
        if let Some(url) = &self.database.url {
            let url = url.expose_secret();
            anyhow::ensure!(
                url.starts_with("sqlite:")
                    || url.starts_with("postgres://")
                    || url.starts_with("postgresql://"),
                "invalid configuration: database.url (or DATABASE_URL) must start with sqlite:, postgres:// or postgresql://"
            );
        }
        // The page puts it in a frame: no `javascript:`, `data:` or `//host`.
        anyhow::ensure!(
            self.ui.upstream_panel_url.is_none() || self.ui.upstream_panel().is_some(),
            "invalid configuration: ui.upstream_panel_url (or UPSTREAM_PANEL_URL) must be an http(s) URL or a path on this site"
        );
        Ok(())
    }

    /// The database to connect to: the configured URL, or the SQLite file in
    /// `data_dir`, created on first start.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("tollgate.db").display()
            ),
        }
    }

    /// Creates `data_dir` if needed, readable by this user only: it holds the
    /// database and the signing key.
    pub fn ensure_data_dir(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.data_dir)
            .with_context(|| format!("cannot create data directory {}", self.data_dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_limits(toml: &str) -> Result<RateLimitSettings, String> {
        Figment::new()
            .merge(Toml::string(toml))
            .extract_inner("rate_limits")
            .map_err(|err| err.to_string())
    }

    #[test]
    fn a_plan_left_out_of_the_file_keeps_its_default_limits() {
        let limits =
            rate_limits("[rate_limits.pro]\nrequests_per_minute = 7\ntokens_per_minute = 0")
                .unwrap()
                .by_plan();

        assert_eq!(limits[&PlanName::Pro], Limits::new(7, 0));
        assert_eq!(
            limits[&PlanName::Trial],
            RateLimitSettings::default().by_plan()[&PlanName::Trial]
        );
        assert_eq!(limits.len(), PlanName::ALL.len());
    }

    #[test]
    fn an_unknown_plan_or_field_in_the_file_is_refused() {
        let plan =
            rate_limits("[rate_limits.gold]\nrequests_per_minute = 1\ntokens_per_minute = 1");
        let field = rate_limits("[rate_limits.pro]\nrequests_per_minute = 1\ntokens = 1");

        assert!(plan.unwrap_err().contains("gold"));
        assert!(field.is_err());
    }
}
