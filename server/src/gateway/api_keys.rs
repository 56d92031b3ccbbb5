//! How the gateway recognises the caller of an LLM request: the key format
//! and its hash ([`secret`]), and the keys in memory ([`cache`]). Creating,
//! editing and revoking keys is the console's ([`crate::console::keys`]).

pub mod cache;
pub mod secret;
