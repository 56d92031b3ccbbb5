//! What a fresh install starts with besides its first admin: the built-in
//! mock provider and a model on it, so the README's first curl works with
//! no provider key at all.

use sea_orm::DatabaseConnection;

use crate::{
    entity::provider::ProviderKind,
    error::Result,
    models::service::{self as models, NewModel},
    providers::service::{self as providers, NewProvider},
    vault::Vault,
};

/// The public name of the seeded mock model.
pub const MOCK_MODEL: &str = "tollgate-mock";

/// Creates the mock provider and [`MOCK_MODEL`], free, so that it answers
/// even before anyone has been granted credits.
pub async fn seed_mock_provider(db: &DatabaseConnection, vault: &Vault) -> Result<()> {
    let provider = providers::create(
        db,
        vault,
        NewProvider {
            name: "Tollgate mock".into(),
            kind: ProviderKind::Mock,
            base_url: String::new(),
            api_keys: Vec::new(),
            timeout_secs: None,
            connect_timeout_secs: None,
            extra_headers: Default::default(),
            enabled: Some(true),
        },
    )
    .await?;
    models::create(
        db,
        NewModel {
            public_name: MOCK_MODEL.into(),
            provider_id: Some(provider.id),
            upstream_model: Some(MOCK_MODEL.into()),
            deployments: None,
            fallbacks: Vec::new(),
            input_price: 0,
            output_price: 0,
            cache_read_price: 0,
            cache_write_price: 0,
            max_output_tokens: None,
            enabled: Some(true),
            plans: Vec::new(),
        },
    )
    .await?;
    Ok(())
}
