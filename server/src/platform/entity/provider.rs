//! `providers`: where requests are forwarded, with the upstream keys sealed.

use std::collections::BTreeMap;

pub use contract::ProviderKind;
use sea_orm::entity::prelude::*;

use crate::platform::{
    error::{Error, Result},
    vault::Vault,
};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "providers")]
pub struct Model {
    /// `prov_<16 hex>`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    /// JSON array of upstream keys sealed by [`crate::platform::vault::Vault`], each
    /// bound to `provider:<id>:api_key`.
    pub api_keys: String,
    pub timeout_secs: i32,
    pub connect_timeout_secs: i32,
    /// JSON object of extra request headers: name → value sealed for
    /// `provider:<id>:header:<name>`.
    pub extra_headers: String,
    pub enabled: bool,
    /// The catalog file that declares it (`NULL`: an admin made it).
    pub managed_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::shadow_model::Entity")]
    ShadowModel,
}

impl Related<super::shadow_model::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::ShadowModel.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The upstream keys in clear, for the proxy.
    pub fn upstream_keys(&self, vault: &Vault) -> Result<Vec<String>> {
        let place = api_key_place(&self.id);
        self.sealed_keys()?
            .iter()
            .map(|value| vault.open(value, &place).map_err(Error::Internal))
            .collect()
    }

    /// The extra headers in clear, for the proxy.
    pub fn extra_headers(&self, vault: &Vault) -> Result<Vec<(String, String)>> {
        self.sealed_headers()?
            .into_iter()
            .map(|(name, value)| {
                let clear = vault
                    .open(&value, &header_place(&self.id, &name))
                    .map_err(Error::Internal)?;
                Ok((name, clear))
            })
            .collect()
    }

    pub fn sealed_keys(&self) -> Result<Vec<String>> {
        serde_json::from_str(&self.api_keys).map_err(|err| Error::Internal(err.into()))
    }

    pub fn sealed_headers(&self) -> Result<BTreeMap<String, String>> {
        serde_json::from_str(&self.extra_headers).map_err(|err| Error::Internal(err.into()))
    }
}

/// Where a provider's upstream keys are sealed: the associated data that
/// binds them to its row and field (see [`crate::platform::vault`]).
pub fn api_key_place(provider_id: &str) -> String {
    format!("provider:{provider_id}:api_key")
}

/// Where the value of a provider's extra header `name` (lower case) is
/// sealed. Header names hold no `:`, so places never collide.
pub fn header_place(provider_id: &str, name: &str) -> String {
    format!("provider:{provider_id}:header:{name}")
}
