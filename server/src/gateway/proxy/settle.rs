//! Settling a proxied request: its cost is added to the key's spend at
//! once and its usage row recorded (spooled, then written). Exactly once
//! per request: a [`Pending`] is consumed by [`Pending::settle`], whose
//! receipt says when the row would survive a crash.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};

use crate::{
    gateway::{
        api_keys::cache::KeyCaller,
        format::ProxyError,
        limits::TokenMeter,
        metering::Receipt,
        proxy::{
            catalog::{Deployment, Route},
            request::Endpoint,
        },
        wallets::Holds,
    },
    platform::{
        entity::usage_record,
        holds::Settled,
        pricing::{Prices, Tokens},
        telemetry::traces::Served,
        time,
    },
    state::AppState,
};

/// A request on its way, with what its usage row will need.
pub struct Pending {
    pub id: String,
    /// Where the usage row, the counters and the span go.
    state: AppState,
    caller: Arc<KeyCaller>,
    endpoint: Endpoint,
    model: String,
    route: Option<Arc<Route>>,
    pub streamed: bool,
    started: Instant,
    created_at: DateTime<Utc>,
    /// When the first byte of the upstream's body arrived.
    pub first_byte: Option<Duration>,
    /// The reservations on the owner's balance and the key's quota, once
    /// admitted, and their amount.
    holds: Option<(Holds, i64)>,
    /// Counts the request's tokens against its tokens-per-minute windows.
    token_meter: Option<TokenMeter>,
    /// Which of the route's deployments was called last.
    deployment: usize,
    /// Provider calls made so far.
    pub attempts: u32,
    /// The calls that failed, for the usage row.
    attempt_errors: Vec<serde_json::Value>,
    /// A provider answered with success: the route is the one that served.
    pub served: bool,
}

impl Pending {
    pub fn new(id: String, state: AppState, caller: Arc<KeyCaller>, endpoint: Endpoint) -> Self {
        Self {
            id,
            state,
            caller,
            endpoint,
            model: String::new(),
            route: None,
            streamed: false,
            started: Instant::now(),
            created_at: time::now(),
            first_byte: None,
            holds: None,
            token_meter: None,
            deployment: 0,
            attempts: 0,
            attempt_errors: Vec::new(),
            served: false,
        }
    }

    /// The windows the request's tokens count against, once let in.
    pub fn set_token_meter(&mut self, meter: TokenMeter) {
        self.token_meter = Some(meter);
    }

    /// Keeps the request's reservations of `amount` until it settles.
    pub fn set_holds(&mut self, holds: Holds, amount: i64) {
        self.state.counters.hold_opened(amount);
        self.holds = Some((holds, amount));
    }

    /// The public model name the client asked for, once read.
    pub fn set_model(&mut self, name: &str) {
        self.model = name.chars().take(100).collect();
    }

    /// The model and deployment being called: the row names the last one,
    /// and charges the model's prices.
    pub fn set_route(&mut self, route: Arc<Route>, deployment: usize) {
        self.route = Some(route);
        self.deployment = deployment;
    }

    /// Notes a call of the current deployment that failed with `error`.
    pub fn failed_attempt(&mut self, error: &ProxyError) {
        let deployment = self.deployment();
        self.attempt_errors.push(serde_json::json!({
            "model": self.route.as_ref().map(|r| r.model.public_name.as_str()),
            "provider_id": deployment.map(|d| d.provider.id.as_str()),
            "upstream_model": deployment.map(|d| d.upstream_model.as_str()),
            "status": error.status_code().as_u16(),
            "error": error.kind.label(),
        }));
    }

    fn deployment(&self) -> Option<&Deployment> {
        self.route.as_ref()?.deployments.get(self.deployment)
    }

    pub fn mark_first_byte(&mut self) {
        if self.first_byte.is_none() {
            self.first_byte = Some(self.started.elapsed());
        }
    }

    /// Charges the owner and the key, releases the holds and records the
    /// usage row. A request that cost more than it held is charged in full
    /// and its overrun counted, logged and kept on the row (the writer
    /// adds an audit entry).
    pub fn settle(self, status: StatusCode, tokens: Tokens, error_kind: Option<&str>) -> Receipt {
        let prices = self
            .route
            .as_ref()
            .map(|route| Prices::from(&route.model))
            .unwrap_or_default();
        let cost = tokens.cost(&prices);
        if let Some(meter) = self.token_meter {
            meter.record(tokens.total());
        }
        // Only an admitted request holds anything; the rest cost nothing.
        let holds = self.holds.map(|(holds, amount)| {
            self.state.counters.hold_closed(amount);
            holds
        });
        let Settled { charged, overrun } = match holds {
            None => Settled {
                charged: 0,
                overrun: 0,
            },
            Some(Holds::Local(hold, quota_hold)) => {
                let settled = hold.settle(cost);
                match quota_hold {
                    Some(quota_hold) => quota_hold.settle(settled.charged),
                    None if settled.charged > 0 => self.caller.charge(settled.charged),
                    None => {}
                }
                settled
            }
            Some(Holds::Shared(hold)) => hold.settle(cost, &self.id),
        };
        if overrun > 0 {
            self.state.counters.overran(overrun);
            tracing::warn!(request = %self.id, user = %self.caller.owner.id, cost, overrun, "a request cost more than it held; charged in full");
        }
        let elapsed = self.started.elapsed();
        let millis = |d: Duration| i32::try_from(d.as_millis()).unwrap_or(i32::MAX);
        let route = self.route.as_deref();
        let deployment = route.and_then(|r| r.deployments.get(self.deployment));
        let row = usage_record::Model {
            id: self.id,
            user_id: self.caller.owner.id.clone(),
            api_key_id: self.caller.key.id.clone(),
            model: self.model,
            model_id: route.map(|r| r.model.id.clone()),
            provider_id: deployment.map(|d| d.provider.id.clone()),
            upstream_model: deployment
                .map(|d| d.upstream_model.clone())
                .unwrap_or_default(),
            endpoint: self.endpoint.label().to_owned(),
            streamed: self.streamed,
            status_code: i32::from(status.as_u16()),
            input_tokens: tokens.input,
            output_tokens: tokens.output,
            cache_read_tokens: tokens.cache_read,
            cache_write_tokens: tokens.cache_write,
            reasoning_tokens: tokens.reasoning,
            cost,
            charged,
            overrun,
            input_price: prices.input,
            output_price: prices.output,
            cache_read_price: prices.cache_read,
            cache_write_price: prices.cache_write,
            duration_ms: millis(elapsed),
            ttft_ms: self.first_byte.map(millis),
            error_kind: error_kind.map(str::to_owned),
            created_at: self.created_at,
            attempts: i32::try_from(self.attempts).unwrap_or(i32::MAX),
            attempt_errors: (!self.attempt_errors.is_empty())
                .then(|| serde_json::Value::Array(self.attempt_errors).to_string()),
            served_model: route
                .filter(|_| self.served)
                .map(|r| r.model.public_name.clone()),
        };
        let provider = deployment.map_or("", |d| d.provider.name.as_str());
        self.state.counters.settled(&row, provider, elapsed);
        if let Some(traces) = &self.state.traces {
            let provider = deployment.map(|d| (d.provider.name.as_str(), d.provider.kind));
            traces.request(&row, &Served { provider, elapsed });
        }
        self.state.usage.record(row)
    }
}
