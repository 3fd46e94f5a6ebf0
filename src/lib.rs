//! Switchyard: a multi-tenant LLM gateway.
//!
//! The library holds everything; `main.rs` only parses the command line and calls [`cli::run`].

#![forbid(unsafe_code)]

pub mod alerts;
pub mod bench;
pub mod billing;
pub mod cache;
pub mod cli;
pub mod config;
pub mod control_plane;
pub mod crypto;
pub mod data_plane;
pub mod domain;
pub mod egress;
pub mod error;
pub mod metering;
pub mod observability;
pub mod policy;
pub mod providers;
pub mod routing;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
