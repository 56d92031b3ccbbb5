//! One producer for every watcher of this instance. The first watcher starts
//! a task that measures each figure at its cadence and broadcasts the event;
//! the last one to leave stops it. The latest event of each kind is kept,
//! so a new watcher gets all three at once instead of waiting for the ticks.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use sea_orm::DatabaseConnection;
use tokio::{
    sync::{broadcast, oneshot},
    time::{Interval, MissedTickBehavior},
};

use super::{
    event::{self, EventKind, LiveEvent},
    overview,
};
use crate::platform::{config::LiveSettings, time};

/// Events a slow watcher may fall behind by before it skips to the newest.
const CHANNEL_CAPACITY: usize = 32;

/// How often each event is produced, and the heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub active_users: Duration,
    pub performance: Duration,
    pub system: Duration,
    pub heartbeat: Duration,
}

impl From<&LiveSettings> for Cadence {
    fn from(settings: &LiveSettings) -> Self {
        // Zero is refused when the settings load; an interval of zero would
        // panic, so it is never built from one.
        let every = |ms: u64| Duration::from_millis(ms.max(1));
        Self {
            active_users: every(settings.active_users_ms),
            performance: every(settings.performance_ms),
            system: every(settings.system_ms),
            heartbeat: every(settings.heartbeat_ms),
        }
    }
}

/// What the hub is doing, for tests and diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HubStats {
    /// Open streams and sockets.
    pub watchers: usize,
    /// Producer tasks alive (one while anyone watches; briefly two when a
    /// watcher arrives just as the previous producer is stopping).
    pub producers: usize,
    /// Times each figure was measured, i.e. database rounds per kind.
    pub active_users_ticks: u64,
    pub performance_ticks: u64,
    pub system_ticks: u64,
}

pub struct Hub {
    db: DatabaseConnection,
    cadence: Cadence,
    max_watchers: usize,
    shared: Mutex<Shared>,
    producers: AtomicUsize,
    active_users_ticks: AtomicU64,
    performance_ticks: AtomicU64,
    system_ticks: AtomicU64,
}

struct Shared {
    /// `None` once the hub is closed: every watcher's stream then ends.
    sender: Option<broadcast::Sender<LiveEvent>>,
    watchers: usize,
    producer: Option<Producer>,
    generations: u64,
    latest: Latest,
}

/// The running producer. Dropping it stops the task: its `stop` receiver
/// resolves, and a measurement already under way is not published.
struct Producer {
    generation: u64,
    _stop: oneshot::Sender<()>,
}

#[derive(Default)]
struct Latest {
    active_users: Option<LiveEvent>,
    performance: Option<LiveEvent>,
    system: Option<LiveEvent>,
}

impl Latest {
    fn slot(&mut self, kind: EventKind) -> &mut Option<LiveEvent> {
        match kind {
            EventKind::ActiveUsers => &mut self.active_users,
            EventKind::PerformanceTick => &mut self.performance,
            EventKind::SystemStatus => &mut self.system,
        }
    }

