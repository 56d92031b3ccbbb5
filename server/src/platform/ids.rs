//! Ids and random tokens, made in one place.

use rand::RngCore;

/// `bytes` random bytes as lower-case hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// `<prefix>_<16 hex>`: `key_…`, `prov_…`, `model_…`.
pub fn prefixed(prefix: &str) -> String {
    format!("{prefix}_{}", random_hex(8))
}
