//! Cache invalidation between instances: a change made on one instance
//! (a key revoked, a user suspended, a model edited …) drops the same
//! entries on every other one within milliseconds, by Redis publish and
//! subscribe. A subscription that breaks may have missed messages, so every
//! cache is dropped whole when it connects again.
//!
//! The caches hold a [`Bus`] and publish their own changes; without Redis
//! the bus goes nowhere.

use std::{future::Future, sync::Arc, time::Duration};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::Cluster;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// One API key, by the hash of its secret.
    Key(String),
    /// A user's account: every key of theirs.
    User(String),
    /// A user's entitlement grants.
    Entitlements(String),
    /// Models or providers.
    Catalog,
    /// A plan's rate limits.
    Plans,
    /// A deployment or key started cooling down, until then (Unix ms).
    Cooling { target: String, until_ms: i64 },
    /// A deployment or key passed its trial.
    Restored(String),
}

impl Change {
    fn encode(&self) -> String {
        match self {
            Self::Key(hash) => format!("key {hash}"),
            Self::User(id) => format!("user {id}"),
            Self::Entitlements(id) => format!("entitlements {id}"),
            Self::Catalog => "catalog".to_owned(),
            Self::Plans => "plans".to_owned(),
            Self::Cooling { target, until_ms } => format!("cooling {until_ms}:{target}"),
            Self::Restored(target) => format!("restored {target}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (kind, id) = text.split_once(' ').unwrap_or((text, ""));
        match (kind, id) {
            ("key", hash) if !hash.is_empty() => Some(Self::Key(hash.to_owned())),
            ("user", id) if !id.is_empty() => Some(Self::User(id.to_owned())),
            ("entitlements", id) if !id.is_empty() => Some(Self::Entitlements(id.to_owned())),
            ("catalog", "") => Some(Self::Catalog),
            ("plans", "") => Some(Self::Plans),
            ("cooling", rest) => {
                let (until_ms, target) = rest.split_once(':')?;
                Some(Self::Cooling {
                    target: target.to_owned(),
                    until_ms: until_ms.parse().ok()?,
                })
            }
            ("restored", target) if !target.is_empty() => Some(Self::Restored(target.to_owned())),
            _ => None,
        }
    }
}

/// Where caches announce their changes. Cheap to clone; the default goes
/// nowhere (one instance).
#[derive(Clone, Default)]
pub struct Bus(Option<mpsc::UnboundedSender<Change>>);

/// The changes published here, for [`Cluster::start_bus`].
pub struct Outbox(mpsc::UnboundedReceiver<Change>);

impl Bus {
    pub fn new() -> (Self, Outbox) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self(Some(sender)), Outbox(receiver))
    }

    /// Tells the other instances (the caller has changed its own cache).
    pub fn publish(&self, change: Change) {
        if let Some(sender) = &self.0 {
            let _ = sender.send(change);
        }
    }
}

/// What applies the other instances' changes (the caches of this one).
pub trait Subscriber: Send + Sync + 'static {
    /// Drops what `change` makes stale.
    fn apply(&self, change: Change) -> impl Future<Output = ()> + Send;
    /// Drops everything cached: changes may have gone unheard.
    fn drop_all(&self) -> impl Future<Output = ()> + Send;
}

/// How long a broken subscription waits before it connects again.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);
/// Every instance publishes a tick each second: a subscription that hears
/// nothing for this long is dead (a connection that broke without closing)
/// and connects again, dropping every cache.
const SILENCE: Duration = Duration::from_secs(5);
const TICK: &str = "tick";

/// The channel of changes under `prefix`.
fn channel_of(prefix: &str) -> String {
    format!("{prefix}changes")
}

