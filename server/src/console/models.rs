//! Shadow models (admin): the public names clients send, each mapped to a
//! provider, an upstream model and prices in micro-credits per million
//! tokens; and the list of models a user may call.

pub mod handlers;
pub mod service;
