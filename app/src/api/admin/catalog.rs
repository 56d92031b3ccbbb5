//! Providers and shadow models, through the same services as
//! `/api/admin/providers` and `/api/admin/models` (which also refresh the
//! proxy's catalog). Prices are entered in credits per million tokens.

use leptos::{prelude::*, server_fn::codec::Json};

use contract::catalog::{ModelView, ProviderView};

use crate::{
    dto::admin::{ModelForm, ProviderForm},
    error::AppError,
};

#[server(prefix = "/rpc", endpoint = "admin_providers")]
pub async fn list_providers() -> Result<Vec<ProviderView>, AppError> {
    use server::console::providers::service;
    let (state, _) = crate::ssr::admin()?;
    Ok(service::list(&state.db)
        .await?
        .into_iter()
        .map(|provider| service::view(provider, &state.vault))
        .collect())
}

/// Creates a provider (`id` empty) or changes one. Upstream keys are
/// write-only: an empty `api_key` on a change keeps the stored ones.
#[server(prefix = "/rpc", endpoint = "admin_save_provider", input = Json)]
pub async fn save_provider(id: String, form: ProviderForm) -> Result<(), AppError> {
    use server::console::providers::service::{self, NewProvider, ProviderChange};
    let (state, admin) = crate::ssr::admin()?;
    let key = form.api_key.trim();
    let keys = (!key.is_empty()).then(|| vec![key.to_owned()]);
    if id.is_empty() {
        let new = NewProvider {
            name: form.name,
            kind: crate::ssr::wire_name("kind", &form.kind)?,
            base_url: form.base_url,
            api_keys: keys.unwrap_or_default(),
            timeout_secs: None,
            connect_timeout_secs: None,
            extra_headers: Default::default(),
            enabled: Some(form.enabled),
        };
        service::create_as(&state, &admin.user.id, new).await?;
    } else {
        let change = ProviderChange {
            name: Some(form.name),
            base_url: Some(form.base_url),
            api_keys: keys,
            enabled: Some(form.enabled),
            ..Default::default()
        };
        service::update(&state, &admin.user.id, &id, change).await?;
    }
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "admin_delete_provider")]
pub async fn delete_provider(id: String) -> Result<(), AppError> {
    let (state, admin) = crate::ssr::admin()?;
    server::console::providers::service::delete(&state, &admin.user.id, &id).await?;
    Ok(())
}

#[server(prefix = "/rpc", endpoint = "admin_models")]
pub async fn list_models() -> Result<Vec<ModelView>, AppError> {
    use server::console::models::service;
    let (state, _) = crate::ssr::admin()?;
    Ok(service::list(&state.db)
        .await?
        .into_iter()
        .map(|model| service::view(model, &state.health))
        .collect())
}

/// Creates a model (`id` empty) or changes one.
#[server(prefix = "/rpc", endpoint = "admin_save_model", input = Json)]
pub async fn save_model(id: String, form: ModelForm) -> Result<(), AppError> {
    use server::console::models::service::{self, Deployment, ModelChange, NewModel};
    let (state, admin) = crate::ssr::admin()?;
    let price = |field: &str, text: &str| -> Result<i64, AppError> {
        match text.trim() {
            "" => Ok(0),
            text => server::platform::money::parse_credits(text).ok_or_else(|| {
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
            Ok(Deployment {
                provider_id: d.provider_id.clone(),
                upstream_model: d.upstream_model.trim().to_owned(),
                weight: number("Weight", &d.weight, 1, 1..=1000)?,
                priority: number("Priority", &d.priority, 0, 0..=100)?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let fallbacks: Vec<String> = form
        .fallbacks
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    let plans = form
        .plans
        .iter()
        .map(|plan| crate::ssr::wire_name("plans", plan))
        .collect::<Result<Vec<_>, AppError>>()?;
    let new = NewModel {
        public_name: form.public_name.trim().to_owned(),
        kind: Some(form.kind),
        provider_id: None,
        upstream_model: None,
        deployments: Some(deployments),
        fallbacks,
        input_price: price("Input price", &form.input_price)?,
        output_price: price("Output price", &form.output_price)?,
        cache_read_price: price("Cache read price", &form.cache_read_price)?,
        cache_write_price: price("Cache write price", &form.cache_write_price)?,
        max_output_tokens,
        enabled: Some(form.enabled),
        plans,
    };
    if id.is_empty() {
        service::create_as(&state, &admin.user.id, new).await?;
    } else {
        let change = ModelChange {
            public_name: Some(new.public_name),
            kind: new.kind,
            provider_id: None,
            upstream_model: None,
            deployments: new.deployments,
            fallbacks: Some(new.fallbacks),
            input_price: Some(new.input_price),
            output_price: Some(new.output_price),
            cache_read_price: Some(new.cache_read_price),
            cache_write_price: Some(new.cache_write_price),
            max_output_tokens: Some(new.max_output_tokens),
            enabled: new.enabled,
            plans: Some(new.plans),
        };
        service::update(&state, &admin.user.id, &id, change).await?;
    }
    Ok(())
}

/// Deletes a model, or disables it when it has usage on record; the answer
/// says which.
#[server(prefix = "/rpc", endpoint = "admin_delete_model")]
pub async fn delete_model(id: String) -> Result<String, AppError> {
    use server::console::models::service::{self, Deletion};
    let (state, admin) = crate::ssr::admin()?;
    Ok(match service::delete(&state, &admin.user.id, &id).await? {
        Deletion::Disabled(_) => {
            "The model has usage on record, so it was disabled rather than deleted.".into()
        }
        Deletion::Deleted => "Model deleted.".into(),
    })
}
