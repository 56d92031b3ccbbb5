//! Credits: a balance per user and the append-only ledger it always equals.
//! Every change writes a ledger row and the balance in one transaction.

pub mod handlers;
pub mod service;
