//! Metrics, request ids and per-request tracing.

pub mod health;
pub mod metrics;
pub mod request_context;
