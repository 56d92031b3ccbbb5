//! The made-up history, planned in memory before anything is written: who
//! signs up when, on which plan, who is busy, and every request with its
//! time, model, outcome, tokens and exact cost. Everything comes from one
//! `StdRng` seeded with `--seed`, consumed in a fixed order, so a seed
//! gives the same history every time, shifted to end at `now`; only ids
//! and secrets, which the services make, differ between runs.
//!
//! The shapes are meant to look like a real gateway's: a few users make
//! most of the requests (Zipf ranks, exponent 0.9) and a fifth never make
//! one; everyone has a favourite model; traffic follows the hours of a day,
//! drops at weekends and grows over the range; about 2 % of
//! requests fail (status 429 to 504, no tokens) and about 0.5 % of streams
//! are cut short (status 200, partial output, charged).

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::SliceRandom};

use server::{
    gateway::proxy::request::Endpoint,
    platform::{
        entity::{entitlement::GrantSource, user::Plan},
        pricing::{Prices, Tokens},
    },
};

/// Zipf exponent of the users' activity: the busiest user makes a few
/// percent of all requests, the median user a handful.
const ZIPF: f64 = 0.9;
/// Users who sign up and never make a request.
const IDLE_SHARE: f64 = 0.2;
/// Users who signed up within the range (the rest before it).
const NEWCOMER_SHARE: f64 = 0.3;
/// Share of a user's requests that go to their favourite model.
const FAVOURITE_SHARE: f64 = 0.6;
/// Requests answered with an error (status 400 or more).
const ERROR_SHARE: f64 = 0.02;
/// Streams cut short (client gone or upstream broken): status 200, charged.
const CUT_SHARE: f64 = 0.005;
/// Users (not on `pro`) given "Pro — Lifetime".
const ENTITLEMENT_SHARE: f64 = 0.03;
/// Of those, grants revoked later.
const REVOKED_SHARE: f64 = 0.1;
/// Users with usage who also use the web UI (a session).
const WEB_SHARE: f64 = 0.6;
/// Users without usage who signed in once.
const IDLE_WEB_SHARE: f64 = 0.3;
/// Sessions that were signed out.
const LOGGED_OUT_SHARE: f64 = 0.15;

/// Traffic by hour of the day (UTC), relative to the busiest hour.
const HOURLY: [f64; 24] = [
    0.30, 0.25, 0.22, 0.22, 0.25, 0.32, 0.45, 0.62, 0.80, 0.92, 1.00, 1.00, 0.98, 1.00, 1.00, 0.97,
    0.92, 0.85, 0.75, 0.65, 0.55, 0.48, 0.40, 0.34,
];

/// Which wire format a model's vendor speaks (and so which endpoint its
/// requests used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    OpenAi,
    Anthropic,
}

impl Vendor {
    pub fn endpoint(self) -> Endpoint {
        match self {
            Self::OpenAi => Endpoint::ChatCompletions,
            Self::Anthropic => Endpoint::Messages,
        }
    }

    /// The seeded provider standing in for this vendor.
    pub fn provider_name(self) -> &'static str {
        match self {
            Self::OpenAi => "OpenAI (seeded mock)",
            Self::Anthropic => "Anthropic (seeded mock)",
        }
    }
}

/// How a model's requests look: their token counts and cache use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Chat: mid-size prompts, a third partly served from cache.
    Chat,
    /// Coding agents: small fresh input on large cached contexts.
    Agent,
    /// Reasoning: long outputs, most of them reasoning.
    Reasoning,
}

/// A model the seed creates (or finds by its public name).
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    pub name: &'static str,
    pub vendor: Vendor,
    /// Micro-credits per million tokens, as the model is created.
    pub prices: Prices,
    /// Share of requests (and of favourites).
    pub share: f64,
    /// Share of its requests that stream.
    pub streamed: f64,
    pub profile: Profile,
}

