//! Policy on the data path: who is calling and what they may do, decided from an in-memory
//! snapshot without touching the database.

pub mod access;
pub mod auth;
pub mod budget;
pub mod budget_arbiter;
pub mod byok;
pub mod internal_keys;
pub mod limits;
pub mod pii;
pub mod rate_limit;
pub mod snapshot;
pub mod tenant;
