//! What several instances on one PostgreSQL share, through Redis
//! (`redis.url` / `REDIS_URL`): balances, holds and key quotas
//! ([`funds`]), rate-limit windows ([`windows`]) and cache invalidation
//! ([`bus`]). Without Redis none of this runs and every instance keeps its
//! own state in memory (the embedded default, one instance per database).
//!
//! PostgreSQL stays the source of truth: Redis holds working figures that
//! can be rebuilt from the ledger, so an empty Redis loses nothing. Each
//! instance registers itself under a key that expires unless its heartbeat
//! renews it; what it holds on a balance goes when the key does, so the
//! holds of an instance killed with `-9` are released within
//! [`ALIVE_FOR`].
//!
//! Requests change Redis in one round trip to admit and one to settle; the
//! settling is queued to a task that sends what queued in one script, in
//! order, so nothing async runs in a destructor and nothing is lost while
//! Redis is briefly away (the task tries the batch again; a batch applies
//! once, since Redis remembers the last one it applied). What is still
//! queued when the process is killed is lost (see docs/deploy.md).

pub mod bus;
mod cooldowns;
pub mod funds;
mod shared;
pub mod windows;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use redis::{
    Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::{sync::mpsc, task::JoinHandle};

use crate::platform::config::RedisSettings;

/// How long an instance counts as alive after its last heartbeat.
pub const ALIVE_FOR: Duration = Duration::from_secs(10);
/// How often an instance renews its registration.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// After Redis came back empty, how long at least before balances are
/// loaded again; beyond it, loads wait for every instance that was alive
/// to bring back what it had (or to count as dead, after [`ALIVE_FOR`]).
const REBUILD_GRACE: Duration = Duration::from_secs(3);
/// An answer Redis owes for longer than this is an outage.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// Operations sent in one script at most.
const MAX_BATCH: usize = 512;
/// Queued operations beyond which those Redis can do without (presence
/// beats, tokens counted after a request) are dropped: while Redis is away
/// the queue would otherwise grow with every request served.
const OPTIONAL_UNTIL: usize = 10_000;

/// Redis could not be asked (down, unreachable, too slow).
#[derive(Debug)]
pub struct Unavailable(pub redis::RedisError);

/// A log line about an outage at most once every [`OutageLog::EVERY_MS`]
/// per call site, counting the ones held back: while Redis is away every
/// request meets it, and a line each would flood the log.
pub struct OutageLog {
    next_at_ms: AtomicI64,
    held_back: AtomicU64,
}

impl OutageLog {
    pub const EVERY_MS: i64 = 10_000;

    pub const fn new() -> Self {
        Self {
            next_at_ms: AtomicI64::new(i64::MIN),
            held_back: AtomicU64::new(0),
        }
    }