const fn prices(input: i64, output: i64, cache_read: i64, cache_write: i64) -> Prices {
    Prices {
        input,
        output,
        cache_read,
        cache_write,
    }
}

/// The catalogue: public list prices of late 2025, in micro-credits per
/// million tokens (1 credit = 1 USD).
pub const MODELS: [ModelSpec; 6] = [
    ModelSpec {
        name: "gpt-4o",
        vendor: Vendor::OpenAi,
        prices: prices(2_500_000, 10_000_000, 1_250_000, 0),
        share: 0.20,
        streamed: 0.5,
        profile: Profile::Chat,
    },
    ModelSpec {
        name: "gpt-4o-mini",
        vendor: Vendor::OpenAi,
        prices: prices(150_000, 600_000, 75_000, 0),
        share: 0.24,
        streamed: 0.4,
        profile: Profile::Chat,
    },
    ModelSpec {
        name: "o3-mini",
        vendor: Vendor::OpenAi,
        prices: prices(1_100_000, 4_400_000, 550_000, 0),
        share: 0.06,
        streamed: 0.3,
        profile: Profile::Reasoning,
    },
    ModelSpec {
        name: "claude-sonnet-4-5",
        vendor: Vendor::Anthropic,
        prices: prices(3_000_000, 15_000_000, 300_000, 3_750_000),
        share: 0.28,
        streamed: 0.85,
        profile: Profile::Agent,
    },
    ModelSpec {
        name: "claude-haiku-4-5",
        vendor: Vendor::Anthropic,
        prices: prices(1_000_000, 5_000_000, 100_000, 1_250_000),
        share: 0.18,
        streamed: 0.8,
        profile: Profile::Agent,
    },
    ModelSpec {
        name: "claude-opus-4-1",
        vendor: Vendor::Anthropic,
        prices: prices(15_000_000, 75_000_000, 1_500_000, 18_750_000),
        share: 0.04,
        streamed: 0.85,
        profile: Profile::Agent,
    },
];

/// Failures: status, the proxy's `error_kind`, relative weight.
const FAILURES: [(u16, &str, f64); 5] = [
    (500, "upstream_error", 0.30),
    (529, "upstream_error", 0.15),
    (429, "upstream_error", 0.20),
    (504, "upstream_timeout", 0.20),
    (502, "upstream_unreachable", 0.15),
];

/// Dashboard routes people's browsers call, for `request_metrics`.
const DASHBOARD_ROUTES: [&str; 8] = [
    "/api/users/me",
    "/api/users/me/credits",
    "/api/users/me/usage",
    "/api/keys",
    "/api/models",
    "/api/stats",
    "/api/leaderboard",
    "/api/presence",
];

const FIRST_NAMES: [&str; 64] = [
    "Ada",
    "Alan",
    "Amara",
    "Ana",
    "Andrei",
    "Aisha",
    "Ben",
    "Bianca",
    "Carlos",
    "Chen",
    "Chloe",
    "Dario",
    "Diego",
    "Elena",
    "Emeka",
    "Emma",
    "Farah",
    "Felix",
    "Fatima",
    "Grace",
    "Hana",
    "Hugo",
    "Ines",
    "Ivan",
    "Jamal",
    "Jana",
    "Jonas",
    "Julia",
    "Kai",
    "Kenji",
    "Lara",
    "Leila",
    "Liam",
    "Lucas",
    "Maya",
    "Mateo",
    "Mei",
    "Mia",
    "Nadia",
    "Nikos",
    "Noah",
    "Nora",
    "Olga",
    "Omar",
    "Oscar",
    "Priya",
    "Quentin",
    "Rafael",
    "Rosa",
    "Sami",
    "Sara",
    "Sofia",
    "Tariq",
    "Theo",
    "Uma",
    "Valentina",
    "Victor",
    "Wei",
    "Xavier",
    "Yara",
    "Yusuf",
    "Zara",
    "Zoe",
    "Arjun",
];

