//! Users: the list, creating one by name, editing, deleting, and one
//! user's whole picture.

use leptos::prelude::*;

use crate::{
    dto::{
        UserPage, UserView,
        admin::{CreatedUserInfo, UserDetailInfo},
    },
    error::AppError,
};

#[server(prefix = "/rpc", endpoint = "admin_users")]
pub async fn admin_users(page: u64, search: String) -> Result<UserPage, AppError> {
    use server::console::accounts::service::{self, UserListQuery};
    let (state, _) = crate::ssr::admin()?;
    let query = UserListQuery {
        page: Some(page),
        per_page: Some(20),
        search: Some(search),
    };
    let page = service::list(&state.db, &query).await?;
    Ok(UserPage {
        users: page.users.into_iter().map(Into::into).collect(),
        total: page.total,
        page: page.page,
        per_page: page.per_page,
    })
}

/// A hackathon-style account: a name, a plan and a first key whose secret
/// is shown once (`POST /api/admin/users`).
#[server(prefix = "/rpc", endpoint = "admin_create_user")]
pub async fn create_user(name: String, plan: String) -> Result<CreatedUserInfo, AppError> {
    let (state, admin) = crate::ssr::admin()?;
    let plan = crate::ssr::wire_name("plan", &plan)?;
    let grant = state.settings.credits.starting_grant.0;
    let (user, created) = server::console::accounts::service::create_with_key(
        &state.db,
        &admin.user.id,
        &name,
        Some(plan),
        grant,
    )
    .await?;
    Ok(CreatedUserInfo {
        user: user.into(),
        secret: created.secret,
    })
}

/// Role, plan and status (`PATCH /api/admin/users/{id}`).
#[server(prefix = "/rpc", endpoint = "admin_update_user")]
pub async fn update_user(
    id: String,
    role: String,
    plan: String,
    status: String,
) -> Result<UserView, AppError> {
    use server::console::accounts::service::{self, UserUpdate};
    let (state, admin) = crate::ssr::admin()?;
    let change = UserUpdate {
        name: None,
        role: Some(crate::ssr::wire_name("role", &role)?),
        plan: Some(crate::ssr::wire_name("plan", &plan)?),
        status: Some(crate::ssr::wire_name("status", &status)?),
    };
    let user = service::update(&state.db, &state.key_cache, &admin.user.id, &id, change).await?;
    Ok(user.into())
}

#[server(prefix = "/rpc", endpoint = "admin_delete_user")]
pub async fn delete_user(id: String) -> Result<(), AppError> {
    let (state, admin) = crate::ssr::admin()?;
    server::console::accounts::service::delete(&state.db, &state.key_cache, &admin.user.id, &id)
        .await?;
    Ok(())
}

/// One user: account, effective plan, balance, keys, grants, the latest
/// ledger entries and the last 30 days' usage.
#[server(prefix = "/rpc", endpoint = "admin_user_detail")]
pub async fn user_detail(id: String) -> Result<UserDetailInfo, AppError> {
    use server::console::{
        accounts::service as accounts,
        credits::service::{self as credits, EntryView, HistoryQuery},
        entitlements::service::{self as grants, GrantFilter},
        usage::report::{self, UsageQuery},
    };
    let (state, _) = crate::ssr::admin()?;
    // Requests that just finished may still be in the writer's queue.
    state.usage.flush().await;
    let user = accounts::get(&state.db, &id).await?;
    let plan = state.entitlements.resolve(&state.db, &user).await?;
    let history = HistoryQuery {
        page: Some(1),
        per_page: Some(10),
        kind: None,
    };
    let filter = GrantFilter {
        user_id: Some(id.clone()),
        active: None,
    };
    let usage = UsageQuery {
        page: Some(1),
        per_page: Some(1),
        ..Default::default()
    };
    let today = server::platform::time::now().date_naive();
    let history = credits::history(&state.db, &id, &history).await?;
    let keys = server::console::keys::service::list(&state.db, &id).await?;
    let granted = grants::list(&state.db, filter).await?;
    let usage = report::report(&state.db, &id, &usage, today).await?;
    Ok(UserDetailInfo {
        effective_plan: plan.plan,
        balance_credits: server::platform::money::format_credits(history.balance),
        keys: keys.into_iter().map(Into::into).collect(),
        grants: granted,
        entries: history.entries.into_iter().map(EntryView::from).collect(),
        requests_30d: usage.totals.requests,
        tokens_30d: usage.totals.input_tokens + usage.totals.output_tokens,
        spent_30d_credits: usage.totals.charged_credits,
        user: user.into(),
    })
}
