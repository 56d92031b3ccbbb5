//! Sealing secrets at rest (upstream provider keys and extra header values)
//! with XChaCha20-Poly1305.
//!
//! The key comes from `secrets.encryption_key`, or is generated once into
//! `data_dir/encryption_key`; [`rotation`] replaces it.
//!
//! A sealed value is `v2:<hex of nonce + ciphertext>`, sealed with
//! associated data naming its place, the row and field it belongs to
//! (`provider:<id>:api_key`, `provider:<id>:header:<name>`): a value copied
//! into another row or another field does not open there. Values of the
//! releases before that are `v1:` and name no place; they are opened only to
//! be resealed as `v2:` (at every start, and by a rotation), never for use.

pub mod reseal;
pub mod rotation;

use std::path::{Path, PathBuf};

use anyhow::Context;
use chacha20poly1305::{
    AeadCore, KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, OsRng, Payload},
};
use secrecy::{ExposeSecret, SecretString};

use crate::platform::{config::Settings, ids, secret_file};

/// Values bound to their place by associated data.
const CURRENT: &str = "v2:";
/// Values of earlier releases: no associated data.
const LEGACY: &str = "v1:";
const NONCE_LEN: usize = 24;

/// Deliberately no `Debug`: it holds the key.
pub struct Vault {
    cipher: XChaCha20Poly1305,
}

impl Vault {
    pub fn from_hex_key(key: &str) -> anyhow::Result<Self> {
        let bytes = hex::decode(key.trim()).context("secrets.encryption_key must be hex")?;
        anyhow::ensure!(
            bytes.len() == 32,
            "secrets.encryption_key must be 32 bytes (64 hex characters)"
        );
        let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
            .map_err(|_| anyhow::anyhow!("invalid encryption key"))?;
        Ok(Self { cipher })
    }

    /// A vault with a new random key, and that key as hex.
    pub fn generate() -> anyhow::Result<(Self, SecretString)> {
        let key = ids::random_hex(32);
        Ok((Self::from_hex_key(&key)?, key.into()))
    }

    /// The configured key, or the generated one (created on first use).
    /// Refuses to start while a rotation of the generated key is unfinished:
    /// the values may already be sealed with the next key.
    pub fn load_or_create(settings: &Settings) -> anyhow::Result<Self> {
        match KeySource::of(settings) {
            KeySource::Settings(key) => Self::from_hex_key(key.expose_secret()),
            KeySource::File(path) => {
                let pending = pending_path(&path);
                anyhow::ensure!(
                    !pending.exists(),
                    "a rotation of the encryption key was interrupted ({} exists): \
                     run `tollgate admin rotate-encryption-key` again to finish it",
                    pending.display()
                );
                settings.ensure_data_dir()?;
                Self::from_hex_key(&secret_file::read_or_create(&path)?)
            }
        }
    }

    /// Seals `plaintext` for `place` (see the module doc): it opens only
    /// there.
    pub fn seal(&self, plaintext: &str, place: &str) -> anyhow::Result<String> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plaintext.as_bytes(),
            aad: place.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(&nonce, payload)
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("{CURRENT}{}", hex::encode(sealed)))
    }

    /// Opens a value sealed for `place`. Fails for tampered values, values
    /// sealed with another key or for another place, and `v1:` values.
    pub fn open(&self, sealed: &str, place: &str) -> anyhow::Result<String> {
        if sealed.starts_with(LEGACY) {
            anyhow::bail!("a value in the old format (v1) is used only once resealed at startup");
        }
        self.open_any_version(sealed, place)
    }

    /// Opens a `v2:` value sealed for `place`, or a `v1:` value (which names
    /// no place): only to seal it again.
    pub fn open_any_version(&self, sealed: &str, place: &str) -> anyhow::Result<String> {
        let (hex_text, aad) = if let Some(hex_text) = sealed.strip_prefix(CURRENT) {
            (hex_text, place.as_bytes())
        } else if let Some(hex_text) = sealed.strip_prefix(LEGACY) {
            (hex_text, &[][..])
        } else {
            anyhow::bail!("not a sealed value");
        };
        let bytes = hex::decode(hex_text)
            .ok()
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .context("not a sealed value")?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().context("not a sealed value")?;
        let payload = Payload {
            msg: ciphertext,
            aad,
        };
        let plaintext = self
            .cipher
            .decrypt(&XNonce::from(nonce), payload)
            .map_err(|_| {
                anyhow::anyhow!(
                    "cannot open a sealed value: wrong key, tampered data or sealed for another place"
                )
            })?;
        String::from_utf8(plaintext).context("sealed value is not text")
    }

    /// Whether `sealed` is in the format of earlier releases (no place).
    pub fn is_legacy(sealed: &str) -> bool {
        sealed.starts_with(LEGACY)
    }
}