const LAST_NAMES: [&str; 64] = [
    "Adeyemi",
    "Andersen",
    "Bauer",
    "Becker",
    "Bianchi",
    "Costa",
    "Dubois",
    "Eriksson",
    "Fischer",
    "Garcia",
    "Gonzalez",
    "Haddad",
    "Hansen",
    "Ibrahim",
    "Ito",
    "Jansen",
    "Kaur",
    "Kim",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Müller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okafor",
    "Olsen",
    "Patel",
    "Petrov",
    "Popescu",
    "Quinn",
    "Rahman",
    "Rossi",
    "Russo",
    "Sato",
    "Schmidt",
    "Silva",
    "Singh",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Tran",
    "Varga",
    "Wagner",
    "Wang",
    "Weber",
    "Williams",
    "Wong",
    "Yamamoto",
    "Yilmaz",
    "Zhang",
    "Zimmermann",
    "Dimitrov",
    "Horvat",
    "Lindqvist",
    "Mensah",
    "Ortiz",
    "Park",
    "Reyes",
];

/// Reserved for examples (RFC 2606): never someone's real address.
const DOMAINS: [&str; 3] = ["example.com", "example.org", "example.net"];

const KEY_NAMES: [&str; 6] = ["default", "laptop", "claude-code", "cli", "notebook", "ci"];

const GRANT_NOTES: [&str; 4] = [
    "beta tester",
    "conference speaker",
    "partner team",
    "support goodwill",
];

/// What the plan is made from.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub users: u32,
    pub requests: u64,
    pub days: u32,
    pub seed: u64,
    /// Numbers emails from here, so a second history never reuses one.
    pub first_index: u64,
    /// The models' prices as stored (an admin may have changed them).
    pub prices: [Prices; MODELS.len()],
    pub session_ttl: Duration,
}

pub struct History {
    pub users: Vec<PlannedUser>,
    /// Oldest first.
    pub events: Vec<Event>,
    pub sessions: Vec<PlannedSession>,
    /// `request_metrics` of the last 24 hours.
    pub metrics: Vec<PlannedMetric>,
}

#[derive(Debug, Clone)]
pub struct PlannedUser {
    pub name: String,
    pub email: String,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
    pub key_name: &'static str,
    /// What their requests cost in all, micro-credits.
    pub spend: i64,
    /// Credits every account starts with (by plan).
    pub starting_grant: i64,
    /// An admin's top-up when the starting grant does not cover the spend.
    pub top_up: Option<i64>,
    pub entitlement: Option<PlannedGrant>,
}

#[derive(Debug, Clone)]
pub struct PlannedGrant {
    pub source: GrantSource,
    pub notes: &'static str,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One proxied request, compactly (a million of them stay in memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    pub user: u32,
    /// Index into [`MODELS`].
    pub model: u8,
    pub streamed: bool,
    pub status: u16,
    pub error_kind: Option<&'static str>,
    pub input: u32,
    pub output: u32,
    pub cache_read: u32,
    pub cache_write: u32,
    pub reasoning: u32,
    pub duration_ms: u32,
    pub ttft_ms: Option<u32>,
    /// Micro-credits, `Tokens::cost` at the model's prices.
    pub cost: i64,
}

impl Event {
    pub fn at(&self) -> DateTime<Utc> {
        millis(self.at_ms)
    }

    pub fn tokens(&self) -> Tokens {
        Tokens {
            input: i64::from(self.input),
            output: i64::from(self.output),
            cache_read: i64::from(self.cache_read),
            cache_write: i64::from(self.cache_write),
            reasoning: i64::from(self.reasoning),
        }
    }
}

#[derive(Debug, Clone)]
pub struct PlannedSession {
    pub user: u32,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub user_agent: &'static str,
}

#[derive(Debug, Clone)]
pub struct PlannedMetric {
    pub ts: DateTime<Utc>,
    pub duration_ms: i32,
    pub status: i32,
    pub route: &'static str,
}