    /// At `now_ms`: `Some(lines held back since the last)` when a line is
    /// due, `None` when this one is held back.
    pub fn due(&self, now_ms: i64) -> Option<u64> {
        let next = self.next_at_ms.load(Ordering::Relaxed);
        let claimed = now_ms >= next
            && self
                .next_at_ms
                .compare_exchange(
                    next,
                    now_ms.saturating_add(Self::EVERY_MS),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if claimed {
            Some(self.held_back.swap(0, Ordering::Relaxed))
        } else {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

impl Default for OutageLog {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redis is unavailable: {}", self.0)
    }
}

impl std::error::Error for Unavailable {}

impl From<redis::RedisError> for Unavailable {
    fn from(err: redis::RedisError) -> Self {
        Self(err)
    }
}

/// A change to shared state, sent by the settling task in order.
#[derive(Debug)]
enum Op {
    Settled {
        user: String,
        key: String,
        usage: String,
        /// The request whose holds go.
        hold: String,
        charged: i64,
    },
    Released {
        user: String,
        key: String,
        hold: String,
    },
    Written {
        user: String,
        key: String,
        usage: String,
    },
    Tokens {
        window: String,
        interval_us: f64,
        tokens: u64,
    },
    /// An account that may be wrong: loaded again from the database.
    Forget { account: String },
    /// A user was seen (presence).
    Beat {
        user: String,
        at_ms: i64,
        keep_ms: i64,
    },
    /// Answered once everything queued before it was sent.
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// A charge settled here that the usage writer has not written yet.
#[derive(Debug, Clone)]
struct Unwritten {
    user: String,
    key: String,
    charged: i64,
}

/// A hold of a request in flight here, put back if Redis loses it.
#[derive(Debug, Clone)]
struct LiveHold {
    user: String,
    key: String,
    amount: i64,
    quota_amount: i64,
}

/// What instances share, and this instance's part in it.
pub struct Cluster {
    redis: ConnectionManager,
    client: redis::Client,
    prefix: String,
    /// This process, in Redis: random, so a restart is a new instance.
    instance: String,
    scripts: Scripts,
    queue: mpsc::UnboundedSender<Op>,
    /// Operations sent to the queue and not yet taken by the settling task.
    queued: AtomicUsize,
    /// Charges settled here and not yet written, by usage id: brought back
    /// when Redis restarts empty, so a rebuilt balance still counts them.
    unwritten: Mutex<HashMap<String, Unwritten>>,
    /// Holds of requests in flight here, by request id: brought back when
    /// Redis lost them (an empty restart, or this instance was cut off long
    /// enough for the others to count it dead).
    live: Mutex<HashMap<String, LiveHold>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    settler: Mutex<Option<JoinHandle<()>>>,
    /// The Redis server last seen (its `run_id`): another one (a restart
    /// from a snapshot, a replica promoted) may hold older state.
    server: Mutex<Option<String>>,
    /// The instances alive at the last heartbeat: if Redis loses them,
    /// balances wait until they have registered again.
    peers: Mutex<Vec<String>>,
}

struct Scripts {
    reserve: Script,
    load: Script,
    credit: Script,
    settle: Script,
    admit: Script,
    count: Script,
    give_back: Script,
    forget: Script,
    cooldown: Script,
    trial: Script,
    beat: Script,
    rejoin: Script,
}

impl Cluster {
    /// Connects and registers this instance; fails when Redis cannot be
    /// reached, so a misconfigured cluster does not start half-shared.
    pub async fn connect(settings: &RedisSettings) -> anyhow::Result<Arc<Self>> {
        let url = settings
            .url
            .as_ref()
            .map(secrecy::ExposeSecret::expose_secret)
            .context("redis.url is not set")?;
        let client = redis::Client::open(url).context("invalid redis.url / REDIS_URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(ANSWER_WITHIN))
            .set_response_timeout(Some(ANSWER_WITHIN))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let redis = tokio::time::timeout(
            ANSWER_WITHIN * 3,
            client.get_connection_manager_with_config(config),
        )
        .await
        .map_err(|_| anyhow::anyhow!("timed out"))
        .and_then(|connected| connected.map_err(anyhow::Error::from))
        .context("cannot connect to Redis (check redis.url / REDIS_URL)")?;
        let (queue, receiver) = mpsc::unbounded_channel();
        let cluster = Arc::new(Self {
            redis,
            client,
            prefix: settings.prefix.clone(),
            instance: format!("{:016x}", rand::random::<u64>()),
            scripts: Scripts {
                // The window-taking function comes first in both scripts.
                reserve: Script::new(concat!(
                    include_str!("cluster/windows.lua"),
                    include_str!("cluster/reserve.lua")
                )),
                load: Script::new(include_str!("cluster/load.lua")),
                credit: Script::new(include_str!("cluster/credit.lua")),
                settle: Script::new(include_str!("cluster/settle.lua")),
                admit: Script::new(concat!(
                    include_str!("cluster/windows.lua"),
                    include_str!("cluster/admit.lua")
                )),
                count: Script::new(include_str!("cluster/count.lua")),
                give_back: Script::new(include_str!("cluster/give_back.lua")),
                forget: Script::new(include_str!("cluster/forget.lua")),
                cooldown: Script::new(include_str!("cluster/cooldown.lua")),
                trial: Script::new(include_str!("cluster/trial.lua")),
                beat: Script::new(include_str!("cluster/beat.lua")),
                rejoin: Script::new(include_str!("cluster/rejoin.lua")),
            },
            queue,
            queued: AtomicUsize::new(0),
            unwritten: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            settler: Mutex::new(None),
            server: Mutex::new(None),
            peers: Mutex::new(Vec::new()),
        });
        cluster
            .register(false)
            .await
            .context("cannot register this instance in Redis")?;
        let server = cluster
            .server_id()
            .await
            .context("cannot ask Redis who it is")?;
        *lock(&cluster.server) = Some(server);
        let settler = tokio::spawn(settle_queued(cluster.clone(), receiver));
        *lock(&cluster.settler) = Some(settler);
        let heartbeat = tokio::spawn(heartbeat(Arc::downgrade(&cluster)));
        cluster.track(heartbeat);
        tracing::info!(instance = %cluster.instance, "shared state in Redis");
        Ok(cluster)
    }

    /// A key of ours: every name starts with `redis.prefix`.
    fn key(&self, kind: &str, id: &str) -> String {
        format!("{}{kind}:{id}", self.prefix)
    }

    /// The instances alive, by last heartbeat (see `beat.lua`).
    fn instances_key(&self) -> String {
        format!("{}instances", self.prefix)
    }

    fn connection(&self) -> ConnectionManager {
        self.redis.clone()
    }

    /// Every key matching `pattern`, found with `SCAN`, so that Redis
    /// serves everyone else meanwhile.
    async fn keys_matching(&self, pattern: &str) -> Result<Vec<String>, Unavailable> {
        let mut redis = self.connection();
        let (mut found, mut cursor) = (Vec::new(), 0_u64);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(1_000)
                .query_async(&mut redis)
                .await?;
            found.extend(keys);
            if next == 0 {
                return Ok(found);
            }
            cursor = next;
        }
    }

    fn track(&self, task: JoinHandle<()>) {
        lock(&self.tasks).push(task);
    }

    /// Queues an operation that must reach Redis (money, holds, accounts).
    fn send(&self, op: Op) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        // Fails only once the settling task ended (at exit, or it panicked).
        if self.queue.send(op).is_err() {
            tracing::error!("the settling task has ended: a change to shared state is lost");
        }
    }

    /// Queues an operation Redis can do without, unless the queue is long
    /// (Redis away or too slow).
    fn send_optional(&self, op: Op) {
        if self.queued.load(Ordering::Relaxed) < OPTIONAL_UNTIL {
            self.send(op);
        }
    }

    /// Registers this instance (again, when Redis lost its registration:
    /// then its pending charges and the holds of its requests in flight are
    /// brought back first, and loads wait for the other instances to do
    /// the same; see `rejoin.lua`).
    async fn register(&self, again: bool) -> Result<(), Unavailable> {
        let unwritten: Vec<(String, Unwritten)> = lock(&self.unwritten)
            .iter()
            .map(|(usage, charge)| (usage.clone(), charge.clone()))
            .collect();
        let live: Vec<(String, LiveHold)> = lock(&self.live)
            .iter()
            .map(|(request, hold)| (request.clone(), hold.clone()))
            .collect();
        let grace = if again { millis(REBUILD_GRACE) } else { 0 };
        let mut invocation = self.scripts.rejoin.prepare_invoke();
        invocation
            .arg(&self.prefix)
            .arg(&self.instance)
            .arg(millis(ALIVE_FOR))
            .arg(grace)
            .arg(unwritten.len());
        for (usage, charge) in &unwritten {
            invocation
                .arg(&charge.user)
                .arg(&charge.key)
                .arg(usage)
                .arg(charge.charged);
        }
        invocation.arg(live.len());
        for (request, hold) in &live {
            invocation
                .arg(&hold.user)
                .arg(&hold.key)
                .arg(request)
                .arg(hold.amount)
                .arg(hold.quota_amount);
        }
        for peer in lock(&self.peers).iter() {
            invocation.arg(peer);
        }
        let mut redis = self.connection();
        invocation.invoke_async::<()>(&mut redis).await?;
        let brought_back = live.len();
        // A request that settled meanwhile may have had its hold released
        // before the script put it back: release it again, after.
        let settled: Vec<(String, LiveHold)> = {
            let still = lock(&self.live);
            live.into_iter()
                .filter(|(request, _)| !still.contains_key(request))
                .collect()
        };
        let holds = settled.len();
        for (request, hold) in settled {
            self.send(Op::Released {
                user: hold.user,
                key: hold.key,
                hold: request,
            });
        }
        if again {
            tracing::warn!(
                pending = unwritten.len(),
                holds = brought_back,
                settled_meanwhile = holds,
                "Redis lost this instance's registration (restarted empty, or cut off): registered again"
            );
        }
        Ok(())
    }

    /// Renews the registration; registers again when it was lost, and
    /// reconciles when Redis is not the server it was.
    async fn renew(&self) -> Result<(), Unavailable> {
        let server = self.server_id().await?;
        let known = lock(&self.server).clone();
        if known.is_some_and(|known| known != server) {
            self.reconcile().await?;
            *lock(&self.server) = Some(server);
            return Ok(());
        }
        let mut redis = self.connection();
        let alive: Vec<String> = self
            .scripts
            .beat
            .key(self.key("i", &self.instance))
            .key(self.instances_key())
            .arg(&self.instance)
            .arg(millis(ALIVE_FOR))
            .invoke_async(&mut redis)
            .await?;
        if alive.is_empty() {
            self.register(true).await?;
        } else {
            *lock(&self.peers) = alive;
        }
        Ok(())
    }

    /// Redis's `run_id`: new at every start of a server, so a restart or a
    /// failover to a replica shows.
    async fn server_id(&self) -> Result<String, Unavailable> {
        let mut redis = self.connection();
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut redis)
            .await?;
        Ok(info
            .lines()
            .find_map(|line| line.strip_prefix("run_id:"))
            .unwrap_or_default()
            .trim()
            .to_owned())
    }

    /// Redis is another server than it was and may hold older state than
    /// the instances left there (a snapshot, a replica behind its primary):
    /// balances it shows may miss charges settled since. Loads wait; every
    /// wallet's and quota's figure goes, with this instance's holds; then
    /// the instance registers again, putting back its live holds and its
    /// pending charges, and the figures are loaded from the database.
    async fn reconcile(&self) -> Result<(), Unavailable> {
        tracing::warn!(
            "Redis is not the server it was (restarted or failed over): loading every balance again"
        );
        let mut redis = self.connection();
        redis::cmd("SET")
            .arg(format!("{}rebuilding", self.prefix))
            .arg(1)
            .arg("PX")
            .arg(millis(REBUILD_GRACE))
            .query_async::<()>(&mut redis)
            .await?;
        let mine = format!("h:{}:", self.instance);
        for pattern in [self.key("w", "*"), self.key("q", "*")] {
            for account in self.keys_matching(&pattern).await? {
                self.scripts
                    .forget
                    .key(account)
                    .arg(&mine)
                    .invoke_async::<()>(&mut redis)
                    .await?;
            }
        }
        self.register(true).await
    }

    /// Waits until everything queued so far reached Redis, or `within`
    /// passed (false then).
    pub async fn flush(&self, within: Duration) -> bool {
        let (done, waited) = tokio::sync::oneshot::channel();
        self.send(Op::Flush(done));
        matches!(tokio::time::timeout(within, waited).await, Ok(Ok(())))
    }

    /// At exit: sends what is queued (waiting at most `within`), stops the
    /// tasks and removes this instance's registration, which releases
    /// anything it still holds.
    pub async fn shutdown(&self, within: Duration) {
        if !self.flush(within).await {
            tracing::warn!("Redis did not take every settled request before exit");
        }
        for task in lock(&self.tasks).drain(..) {
            task.abort();
        }
        if let Some(settler) = lock(&self.settler).take() {
            settler.abort();
        }
        let mut redis = self.connection();
        let _: Result<(), _> = redis::pipe()
            .del(self.key("i", &self.instance))
            .zrem(self.instances_key(), &self.instance)
            .query_async(&mut redis)
            .await;
    }
}

/// Renews the registration every [`HEARTBEAT`] while the cluster lives.
async fn heartbeat(cluster: std::sync::Weak<Cluster>) {
    let mut ticks = tokio::time::interval(HEARTBEAT);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        if let Err(err) = cluster.renew().await {
            tracing::warn!(error = %err, "cannot renew this instance's registration in Redis");
        }
        // Every subscriber hears something each second, so that one whose
        // connection died without closing notices (see `bus`).
        cluster.bus_tick().await;
    }
}

/// Sends queued operations in order, a batch per round trip; a batch that
/// fails is tried again until Redis takes it.
async fn settle_queued(cluster: Arc<Cluster>, mut receiver: mpsc::UnboundedReceiver<Op>) {
    let mut batch = Vec::new();
    let mut flushes = Vec::new();
    // Numbers the batches, so that a retried one applies once.
    let mut number: u64 = 0;
    while let Some(op) = receiver.recv().await {
        number += 1;
        batch.push(op);
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        cluster.queued.fetch_sub(batch.len(), Ordering::Relaxed);
        let mut pause = Duration::from_millis(50);
        let args = settle_args(&cluster, number, &mut batch, &mut flushes);
        while !args.is_empty() {
            let mut invocation = cluster.scripts.settle.prepare_invoke();
            for arg in &args {
                invocation.arg(arg);
            }
            let mut redis = cluster.connection();
            match invocation.invoke_async::<()>(&mut redis).await {
                Ok(()) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot send settled requests to Redis; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// The settle script's arguments for a batch (which it empties), and the
/// flushes it answers.
fn settle_args(
    cluster: &Cluster,
    number: u64,
    batch: &mut Vec<Op>,
    flushes: &mut Vec<tokio::sync::oneshot::Sender<()>>,
) -> Vec<String> {
    let mut args = Vec::new();
    for op in batch.drain(..) {
        let fields: Vec<String> = match op {
            Op::Settled {
                user,
                key,
                usage,
                hold,
                charged,
            } => vec!["S".into(), user, key, usage, hold, charged.to_string()],
            Op::Released { user, key, hold } => vec!["R".into(), user, key, hold],
            Op::Written { user, key, usage } => vec!["W".into(), user, key, usage],
            Op::Tokens {
                window,
                interval_us,
                tokens,
            } => vec![
                "T".into(),
                window,
                interval_us.to_string(),
                tokens.to_string(),
            ],
            Op::Forget { account } => vec!["F".into(), account],
            Op::Beat {
                user,
                at_ms,
                keep_ms,
            } => vec![
                "B".into(),
                cluster.presence_key(),
                user,
                at_ms.to_string(),
                keep_ms.to_string(),
            ],
            Op::Flush(done) => {
                flushes.push(done);
                continue;
            }
        };
        args.extend(fields);
    }
    if !args.is_empty() {
        args.splice(
            0..0,
            [
                cluster.prefix.clone(),
                cluster.instance.clone(),
                number.to_string(),
            ],
        );
    }
    args
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::OutageLog;

    #[test]
    fn an_outage_is_logged_once_a_period_with_the_lines_held_back() {
        let log = OutageLog::new();
        assert_eq!(log.due(1_000), Some(0));
        assert_eq!(log.due(1_001), None);
        assert_eq!(log.due(1_000 + OutageLog::EVERY_MS - 1), None);
        assert_eq!(log.due(1_000 + OutageLog::EVERY_MS), Some(2));
        assert_eq!(log.due(1_000 + OutageLog::EVERY_MS), None);
    }
}
