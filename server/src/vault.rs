//! Sealing secrets at rest (upstream provider keys) with XChaCha20-Poly1305.
//! The key comes from `secrets.encryption_key` or is generated once into
//! `data_dir/encryption_key`. Sealed values look like `v1:<hex nonce+ciphertext>`.

use anyhow::Context;
use chacha20poly1305::{
    AeadCore, KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, OsRng},
};
use secrecy::ExposeSecret;

use crate::{config::Settings, secret_file};

const VERSION: &str = "v1:";
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

    pub fn load_or_create(settings: &Settings) -> anyhow::Result<Self> {
        if let Some(key) = &settings.secrets.encryption_key {
            return Self::from_hex_key(key.expose_secret());
        }
        settings.ensure_data_dir()?;
        Self::from_hex_key(&secret_file::read_or_create(
            &settings.data_dir.join("encryption_key"),
        )?)
    }

    pub fn seal(&self, plaintext: &str) -> anyhow::Result<String> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("{VERSION}{}", hex::encode(sealed)))
    }

    /// Fails for tampered values and for values sealed with another key.
    pub fn open(&self, sealed: &str) -> anyhow::Result<String> {
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|hex_text| hex::decode(hex_text).ok())
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .context("not a sealed value")?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().context("not a sealed value")?;
        let plaintext = self
            .cipher
            .decrypt(&XNonce::from(nonce), ciphertext)
            .map_err(|_| {
                anyhow::anyhow!("cannot open a sealed value: wrong key or tampered data")
            })?;
        String::from_utf8(plaintext).context("sealed value is not text")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn sealed_values_open_and_never_contain_the_plaintext() {
        let vault = Vault::from_hex_key(KEY).unwrap();
        let sealed = vault.seal("sk-upstream-secret").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("sk-upstream-secret"));
        assert_ne!(
            sealed,
            vault.seal("sk-upstream-secret").unwrap(),
            "fresh nonce each time"
        );
        assert_eq!(vault.open(&sealed).unwrap(), "sk-upstream-secret");
    }

    #[test]
    fn another_key_or_a_tampered_value_does_not_open() {
        let vault = Vault::from_hex_key(KEY).unwrap();
        let sealed = vault.seal("secret").unwrap();
        let other = Vault::from_hex_key(&"ab".repeat(32)).unwrap();
        assert!(other.open(&sealed).is_err());
        let mut tampered = sealed.clone();
        tampered.replace_range(tampered.len() - 2.., "00");
        assert!(vault.open(&tampered).is_err() || tampered == sealed);
        assert!(vault.open("plain text").is_err());
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(Vault::from_hex_key("abcd").is_err());
        assert!(Vault::from_hex_key("not hex at all").is_err());
    }
}