fn millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The whole history ending at `now`.
pub fn plan(shape: &Shape, now: DateTime<Utc>) -> History {
    let mut rng = StdRng::seed_from_u64(shape.seed);
    let start = now - Duration::days(i64::from(shape.days));
    let mut users = people(&mut rng, shape, start, now);
    let weights = activity(&mut rng, users.len());
    let favourites: Vec<u8> = (0..users.len())
        .map(|_| pick_model(&mut rng, None))
        .collect();

    let slots = Slots::new(start, shape.days);
    let users_by_weight = Cumulative::new(&weights);
    let mut events = Vec::with_capacity(usize::try_from(shape.requests).unwrap_or(0));
    if users_by_weight.total() > 0.0 {
        for _ in 0..shape.requests {
            let at_ms = slots.sample(&mut rng);
            let (user, at_ms) = who(&mut rng, &users_by_weight, &users, at_ms, now);
            let favourite = favourites[user as usize];
            let model = pick_model(&mut rng, Some(favourite));
            events.push(request(&mut rng, shape, user, model, at_ms));
        }
    }
    events.sort_by_key(|event| event.at_ms);

    let mut last_use: Vec<Option<i64>> = vec![None; users.len()];
    for event in &events {
        let user = event.user as usize;
        users[user].spend += event.cost;
        last_use[user] = Some(event.at_ms);
    }
    for user in &mut users {
        // Whole credits, a fifth above the spend: balances end positive.
        if user.spend > user.starting_grant {
            let needed = user.spend * 6 / 5 - user.starting_grant;
            user.top_up = Some(round_up(needed, 10_000_000));
        }
    }
    let sessions = sessions(&mut rng, shape, &users, &last_use, now);
    let metrics = metrics(&mut rng, &events, &sessions, now);
    History {
        users,
        events,
        sessions,
        metrics,
    }
}

fn round_up(amount: i64, step: i64) -> i64 {
    (amount + step - 1) / step * step
}

