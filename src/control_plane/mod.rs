//! The control plane: administrative services shared by the CLI, the dashboard and the admin API.
//! Each service validates its input, writes through the repositories in one transaction and
//! records an audit entry in the same transaction.

pub mod alerts;
pub mod api;
pub mod api_tokens;
pub mod auth;
pub mod budgets;
pub mod cache;
pub mod dashboard;
pub mod invitations;
pub mod key_policy;
pub mod key_update;
pub mod keys;
pub mod members;
pub mod models;
pub mod pages;
pub mod passwords;
pub mod pii;
pub mod providers;
pub mod routes;
pub mod settings;
pub mod tenants;

/// Who performs an administrative action, for the audit trail.
#[derive(Clone, Copy, Debug)]
pub struct Actor<'a> {
    /// The acting user, when there is one.
    pub user_id: Option<&'a str>,
    /// A display label: an email address, `cli`, or an API token's name.
    pub label: &'a str,
    /// The client address, when acting over HTTP.
    pub ip: Option<&'a str>,
}

impl Actor<'static> {
    /// The command-line interface run by an operator.
    pub const CLI: Actor<'static> = Actor {
        user_id: None,
        label: "cli",
        ip: None,
    };
}

/// A request field that failed validation, named for the caller.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid {field}: {message}")]
pub struct FieldError {
    /// The field's public name (the CLI flag or form field without dashes).
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A new field error.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
