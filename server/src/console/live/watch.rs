//! One connection's feed: the hub's events, a heartbeat of its own, and a
//! check at each heartbeat that the admin is still signed in. A stream
//! outlives the request that authenticated it, so signing out, losing the
//! admin role or being suspended must end it, as it would refuse a new
//! request.

use std::sync::Arc;

use chrono::TimeDelta;
use futures_util::Stream;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, sea_query::Expr};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::{
    event::LiveEvent,
    hub::{Hub, Watcher},
};
use crate::{
    console::auth::CurrentUser,
    platform::{
        entity::{
            session,
            user::{self, Role, UserStatus},
        },
        error::{Error, Result},
        time,
    },
};

/// A watcher's session counts as seen (and its admin as active now) at
/// most this often, like any other request's.
const TOUCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);

/// What a connection sends next.
#[derive(Debug, Clone)]
pub enum Item {
    Event(LiveEvent),
    Heartbeat,
}

pub struct Feed {
    watcher: Watcher,
    heartbeat: Interval,
    db: DatabaseConnection,
    /// The session the stream was opened under; `None` for credentials
    /// that no sign-out can end.
    session_id: Option<String>,
}

impl Feed {
    /// Joins the hub for `admin`; 429 when `live.max_watchers` are open.
    pub fn open(hub: &Arc<Hub>, db: DatabaseConnection, admin: &CurrentUser) -> Result<Self> {
        let watcher = hub.subscribe().ok_or_else(|| Error::TooManyRequests {
            message: "too many live dashboards are open; close one and retry".into(),
            retry_after_secs: 10,
        })?;
        let period = hub.cadence().heartbeat;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Self {
            watcher,
            heartbeat,
            db,
            session_id: admin.session_id.clone(),
        })
    }

    /// The next item; `None` when the stream should end (the hub closed,
    /// or the admin is no longer signed in as one).
    pub async fn next(&mut self) -> Option<Item> {
        tokio::select! {
            biased;
            event = self.watcher.next() => event.map(Item::Event),
            _ = self.heartbeat.tick() => self.still_admin().await.then_some(Item::Heartbeat),
        }
    }

    pub fn into_stream(self) -> impl Stream<Item = Item> + Send + 'static {
        futures_util::stream::unfold(self, |mut feed| async move {
            let item = feed.next().await?;
            Some((item, feed))
        })
    }

    async fn still_admin(&self) -> bool {
        let Some(session_id) = &self.session_id else {
            return true;
        };
        match session_is_admin(&self.db, session_id).await {
            Ok(still) => still,
            Err(err) => {
                // A database that does not answer shows as a red light on
                // this very stream; ending it would hide that.
                tracing::warn!(error = %err, "cannot recheck a live watcher's session");
                true
            }
        }
    }
}

/// Whether a session is still open and its user an active admin; refreshes
/// its `last_seen_at` as a request would.
async fn session_is_admin(db: &DatabaseConnection, session_id: &str) -> Result<bool> {
    let now = time::now();
    let Some((session, Some(user))) = session::Entity::find_by_id(session_id.to_owned())
        .find_also_related(user::Entity)
        .one(db)
        .await?
    else {
        return Ok(false);
    };
    let open = session.revoked_at.is_none() && session.expires_at > now;
    let admin =
        user.role == Role::Admin && user.status == UserStatus::Active && user.deleted_at.is_none();
    if !(open && admin) {
        return Ok(false);
    }
    if now - session.last_seen_at >= TOUCH_INTERVAL {
        session::Entity::update_many()
            .col_expr(session::Column::LastSeenAt, Expr::value(now))
            .filter(session::Column::Jti.eq(session_id))
            .exec(db)
            .await?;
    }
    Ok(true)
}
