//! What a fresh install starts with besides its first admin: the built-in
//! mock provider and a model on it, so the README's first curl works with
//! no provider key at all.

use sea_orm::DatabaseConnection;

use crate::{
    console::{
        models::service::{self as models, NewModel},
        providers::service::{self as providers, NewProvider},
    },
    platform::{error::Result, pricing::Prices, vault::Vault},
};

/// The public name of the seeded mock model.
pub const MOCK_MODEL: &str = "tollgate-mock";

/// Creates the mock provider and [`MOCK_MODEL`], free, so that it answers
/// even before anyone has been granted credits.
pub async fn seed_mock_provider(db: &DatabaseConnection, vault: &Vault) -> Result<()> {
    let provider = providers::create(db, vault, NewProvider::mock("Tollgate mock")).await?;
    let free = Prices::default();
    models::create(
        db,
        NewModel::on_one_deployment(MOCK_MODEL, provider.id, free),
    )
    .await?;
    Ok(())
}
