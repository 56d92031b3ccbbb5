//! Credit grants and entitlement grants ("Pro — Lifetime"), through the
//! same services as `POST /api/admin/credits/grant` and `/api/admin/grants`.

use leptos::prelude::*;

use contract::entitlements::GrantView;

use crate::{dto::admin::GrantedCredits, error::AppError};

/// The label every entitlement grant carries: the plan it gives.
pub const LIFETIME_LABEL: &str = "Pro — Lifetime";

/// Adds `amount` credits (a decimal; negative with a reason: an
/// adjustment). `request` is the form's one-time id: a double submit
/// grants once.
#[server(prefix = "/rpc", endpoint = "admin_grant_credits")]
pub async fn grant_credits(
    user_id: String,
    amount: String,
    reason: String,
    request: String,
) -> Result<GrantedCredits, AppError> {
    use server::console::credits::service::{self, GrantRequest};
    let (state, admin) = crate::ssr::admin()?;
    let grant = GrantRequest {
        user_id,
        amount: amount
            .parse()
            .map_err(|message| crate::ssr::invalid(format!("amount: {message}")))?,
        reason: Some(reason.trim().to_owned()).filter(|r| !r.is_empty()),
        idempotency_key: Some(request).filter(|r| !r.is_empty()),
    };
    let granted = service::grant(&state.db, &state.wallets, &admin.user.id, grant).await?;
    Ok(GrantedCredits {
        balance_credits: server::platform::money::format_credits(granted.entry.balance_after),
    })
}

/// Grants, newest first; `user_id` and `active` (`true`, `false`) filter
/// when not empty.
#[server(prefix = "/rpc", endpoint = "admin_grants")]
pub async fn list_grants(user_id: String, active: String) -> Result<Vec<GrantView>, AppError> {
    use server::console::entitlements::service::{self, GrantFilter};
    let (state, _) = crate::ssr::admin()?;
    let filter = GrantFilter {
        user_id: Some(user_id).filter(|u| !u.is_empty()),
        active: Some(active).filter(|a| !a.is_empty()),
    };
    Ok(service::list(&state.db, filter).await?)
}

/// Gives the user "Pro — Lifetime"; `source` is `beta_comp`,
/// `manual_override` or `partner_referral`.
#[server(prefix = "/rpc", endpoint = "admin_create_grant")]
pub async fn create_grant(user_id: String, source: String, notes: String) -> Result<(), AppError> {
    use server::console::entitlements::service::{self, NewGrant};
    let (state, admin) = crate::ssr::admin()?;
    let grant = NewGrant {
        user_id: Some(user_id),
        label: Some(LIFETIME_LABEL.to_owned()),
        source: Some(source),
        notes: Some(notes.trim().to_owned()).filter(|n| !n.is_empty()),
    };
    service::grant(&state.db, &state.entitlements, &admin.user.id, grant).await?;
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "admin_revoke_grant")]
pub async fn revoke_grant(id: i64) -> Result<(), AppError> {
    let (state, admin) = crate::ssr::admin()?;
    server::console::entitlements::service::revoke(
        &state.db,
        &state.entitlements,
        &admin.user.id,
        id,
    )
    .await?;
    Ok(())
}
