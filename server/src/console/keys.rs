//! API keys: created by users (or by an admin with a new user), shown once,
//! stored as a SHA-256 hash, edited and revoked. The proxy authenticates
//! LLM tools with them; people can also sign in to the web UI with one.

pub mod handlers;
pub mod service;
pub mod view;

pub use view::KeyView;
