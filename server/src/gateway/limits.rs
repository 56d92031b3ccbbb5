//! Rate limits: requests and tokens per minute, for each key and for each
//! user (all their keys together). A plan gives the defaults (config file
//! `[rate_limits.<plan>]`, changed at run time by admins); a key may carry
//! its own limits, and its owner's still apply on top.
//!
//! The windows live in memory on this instance, checked before a request's
//! body is read, or in Redis when instances share them
//! (`crate::platform::cluster::windows`), taken with the request's hold in one round
//! trip ([`SharedWindows`]); never with a database round trip. Every answer of the
//! LLM API carries OpenAI's `x-ratelimit-*` headers for the tighter of the
//! key's and the user's windows; a refusal is 429 with `Retry-After`.
//!
//! A window unused for `caches.idle_secs` (a minute at least) is dropped by
//! [`RateLimits::sweep`]: it is full again by then, so a fresh one is the
//! same. One that still owes tokens pays what it can and waits again.

pub mod plans;
mod window;

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::platform::{
    cluster::{
        Cluster, OutageLog, Unavailable,
        bus::{Bus, Change},
        windows::{Full, SharedWindow, Taken},
    },
    idle::IdleMap,
    plan::{Limits, PlanName},
    time,
};
use window::Window;
pub use window::{Reading, Wait};

/// The windows of one key or one user, for the limits they were made for.
struct Subject {
    limits: Limits,
    requests: Option<Window>,
    tokens: Option<Window>,
}

impl Subject {
    fn new(limits: Limits) -> Self {
        let window = |limit| NonZeroU32::new(limit).map(Window::per_minute);
        Self {
            limits,
            requests: window(limits.requests_per_minute),
            tokens: window(limits.tokens_per_minute),
        }
    }
}

/// Windows by key id or user id. A subject whose limits changed (a plan
/// edit, a key's own limits) starts a fresh window.
#[derive(Default)]
struct Subjects(IdleMap<Arc<Subject>>);

impl Subjects {
    fn get(&self, id: &str, limits: Limits, now: Instant) -> Arc<Subject> {
        match self.0.get(id, now) {
            Some(subject) if subject.limits == limits => subject,
            _ => self.0.upsert(id, now, |current| match current {
                Some(subject) if subject.limits == limits => subject.clone(),
                _ => Arc::new(Subject::new(limits)),
            }),
        }
    }

    /// Drops the subjects unused for `idle` whose windows are at rest and
    /// that no request in flight still meters.
    fn sweep(&self, now: Instant, idle: Duration) -> usize {
        self.0.sweep(now, idle, |subject| {
            let windows = [&subject.requests, &subject.tokens];
            // Every window is asked (and pays what it owes), not just the first.
            let owing = windows
                .into_iter()
                .flatten()
                .filter(|window| !window.at_rest())
                .count();
            owing == 0 && Arc::strong_count(subject) == 1
        })
    }
}

/// Every rate-limit window of this instance, and the plans' limits.
pub struct RateLimits {
    /// From the config file; an admin's change overrides it.
    configured: HashMap<PlanName, Limits>,
    plans: RwLock<HashMap<PlanName, Limits>>,
    keys: Subjects,
    users: Subjects,
    /// Tells the other instances when a plan's limits change.
    bus: Bus,
    /// The windows every instance shares, when there are several.
    cluster: Option<Arc<Cluster>>,
    /// While Redis cannot be reached, this instance's windows decide.
    local_when_down: bool,
}

/// Who a request counts against, and their limits.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub key: &'a str,
    pub key_limits: Limits,
    pub user: &'a str,
    pub user_limits: Limits,
}

/// What a request was let in with.
#[derive(Debug, Clone, Copy, Default)]
pub struct RateHeaders {
    requests: Option<Reading>,
    tokens: Option<Reading>,
}

