//! Metering: what each request cost, and the request log with its rollups.

pub mod cost;
pub mod key_usage;
pub mod log;
pub mod prices;
pub mod retention;
pub mod spool;
pub mod writer;
