//! Every sealed value in the database sealed again: at each start, the
//! values of earlier releases (bound to no place) are upgraded; a key
//! rotation ([`super::rotation`]) seals them all under the new key. Today
//! the sealed values are the providers' upstream keys and header values.

use std::collections::BTreeMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};

use super::Vault;
use crate::platform::{db, entity::provider, error::Result};

/// Which sealed values [`reseal`] seals again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Only values in the format of earlier releases (`v1:`, no place),
    /// under the same key: done at every start.
    Legacy,
    /// Every value, under a new key: a rotation.
    All,
}

/// What [`reseal`] did.
#[derive(Debug, Default)]
pub struct Resealed {
    /// Values sealed again.
    pub values: usize,
    /// Providers (`name (id): why`) left as they were: a value that no key
    /// opens, or a row that changed meanwhile.
    pub left: Vec<String>,
}

/// Seals the providers' values again with `to`, each opened with the first
/// key of `from` that opens it; a provider with a value none opens is left
/// as it was, and so is a row that changed since it was read (its change
/// sealed its values already). Run it in a transaction: a rotation commits
/// only when nothing was left.
pub async fn reseal<C: ConnectionTrait>(
    db: &C,
    from: &[&Vault],
    to: &Vault,
    which: Reseal,
) -> Result<Resealed> {
    let mut done = Resealed::default();
    for provider in provider::Entity::find()
        .order_by_asc(provider::Column::Id)
        .all(db)
        .await?
    {
        let who = format!("{} ({})", provider.name, provider.id);
        let row = match reseal_row(&provider, from, to, which) {
            Ok(Some(row)) => row,
            Ok(None) => continue,
            Err(why) => {
                done.left.push(format!("{who}: {why}"));
                continue;
            }
        };
        let updated = provider::Entity::update_many()
            .col_expr(provider::Column::ApiKeys, Expr::value(row.api_keys))
            .col_expr(
                provider::Column::ExtraHeaders,
                Expr::value(row.extra_headers),
            )
            .filter(provider::Column::Id.eq(&provider.id))
            .filter(provider::Column::ApiKeys.eq(&provider.api_keys))
            .filter(provider::Column::ExtraHeaders.eq(&provider.extra_headers))
            .exec(db)
            .await?;
        if updated.rows_affected == 1 {
            done.values += row.values;
        } else {
            done.left.push(format!("{who}: changed meanwhile"));
        }
    }
    Ok(done)
}

/// A row's two sealed columns, sealed again.
struct ResealedRow {
    api_keys: String,
    extra_headers: String,
    /// How many values changed.
    values: usize,
}

/// `None` when nothing in the row needs sealing again; `Err` says why the
/// row cannot be.
fn reseal_row(
    provider: &provider::Model,
    from: &[&Vault],
    to: &Vault,
    which: Reseal,
) -> std::result::Result<Option<ResealedRow>, String> {
    let unreadable = |_| "its stored keys or headers are not readable".to_owned();
    let keys = provider.sealed_keys().map_err(unreadable)?;
    let headers = provider.sealed_headers().map_err(unreadable)?;
    let needs = |value: &String| which == Reseal::All || Vault::is_legacy(value);
    let values =
        keys.iter().filter(|v| needs(v)).count() + headers.values().filter(|v| needs(v)).count();
    if values == 0 {
        return Ok(None);
    }
    let again = |value: String, place: &str| -> std::result::Result<String, String> {
        if !needs(&value) {
            return Ok(value);
        }
        let clear = from
            .iter()
            .find_map(|vault| vault.open_any_version(&value, place).ok())
            .ok_or_else(|| format!("the value at `{place}` does not open with the key"))?;
        to.seal(&clear, place).map_err(|err| err.to_string())
    };
    let key_place = provider::api_key_place(&provider.id);
    let keys = keys
        .into_iter()
        .map(|value| again(value, &key_place))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let headers = headers
        .into_iter()
        .map(|(name, value)| {
            let value = again(value, &provider::header_place(&provider.id, &name))?;
            Ok((name, value))
        })
        .collect::<std::result::Result<BTreeMap<_, _>, String>>()?;
    Ok(Some(ResealedRow {
        api_keys: serde_json::to_string(&keys).map_err(|err| err.to_string())?,
        extra_headers: serde_json::to_string(&headers).map_err(|err| err.to_string())?,
        values,
    }))
}

/// At startup: seals the values of earlier releases (`v1:`, bound to no
/// place) again as `v2:`, bound to the row and field they are in, so a
/// database written by an earlier release keeps working. A provider whose
/// value does not open stays as it was, and its models answer 502
/// "misconfigured" until an admin sets its keys again.
pub async fn upgrade_sealed(db: &DatabaseConnection, vault: &Vault) -> Result<usize> {
    let txn = db::begin_write(db).await?;
    let done = reseal(&txn, &[vault], vault, Reseal::Legacy).await?;
    txn.commit().await?;
    for provider in &done.left {
        tracing::error!(%provider, "a provider's sealed values could not be upgraded");
    }
    if done.values > 0 {
        tracing::info!(
            values = done.values,
            "sealed values upgraded to v2 (bound to their row and field)"
        );
    }
    Ok(done.values)
}
