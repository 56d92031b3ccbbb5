//! Admin-only server functions. They call the same service functions as
//! the REST API's handlers, with typed inputs, so a page and `curl` go
//! through the same validation and side effects (audit, caches); the
//! answers are the views the REST API sends (`contract`), or types made
//! for one page (`crate::dto::admin`).

pub mod catalog;
pub mod grants;
pub mod insights;
pub mod invitations;
pub mod users;