fn people(
    rng: &mut StdRng,
    shape: &Shape,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Vec<PlannedUser> {
    let window_ms = (now - start).num_milliseconds().max(1);
    (0..shape.users)
        .map(|n| {
            let index = shape.first_index + u64::from(n) + 1;
            let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            let domain = DOMAINS[rng.random_range(0..DOMAINS.len())];
            let email = format!(
                "{}.{}{index}@{domain}",
                ascii(first).to_lowercase(),
                ascii(last).to_lowercase()
            );
            let plan = match rng.random::<f64>() {
                x if x < 0.45 => Plan::Trial,
                x if x < 0.80 => Plan::Free,
                _ => Plan::Pro,
            };
            let created_at = if rng.random_bool(NEWCOMER_SHARE) {
                // Within the range, but early enough to have done something.
                start + Duration::milliseconds(rng.random_range(0..window_ms) * 9 / 10)
            } else {
                start - Duration::minutes(rng.random_range(60..365 * 24 * 60))
            };
            let entitlement =
                (plan != Plan::Pro && rng.random_bool(ENTITLEMENT_SHARE)).then(|| {
                    let granted =
                        created_at + Duration::minutes(rng.random_range(10..30 * 24 * 60));
                    let granted = granted.min(now - Duration::hours(1));
                    let revoked_at = rng.random_bool(REVOKED_SHARE).then(|| {
                        let left = (now - granted).num_minutes().max(2);
                        granted + Duration::minutes(rng.random_range(1..left))
                    });
                    PlannedGrant {
                        source: match rng.random_range(0..3) {
                            0 => GrantSource::BetaComp,
                            1 => GrantSource::ManualOverride,
                            _ => GrantSource::PartnerReferral,
                        },
                        notes: GRANT_NOTES[rng.random_range(0..GRANT_NOTES.len())],
                        created_at: granted,
                        revoked_at,
                    }
                });
            PlannedUser {
                name: format!("{first} {last}"),
                email,
                plan,
                created_at,
                key_name: KEY_NAMES[rng.random_range(0..KEY_NAMES.len())],
                spend: 0,
                starting_grant: match plan {
                    Plan::Trial => 5_000_000,
                    Plan::Free => 1_000_000,
                    Plan::Pro => 20_000_000,
                },
                top_up: None,
                entitlement,
            }
        })
        .collect()
}

/// `Müller` → `Muller`, for email addresses.
fn ascii(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'ü' => 'u',
            'ö' => 'o',
            'ä' => 'a',
            c => c,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// Each user's share of the requests: Zipf over a random ranking, zero for
/// the idle fifth (at least one user is busy).
fn activity(rng: &mut StdRng, users: usize) -> Vec<f64> {
    let mut order: Vec<usize> = (0..users).collect();
    order.shuffle(rng);
    let busy = ((users as f64) * (1.0 - IDLE_SHARE)).ceil().max(1.0) as usize;
    let mut weights = vec![0.0; users];
    for (rank, &user) in order.iter().take(busy).enumerate() {
        weights[user] = ((rank + 1) as f64).powf(-ZIPF);
    }
    weights
}

/// A model index: the favourite, often, else by the catalogue's shares.
fn pick_model(rng: &mut StdRng, favourite: Option<u8>) -> u8 {
    if let Some(favourite) = favourite
        && rng.random_bool(FAVOURITE_SHARE)
    {
        return favourite;
    }
    let mut x = rng.random::<f64>() * MODELS.iter().map(|m| m.share).sum::<f64>();
    for (index, model) in MODELS.iter().enumerate() {
        if x < model.share {
            return index as u8;
        }
        x -= model.share;
    }
    0
}

/// Cumulative weights, to draw an index in proportion to its weight.
struct Cumulative(Vec<f64>);

impl Cumulative {
    fn new(weights: &[f64]) -> Self {
        let mut sum = 0.0;
        Self(
            weights
                .iter()
                .map(|w| {
                    sum += w;
                    sum
                })
                .collect(),
        )
    }

    fn total(&self) -> f64 {
        self.0.last().copied().unwrap_or(0.0)
    }

    /// Never an index of weight zero.
    fn sample(&self, rng: &mut StdRng) -> usize {
        let x = rng.random::<f64>() * self.total();
        self.0
            .partition_point(|c| *c <= x)
            .min(self.0.len().saturating_sub(1))
    }
}

/// Hours of the range, weighted by hour of day, weekday and growth. The
/// rhythm is laid over the range itself, not the clock: the range always
/// ends in the busy afternoon of a Wednesday, so a seed makes the same
/// history whenever it runs (only shifted to end now).
struct Slots {
    start_ms: i64,
    weights: Cumulative,
}

/// The hour of day the range ends in (the last hour is 13:00–14:00).
const LAST_HOUR: usize = 13;
/// The weekday the range ends on, Monday being 0.
const LAST_WEEKDAY: i64 = 2;

impl Slots {
    fn new(start: DateTime<Utc>, days: u32) -> Self {
        let hours = days as usize * 24;
        let weights: Vec<f64> = (0..hours)
            .map(|hour| {
                let shifted = hour + LAST_HOUR + 1;
                let day = (shifted / 24) as i64 - i64::from(days) + LAST_WEEKDAY;
                let weekday = match day.rem_euclid(7) {
                    5 => 0.45,
                    6 => 0.40,
                    4 => 0.90,
                    _ => 1.0,
                };
                let growth = 0.7 + 0.6 * hour as f64 / hours as f64;
                HOURLY[shifted % 24] * weekday * growth
            })
            .collect();
        Self {
            start_ms: start.timestamp_millis(),
            weights: Cumulative::new(&weights),
        }
    }

    fn sample(&self, rng: &mut StdRng) -> i64 {
        let hour = self.weights.sample(rng) as i64;
        self.start_ms + hour * 3_600_000 + rng.random_range(0..3_600_000)
    }
}

/// Who made a request at `at_ms`: a user drawn by weight who had signed
/// up by then. Newcomers drawn before their sign-up are drawn again; after
/// a few tries the request moves to a time after the last one's sign-up.
fn who(
    rng: &mut StdRng,
    weights: &Cumulative,
    users: &[PlannedUser],
    at_ms: i64,
    now: DateTime<Utc>,
) -> (u32, i64) {
    let mut user = 0;
    for _ in 0..16 {
        user = weights.sample(rng);
        if users[user].created_at.timestamp_millis() < at_ms {
            return (user as u32, at_ms);
        }
    }
    let from = users[user].created_at.timestamp_millis() + 1;
    let to = now.timestamp_millis().max(from + 1);
    (user as u32, rng.random_range(from..to))
}

/// Lognormal with the given median: `median · e^(σ·z)`, `z` standard normal
/// (Box–Muller), clamped and rounded.
fn lognormal(rng: &mut StdRng, median: f64, sigma: f64, min: u32, max: u32) -> u32 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (median * (sigma * z).exp())
        .round()
        .clamp(f64::from(min), f64::from(max)) as u32
}

fn request(rng: &mut StdRng, shape: &Shape, user: u32, model: u8, at_ms: i64) -> Event {
    let spec = &MODELS[model as usize];
    let streamed = rng.random_bool(spec.streamed);
    let (mut input, mut output, mut cache_read, mut cache_write, mut reasoning) = match spec.profile
    {
        Profile::Chat => {
            let prompt = lognormal(rng, 1_500.0, 1.1, 20, 120_000);
            let cached = if rng.random_bool(0.35) {
                (f64::from(prompt) * rng.random_range(0.4..0.9)) as u32
            } else {
                0
            };
            let output = lognormal(rng, 350.0, 0.9, 1, 16_000);
            (prompt - cached, output, cached, 0, 0)
        }
        Profile::Agent => {
            let input = lognormal(rng, 600.0, 1.2, 5, 100_000);
            let cache_read = if rng.random_bool(0.7) {
                lognormal(rng, 18_000.0, 0.8, 1_024, 180_000)
            } else {
                0
            };
            let cache_write = if rng.random_bool(0.2) {
                lognormal(rng, 4_000.0, 1.0, 1_024, 100_000)
            } else {
                0
            };
            let output = lognormal(rng, 450.0, 1.0, 1, 32_000);
            (input, output, cache_read, cache_write, 0)
        }
        Profile::Reasoning => {
            let input = lognormal(rng, 1_200.0, 1.0, 20, 100_000);
            let output = lognormal(rng, 1_500.0, 0.8, 10, 64_000);
            let reasoning = (f64::from(output) * rng.random_range(0.5..0.85)) as u32;
            (input, output, 0, 0, reasoning)
        }
    };
    let ttft = lognormal(rng, 600.0, 0.5, 80, 20_000);
    let speed: f64 = rng.random_range(40.0..140.0);
    let mut status = 200;
    let mut error_kind = None;
    let mut ttft_ms = Some(ttft);
    let mut duration_ms = ttft + (f64::from(output) / speed * 1_000.0) as u32;
    let outcome: f64 = rng.random();
    if outcome < ERROR_SHARE {
        let (failure_status, kind) = failure(rng);
        status = failure_status;
        error_kind = Some(kind);
        (input, output, cache_read, cache_write, reasoning) = (0, 0, 0, 0, 0);
        ttft_ms = None;
        duration_ms = match failure_status {
            504 => 60_000 + rng.random_range(0..5_000),
            502 => lognormal(rng, 150.0, 0.5, 5, 10_000),
            _ => lognormal(rng, 400.0, 0.6, 20, 30_000),
        };
    } else if streamed && outcome < ERROR_SHARE + CUT_SHARE {
        error_kind = Some(if rng.random_bool(0.7) {
            "client_disconnected"
        } else {
            "upstream_stream_error"
        });
        output = (f64::from(output) * rng.random_range(0.1..0.7)) as u32;
        reasoning = reasoning.min(output);
        duration_ms = ttft + (f64::from(output) / speed * 1_000.0) as u32;
    }
    let mut event = Event {
        at_ms,
        user,
        model,
        streamed,
        status,
        error_kind,
        input,
        output,
        cache_read,
        cache_write,
        reasoning,
        duration_ms,
        ttft_ms,
        cost: 0,
    };
    event.cost = event.tokens().cost(&shape.prices[model as usize]);
    event
}

fn failure(rng: &mut StdRng) -> (u16, &'static str) {
    let mut x = rng.random::<f64>() * FAILURES.iter().map(|f| f.2).sum::<f64>();
    for (status, kind, weight) in FAILURES {
        if x < weight {
            return (status, kind);
        }
        x -= weight;
    }
    (500, "upstream_error")
}

const USER_AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
];

