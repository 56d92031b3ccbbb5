//! The signed-in user's API keys.

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{
    dto::{CreatedKeyInfo, KeyDraft, KeyView},
    error::AppError,
};

#[server(prefix = "/rpc", endpoint = "list_keys")]
pub async fn list_keys() -> Result<Vec<KeyView>, AppError> {
    let (state, current) = crate::ssr::user()?;
    let keys = server::console::keys::service::list(&state.db, &current.user.id).await?;
    Ok(keys.into_iter().map(Into::into).collect())
}

/// Models the user's plan may call, for the key form's choices.
#[server(prefix = "/rpc", endpoint = "my_models")]
pub async fn my_models() -> Result<Vec<String>, AppError> {
    use server::console::models::service;
    let (state, current) = crate::ssr::user()?;
    let models = service::available_for(&state.db, current.plan.plan).await?;
    Ok(models.into_iter().map(|model| model.id).collect())
}

/// A new key from the form (see [`KeyDraft`] for the fields).
// JSON rather than a form encoding: a form cannot say "no models" (an
// empty list).
#[server(prefix = "/rpc", endpoint = "create_key", input = Json)]
pub async fn create_key(draft: KeyDraft) -> Result<CreatedKeyInfo, AppError> {
    let (state, current) = crate::ssr::user()?;
    let created =
        server::console::keys::service::create_own(&state, &current, new_key(draft)?).await?;
    Ok(CreatedKeyInfo {
        key: created.key.into(),
        secret: created.secret,
    })
}

/// Changes every field of a key to the form's; an empty optional field
/// removes the quota, expiry or limit.
#[server(prefix = "/rpc", endpoint = "update_key", input = Json)]
pub async fn update_key(id: String, draft: KeyDraft) -> Result<KeyView, AppError> {
    use server::console::keys::service::{self, KeyChange};
    let (state, current) = crate::ssr::user()?;
    let new = new_key(draft)?;
    let change = KeyChange {
        name: Some(new.name),
        models: Some(new.models),
        quota_micro_credits: Some(new.quota_micro_credits),
        expires_at: Some(new.expires_at),
        requests_per_minute: Some(new.requests_per_minute),
        tokens_per_minute: Some(new.tokens_per_minute),
    };
    let key = service::update(&state.db, &state.key_cache, &current.user, &id, change).await?;
    Ok(key.into())
}

/// A draft's key, with people's words for what is mistyped.
#[cfg(feature = "ssr")]
fn new_key(draft: KeyDraft) -> Result<server::console::keys::service::NewKey, AppError> {
    let invalid = crate::ssr::invalid;
    let quota = match draft.quota_credits.trim() {
        "" => None,
        text => Some(
            server::platform::money::parse_credits(text)
                .ok_or_else(|| invalid("Quota must be an amount of credits, like 12.5"))?,
        ),
    };
    let expires_at = match draft.expires_on.trim() {
        "" => None,
        text => Some(
            end_of_day(text).ok_or_else(|| invalid("Expiry must be a date, like 2027-01-31"))?,
        ),
    };
    let per_minute = |text: &str, what: &str| -> Result<Option<i64>, AppError> {
        match text.trim() {
            "" => Ok(None),
            text => text
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| {
                    crate::ssr::invalid(format!("{what} must be a whole number above 0"))
                }),
        }
    };
    Ok(server::console::keys::service::NewKey {
        requests_per_minute: per_minute(&draft.requests_per_minute, "Requests per minute")?,
        tokens_per_minute: per_minute(&draft.tokens_per_minute, "Tokens per minute")?,
        name: draft.name,
        models: draft.models,
        quota_micro_credits: quota,
        expires_at,
    })
}

#[server(prefix = "/rpc", endpoint = "revoke_key")]
pub async fn revoke_key(id: String) -> Result<(), AppError> {
    let (state, current) = crate::ssr::user()?;
    server::console::keys::service::revoke(&state.db, &state.key_cache, &current.user, &id).await?;
    Ok(())
}

#[cfg(feature = "ssr")]
fn end_of_day(date: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    Some(day.and_hms_milli_opt(23, 59, 59, 999)?.and_utc())
}

/// What the setup page fills in: this Tollgate's address as the browser
/// reached it, the prefix of the user's newest working key, and a model
/// they may call.
#[server(prefix = "/rpc", endpoint = "setup_info")]
pub async fn setup_info() -> Result<crate::dto::SetupInfo, AppError> {
    use server::console::{keys::KeyView, models::service};
    let (state, current) = crate::ssr::user()?;
    let keys = server::console::keys::service::list(&state.db, &current.user.id).await?;
    let key_prefix = keys
        .into_iter()
        .map(KeyView::from)
        .find(|key| key.status == contract::KeyStatus::Active)
        .map(|key| key.prefix);
    let model = service::available_for(&state.db, current.plan.plan)
        .await?
        .into_iter()
        .next()
        .map(|model| model.id);
    Ok(crate::dto::SetupInfo {
        base_url: crate::ssr::base_url(),
        key_prefix,
        model,
    })
}