/// A request refused by a limit.
#[derive(Debug, Clone)]
pub struct Refused {
    pub retry_after: Duration,
    pub message: String,
}

/// Counts a request's real tokens once it settles.
pub struct TokenMeter(Meter);

enum Meter {
    Local(Vec<Arc<Subject>>),
    Shared(Arc<Cluster>, Vec<SharedWindow>),
}

#[derive(Clone, Copy)]
enum Kind {
    Requests,
    Tokens,
}

impl RateLimits {
    pub fn new(configured: HashMap<PlanName, Limits>, bus: Bus) -> Self {
        Self {
            plans: RwLock::new(configured.clone()),
            configured,
            keys: Subjects::default(),
            users: Subjects::default(),
            bus,
            cluster: None,
            local_when_down: false,
        }
    }

    /// The same limits on windows shared in Redis; while it cannot be
    /// reached, `local_when_down` lets this instance's windows decide
    /// (otherwise the request is refused).
    #[must_use]
    pub fn shared(self, cluster: Option<Arc<Cluster>>, local_when_down: bool) -> Self {
        Self {
            cluster,
            local_when_down,
            ..self
        }
    }

    /// Takes one request, and one token to be let in, from the key's and
    /// the owner's windows: shared by every instance, or this one's. The
    /// headers describe the windows either way.
    pub async fn admit(
        &self,
        caller: &Caller<'_>,
    ) -> Result<(RateHeaders, Result<TokenMeter, Refused>), Unavailable> {
        let Some(cluster) = &self.cluster else {
            return Ok(self.admit_here(caller));
        };
        match self.admit_shared(cluster, caller).await {
            Err(err) if self.local_when_down => {
                static OUTAGE: OutageLog = OutageLog::new();
                if let Some(held_back) = OUTAGE.due(time::now().timestamp_millis()) {
                    tracing::warn!(error = %err, held_back, "rate limits on this instance only");
                }
                Ok(self.admit_here(caller))
            }
            decided => decided,
        }
    }

    /// The limits a key and its owner on `plan` are held to: the key's own
    /// where it has them, the plan's otherwise.
    pub fn caller<'a>(
        &self,
        key: &'a str,
        own: (Option<i64>, Option<i64>),
        user: &'a str,
        plan: PlanName,
    ) -> Caller<'a> {
        let plan = self.plan(plan);
        let or_plan = |limit: Option<i64>, default: u32| {
            limit
                .and_then(|limit| u32::try_from(limit).ok())
                .unwrap_or(default)
        };
        Caller {
            key,
            key_limits: Limits {
                requests_per_minute: or_plan(own.0, plan.requests_per_minute),
                tokens_per_minute: or_plan(own.1, plan.tokens_per_minute),
            },
            user,
            user_limits: plan,
        }
    }

    /// A plan's limits now.
    pub fn plan(&self, plan: PlanName) -> Limits {
        self.plans
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&plan)
            .copied()
            .unwrap_or(Limits::NONE)
    }

    /// A plan's limits from the config file.
    pub fn configured(&self, plan: PlanName) -> Limits {
        self.configured.get(&plan).copied().unwrap_or(Limits::NONE)
    }

    /// Tells the other instances that a plan's limits changed.
    fn announce_plans(&self) {
        self.bus.publish(Change::Plans);
    }

    /// Applies an admin's limits for a plan (see [`plans::set`]).
    fn set_plan(&self, plan: PlanName, limits: Limits) {
        self.plans
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(plan, limits);
    }

    /// [`Self::admit`] on this instance's windows.
    fn admit_here(&self, caller: &Caller<'_>) -> (RateHeaders, Result<TokenMeter, Refused>) {
        let now = Instant::now();
        let subjects = [
            (
                self.keys.get(caller.key, caller.key_limits, now),
                Whose::Key,
            ),
            (
                self.users.get(caller.user, caller.user_limits, now),
                Whose::User,
            ),
        ];
        let mut headers = RateHeaders::default();
        for kind in [Kind::Requests, Kind::Tokens] {
            for (subject, whose) in &subjects {
                let window = match kind {
                    Kind::Requests => subject.requests.as_ref(),
                    Kind::Tokens => subject.tokens.as_ref(),
                };
                let Some(window) = window else { continue };
                match window.take_one() {
                    Ok(reading) => headers.keep_tighter(kind, reading),
                    Err(wait) => {
                        headers.set(kind, wait.reading);
                        let refused = refusal(kind, *whose, wait.reading.limit, wait.retry_after);
                        return (headers, Err(refused));
                    }
                }
            }
        }
        let windows = subjects
            .into_iter()
            .map(|(subject, _)| subject)
            .filter(|subject| subject.tokens.is_some())
            .collect();
        (headers, Ok(TokenMeter(Meter::Local(windows))))
    }

    /// [`Self::admit`] on the windows every instance shares, in Redis.
    async fn admit_shared(
        &self,
        cluster: &Arc<Cluster>,
        caller: &Caller<'_>,
    ) -> Result<(RateHeaders, Result<TokenMeter, Refused>), Unavailable> {
        let due = SharedWindows::of(cluster, caller);
        Ok(match cluster.admit(&due.windows).await? {
            Ok(taken) => {
                let (headers, meter) = due.taken(taken);
                (headers, Ok(meter))
            }
            Err(full) => {
                let (headers, refused) = due.full(full)?;
                (headers, Err(refused))
            }
        })
    }

    /// The windows `caller` counts against when every instance shares
    /// them: taken in the same round trip as the request's hold
    /// (`Wallets::hold`). `None` when they are this instance's.
    pub fn shared_windows(&self, caller: &Caller<'_>) -> Option<SharedWindows> {
        let cluster = self.cluster.as_ref()?;
        Some(SharedWindows::of(cluster, caller))
    }
}