/// Web sessions: most busy users have one, seen shortly after their last
/// request; a few hundredths of a percent are online right now (seen in the
/// last four minutes); some idle users signed in once.
fn sessions(
    rng: &mut StdRng,
    shape: &Shape,
    users: &[PlannedUser],
    last_use: &[Option<i64>],
    now: DateTime<Utc>,
) -> Vec<PlannedSession> {
    let online = (users.len() / 300).max(1);
    let mut sessions = Vec::new();
    for (index, user) in users.iter().enumerate() {
        let user_agent = USER_AGENTS[rng.random_range(0..USER_AGENTS.len())];
        let last_seen_at = match last_use[index] {
            Some(at) if rng.random_bool(WEB_SHARE) => {
                (millis(at) + Duration::seconds(rng.random_range(0..1_200))).min(now)
            }
            None if rng.random_bool(IDLE_WEB_SHARE) => {
                (user.created_at + Duration::seconds(rng.random_range(5..600))).min(now)
            }
            _ => continue,
        };
        let created_at = (last_seen_at - Duration::minutes(rng.random_range(0..6 * 24 * 60)))
            .max(user.created_at);
        let revoked_at = rng
            .random_bool(LOGGED_OUT_SHARE)
            .then(|| (last_seen_at + Duration::seconds(rng.random_range(1..3_600))).min(now));
        sessions.push(PlannedSession {
            user: index as u32,
            created_at,
            last_seen_at,
            expires_at: created_at + shape.session_ttl,
            revoked_at,
            user_agent,
        });
    }
    // Online now: busy users picked at random, with a fresh session.
    let busy: Vec<u32> = (0..users.len())
        .filter(|&user| last_use[user].is_some())
        .map(|user| user as u32)
        .collect();
    for _ in 0..online.min(busy.len()) {
        let user = busy[rng.random_range(0..busy.len())];
        let last_seen_at = now - Duration::seconds(rng.random_range(0..240));
        let created_at = (last_seen_at - Duration::minutes(rng.random_range(1..24 * 60)))
            .max(users[user as usize].created_at);
        sessions.push(PlannedSession {
            user,
            created_at,
            last_seen_at,
            expires_at: created_at + shape.session_ttl,
            revoked_at: None,
            user_agent: USER_AGENTS[rng.random_range(0..USER_AGENTS.len())],
        });
    }
    sessions
}

