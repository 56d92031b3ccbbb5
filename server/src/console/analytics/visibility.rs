//! Whose names the leaderboard and presence show to whom
//! (`features.leaderboard_visibility`). Admins see everyone; everyone sees
//! themself. Someone hidden keeps their place and figures but loses their
//! id and shows as [`ANONYMOUS`], so ranks and counts stay true.

use std::collections::HashSet;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use chrono::{DateTime, Utc};

use super::{
    dashboard::{self, LeaderboardEntry},
    presence::{self, OnlineUser},
};
use crate::{
    console::auth::CurrentUser,
    platform::{config::LeaderboardVisibility, entity::user, error::Result},
    state::AppState,
};

/// How the leaderboard and presence show someone whose name is hidden.
pub const ANONYMOUS: &str = "Anonymous";

/// The first `limit` places of the leaderboard, as `viewer` may see them.
pub async fn leaderboard_for(
    state: &AppState,
    viewer: &CurrentUser,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<LeaderboardEntry>> {
    let mut entries = dashboard::leaderboard(&state.db, limit, now).await?;
    apply(state, viewer, &mut entries).await?;
    Ok(entries)
}

/// Who is online, as `viewer` may see them.
pub async fn online_for(
    state: &AppState,
    viewer: &CurrentUser,
    now: DateTime<Utc>,
) -> Result<Vec<OnlineUser>> {
    let mut online = presence::online(&state.db, &state.presence, now).await?;
    apply(state, viewer, &mut online).await?;
    Ok(online)
}

/// A row that names someone.
trait Named {
    fn user_id(&self) -> Option<&str>;
    /// Removes the id and the name.
    fn anonymise(&mut self);
}

impl Named for LeaderboardEntry {
    fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    fn anonymise(&mut self) {
        self.user_id = None;
        ANONYMOUS.clone_into(&mut self.name);
    }
}

impl Named for OnlineUser {
    fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    fn anonymise(&mut self) {
        self.user_id = None;
        ANONYMOUS.clone_into(&mut self.name);
    }
}

/// Anonymises the rows `viewer` may not see by name. `same_plan` compares
/// effective plans (a "Pro — Lifetime" grant counts).
async fn apply<T: Named>(state: &AppState, viewer: &CurrentUser, rows: &mut [T]) -> Result<()> {
    let visibility = state.settings.features.leaderboard_visibility;
    if visibility == LeaderboardVisibility::Everyone || viewer.is_admin() {
        return Ok(());
    }
    let others: Vec<String> = rows
        .iter()
        .filter_map(Named::user_id)
        .filter(|id| *id != viewer.user.id)
        .map(str::to_owned)
        .collect();
    let mut shown: HashSet<String> = HashSet::from([viewer.user.id.clone()]);
    if visibility == LeaderboardVisibility::SamePlan && !others.is_empty() {
        let users = user::Entity::find()
            .filter(user::Column::Id.is_in(others))
            .all(&state.db)
            .await?;
        for user in users {
            if state.entitlements.resolve(&state.db, &user).await?.plan == viewer.plan.plan {
                shown.insert(user.id);
            }
        }
    }
    for row in rows.iter_mut() {
        if !row.user_id().is_some_and(|id| shown.contains(id)) {
            row.anonymise();
        }
    }
    Ok(())
}
