//! The hackathon dashboard, for every signed-in user: headline figures
//! (`GET /api/stats`) and the leaderboard (`GET /api/leaderboard`), all
//! time, from `llm_usage` (one row per user and model). Names, never
//! emails: everyone can read these.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, FromQueryResult, JoinType, Order, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationDef, RelationTrait,
    sea_query::{Expr, ExprTrait},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::presence::Presence;
use crate::platform::{
    entity::{llm_usage, session, user},
    error::Result,
    time::serde_iso,
};

/// `limit` of the leaderboard when none is given.
pub const DEFAULT_LEADERBOARD: u64 = 10;
/// Larger limits are lowered to this.
pub const MAX_LEADERBOARD: u64 = 100;

/// Shown as `top_model_label` before anyone made a request.
pub const NO_DATA: &str = "no data yet";

#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    /// Every request ever made that resolved a model.
    pub total_requests: i64,
    /// Users who made a request or were seen (session or heartbeat) in
    /// the last 24 hours.
    pub active_users_24h: usize,
    pub top_model: Option<TopModel>,
    /// The top model's name, or [`NO_DATA`].
    pub top_model_label: String,
    /// Accounts, deleted ones left out.
    pub total_users: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TopModel {
    pub model: String,
    pub requests: i64,
}

/// `SUM(llm_usage.count)` as a 64-bit integer.
fn requests() -> Expr {
    Expr::col((llm_usage::Entity, llm_usage::Column::Count))
        .sum()
        .cast_as("BIGINT")
}

fn llm_usage_user() -> RelationDef {
    llm_usage::Entity::belongs_to(user::Entity)
        .from(llm_usage::Column::UserId)
        .to(user::Column::Id)
        .into()
}