/// Tells the instances that share `settings`' Redis of changes made outside
/// them (`tollgate config apply`), on a connection of its own.
pub async fn announce(
    settings: &crate::platform::config::RedisSettings,
    changes: &[Change],
) -> anyhow::Result<()> {
    use anyhow::Context;
    use secrecy::ExposeSecret;
    let url = settings.url.as_ref().context("redis.url is not set")?;
    let client =
        redis::Client::open(url.expose_secret()).context("invalid redis.url / REDIS_URL")?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .context("cannot connect to Redis (check redis.url / REDIS_URL)")?;
    for change in changes {
        redis::cmd("PUBLISH")
            .arg(channel_of(&settings.prefix))
            .arg(change.encode())
            .query_async::<i64>(&mut connection)
            .await?;
    }
    Ok(())
}

impl Cluster {
    fn channel(&self) -> String {
        channel_of(&self.prefix)
    }

    /// Tells every subscriber this instance is here (see [`SILENCE`]).
    pub(super) async fn bus_tick(&self) {
        let mut redis = self.connection();
        let sent: Result<i64, _> = redis::cmd("PUBLISH")
            .arg(self.channel())
            .arg(format!("{} {TICK}", self.instance))
            .query_async(&mut redis)
            .await;
        if let Err(err) = sent {
            tracing::debug!(error = %err, "cannot publish the tick");
        }
    }

    /// Publishes this instance's changes and applies everyone else's.
    pub fn start_bus(self: &Arc<Self>, outbox: Outbox, caches: impl Subscriber) {
        let publisher = tokio::spawn(publish(self.clone(), outbox));
        let subscriber = tokio::spawn(subscribe(self.clone(), caches));
        self.track(publisher);
        self.track(subscriber);
    }
}

async fn publish(cluster: Arc<Cluster>, Outbox(mut changes): Outbox) {
    let channel = cluster.channel();
    while let Some(change) = changes.recv().await {
        let message = format!("{} {}", cluster.instance, change.encode());
        let mut pause = Duration::from_millis(50);
        loop {
            let mut redis = cluster.connection();
            let sent: Result<i64, _> = redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(&message)
                .query_async(&mut redis)
                .await;
            match sent {
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot publish a change to the other instances; trying again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

async fn subscribe(cluster: Arc<Cluster>, caches: impl Subscriber) {
    let channel = cluster.channel();
    loop {
        let connected = async {
            let mut pubsub = cluster.client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match connected.await {
            Ok(pubsub) => {
                // Whatever was cached before may have changed unheard.
                caches.drop_all().await;
                let mut messages = pubsub.into_on_message();
                while let Ok(Some(message)) = tokio::time::timeout(SILENCE, messages.next()).await {
                    let Ok(text) = message.get_payload::<String>() else {
                        continue;
                    };
                    let Some((sender, change)) = text.split_once(' ') else {
                        continue;
                    };
                    if sender == cluster.instance || change == TICK {
                        continue;
                    }
                    match Change::decode(change) {
                        Some(change) => caches.apply(change).await,
                        None => tracing::warn!(message = %text, "unknown change message"),
                    }
                }
                tracing::warn!(
                    "the subscription to changes ended or went silent; subscribing again"
                );
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot subscribe to changes; trying again");
            }
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_change_reads_back_as_itself_and_garbage_as_nothing() {
        let changes = [
            Change::Key("ab12".into()),
            Change::User("usr_1".into()),
            Change::Entitlements("usr_2".into()),
            Change::Catalog,
            Change::Plans,
            Change::Cooling {
                target: "deploy_1/ab12cd34".into(),
                until_ms: 1_796_000_000_000,
            },
            Change::Restored("deploy_1".into()),
        ];
        for change in changes {
            assert_eq!(Change::decode(&change.encode()), Some(change));
        }
        for garbage in [
            "",
            "key",
            "key ",
            "catalog x",
            "nonsense 1",
            "cooling 12",
            "cooling x:d",
            "restored ",
        ] {
            assert_eq!(Change::decode(garbage), None, "{garbage:?}");
        }
    }
}