/// Where the encryption key comes from.
pub enum KeySource {
    /// `secrets.encryption_key` (config file or environment).
    Settings(SecretString),
    /// The key Tollgate generated into this file.
    File(PathBuf),
}

impl KeySource {
    pub fn of(settings: &Settings) -> Self {
        match &settings.secrets.encryption_key {
            Some(key) => Self::Settings(key.clone()),
            None => Self::File(settings.data_dir.join("encryption_key")),
        }
    }
}

/// Where the next key waits while a rotation of the key file runs
/// ([`rotation`]).
pub fn pending_path(key_file: &Path) -> PathBuf {
    key_file.with_extension("next")
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const PLACE: &str = "provider:prov_1:api_key";

    /// A value as the releases before associated data sealed it.
    fn seal_v1(vault: &Vault, plaintext: &str) -> String {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut sealed = nonce.to_vec();
        sealed.extend(vault.cipher.encrypt(&nonce, plaintext.as_bytes()).unwrap());
        format!("v1:{}", hex::encode(sealed))
    }

    #[test]
    fn sealed_values_open_and_never_contain_the_plaintext() {
        let vault = Vault::from_hex_key(KEY).unwrap();
        let sealed = vault.seal("sk-upstream-secret", PLACE).unwrap();
        assert!(sealed.starts_with("v2:"));
        assert!(!sealed.contains("sk-upstream-secret"));
        assert_ne!(
            sealed,
            vault.seal("sk-upstream-secret", PLACE).unwrap(),
            "fresh nonce each time"
        );
        assert_eq!(vault.open(&sealed, PLACE).unwrap(), "sk-upstream-secret");
    }

    #[test]
    fn a_value_does_not_open_in_another_place() {
        let vault = Vault::from_hex_key(KEY).unwrap();
        let sealed = vault.seal("secret", PLACE).unwrap();
        for other in [
            "provider:prov_2:api_key",
            "provider:prov_1:header:x-team",
            "",
        ] {
            assert!(vault.open(&sealed, other).is_err(), "{other}");
            assert!(vault.open_any_version(&sealed, other).is_err(), "{other}");
        }
        // Relabelled as v1 (no place), it does not open either.
        let relabelled = sealed.replacen("v2:", "v1:", 1);
        assert!(vault.open_any_version(&relabelled, PLACE).is_err());
    }

    #[test]
    fn a_v1_value_opens_only_to_be_resealed() {
        let vault = Vault::from_hex_key(KEY).unwrap();
        let legacy = seal_v1(&vault, "sk-old");
        assert!(Vault::is_legacy(&legacy));
        assert!(vault.open(&legacy, PLACE).is_err());
        assert_eq!(vault.open_any_version(&legacy, PLACE).unwrap(), "sk-old");
        // Relabelled as v2, it needs a place it was never sealed for.
        let relabelled = legacy.replacen("v1:", "v2:", 1);
        assert!(vault.open(&relabelled, PLACE).is_err());
    }

    #[test]
    fn another_key_or_a_tampered_value_does_not_open() {
        let vault = Vault::from_hex_key(KEY).unwrap();
        let sealed = vault.seal("secret", PLACE).unwrap();
        let other = Vault::from_hex_key(&"ab".repeat(32)).unwrap();
        assert!(other.open(&sealed, PLACE).is_err());
        let mut tampered = sealed.clone();
        tampered.replace_range(tampered.len() - 2.., "00");
        assert!(vault.open(&tampered, PLACE).is_err() || tampered == sealed);
        assert!(vault.open("plain text", PLACE).is_err());
        assert!(vault.open("v2:", PLACE).is_err());
        assert!(vault.open("v2:zz", PLACE).is_err());
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(Vault::from_hex_key("abcd").is_err());
        assert!(Vault::from_hex_key("not hex at all").is_err());
    }

    #[test]
    fn generated_keys_differ_and_load_again() {
        let (vault, key) = Vault::generate().unwrap();
        let (_, other) = Vault::generate().unwrap();
        assert_ne!(key.expose_secret(), other.expose_secret());
        let sealed = vault.seal("secret", PLACE).unwrap();
        let again = Vault::from_hex_key(key.expose_secret()).unwrap();
        assert_eq!(again.open(&sealed, PLACE).unwrap(), "secret");
    }
}
