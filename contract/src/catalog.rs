//! Providers and shadow models as the admin API shows them, with the
//! health of what serves each model.

use serde::{Deserialize, Serialize};

use crate::{ModelKind, PlanName, ProviderKind, Timestamp};

/// A provider: its keys only as a count, its extra headers only by name
/// (their values are sealed like the keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
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
    /// Why the provider cannot be called (its sealed keys or headers do not
    /// open), when it cannot: its models answer 502 until an admin sets
    /// them again. Set by the list and get handlers, not in audit entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The catalog file that declares it, when one does: the admin API
    /// refuses to change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// A shadow model: the public name users call and who may serve it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ModelView {
    pub id: String,
    pub public_name: String,
    /// Chat, or embeddings: each endpoint takes models of its kind only.
    pub kind: ModelKind,
    /// The first deployment's.
    pub provider_id: String,
    pub upstream_model: String,
    /// In the admin's order.
    pub deployments: Vec<DeploymentView>,
    /// Public names tried when every deployment failed.
    pub fallbacks: Vec<String>,
    pub input_price: Price,
    pub output_price: Price,
    pub cache_read_price: Price,
    pub cache_write_price: Price,
    /// The most output tokens a request may ask for; `None`: the configured
    /// default (`credits.max_output_tokens`).
    pub max_output_tokens: Option<i64>,
    pub enabled: bool,
    /// Empty: every plan.
    pub plans: Vec<PlanName>,
    /// The catalog file that declares it, when one does: the admin API
    /// refuses to change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub created_at: Timestamp,
    #[cfg_attr(feature = "server", schema(value_type = String, format = DateTime))]
    pub updated_at: Timestamp,
}

/// One price per million tokens, exact in micro-credits and readable in
/// credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Price {
    pub micro_credits_per_mtok: i64,
    pub credits_per_mtok: String,
}

/// A provider and upstream model that may serve a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct DeploymentView {
    pub id: String,
    pub provider_id: String,
    pub upstream_model: String,
    pub weight: i32,
    pub priority: i32,
    /// Its health and its keys' (shown by the admin API, not kept in audit
    /// entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<DeploymentHealth>,
}

/// A deployment's health as the serving instance sees it, with that of its
/// keys that have a record. Flat, as the wire has it: `failures` only while
/// failing, `until` only while cooling down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct DeploymentHealth {
    pub status: HealthState,
    /// Failures in the current window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, format = DateTime))]
    pub until: Option<Timestamp>,
    /// What its last failure was (kept once it recovered).
    pub last_error: Option<String>,
    pub keys: Vec<KeyHealth>,
}

/// A key's health, as [`DeploymentHealth`] has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct KeyHealth {
    /// The key's tag: the first 8 hex digits of its SHA-256.
    pub key: String,
    pub status: HealthState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, format = DateTime))]
    pub until: Option<Timestamp>,
    pub last_error: Option<String>,
}

/// A deployment's or a key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub enum HealthState {
    Healthy,
    /// Failing, not (yet) cooled down.
    Failing,
    CoolingDown,
    /// Its cooldown ended: the next request tries it.
    Trial,
}
