//! The key format: `tg-` and 48 random base62 characters (about 285 bits),
//! identified by its SHA-256 and shown by a short prefix.

use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};

pub const KEY_PREFIX: &str = "tg-";
const RANDOM_LEN: usize = 48;
/// How much of the key is kept visible: `tg-` plus 8 characters.
const VISIBLE_LEN: usize = KEY_PREFIX.len() + 8;

/// A new secret key.
pub fn generate() -> String {
    format!("{KEY_PREFIX}{}", random_base62(RANDOM_LEN))
}

/// `len` random base62 characters (Alphanumeric is exactly base62), for
/// secrets shown once and stored by their [`hash`].
pub fn random_base62(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// SHA-256 of the whole key (or invitation code), lower-case hex: what the
/// database stores.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The part of a key people see to tell keys apart.
pub fn visible_prefix(key: &str) -> String {
    key.chars().take(VISIBLE_LEN).collect()
}

/// Whether a string has the shape of a Tollgate key (cheap check before a lookup).
pub fn looks_like_key(candidate: &str) -> bool {
    candidate
        .strip_prefix(KEY_PREFIX)
        .is_some_and(|rest| rest.len() >= 40 && rest.chars().all(|c| c.is_ascii_alphanumeric()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape_and_differ() {
        let (a, b) = (generate(), generate());
        assert!(looks_like_key(&a), "{a}");
        assert_eq!(a.len(), 3 + 48);
        assert_ne!(a, b);
        assert_eq!(visible_prefix(&a).len(), 11);
        assert!(a.starts_with(&visible_prefix(&a)));
    }

    #[test]
    fn the_hash_is_sha256_hex() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn malformed_keys_are_recognised() {
        assert!(!looks_like_key("sk-abc"));
        assert!(!looks_like_key("tg-short"));
        assert!(!looks_like_key(&format!("tg-{}!", "a".repeat(45))));
    }
}
