//! `tollgate admin rotate-encryption-key`: every sealed value sealed again
//! under a new key in one transaction, and the new key put where the old
//! one came from. Every server must be stopped meanwhile: a running one
//! would go on sealing with the old key.
//!
//! With the generated key file (`data_dir/encryption_key`) the steps
//! survive a crash: the new key is first written beside the old one
//! (`encryption_key.next`), then the values are resealed and committed,
//! then the new file replaces the old one in one rename. While
//! `encryption_key.next` exists the server refuses to start, and a new run
//! finishes the rotation with that key (each value opens with one of the
//! two keys).
//!
//! With `secrets.encryption_key` Tollgate cannot change the config itself:
//! a generated key is said (printed) before the commit, and the operator
//! puts it in place.

use std::path::Path;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};

use super::{
    KeySource, Vault,
    reseal::{Reseal, reseal},
};
use crate::platform::{config::Settings, db, secret_file};

/// Rotates the encryption key: to the hex key in `new_key_file`, or to a
/// generated one. Says what it does through `say`; returns how many values
/// were sealed again.
pub async fn rotate(
    db: &DatabaseConnection,
    settings: &Settings,
    new_key_file: Option<&Path>,
    say: &dyn Fn(&str),
) -> anyhow::Result<usize> {
    let given = new_key_file.map(read_key_file).transpose()?;
    match KeySource::of(settings) {
        KeySource::Settings(old) => rotate_configured(db, &old, given, say).await,
        KeySource::File(path) => rotate_file(db, &path, given, say).await,
    }
}

async fn rotate_configured(
    db: &DatabaseConnection,
    old: &SecretString,
    given: Option<SecretString>,
    say: &dyn Fn(&str),
) -> anyhow::Result<usize> {
    let old_hex = old.expose_secret();
    let old = Vault::from_hex_key(old_hex)?;
    let next = match given {
        Some(key) => key,
        None => {
            let (_, key) = Vault::generate()?;
            say(&format!("New encryption key: {}", key.expose_secret()));
            key
        }
    };
    let next_vault = Vault::from_hex_key(next.expose_secret())?;
    anyhow::ensure!(!same(old_hex, next.expose_secret()), SAME_KEY);
    let values = reseal_all(db, &[&old], &next_vault).await?;
    say(&format!(
        "Resealed {values} value(s) with the new key. The key comes from secrets.encryption_key, \
         which Tollgate does not write: put the new key there (or in \
         TOLLGATE__SECRETS__ENCRYPTION_KEY) before starting Tollgate again; the old key no \
         longer opens anything."
    ));
    Ok(values)
}

async fn rotate_file(
    db: &DatabaseConnection,
    path: &Path,
    given: Option<SecretString>,
    say: &dyn Fn(&str),
) -> anyhow::Result<usize> {
    let old_hex = secret_file::read(path)?.with_context(|| {
        format!(
            "there is no encryption key at {} (it is made on the first start)",
            path.display()
        )
    })?;
    let old = Vault::from_hex_key(&old_hex)?;
    let pending = super::pending_path(path);
    let (next, resumed) = match secret_file::read(&pending)? {
        Some(waiting) => {
            if given
                .as_ref()
                .is_some_and(|key| key.expose_secret().trim() != waiting)
            {
                anyhow::bail!(
                    "a rotation to the key in {} was interrupted: run again without \
                     --new-key-file to finish it first",
                    pending.display()
                );
            }
            say(&format!(
                "Finishing the rotation that was interrupted (the new key is in {}).",
                pending.display()
            ));
            (Vault::from_hex_key(&waiting)?, true)
        }
        None => {
            let key = match given {
                Some(key) => key,
                None => Vault::generate()?.1,
            };
            anyhow::ensure!(!same(&old_hex, key.expose_secret()), SAME_KEY);
            let vault = Vault::from_hex_key(key.expose_secret())?;
            secret_file::write_new(&pending, key.expose_secret().trim())?;
            (vault, false)
        }
    };
    let resealed = reseal_all(db, &[&old, &next], &next).await;
    let values = match resealed {
        Ok(values) => values,
        Err(err) => {
            // Nothing was committed: the old key still opens everything.
            if !resumed {
                let _ = std::fs::remove_file(&pending);
            }
            return Err(err);
        }
    };
    secret_file::replace(&pending, path)?;
    say(&format!(
        "Resealed {values} value(s) with the new key, now in {}.",
        path.display()
    ));
    Ok(values)
}

/// Seals every value again under `to`, in one transaction, or changes
/// nothing and says which providers stand in the way.
async fn reseal_all(db: &DatabaseConnection, from: &[&Vault], to: &Vault) -> anyhow::Result<usize> {
    let txn = db::begin_write(db).await?;
    let done = reseal(&txn, from, to, Reseal::All)
        .await
        .map_err(|err| anyhow::anyhow!("cannot reseal the providers' values: {err}"))?;
    if !done.left.is_empty() {
        anyhow::bail!(
            "nothing was changed: {}. Set these providers' keys and headers again (or delete \
             them), then rotate.",
            done.left.join("; ")
        );
    }
    txn.commit().await?;
    Ok(done.values)
}

const SAME_KEY: &str = "the new key is the current key";

/// Whether two hex keys are the same key.
fn same(one: &str, other: &str) -> bool {
    one.trim().eq_ignore_ascii_case(other.trim())
}

fn read_key_file(path: &Path) -> anyhow::Result<SecretString> {
    let key = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the new key from {}", path.display()))?;
    let key = key.trim().to_owned();
    Vault::from_hex_key(&key).with_context(|| format!("the key in {}", path.display()))?;
    Ok(key.into())
}