pub async fn stats(
    db: &DatabaseConnection,
    presence: &Presence,
    now: DateTime<Utc>,
) -> Result<Stats> {
    let total_requests: Option<i64> = llm_usage::Entity::find()
        .select_only()
        .column_as(requests(), "requests")
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    let top_model: Option<(String, i64)> = llm_usage::Entity::find()
        .select_only()
        .column(llm_usage::Column::Model)
        .column_as(requests(), "requests")
        .group_by(llm_usage::Column::Model)
        .order_by(requests(), Order::Desc)
        .order_by_asc(llm_usage::Column::Model)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    let top_model = top_model.map(|(model, requests)| TopModel { model, requests });
    let total_users = user::Entity::find()
        .filter(user::Column::DeletedAt.is_null())
        .count(db)
        .await?;

    let since = now - Duration::hours(24);
    let mut active: HashSet<String> = llm_usage::Entity::find()
        .select_only()
        .column(llm_usage::Column::UserId)
        .distinct()
        .join(JoinType::InnerJoin, llm_usage_user())
        .filter(user::Column::DeletedAt.is_null())
        .filter(llm_usage::Column::LastUsedAt.gte(since))
        .into_tuple::<String>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    active.extend(
        session::Entity::find()
            .select_only()
            .column(session::Column::UserId)
            .distinct()
            .join(JoinType::InnerJoin, session::Relation::User.def())
            .filter(user::Column::DeletedAt.is_null())
            .filter(session::Column::LastSeenAt.gte(since))
            .into_tuple::<String>()
            .all(db)
            .await?,
    );
    let beat_only: Vec<String> = presence
        .since(since)
        .await
        .into_iter()
        .map(|(user_id, _)| user_id)
        .filter(|user_id| !active.contains(user_id))
        .collect();
    if !beat_only.is_empty() {
        active.extend(
            user::Entity::find()
                .select_only()
                .column(user::Column::Id)
                .filter(user::Column::Id.is_in(beat_only))
                .filter(user::Column::DeletedAt.is_null())
                .into_tuple::<String>()
                .all(db)
                .await?,
        );
    }

    Ok(Stats {
        total_requests: total_requests.unwrap_or(0),
        active_users_24h: active.len(),
        top_model_label: top_model
            .as_ref()
            .map_or_else(|| NO_DATA.to_owned(), |top| top.model.clone()),
        top_model,
        total_users,
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LeaderboardEntry {
    /// 1 for the first entry, then 2, 3, …: ties are ordered, never shared.
    pub rank: u64,
    /// `None` when the caller may not see who this is (see
    /// [`super::visibility`]).
    pub user_id: Option<String>,
    pub name: String,
    pub requests: i64,
    /// The model this user called most (ties: the name first in order).
    pub top_model: String,
    /// How many different models this user called.
    pub models_used: i64,
    /// `5 minutes ago`, relative to the answer's time.
    pub last_active: String,
    #[serde(with = "serde_iso")]
    pub last_active_at: DateTime<Utc>,
}

/// A user's all-time sums, as the leaderboard query returns them.
#[derive(FromQueryResult)]
struct Leader {
    user_id: String,
    name: String,
    requests: i64,
    models_used: i64,
    last_active_at: Option<DateTime<Utc>>,
}

/// Users by requests, all time: most requests first; equal counts go to
/// whoever got there first (the earlier last request), then by user id.
/// Deleted accounts and users without requests are left out.
pub async fn leaderboard(
    db: &DatabaseConnection,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<LeaderboardEntry>> {
    let last_active = || Expr::col((llm_usage::Entity, llm_usage::Column::LastUsedAt)).max();
    let leaders: Vec<Leader> = llm_usage::Entity::find()
        .select_only()
        .column(llm_usage::Column::UserId)
        .column(user::Column::Name)
        .column_as(requests(), "requests")
        .column_as(
            Expr::col((llm_usage::Entity, llm_usage::Column::Model)).count(),
            "models_used",
        )
        .column_as(last_active(), "last_active_at")
        .join(JoinType::InnerJoin, llm_usage_user())
        .filter(user::Column::DeletedAt.is_null())
        .group_by(llm_usage::Column::UserId)
        .group_by(user::Column::Name)
        .order_by(requests(), Order::Desc)
        .order_by(last_active(), Order::Asc)
        .order_by_asc(llm_usage::Column::UserId)
        .limit(limit)
        .into_model()
        .all(db)
        .await?;
    let ids: Vec<String> = leaders.iter().map(|row| row.user_id.clone()).collect();
    let mut top_models: HashMap<String, (String, i64)> = HashMap::new();
    if !ids.is_empty() {
        let per_model: Vec<(String, String, i64)> = llm_usage::Entity::find()
            .select_only()
            .column(llm_usage::Column::UserId)
            .column(llm_usage::Column::Model)
            .column(llm_usage::Column::Count)
            .filter(llm_usage::Column::UserId.is_in(ids))
            .into_tuple()
            .all(db)
            .await?;
        for (user_id, model, count) in per_model {
            match top_models.get_mut(&user_id) {
                Some(top) if count > top.1 || (count == top.1 && model < top.0) => {
                    *top = (model, count);
                }
                Some(_) => {}
                None => {
                    top_models.insert(user_id, (model, count));
                }
            }
        }
    }
    Ok(leaders
        .into_iter()
        .zip(1..)
        .map(|(leader, rank)| {
            let last_active_at = leader.last_active_at.unwrap_or(now);
            LeaderboardEntry {
                rank,
                top_model: top_models
                    .remove(&leader.user_id)
                    .map(|(model, _)| model)
                    .unwrap_or_default(),
                user_id: Some(leader.user_id),
                name: leader.name,
                requests: leader.requests,
                models_used: leader.models_used,
                last_active: relative(last_active_at, now),
                last_active_at,
            }
        })
        .collect())
}

/// `just now`, `1 minute ago`, `5 hours ago`, `3 days ago`, `2 months ago`,
/// `1 year ago`; a time ahead of `now` (another instance's clock) is `just
/// now`.
pub fn relative(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds();
    let (count, unit) = match seconds {
        ..60 => return "just now".to_owned(),
        60..3_600 => (seconds / 60, "minute"),
        3_600..86_400 => (seconds / 3_600, "hour"),
        86_400..2_592_000 => (seconds / 86_400, "day"),
        2_592_000..31_536_000 => (seconds / 2_592_000, "month"),
        _ => (seconds / 31_536_000, "year"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural} ago")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_like_people_say_them() {
        let now = crate::platform::time::now();
        let ago = |seconds| relative(now - Duration::seconds(seconds), now);
        assert_eq!(ago(-30), "just now");
        assert_eq!(ago(0), "just now");
        assert_eq!(ago(59), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(5 * 60 + 59), "5 minutes ago");
        assert_eq!(ago(3_600), "1 hour ago");
        assert_eq!(ago(23 * 3_600), "23 hours ago");
        assert_eq!(ago(86_400), "1 day ago");
        assert_eq!(ago(29 * 86_400), "29 days ago");
        assert_eq!(ago(60 * 86_400), "2 months ago");
        assert_eq!(ago(400 * 86_400), "1 year ago");
    }
}
