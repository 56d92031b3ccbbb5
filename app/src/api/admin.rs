//! Admin-only server functions. Most call the REST API's own handlers, so a
//! page and `curl` go through the same validation, side effects (audit,
//! caches) and answers; see [`crate::ssr::body`] and [`crate::ssr::answer`].

pub mod catalog;
pub mod grants;
pub mod insights;
pub mod invitations;
pub mod users;
