//! Registration invitations, through the same service as
//! `/api/admin/invitations`.

use leptos::prelude::*;

use contract::invitations::InvitationView;

use crate::{dto::admin::CreatedInvitation, error::AppError};

/// Every invitation, newest first.
#[server(prefix = "/rpc", endpoint = "admin_invitations")]
pub async fn list_invitations() -> Result<Vec<InvitationView>, AppError> {
    let (state, _) = crate::ssr::admin()?;
    Ok(server::console::invitations::service::list(&state.db).await?)
}

/// Creates an invitation: `email` (empty: anyone), `days` until it
/// expires (empty: 7), `max_uses` (empty: 1), `note`. The code is in the
/// answer, once.
#[server(prefix = "/rpc", endpoint = "admin_create_invitation")]
pub async fn create_invitation(
    email: String,
    days: String,
    max_uses: String,
    note: String,
) -> Result<CreatedInvitation, AppError> {
    use server::console::invitations::service::{self, NewInvitation};
    let (state, admin) = crate::ssr::admin()?;
    let number = |field: &str, text: &str| -> Result<Option<i64>, AppError> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        text.parse()
            .map(Some)
            .map_err(|_| crate::ssr::invalid(format!("{field} must be a whole number")))
    };
    let expires_at = number("days", &days)?
        .map(|days| {
            if (1..=365).contains(&days) {
                Ok(server::platform::time::now() + chrono::Duration::days(days))
            } else {
                Err(crate::ssr::invalid("days must be between 1 and 365"))
            }
        })
        .transpose()?;
    let text = |value: String| Some(value.trim().to_owned()).filter(|v| !v.is_empty());
    let max_uses = number("max_uses", &max_uses)?
        .map(|uses| i32::try_from(uses).map_err(|_| crate::ssr::invalid("max_uses is too large")))
        .transpose()?;
    let new = NewInvitation {
        email: text(email),
        expires_at,
        max_uses,
        note: text(note),
    };
    let created = service::create(&state.db, &admin.user.id, new).await?;
    Ok(CreatedInvitation {
        invitation: service::view(created.invitation, server::platform::time::now()),
        code: created.code,
    })
}

#[server(prefix = "/rpc", endpoint = "admin_revoke_invitation")]
pub async fn revoke_invitation(id: String) -> Result<(), AppError> {
    let (state, admin) = crate::ssr::admin()?;
    server::console::invitations::service::revoke(&state.db, &admin.user.id, &id).await?;
    Ok(())
}
