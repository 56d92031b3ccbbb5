//! Counts kept in memory, and served to Prometheus (`GET /metrics`, in
//! its text format): what each proxied request did (by endpoint, model,
//! provider and status; its time, time to first byte, tokens and charge),
//! each provider call, cooldowns, fallbacks, holds, requests refused before
//! they were admitted (a flood must not fill the usage writer's queue),
//! overruns and key-cache lookups.
//!
//! Labels are bounded sets an admin controls (endpoints, model and provider
//! names, status codes, kinds), never a user, a key or a request. Counts
//! are this instance's since it started; Prometheus adds instances up.

use std::time::Duration;

use prometheus_client::{
    encoding::{EncodeLabelSet, prometheus_text},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
        info::Info,
    },
    registry::{Registry, Unit},
};

use crate::platform::entity::usage_record;

/// The refusal kinds counted: other kinds count as `other`.
const REFUSALS: [&str; 7] = [
    "invalid_api_key",
    "rate_limited",
    "invalid_request",
    "payload_too_large",
    "model_not_found",
    "unavailable",
    "other",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: String,
    model: String,
    provider: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointModel {
    endpoint: String,
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabel {
    model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    provider: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TargetLabel {
    target: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds, from 10 ms to about 160 s: LLM calls are slow and vary.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.01, 2.0, 15))
}

/// What the scrape reads from elsewhere at the moment it is made.
#[derive(Debug, Clone, Copy, Default)]
pub struct Readings {
    /// Deployments and keys cooling down now.
    pub cooling: usize,
    /// Usage rows waiting for the database.
    pub usage_queued: usize,
}

pub struct Counters {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histograms<EndpointModel>,
    first_byte: Histograms<EndpointModel>,
    tokens: Family<TokenLabels, Counter>,
    charged: Family<ModelLabel, Counter>,
    attempts: Family<ModelLabel, Counter>,
    fallbacks: Family<ModelLabel, Counter>,
    upstream_calls: Family<CallLabels, Counter>,
    cooldowns: Family<TargetLabel, Counter>,
    holds_open: Gauge,
    held: Gauge,
    refused: Family<ReasonLabel, Counter>,
    overruns: Counter,
    overrun_micro_credits: Counter,
    key_lookups: Family<LookupLabel, Counter>,
    cooling: Gauge,
    usage_queued: Gauge,
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

impl Counters {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tollgate");
        let counters = Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(seconds),
            first_byte: Family::new_with_constructor(seconds),
            tokens: Family::default(),
            charged: Family::default(),
            attempts: Family::default(),
            fallbacks: Family::default(),
            upstream_calls: Family::default(),
            cooldowns: Family::default(),
            holds_open: Gauge::default(),
            held: Gauge::default(),
            refused: Family::default(),
            overruns: Counter::default(),
            overrun_micro_credits: Counter::default(),
            key_lookups: Family::default(),
            cooling: Gauge::default(),
            usage_queued: Gauge::default(),
            registry: Registry::default(),
        };
        let c = &counters;
        registry.register(
            "llm_requests",
            "LLM requests that resolved a model, by endpoint, model asked for, provider called last and status",
            c.requests.clone(),
        );
        registry.register_with_unit(
            "llm_request_duration",
            "Time from a request's arrival to its settlement",
            Unit::Seconds,
            c.duration.clone(),
        );
        registry.register_with_unit(
            "llm_time_to_first_byte",
            "Time from a request's arrival to the provider's first byte",
            Unit::Seconds,
            c.first_byte.clone(),
        );
        registry.register(
            "llm_tokens",
            "Tokens the providers reported, by model asked for and kind (reasoning is part of output)",
            c.tokens.clone(),
        );
        registry.register(
            "llm_charged_micro_credits",
            "Micro-credits charged, by model asked for",
            c.charged.clone(),
        );
        registry.register(
            "llm_upstream_attempts",
            "Provider calls made for requests, by model asked for (retries and failover included)",
            c.attempts.clone(),
        );
        registry.register(
            "llm_fallbacks",
            "Requests a fallback model answered, by model asked for",
            c.fallbacks.clone(),
        );
        registry.register(
            "upstream_calls",
            "Provider calls by provider and result (ok, rate_limited, server_error, unreachable, timeout, client_error)",
            c.upstream_calls.clone(),
        );
        registry.register(
            "upstream_cooldowns",
            "Cooldowns started, of a deployment or of one of its keys",
            c.cooldowns.clone(),
        );
        registry.register(
            "upstream_cooling",
            "Deployments and keys cooling down now, as this instance sees them",
            c.cooling.clone(),
        );
        registry.register(
            "holds_open",
            "Requests holding credits now",
            c.holds_open.clone(),
        );
        registry.register(
            "holds_micro_credits",
            "Micro-credits held by requests in flight now",
            c.held.clone(),
        );
        registry.register(
            "refused_requests",
            "LLM requests refused before they were admitted (no usage row), by reason",
            c.refused.clone(),
        );
        registry.register(
            "overruns",
            "Requests that cost more than they held (charged in full)",
            c.overruns.clone(),
        );
        registry.register(
            "overrun_micro_credits",
            "Micro-credits requests cost beyond their holds",
            c.overrun_micro_credits.clone(),
        );
        registry.register(
            "key_cache_lookups",
            "API key lookups, by whether the key was cached (hit) or read from the database (miss)",
            c.key_lookups.clone(),
        );
        registry.register(
            "usage_queue_rows",
            "Usage rows waiting for the database",
            c.usage_queued.clone(),
        );
        registry.register(
            "build",
            "This build of Tollgate",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Self {
            registry,
            ..counters
        }
    }

    /// A request turned away before it was admitted (no usage row), by the
    /// label of its error kind (`rate_limited`).
    pub fn refused(&self, label: &str) {
        let reason = REFUSALS
            .iter()
            .find(|known| **known == label)
            .copied()
            .unwrap_or("other");
        self.refused.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// A request that cost `amount` micro-credits more than it held.
    pub fn overran(&self, amount: i64) {
        self.overruns.inc();
        self.overrun_micro_credits
            .inc_by(u64::try_from(amount).unwrap_or(0));
    }

    /// Refusals so far, by kind.
    pub fn refusals(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        REFUSALS.iter().map(|reason| {
            let count = self.refused.get_or_create(&ReasonLabel { reason }).get();
            (*reason, count)
        })
    }

    /// All refusals so far.
    pub fn refusals_total(&self) -> u64 {
        self.refusals().map(|(_, count)| count).sum()
    }

    /// Overruns so far: how many, and their micro-credits.
    pub fn overruns(&self) -> (u64, i64) {
        (
            self.overruns.get(),
            i64::try_from(self.overrun_micro_credits.get()).unwrap_or(i64::MAX),
        )
    }

    /// A request settled, as its usage row says; `provider` is the name of
    /// the provider called last (empty: none was).
    pub fn settled(&self, row: &usage_record::Model, provider: &str, elapsed: Duration) {
        let model = || row.model.clone();
        let endpoint = EndpointModel {
            endpoint: row.endpoint.clone(),
            model: model(),
        };
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: row.endpoint.clone(),
                model: model(),
                provider: provider.to_owned(),
                status: u16::try_from(row.status_code).unwrap_or(0),
            })
            .inc();
        self.duration
            .get_or_create(&endpoint)
            .observe(elapsed.as_secs_f64());
        if let Some(ms) = row.ttft_ms {
            self.first_byte
                .get_or_create(&endpoint)
                .observe(f64::from(ms) / 1_000.0);
        }
        for (kind, tokens) in [
            ("input", row.input_tokens),
            ("output", row.output_tokens),
            ("cache_read", row.cache_read_tokens),
            ("cache_write", row.cache_write_tokens),
            ("reasoning", row.reasoning_tokens),
        ] {
            if tokens > 0 {
                self.tokens
                    .get_or_create(&TokenLabels {
                        model: model(),
                        kind,
                    })
                    .inc_by(tokens.unsigned_abs());
            }
        }
        let asked = ModelLabel { model: model() };
        if row.charged > 0 {
            self.charged
                .get_or_create(&asked)
                .inc_by(row.charged.unsigned_abs());
        }
        if row.attempts > 0 {
            self.attempts
                .get_or_create(&asked)
                .inc_by(row.attempts.unsigned_abs().into());
        }
        if row
            .served_model
            .as_ref()
            .is_some_and(|served| *served != row.model)
        {
            self.fallbacks.get_or_create(&asked).inc();
        }
    }

    /// A provider call ended with `result` (`ok`, `rate_limited`, …).
    pub fn upstream_call(&self, provider: &str, result: &'static str) {
        self.upstream_calls
            .get_or_create(&CallLabels {
                provider: provider.to_owned(),
                result,
            })
            .inc();
    }

    /// A deployment (`deployment`) or one of its keys (`key`) started
    /// cooling down.
    pub fn cooldown(&self, target: &'static str) {
        self.cooldowns.get_or_create(&TargetLabel { target }).inc();
    }

    /// A request holds `amount` micro-credits until it settles.
    pub fn hold_opened(&self, amount: i64) {
        self.holds_open.inc();
        self.held.inc_by(amount);
    }

    pub fn hold_closed(&self, amount: i64) {
        self.holds_open.dec();
        self.held.dec_by(amount);
    }

    /// The key cache's lookups, for it to count.
    pub fn key_lookups(&self) -> KeyLookups {
        KeyLookups(self.key_lookups.clone())
    }

    /// The Prometheus text of everything, with `readings` taken now.
    pub fn encode(&self, readings: Readings) -> String {
        self.cooling
            .set(i64::try_from(readings.cooling).unwrap_or(i64::MAX));
        self.usage_queued
            .set(i64::try_from(readings.usage_queued).unwrap_or(i64::MAX));
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

/// Counts the key cache's hits and misses. Cheap to clone.
#[derive(Clone, Default)]
pub struct KeyLookups(Family<LookupLabel, Counter>);

impl KeyLookups {
    pub fn hit(&self) {
        self.0.get_or_create(&LookupLabel { result: "hit" }).inc();
    }

    pub fn miss(&self) {
        self.0.get_or_create(&LookupLabel { result: "miss" }).inc();
    }
}

/// The `Content-Type` of [`Counters::encode`].
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::format::error::ErrorKind;

    #[test]
    fn refusals_are_counted_by_kind() {
        let counters = Counters::default();
        counters.refused(ErrorKind::RateLimited.label());
        counters.refused(ErrorKind::RateLimited.label());
        counters.refused(ErrorKind::Internal.label());
        let counts: Vec<_> = counters.refusals().filter(|(_, n)| *n > 0).collect();
        assert_eq!(counts, [("rate_limited", 2), ("other", 1)]);
        assert_eq!(counters.refusals_total(), 3);
        let text = counters.encode(Readings::default());
        assert!(
            text.contains("tollgate_refused_requests_total{reason=\"rate_limited\"} 2"),
            "{text}"
        );
        assert!(text.contains("tollgate_build_info{version="), "{text}");
    }
}