/// A request's windows in Redis, not yet taken.
pub struct SharedWindows {
    cluster: Arc<Cluster>,
    /// Whose window of which kind each is, in the order of `windows`.
    kinds: Vec<(Kind, Whose)>,
    windows: Vec<SharedWindow>,
}

impl SharedWindows {
    fn of(cluster: &Arc<Cluster>, caller: &Caller<'_>) -> Self {
        let (mut kinds, mut windows) = (Vec::new(), Vec::new());
        for kind in [Kind::Requests, Kind::Tokens] {
            for (whose, subject, limits) in [
                (Whose::Key, format!("k:{}", caller.key), caller.key_limits),
                (
                    Whose::User,
                    format!("u:{}", caller.user),
                    caller.user_limits,
                ),
            ] {
                let limit = match kind {
                    Kind::Requests => limits.requests_per_minute,
                    Kind::Tokens => limits.tokens_per_minute,
                };
                if limit > 0 {
                    kinds.push((kind, whose));
                    windows.push(cluster.window(kind.as_str(), &subject, limit));
                }
            }
        }
        Self {
            cluster: cluster.clone(),
            kinds,
            windows,
        }
    }

    /// What a script is sent.
    pub fn windows(&self) -> &[SharedWindow] {
        &self.windows
    }

    /// The headers and the meter of windows that each gave a cell.
    pub fn taken(self, taken: Vec<Taken>) -> (RateHeaders, TokenMeter) {
        let mut headers = RateHeaders::default();
        for (((kind, _), window), taken) in self.kinds.iter().zip(&self.windows).zip(taken) {
            headers.keep_tighter(
                *kind,
                Reading {
                    limit: window.limit,
                    remaining: taken.remaining,
                    reset: taken.reset,
                },
            );
        }
        let tokens = self
            .kinds
            .iter()
            .zip(self.windows)
            .filter(|((kind, _), _)| matches!(kind, Kind::Tokens))
            .map(|(_, window)| window)
            .collect();
        (headers, TokenMeter(Meter::Shared(self.cluster, tokens)))
    }

