//! The gateway: everything an LLM request goes through, from its API key to
//! its charge. [`proxy`] serves the endpoints; [`format`] knows each wire
//! format clients speak and [`translate`] converts between them; [`adapter`]
//! is how each kind of provider is called (and
//! [`mock`] the built-in one); [`api_keys`] recognises the caller,
//! [`limits`] and [`wallets`] admit the request, and [`metering`] reads
//! what it used and records it.
//!
//! It stands on [`crate::platform`]. It uses the console in three places:
//! the usage writer records charges in the ledger (`console::credits`) and
//! overruns in the audit log (`console::audit`), as setting a plan's limits
//! does; and `/v1/models` lists what a plan may call (`console::models`).
//! The console tells it about changes through the shared state (caches to
//! drop, the catalog to reload).

pub mod adapter;
pub mod api_keys;
pub mod format;
pub mod limits;
pub mod metering;
pub mod mock;
pub mod proxy;
pub mod translate;
pub mod wallets;
