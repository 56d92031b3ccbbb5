//! Plans' rate limits as admins see and set them; the limiter itself is the
//! gateway's ([`crate::gateway::limits`]).

pub mod handlers;
