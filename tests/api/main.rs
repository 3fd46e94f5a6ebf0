#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! Integration tests: the real app on a random port, a fresh database per test, on SQLite and
//! (with `TEST_DATABASE_URL`) Postgres.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod admin_api;
mod alerts;
mod budgets;
mod cache;
mod cache_controls;
mod cache_embedding_cost;
mod cache_usage;
mod cli;
mod config_errors;
mod conformance;
mod control_ui;
mod credits;
mod dashboard_pages;
mod governance;
mod health;
mod key_rotation;
mod keys;
mod limits;
mod login_load;
mod openai_surface;
mod pages;
mod pii;
mod pii_levels;
mod pii_with_cache_and_logs;
mod provider_state;
mod providers;
mod request_log;
mod routing;
mod row_security;
mod schema;
mod sdk;
mod translation;
mod two_factor;
mod usage_rollups;
