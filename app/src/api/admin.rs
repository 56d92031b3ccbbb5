//! Admin-only server functions.

use leptos::prelude::*;

use crate::{dto::UserPage, error::AppError};

#[server(prefix = "/rpc", endpoint = "admin_users")]
pub async fn admin_users(page: u64, search: String) -> Result<UserPage, AppError> {
    use server::accounts::service::{self, UserListQuery};
    let state = crate::ssr::state()?;
    crate::ssr::require_admin()?;
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
