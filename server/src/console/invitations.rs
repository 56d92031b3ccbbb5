//! Invitations: codes an admin creates so that someone can register while
//! `auth.registration = "invite"`. A code is `inv-` and 32 random base62
//! characters, shown once at creation; only its SHA-256 is stored. It may
//! be bound to one email, expires, and is good for `max_uses`
//! registrations (1 by default), each spent atomically. Handlers in
//! [`handlers`] are thin; the rules live in [`service`], which
//! registration and the web UI's server functions call too.

pub mod handlers;
pub mod service;

pub use service::InvitationView;