    fn snapshot(&self) -> VecDeque<LiveEvent> {
        [&self.active_users, &self.performance, &self.system]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

impl Hub {
    pub fn new(db: DatabaseConnection, settings: &LiveSettings) -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        Self {
            db,
            cadence: Cadence::from(settings),
            max_watchers: settings.max_watchers,
            shared: Mutex::new(Shared {
                sender: Some(sender),
                watchers: 0,
                producer: None,
                generations: 0,
                latest: Latest::default(),
            }),
            producers: AtomicUsize::new(0),
            active_users_ticks: AtomicU64::new(0),
            performance_ticks: AtomicU64::new(0),
            system_ticks: AtomicU64::new(0),
        }
    }

    pub fn cadence(&self) -> Cadence {
        self.cadence
    }

    /// Joins the watchers: the latest event of each kind first, then every
    /// new one. Starts the producer if nobody was watching. After
    /// [`Hub::close`] the watcher ends at once. `None` when
    /// `live.max_watchers` are already watching: each holds a connection,
    /// a task and a database check per heartbeat.
    pub fn subscribe(self: &Arc<Self>) -> Option<Watcher> {
        let mut shared = self.lock();
        let Some(receiver) = shared.sender.as_ref().map(broadcast::Sender::subscribe) else {
            return Some(Watcher {
                hub: None,
                pending: VecDeque::new(),
                receiver: None,
            });
        };
        if shared.watchers >= self.max_watchers {
            return None;
        }
        // Under the lock the producer publishes with, so an event is either
        // in this snapshot or arrives through the receiver, never both.
        let pending = shared.latest.snapshot();
        shared.watchers += 1;
        if shared.producer.is_none() {
            shared.generations += 1;
            let generation = shared.generations;
            let (stop, stopped) = oneshot::channel();
            shared.producer = Some(Producer {
                generation,
                _stop: stop,
            });
            tokio::spawn(Arc::clone(self).produce(generation, stopped));
        }
        Some(Watcher {
            hub: Some(Arc::clone(self)),
            pending,
            receiver: Some(receiver),
        })
    }

    /// Ends every watcher's stream and refuses new ones: for shutting down,
    /// since open streams would otherwise keep a graceful shutdown waiting.
    pub fn close(&self) {
        let mut shared = self.lock();
        shared.sender = None;
        shared.producer = None;
        shared.latest = Latest::default();
    }

    pub fn stats(&self) -> HubStats {
        let watchers = self.lock().watchers;
        HubStats {
            watchers,
            producers: self.producers.load(Ordering::SeqCst),
            active_users_ticks: self.active_users_ticks.load(Ordering::SeqCst),
            performance_ticks: self.performance_ticks.load(Ordering::SeqCst),
            system_ticks: self.system_ticks.load(Ordering::SeqCst),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // Nothing under this lock can panic half-way; a poisoned lock still
        // holds consistent state.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn leave(&self) {
        let mut shared = self.lock();
        shared.watchers = shared.watchers.saturating_sub(1);
        if shared.watchers == 0 {
            shared.producer = None;
            // The next watcher gets fresh figures, not ones from whenever
            // the last one left.
            shared.latest = Latest::default();
        }
    }

    /// Stores and broadcasts an event, unless this producer was stopped.
    fn publish(&self, generation: u64, event: LiveEvent) -> bool {
        let mut shared = self.lock();
        if shared.producer.as_ref().map(|p| p.generation) != Some(generation) {
            return false;
        }
        *shared.latest.slot(event.kind()) = Some(event.clone());
        if let Some(sender) = &shared.sender {
            // Fails only when no receiver is left, which `leave` handles.
            let _ = sender.send(event);
        }
        true
    }

    async fn produce(self: Arc<Self>, generation: u64, mut stopped: oneshot::Receiver<()>) {
        let _alive = Alive::new(&self.producers);
        // Each interval's first tick is immediate: all three figures go out
        // as soon as the first watcher arrives.
        let mut active_users = ticker(self.cadence.active_users);
        let mut performance = ticker(self.cadence.performance);
        let mut system = ticker(self.cadence.system);
        loop {
            let kind = tokio::select! {
                biased;
                _ = &mut stopped => break,
                _ = active_users.tick() => EventKind::ActiveUsers,
                _ = performance.tick() => EventKind::PerformanceTick,
                _ = system.tick() => EventKind::SystemStatus,
            };
            match self.measure(kind).await {
                Ok(event) => {
                    if !self.publish(generation, event) {
                        break;
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, event = kind.name(), "cannot measure a live figure")
                }
            }
        }
    }

    async fn measure(&self, kind: EventKind) -> anyhow::Result<LiveEvent> {
        let now = time::now();
        let event = match kind {
            EventKind::ActiveUsers => {
                self.active_users_ticks.fetch_add(1, Ordering::SeqCst);
                let count = overview::active_now(&self.db, now).await?;
                LiveEvent::new(
                    kind,
                    &event::ActiveUsers {
                        count,
                        timestamp: now.into(),
                    },
                )?
            }
            EventKind::PerformanceTick => {
                self.performance_ticks.fetch_add(1, Ordering::SeqCst);
                let figures = overview::performance(&self.db, now).await?;
                LiveEvent::new(
                    kind,
                    &event::PerformanceTick {
                        avg_response_ms: figures.avg_response_ms,
                        error_rate_pct: figures.error_rate_pct,
                        timestamp: now.into(),
                    },
                )?
            }
            EventKind::SystemStatus => {
                self.system_ticks.fetch_add(1, Ordering::SeqCst);
                let lights = overview::lights(&self.db, now).await;
                LiveEvent::new(
                    kind,
                    &event::SystemStatus {
                        api: lights.api,
                        db: lights.db,
                        timestamp: now.into(),
                    },
                )?
            }
        };
        Ok(event)
    }
}

fn ticker(period: Duration) -> Interval {
    let mut interval = tokio::time::interval(period);
    // A slow database delays a tick; it does not cause a burst after.
    interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
    interval
}

/// Counts a producer task for as long as it runs, however it ends.
struct Alive<'a>(&'a AtomicUsize);

impl<'a> Alive<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One watcher's place in the hub; dropping it leaves.
pub struct Watcher {
    /// `None` when the hub was already closed.
    hub: Option<Arc<Hub>>,
    pending: VecDeque<LiveEvent>,
    receiver: Option<broadcast::Receiver<LiveEvent>>,
}

impl Watcher {
    /// The next event; `None` once the hub is closed. Cancel-safe.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        let receiver = self.receiver.as_mut()?;
        loop {
            match receiver.recv().await {
                Ok(event) => return Some(event),
                // Figures replace each other: skipping to the newest is right.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if let Some(hub) = &self.hub {
            hub.leave();
        }
    }
}
