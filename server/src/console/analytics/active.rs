//! `GET /api/admin/users/active` (the admin contract's section 7): the users
//! seen most recently, with what they did today.
//!
//! A user is seen by their sessions (`last_seen_at`, refreshed by every
//! request they make with it), by their proxied requests (`llm_usage`'s last
//! use) and by heartbeats of API-key callers in the presence map. Users
//! never seen are not listed; deleted accounts neither.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
pub use contract::insights::{ActiveUser, ModelCount};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, JoinType, Order, QueryFilter, QueryOrder,
    QuerySelect, RelationTrait,
    sea_query::{Expr, ExprTrait},
};

use super::{llm_usage::total, presence::Presence, range::day_key};
use crate::platform::{
    entity::{
        daily_user_usage as rollup, entitlement, llm_usage, session,
        user::{self},
    },
    error::Result,
};

/// `limit` when none is given.
pub const DEFAULT_LIMIT: u64 = 50;
/// Larger limits are lowered to this.
pub const MAX_LIMIT: u64 = 200;

/// The `limit` users seen most recently (latest first, then by user id).
pub async fn active_users(
    db: &DatabaseConnection,
    presence: &Presence,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<ActiveUser>> {
    // Each source's own top `limit` is enough: a user among the overall
    // top `limit` is among the top `limit` of the source that saw them
    // last, since everyone before them there was seen later still.
    let by_session: Vec<(String, DateTime<Utc>)> = session::Entity::find()
        .select_only()
        .column(session::Column::UserId)
        .column_as(
            Expr::col((session::Entity, session::Column::LastSeenAt)).max(),
            "last_seen_at",
        )
        .join(JoinType::InnerJoin, session::Relation::User.def())
        .filter(user::Column::DeletedAt.is_null())
        .group_by(session::Column::UserId)
        .order_by(
            Expr::col((session::Entity, session::Column::LastSeenAt)).max(),
            Order::Desc,
        )
        .order_by_asc(session::Column::UserId)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    let by_request: Vec<(String, Option<DateTime<Utc>>)> = llm_usage::Entity::find()
        .select_only()
        .column(llm_usage::Column::UserId)
        .column_as(
            Expr::col((llm_usage::Entity, llm_usage::Column::LastUsedAt)).max(),
            "last_used_at",
        )
        .join(
            JoinType::InnerJoin,
            llm_usage::Entity::belongs_to(user::Entity)
                .from(llm_usage::Column::UserId)
                .to(user::Column::Id)
                .into(),
        )
        .filter(user::Column::DeletedAt.is_null())
        .filter(llm_usage::Column::LastUsedAt.is_not_null())
        .group_by(llm_usage::Column::UserId)
        .order_by(
            Expr::col((llm_usage::Entity, llm_usage::Column::LastUsedAt)).max(),
            Order::Desc,
        )
        .order_by_asc(llm_usage::Column::UserId)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;

    let mut seen: HashMap<String, DateTime<Utc>> = HashMap::new();
    let by_heartbeat = presence.since(DateTime::<Utc>::MIN_UTC).await;
    let sources = by_session
        .into_iter()
        .chain(
            by_request
                .into_iter()
                .filter_map(|(id, at)| Some((id, at?))),
        )
        .chain(by_heartbeat);
    for (user_id, at) in sources {
        let latest = seen.entry(user_id).or_insert(at);
        *latest = Ord::max(*latest, at);
    }
    if seen.is_empty() {
        return Ok(Vec::new());
    }
    let users: HashMap<String, user::Model> = user::Entity::find()
        .filter(user::Column::Id.is_in(seen.keys().cloned()))
        .filter(user::Column::DeletedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|user| (user.id.clone(), user))
        .collect();
    let mut ranked: Vec<(String, DateTime<Utc>)> = seen
        .into_iter()
        .filter(|(user_id, _)| users.contains_key(user_id))
        .collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let ids: Vec<String> = ranked.iter().map(|(id, _)| id.clone()).collect();

    let today: Vec<(String, String, i64)> = rollup::Entity::find()
        .select_only()
        .column(rollup::Column::UserId)
        .column(rollup::Column::Model)
        .column_as(total(rollup::Column::Requests), "count")
        .filter(rollup::Column::Date.eq(day_key(now.date_naive())))
        .filter(rollup::Column::UserId.is_in(ids.iter().cloned()))
        .group_by(rollup::Column::UserId)
        .group_by(rollup::Column::Model)
        .into_tuple()
        .all(db)
        .await?;
    let mut models_today: HashMap<String, Vec<ModelCount>> = HashMap::new();
    for (user_id, model, count) in today {
        models_today
            .entry(user_id)
            .or_default()
            .push(ModelCount { model, count });
    }
    let with_grant: HashSet<String> = entitlement::Entity::find()
        .select_only()
        .column(entitlement::Column::UserId)
        .filter(entitlement::Column::UserId.is_in(ids.iter().cloned()))
        .filter(entitlement::Column::RevokedAt.is_null())
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();

    let mut users = users;
    Ok(ranked
        .into_iter()
        .filter_map(|(user_id, last_seen_at)| {
            let user = users.remove(&user_id)?;
            let mut models_used = models_today.remove(&user_id).unwrap_or_default();
            models_used.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.model.cmp(&b.model)));
            Some(ActiveUser {
                titles_generated_today: models_used.iter().map(|m| m.count).sum(),
                models_used,
                has_grant: with_grant.contains(&user_id),
                email: user.email,
                plan: user.plan,
                status: user.status,
                user_id,
                last_seen_at: last_seen_at.into(),
            })
        })
        .collect())
}
