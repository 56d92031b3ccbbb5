//! The server's own upkeep, on one task that `tollgate serve` starts and
//! stops on shutdown: every `caches.sweep_secs` the in-memory caches drop
//! what was not used for `caches.idle_secs` (the key cache and its spend,
//! the rate-limit windows) and presence forgets beats older than a day;
//! at start and every `retention.every_minutes`, [`retention::prune`]
//! deletes old rows.
//!
//! A failed prune is logged and tried again at the next turn: nothing here
//! is on a request's path.

use std::time::{Duration, Instant};

use tokio::{sync::watch, task::JoinHandle};

use crate::{platform::time, retention, state::AppState};

/// How long a shutdown waits for a sweep or a prune batch under way.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The running task; [`Housekeeping::stop`] ends it.
pub struct Housekeeping {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// A stop asked for through the watch channel, seen between batches.
struct Stopping(watch::Receiver<bool>);

impl retention::Stop for Stopping {
    fn requested(&self) -> bool {
        *self.0.borrow()
    }
}

impl Housekeeping {
    /// Starts the task on the current runtime.
    pub fn start(state: AppState) -> Self {
        let (stop, stopping) = watch::channel(false);
        let task = tokio::spawn(run(state, stopping));
        Self { stop, task }
    }

    /// Asks the task to stop and waits for it: a prune ends after its
    /// current batch. A sweep waits for the usage writer, which retries for
    /// as long as the database is down, so after [`STOP_WAIT`] the task is
    /// aborted: a sweep drops nothing before the writer answered, and a
    /// prune's batch is one statement.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(STOP_WAIT, &mut task).await.is_err() {
            tracing::warn!("housekeeping did not stop in time; aborting it");
            task.abort();
        }
    }
}

async fn run(state: AppState, mut stopping: watch::Receiver<bool>) {
    let caches = &state.settings.caches;
    let sweep_every = Duration::from_secs(caches.sweep_secs);
    let prune_every = Duration::from_secs(state.settings.retention.every_minutes * 60);
    let mut sweeps = tokio::time::interval(sweep_every);
    sweeps.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once: a server that was down for a while
    // catches up at start.
    let mut prunes = tokio::time::interval(prune_every);
    prunes.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stopping.changed() => return,
            _ = sweeps.tick() => sweep_caches(&state).await,
            _ = prunes.tick() => {
                let stop = Stopping(stopping.clone());
                let pruned = retention::prune(
                    &state.db,
                    &state.settings.retention,
                    time::now(),
                    &stop,
                )
                .await;
                if let Err(err) = pruned {
                    tracing::warn!(error = ?err, "pruning old rows failed; trying again later");
                }
            }
        }
        if *stopping.borrow() {
            return;
        }
    }
}

/// One sweep of every cache.
pub async fn sweep_caches(state: &AppState) {
    let idle = Duration::from_secs(state.settings.caches.idle_secs);
    let now = Instant::now();
    let keys = state.key_cache.sweep(now, idle);
    let spend = state.key_cache.sweep_spend(state.usage.flush()).await;
    let windows = state.rate_limits.sweep(now, idle);
    let beats = state.presence.sweep(time::now());
    if keys + spend + windows + beats > 0 {
        tracing::debug!(keys, spend, windows, beats, "caches swept");
    }
}