/// The last 24 hours of `request_metrics`: every proxied request, and the
/// dashboard requests of the sessions seen in that time.
fn metrics(
    rng: &mut StdRng,
    events: &[Event],
    sessions: &[PlannedSession],
    now: DateTime<Utc>,
) -> Vec<PlannedMetric> {
    let since = now - Duration::hours(24);
    let since_ms = since.timestamp_millis();
    let mut metrics: Vec<PlannedMetric> = events
        .iter()
        .filter(|event| event.at_ms >= since_ms)
        .map(|event| PlannedMetric {
            ts: event.at(),
            duration_ms: i32::try_from(event.duration_ms).unwrap_or(i32::MAX),
            status: i32::from(event.status),
            route: MODELS[event.model as usize].vendor.endpoint().path(),
        })
        .collect();
    for session in sessions.iter().filter(|s| s.last_seen_at >= since) {
        let from_ms = session.created_at.max(since).timestamp_millis();
        let to_ms = session.last_seen_at.timestamp_millis().max(from_ms + 1);
        for _ in 0..rng.random_range(5..40) {
            let unauthorised = rng.random_bool(0.01);
            metrics.push(PlannedMetric {
                ts: millis(rng.random_range(from_ms..to_ms)),
                duration_ms: lognormal(rng, 12.0, 0.8, 1, 5_000) as i32,
                status: if unauthorised { 401 } else { 200 },
                route: DASHBOARD_ROUTES[rng.random_range(0..DASHBOARD_ROUTES.len())],
            });
        }
    }
    metrics.sort_by_key(|metric| metric.ts);
    metrics
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(users: u32, requests: u64, seed: u64) -> Shape {
        Shape {
            users,
            requests,
            days: 30,
            seed,
            first_index: 0,
            prices: MODELS.map(|m| m.prices),
            session_ttl: Duration::days(7),
        }
    }

    fn now() -> DateTime<Utc> {
        millis(1_764_000_000_000)
    }

    #[test]
    fn a_seed_gives_the_same_history_whenever_it_runs_and_another_seed_another() {
        let first = plan(&shape(200, 5_000, 7), now());
        // An hour and a half and a day later: the same, shifted.
        let shift = Duration::minutes(26 * 60 + 30);
        let again = plan(&shape(200, 5_000, 7), now() + shift);
        let other = plan(&shape(200, 5_000, 8), now());
        let shifted: Vec<Event> = again
            .events
            .iter()
            .map(|event| Event {
                at_ms: event.at_ms - shift.num_milliseconds(),
                ..*event
            })
            .collect();
        assert_eq!(first.events, shifted);
        let emails = |plan: &History| {
            plan.users
                .iter()
                .map(|u| u.email.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(emails(&first), emails(&again));
        assert_ne!(first.events, other.events);
    }

    #[test]
    fn requests_fall_in_the_range_in_order_after_their_users_signed_up() {
        let shape = shape(300, 20_000, 1);
        let plan = plan(&shape, now());
        assert_eq!(plan.events.len(), 20_000);
        let start = (now() - Duration::days(30)).timestamp_millis();
        for pair in plan.events.windows(2) {
            assert!(pair[0].at_ms <= pair[1].at_ms);
        }
        for event in &plan.events {
            assert!(event.at_ms >= start && event.at_ms < now().timestamp_millis());
            assert!(plan.users[event.user as usize].created_at < event.at());
            assert_eq!(
                event.cost,
                event.tokens().cost(&shape.prices[event.model as usize])
            );
        }
    }

    #[test]
    fn about_two_percent_fail_and_a_few_users_make_most_requests() {
        let plan = plan(&shape(1_000, 50_000, 3), now());
        let failed = plan.events.iter().filter(|e| e.status >= 400).count();
        assert!((700..1_300).contains(&failed), "{failed} failures");
        assert!(
            plan.events
                .iter()
                .filter(|e| e.status >= 400)
                .all(|e| e.cost == 0)
        );
        let mut per_user = vec![0usize; plan.users.len()];
        for event in &plan.events {
            per_user[event.user as usize] += 1;
        }
        per_user.sort_unstable_by(|a, b| b.cmp(a));
        let top_tenth: usize = per_user.iter().take(100).sum();
        assert!(top_tenth > 25_000, "the top 10 % made {top_tenth}");
        assert!(per_user.iter().filter(|&&n| n == 0).count() >= 150);
    }

    #[test]
    fn grants_cover_every_users_spend() {
        let plan = plan(&shape(500, 30_000, 5), now());
        for user in &plan.users {
            assert!(user.starting_grant + user.top_up.unwrap_or(0) >= user.spend);
        }
        let emails: std::collections::HashSet<_> = plan.users.iter().map(|u| &u.email).collect();
        assert_eq!(emails.len(), plan.users.len());
    }
}
