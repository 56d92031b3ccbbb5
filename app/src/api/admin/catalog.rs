//! Providers and shadow models, through the handlers of
//! `/api/admin/providers` and `/api/admin/models` (which also refresh the
//! proxy's catalog). Prices are entered in credits per million tokens.

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{
    dto::admin::{ModelForm, ModelInfo, ProviderForm, ProviderInfo},
    error::AppError,
};

#[server(prefix = "/rpc", endpoint = "admin_providers")]
pub async fn list_providers() -> Result<Vec<ProviderInfo>, AppError> {
    use server::providers::handlers;
    #[derive(serde::Deserialize)]
    struct Listed {
        providers: Vec<ProviderInfo>,
    }
    let (state, admin) = crate::ssr::admin()?;
    let listed: Listed = crate::ssr::answer(handlers::list(state, admin).await?)?;
    Ok(listed.providers)
}

/// Creates a provider (`id` empty) or changes one. Upstream keys are
/// write-only: an empty `api_key` on a change keeps the stored ones.
#[server(prefix = "/rpc", endpoint = "admin_save_provider", input = Json)]
pub async fn save_provider(id: String, form: ProviderForm) -> Result<(), AppError> {
    use axum::extract::Path;
    use server::providers::handlers;
    let (state, admin) = crate::ssr::admin()?;
    let key = form.api_key.trim();
    if id.is_empty() {
        let keys: Vec<&str> = if key.is_empty() { vec![] } else { vec![key] };
        let body = crate::ssr::body(serde_json::json!({
            "name": form.name,
            "kind": form.kind,
            "base_url": form.base_url,
            "api_keys": keys,
            "enabled": form.enabled,
        }))?;
        let _ = handlers::create(state, admin, body).await?;
    } else {
        let mut change = serde_json::json!({
            "name": form.name,
            "base_url": form.base_url,
            "enabled": form.enabled,
        });
        if !key.is_empty() {
            change["api_keys"] = serde_json::json!([key]);
        }
        let _ = handlers::update(state, admin, Path(id), crate::ssr::body(change)?).await?;
    }
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "admin_delete_provider")]
pub async fn delete_provider(id: String) -> Result<(), AppError> {
    use server::providers::handlers;
    let (state, admin) = crate::ssr::admin()?;
    let _ = handlers::delete(state, admin, axum::extract::Path(id)).await?;
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "admin_models")]
pub async fn list_models() -> Result<Vec<ModelInfo>, AppError> {
    use server::models::handlers;
    #[derive(serde::Deserialize)]
    struct Listed {
        models: Vec<ModelInfo>,
    }
    let (state, admin) = crate::ssr::admin()?;
    let listed: Listed = crate::ssr::answer(handlers::list(state, admin).await?)?;
    Ok(listed.models)
}

/// Creates a model (`id` empty) or changes one.
#[server(prefix = "/rpc", endpoint = "admin_save_model", input = Json)]
pub async fn save_model(id: String, form: ModelForm) -> Result<(), AppError> {
    use axum::extract::Path;
    use server::models::handlers;
    let (state, admin) = crate::ssr::admin()?;
    let price = |field: &str, text: &str| -> Result<i64, AppError> {
        match text.trim() {
            "" => Ok(0),
            text => server::money::parse_credits(text).ok_or_else(|| {
                crate::ssr::invalid(format!(
                    "{field} must be credits per million tokens, like 2.5"
                ))
            }),
        }
    };
    let max_output_tokens = match form.max_output_tokens.trim() {
        "" => None,
        text => Some(text.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            crate::ssr::invalid(
                "Max output tokens must be a whole number above 0, or empty for the default",
            )
        })?),
    };
    let number =
        |label: &str, text: &str, default: i32, range: std::ops::RangeInclusive<i32>| match text
            .trim()
        {
            "" => Ok(default),
            text => text
                .parse::<i32>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    crate::ssr::invalid(format!(
                        "{label} must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ))
                }),
        };
    let deployments = form
        .deployments
        .iter()
        .map(|d| {
            Ok(serde_json::json!({
                "provider_id": d.provider_id,
                "upstream_model": d.upstream_model.trim(),
                "weight": number("Weight", &d.weight, 1, 1..=1000)?,
                "priority": number("Priority", &d.priority, 0, 0..=100)?,
            }))
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let fallbacks: Vec<&str> = form
        .fallbacks
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    let body = serde_json::json!({
        "public_name": form.public_name.trim(),
        "deployments": deployments,
        "fallbacks": fallbacks,
        "input_price": price("Input price", &form.input_price)?,
        "output_price": price("Output price", &form.output_price)?,
        "cache_read_price": price("Cache read price", &form.cache_read_price)?,
        "cache_write_price": price("Cache write price", &form.cache_write_price)?,
        "max_output_tokens": max_output_tokens,
        "plans": form.plans,
        "enabled": form.enabled,
    });
    if id.is_empty() {
        let _ = handlers::create(state, admin, crate::ssr::body(body)?).await?;
    } else {
        let _ = handlers::update(state, admin, Path(id), crate::ssr::body(body)?).await?;
    }
    Ok(())
}

/// Deletes a model, or disables it when it has usage on record; the answer
/// says which.
#[server(prefix = "/rpc", endpoint = "admin_delete_model")]
pub async fn delete_model(id: String) -> Result<String, AppError> {
    use server::models::handlers;
    let (state, admin) = crate::ssr::admin()?;
    let answer = handlers::delete(state, admin, axum::extract::Path(id)).await?;
    Ok(match answer.0 {
        handlers::ModelDeletion::Disabled(_) => {
            "The model has usage on record, so it was disabled rather than deleted.".into()
        }
        handlers::ModelDeletion::Deleted(_) => "Model deleted.".into(),
    })
}