    /// The headers and the refusal of a full window.
    pub fn full(self, full: Full) -> Result<(RateHeaders, Refused), Unavailable> {
        let (Some((kind, whose)), Some(window)) =
            (self.kinds.get(full.index), self.windows.get(full.index))
        else {
            return Err(Unavailable(redis::RedisError::from((
                redis::ErrorKind::UnexpectedReturnType,
                "a rate-limit script named no window",
            ))));
        };
        let reading = Reading {
            limit: window.limit,
            remaining: 0,
            reset: full.retry_after
                + Duration::from_micros(60_000_000 / u64::from(window.limit))
                    * window.limit.saturating_sub(1),
        };
        let mut headers = RateHeaders::default();
        headers.set(*kind, reading);
        Ok((
            headers,
            refusal(*kind, *whose, window.limit, full.retry_after),
        ))
    }
}

#[derive(Clone, Copy)]
enum Whose {
    Key,
    User,
}

/// The refusal of a full window, as the client reads it.
fn refusal(kind: Kind, whose: Whose, limit: u32, retry_after: Duration) -> Refused {
    let whose = match whose {
        Whose::Key => "this API key",
        Whose::User => "your account",
    };
    let message = format!(
        "rate limit reached for {whose}: {limit} {} per minute; try again in {}",
        kind.as_str(),
        go_duration(retry_after)
    );
    Refused {
        retry_after,
        message,
    }
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Requests => "requests",
            Kind::Tokens => "tokens",
        }
    }
}

impl RateLimits {
    /// Drops the windows of keys and users unused for `idle` at `now`
    /// (see the module's doc); returns how many.
    pub fn sweep(&self, now: Instant, idle: Duration) -> usize {
        self.keys.sweep(now, idle) + self.users.sweep(now, idle)
    }

    /// Keys and users with windows in memory.
    pub fn sizes(&self) -> (usize, usize) {
        (self.keys.0.len(), self.users.0.len())
    }
}

impl TokenMeter {
    /// Adds the request's real tokens (less the one it was let in with).
    pub fn record(self, tokens: u64) {
        let beyond_the_first = tokens.saturating_sub(1);
        match self.0 {
            Meter::Local(subjects) => {
                for subject in &subjects {
                    if let Some(window) = &subject.tokens {
                        window.add(beyond_the_first);
                    }
                }
            }
            Meter::Shared(cluster, windows) => {
                for window in &windows {
                    cluster.add_tokens(window, beyond_the_first);
                }
            }
        }
    }
}

impl RateHeaders {
    fn slot(&mut self, kind: Kind) -> &mut Option<Reading> {
        match kind {
            Kind::Requests => &mut self.requests,
            Kind::Tokens => &mut self.tokens,
        }
    }

    fn set(&mut self, kind: Kind, reading: Reading) {
        *self.slot(kind) = Some(reading);
    }

    /// Of the key's and the user's windows, the one closer to its limit.
    fn keep_tighter(&mut self, kind: Kind, reading: Reading) {
        let slot = self.slot(kind);
        if slot.is_none_or(|current| reading.remaining < current.remaining) {
            *slot = Some(reading);
        }
    }

    /// Adds OpenAI's headers: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.
    /// A kind with no limit has no headers.
    pub fn apply(&self, headers: &mut HeaderMap) {
        const NAMES: [[&str; 3]; 2] = [
            [
                "x-ratelimit-limit-requests",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-reset-requests",
            ],
            [
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-tokens",
            ],
        ];
        for (reading, names) in [self.requests, self.tokens].into_iter().zip(NAMES) {
            let Some(reading) = reading else { continue };
            let values = [
                reading.limit.to_string(),
                reading.remaining.to_string(),
                go_duration(reading.reset),
            ];
            for (name, value) in names.into_iter().zip(values) {
                if let Ok(value) = HeaderValue::from_str(&value) {
                    headers.insert(HeaderName::from_static(name), value);
                }
            }
        }
    }
}

