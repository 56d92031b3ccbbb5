//! The signed-in user's API keys.

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{
    dto::{CreatedKeyInfo, KeyInfo},
    error::AppError,
};

#[server(prefix = "/rpc", endpoint = "list_keys")]
pub async fn list_keys() -> Result<Vec<KeyInfo>, AppError> {
    let state = crate::ssr::state()?;
    let current = crate::ssr::require_user()?;
    let keys = server::keys::service::list(&state.db, &current.user.id).await?;
    Ok(keys.into_iter().map(Into::into).collect())
}

/// Models the user's plan may call, for the key form's choices.
#[server(prefix = "/rpc", endpoint = "my_models")]
pub async fn my_models() -> Result<Vec<String>, AppError> {
    use server::models::service;
    let state = crate::ssr::state()?;
    let current = crate::ssr::require_user()?;
    let models = service::available_for(&state.db, current.plan.plan).await?;
    Ok(models.into_iter().map(|model| model.id).collect())
}

/// `quota_credits` is a decimal amount of credits (empty: no limit);
/// `expires_on` a `YYYY-MM-DD` date (empty: never), the key working through
/// the end of that day (UTC).
// JSON rather than a form encoding: a form cannot say "no models" (an
// empty list).
#[server(prefix = "/rpc", endpoint = "create_key", input = Json)]
pub async fn create_key(
    name: String,
    models: Vec<String>,
    quota_credits: String,
    expires_on: String,
) -> Result<CreatedKeyInfo, AppError> {
    use server::keys::service::{self, NewKey};
    let state = crate::ssr::state()?;
    let current = crate::ssr::require_user()?;
    let quota_micro_credits = match quota_credits.trim() {
        "" => None,
        text => Some(server::money::parse_credits(text).ok_or_else(|| {
            AppError::Invalid("Quota must be an amount of credits, like 12.5".into())
        })?),
    };
    let expires_at =
        match expires_on.trim() {
            "" => None,
            text => Some(end_of_day(text).ok_or_else(|| {
                AppError::Invalid("Expiry must be a date, like 2027-01-31".into())
            })?),
        };
    let new = NewKey {
        name,
        models,
        quota_micro_credits,
        expires_at,
        requests_per_minute: None,
        tokens_per_minute: None,
    };
    let created = service::create_own(&state.db, &current.user, new).await?;
    Ok(CreatedKeyInfo {
        key: created.key.into(),
        secret: created.secret,
    })
}

#[server(prefix = "/rpc", endpoint = "revoke_key")]
pub async fn revoke_key(id: String) -> Result<(), AppError> {
    let state = crate::ssr::state()?;
    let current = crate::ssr::require_user()?;
    server::keys::service::revoke(&state.db, &state.key_cache, &current.user, &id).await?;
    Ok(())
}

#[cfg(feature = "ssr")]
fn end_of_day(date: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(day.and_hms_milli_opt(23, 59, 59, 999)?.and_utc())
}
