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

/// Creates the mock provider and [`MOCK_MODEL`] (1 credit per million input
/// tokens, 2 per million output, so that costs show).
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
            provider_id: provider.id,
            upstream_model: MOCK_MODEL.into(),
            input_price: 1_000_000,
            output_price: 2_000_000,
            cache_read_price: 100_000,
            cache_write_price: 1_250_000,
            enabled: Some(true),
            plans: Vec::new(),
        },
    )
    .await?;
    Ok(())
}
