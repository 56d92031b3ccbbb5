//! Presence: who is here right now. The web UI sends a heartbeat
//! (`POST /api/presence`); a caller with a session is also seen through
//! `sessions.last_seen_at`, which the authentication middleware refreshes
//! at most once a minute per session on every request (the heartbeat's
//! included), so the heartbeat itself writes nothing to the database. The
//! in-memory map below is what makes callers without a session (an
//! `x-api-key`) count, and is exact to the second on this instance.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::platform::{
    cluster::Cluster,
    entity::{session, user},
    error::Result,
    time::serde_iso,
};

/// Seen within this long ago: online.
pub const ONLINE_WINDOW: Duration = Duration::minutes(5);
/// How often a user's beats reach the other instances at most: the others
/// see them at most this late, far inside [`ONLINE_WINDOW`].
const SHARED_EVERY: Duration = Duration::seconds(10);
/// How long the map remembers a heartbeat (the dashboard's "active in the
/// last 24 hours" reads it too).
const KEEP: Duration = Duration::hours(24);
/// How often forgotten entries are swept out.
const SWEEP_EVERY: Duration = Duration::minutes(10);

/// The latest heartbeat per user id, in memory, on this instance.
#[derive(Default)]
pub struct Presence {
    inner: RwLock<Beats>,
    /// Shares the beats with every instance, when there are several.
    cluster: Option<Arc<Cluster>>,
}

#[derive(Default)]
struct Beats {
    seen: HashMap<String, DateTime<Utc>>,
    swept_at: Option<DateTime<Utc>>,
}

impl Presence {
    pub fn new(cluster: Option<Arc<Cluster>>) -> Self {
        Self {
            cluster,
            ..Self::default()
        }
    }

    /// Records that `user_id` was here at `now`.
    pub fn beat(&self, user_id: &str, now: DateTime<Utc>) {
        let mut beats = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let before = beats.seen.get(user_id).copied();
        if let Some(cluster) = &self.cluster
            && before.is_none_or(|at| now - at >= SHARED_EVERY)
        {
            cluster.beat(user_id, now);
        }
        let latest = beats.seen.entry(user_id.to_owned()).or_insert(now);
        *latest = Ord::max(*latest, now);
        if beats.swept_at.is_none_or(|at| now - at >= SWEEP_EVERY) {
            beats.seen.retain(|_, at| now - *at < KEEP);
            beats.swept_at = Some(now);
        }
    }

    /// Forgets the beats older than a day (the periodic sweep, so the map
    /// shrinks even when nobody beats); returns how many went.
    pub fn sweep(&self, now: DateTime<Utc>) -> usize {
        let mut beats = self.inner.write().unwrap_or_else(|p| p.into_inner());
        let before = beats.seen.len();
        beats.seen.retain(|_, at| now - *at < KEEP);
        beats.swept_at = Some(now);
        before - beats.seen.len()
    }

    pub fn len(&self) -> usize {
        self.inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .seen
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Users seen at or after `since`, with when: by every instance when
    /// they share (this one's own beats count at once, whether Redis has
    /// them yet or not).
    pub async fn since(&self, since: DateTime<Utc>) -> Vec<(String, DateTime<Utc>)> {
        let mut seen: Vec<(String, DateTime<Utc>)> = {
            let beats = self.inner.read().unwrap_or_else(|p| p.into_inner());
            beats
                .seen
                .iter()
                .filter(|(_, at)| **at >= since)
                .map(|(user, at)| (user.clone(), *at))
                .collect()
        };
        if let Some(cluster) = &self.cluster {
            match cluster.seen_since(since).await {
                Ok(shared) => seen.extend(shared),
                Err(err) => tracing::warn!(error = %err, "presence from this instance only"),
            }
        }
        // The latest beat of each user.
        seen.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        seen.dedup_by(|later, first| later.0 == first.0);
        seen
    }
}

/// Someone online, as `GET /api/presence` lists them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OnlineUser {
    /// `None` when the caller may not see who this is (see
    /// [`super::visibility`]).
    pub user_id: Option<String>,
    pub name: String,
    #[serde(with = "serde_iso")]
    pub last_seen_at: DateTime<Utc>,
}

/// Users seen in the last [`ONLINE_WINDOW`]: by a heartbeat on this
/// instance or through an open session's `last_seen_at` (any instance),
/// latest first, then by user id. Deleted accounts are left out.
pub async fn online(
    db: &DatabaseConnection,
    presence: &Presence,
    now: DateTime<Utc>,
) -> Result<Vec<OnlineUser>> {
    let since = now - ONLINE_WINDOW;
    let by_session: Vec<(String, DateTime<Utc>)> = session::Entity::find()
        .select_only()
        .column(session::Column::UserId)
        .column_as(
            Expr::col((session::Entity, session::Column::LastSeenAt)).max(),
            "last_seen_at",
        )
        .filter(session::Column::LastSeenAt.gte(since))
        .filter(session::Column::RevokedAt.is_null())
        .group_by(session::Column::UserId)
        .into_tuple()
        .all(db)
        .await?;
    let mut seen: HashMap<String, DateTime<Utc>> = by_session.into_iter().collect();
    for (user_id, at) in presence.since(since).await {
        let latest = seen.entry(user_id).or_insert(at);
        *latest = Ord::max(*latest, at);
    }
    if seen.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<(String, String)> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .column(user::Column::Name)
        .filter(user::Column::Id.is_in(seen.keys().cloned()))
        .filter(user::Column::DeletedAt.is_null())
        .order_by_asc(user::Column::Id)
        .into_tuple()
        .all(db)
        .await?;
    let mut online: Vec<OnlineUser> = names
        .into_iter()
        .filter_map(|(user_id, name)| {
            let last_seen_at = *seen.get(&user_id)?;
            Some(OnlineUser {
                user_id: Some(user_id),
                name,
                last_seen_at,
            })
        })
        .collect();
    online.sort_by(|a, b| {
        b.last_seen_at
            .cmp(&a.last_seen_at)
            .then_with(|| a.user_id.cmp(&b.user_id))
    });
    Ok(online)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_map_keeps_the_latest_beat_and_forgets_old_ones() {
        let presence = Presence::default();
        let now = crate::platform::time::now();
        presence.beat("a", now - Duration::hours(30));
        presence.beat("b", now - Duration::minutes(1));
        presence.beat("b", now - Duration::minutes(3));
        assert_eq!(
            presence.since(now - ONLINE_WINDOW).await,
            vec![("b".to_owned(), now - Duration::minutes(1))]
        );
        // A day-old beat is swept out by a later one.
        presence.beat("c", now + SWEEP_EVERY);
        let mut all: Vec<String> = presence
            .since(DateTime::<Utc>::MIN_UTC)
            .await
            .into_iter()
            .map(|(user, _)| user)
            .collect();
        all.sort();
        assert_eq!(all, ["b", "c"]);
    }

    #[tokio::test]
    async fn the_sweep_forgets_users_not_seen_for_a_day_without_a_beat() {
        let presence = Presence::default();
        let now = crate::platform::time::now();
        presence.beat("gone", now - KEEP);
        presence.beat("here", now - KEEP + Duration::seconds(1));

        let dropped = presence.sweep(now);

        assert_eq!(dropped, 1);
        assert_eq!(presence.len(), 1);
        assert_eq!(presence.since(DateTime::<Utc>::MIN_UTC).await[0].0, "here");
    }
}