impl Refused {
    /// `Retry-After` in whole seconds (rounded up), and `retry-after-ms`,
    /// which the OpenAI and Anthropic SDKs read first.
    pub fn retry_headers(&self) -> [(HeaderName, HeaderValue); 2] {
        let millis = self.retry_after.as_millis().max(1);
        let seconds = millis.div_ceil(1_000);
        [
            (
                axum::http::header::RETRY_AFTER,
                HeaderValue::from(u64::try_from(seconds).unwrap_or(u64::MAX)),
            ),
            (
                HeaderName::from_static("retry-after-ms"),
                HeaderValue::from(u64::try_from(millis).unwrap_or(u64::MAX)),
            ),
        ]
    }
}

/// A duration as OpenAI writes it in `x-ratelimit-reset-*`: `20ms`, `1.5s`,
/// `6m0s` (Go's notation), rounded up to the millisecond.
pub fn go_duration(duration: Duration) -> String {
    let millis = duration.as_nanos().div_ceil(1_000_000);
    if millis < 1_000 {
        return format!("{millis}ms");
    }
    let (minutes, millis) = (millis / 60_000, millis % 60_000);
    let (seconds, fraction) = (millis / 1_000, millis % 1_000);
    let seconds = if fraction == 0 {
        seconds.to_string()
    } else {
        let fraction = format!("{fraction:03}");
        format!("{seconds}.{}", fraction.trim_end_matches('0'))
    };
    if minutes == 0 {
        format!("{seconds}s")
    } else {
        format!("{minutes}m{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDLE: Duration = Duration::from_secs(900);
    const LIMITS: Limits = Limits::new(60, 1_000);

    #[test]
    fn windows_unused_for_the_idle_time_are_dropped_and_used_ones_kept() {
        let subjects = Subjects::default();
        let start = Instant::now();
        subjects.get("key_old", LIMITS, start);
        subjects.get("key_used", LIMITS, start + IDLE / 2);

        let dropped = subjects.sweep(start + IDLE, IDLE);

        assert_eq!(dropped, 1);
        assert_eq!(subjects.0.len(), 1);
        assert!(subjects.0.get("key_used", start + IDLE).is_some());
    }

    #[test]
    fn a_window_metering_a_request_in_flight_or_owing_tokens_is_kept() {
        let subjects = Subjects::default();
        let start = Instant::now();
        let in_flight = subjects.get("key_streaming", LIMITS, start);
        let owing = subjects.get("key_owing", LIMITS, start);
        if let Some(tokens) = &owing.tokens {
            tokens.add(5_000);
        }
        drop(owing);

        let dropped = subjects.sweep(start + IDLE, IDLE);

        assert_eq!(dropped, 0);
        assert_eq!(subjects.0.len(), 2);
        drop(in_flight);
    }

    #[test]
    fn a_subject_whose_limits_changed_starts_a_fresh_window() {
        let subjects = Subjects::default();
        let now = Instant::now();
        let first = subjects.get("user_1", LIMITS, now);

        let same = subjects.get("user_1", LIMITS, now);
        let changed = subjects.get("user_1", Limits::new(10, 10), now);

        assert!(Arc::ptr_eq(&first, &same));
        assert!(!Arc::ptr_eq(&first, &changed));
        assert_eq!(subjects.0.len(), 1);
    }

    #[test]
    fn durations_read_like_openai() {
        let cases = [
            (Duration::from_millis(17), "17ms"),
            (Duration::from_micros(1), "1ms"),
            (Duration::ZERO, "0ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_millis(20_250), "20.25s"),
            (Duration::from_secs(360), "6m0s"),
            (Duration::from_millis(61_001), "1m1.001s"),
        ];
        for (duration, expected) in cases {
            assert_eq!(go_duration(duration), expected);
        }
    }
}
